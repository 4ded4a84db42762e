"""Params: the types and bounds of the `params:` block of 04_digits_cnn (autograder/assignment.py)."""
from pydantic import Field

from autograder.config import Strict, Threshold


class CnnTrainParams(Strict):
    n_per_class: int = Field(gt=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    budget_s: float = Field(gt=0, description="wall-clock seconds the judge spends training one "
                            "submission's network at most; one that would take longer is refused")


class Params(Strict):
    """Numbers of assignment 04_digits_cnn."""

    dataset_n_per_class: int = Field(gt=0)
    dataset_seeds: list[int] = Field(min_length=2, max_length=2)
    batch_sizes: list[int] = Field(min_length=1)
    parameter_bounds: list[int] = Field(min_length=2, max_length=2)
    probe_images_per_class: int = Field(gt=0)
    knn_reference_per_class: int = Field(gt=0)
    label_agreement: Threshold
    train: CnnTrainParams
    held_out_per_class: int = Field(gt=0)
    accuracy: Threshold
