"""Params: the types and bounds of the `params:` block of 01_tensors (autograder/assignment.py)."""
from pydantic import Field, model_validator

from autograder.config import Strict, Threshold


class RegressionShape(Strict):
    n_samples: int = Field(gt=0)
    n_features: int = Field(gt=0)


class DescentParams(Strict):
    lr: float = Field(gt=0)
    steps: int = Field(ge=2, description="at least 2, so that unreset gradients show")


class Params(Strict):
    """Numbers of assignment 01_tensors."""

    random_shape: list[int] = Field(min_length=1)
    ndim_shapes: list[list[int]] = Field(min_length=1)
    broadcast_shape: list[int] = Field(min_length=2, max_length=2, description="(m, n), m != n")
    index_shape: list[int] = Field(min_length=2, max_length=2, description="(rows, cols), rows != cols")
    marker: float = Field(description="written into the source after a bridge call")
    value_rtol: float = Field(gt=0)
    gradient_rtol: float = Field(gt=0)
    regression: RegressionShape
    descent: DescentParams
    descent_tolerance: Threshold

    @model_validator(mode="after")
    def _not_square(self):
        # a square table or matrix would hide a transposed answer
        if self.broadcast_shape[0] == self.broadcast_shape[1] or self.index_shape[0] == self.index_shape[1]:
            raise ValueError("broadcast_shape and index_shape must not be square")
        return self
