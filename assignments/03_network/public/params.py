"""Params: the types and bounds of the `params:` block of 03_network (autograder/assignment.py)."""
from typing import Literal

from pydantic import Field, model_validator

from autograder.config import Strict, Threshold


class ReplayParams(Strict):
    n_samples: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(ge=0)
    atol: float = Field(gt=0)

    @model_validator(mode="after")
    def _whole_batches(self):
        # "mean batch loss" is only unambiguous when every batch has the same size.
        if self.n_samples % self.batch_size:
            raise ValueError("n_samples must be a multiple of batch_size")
        return self


class FitParams(Strict):
    sizes: list[int] = Field(min_length=2)
    activation: Literal["sigmoid", "tanh", "relu"]
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0)
    nesterov: bool = False
    batch_size: int = Field(gt=0)
    accuracy: Threshold
    loss_drop: Threshold


class GaussianParams(FitParams):
    n_per_class: int = Field(gt=0)
    test_fraction: float = Field(gt=0, lt=1)
    separation: float = Field(gt=0)


class DigitsParams(FitParams):
    test_fraction: float = Field(gt=0, lt=1)


class Params(Strict):
    """Numbers of assignment 03_network."""

    structure_sizes: list[list[int]]
    init_sizes: list[int] = Field(min_length=2, max_length=2)
    xavier_std_rel_tol: float = Field(gt=0)
    xavier_tail_min_fraction: float = Field(gt=0)
    forward_sizes: list[int] = Field(min_length=3)
    forward_batch: int = Field(gt=0)
    forward_atol: float = Field(gt=0)
    replay: ReplayParams
    accuracy_samples: int = Field(gt=0)
    gaussians: GaussianParams
    digits: DigitsParams
