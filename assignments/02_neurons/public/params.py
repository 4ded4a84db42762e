"""Params: the types and bounds of the `params:` block of 02_neurons (autograder/assignment.py)."""
from pydantic import Field

from autograder.config import Strict, Threshold


class XorParams(Strict):
    restarts: int = Field(gt=0)
    steps: int = Field(gt=0)
    lr: float = Field(gt=0)
    grid_points: int = Field(ge=8)
    budget_s: float = Field(60, gt=0, description="wall-clock seconds the judge spends training one "
                            "submission's XORNets at most (a correct one takes well under a second)")
    nonlinearity: Threshold
    solved: Threshold


class Params(Strict):
    """Numbers of assignment 02_neurons."""

    softmax_atol: float = Field(gt=0)
    softmax_large_atol: float = Field(gt=0, description="for scores near ±1000, where float32 "
                                      "itself is only good to about 6e-5")
    one_hot_classes: list[int] = Field(min_length=2, max_length=2,
                                       description="[classes in the labels, a wider encoding]")
    ce_atol: float = Field(gt=0)
    leaky_slope: float = Field(gt=0, lt=1)
    perceptron_cases: int = Field(ge=4)
    perceptron_lrs: list[float] = Field(min_length=1)
    xor: XorParams
