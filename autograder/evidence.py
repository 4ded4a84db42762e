"""What a hidden test reads: one probe's output, validated before use.

Every accessor checks the exact type, dtype, shape and finiteness it needs and turns anything else
into a failed test with a reason, so garbage from the sandbox costs the student the test it touches
and never crashes the judge.
"""
from __future__ import annotations

import pytest
import torch

from autograder.probe import ProbeOutcome

def fail(message: str):
    """Fail the current test with `message` as the student's feedback (no traceback)."""
    pytest.fail(message, pytrace=False)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


class Evidence:
    def __init__(self, outcome: ProbeOutcome, what: str):
        if not outcome.ok:
            fail(f"{what} could not be checked: {outcome.reason}")
        self.outcome = outcome
        self.what = what
        self.data = outcome.data or {}

    def value(self, key: str, kind: type | tuple[type, ...], where: dict | None = None):
        source = self.data if where is None else where
        v = source.get(key) if isinstance(source, dict) else None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a count or a float given as True is garbage here
        if v is None and type(None) not in kinds or isinstance(v, bool) and bool not in kinds \
                or not isinstance(v, kinds):
            fail(f"{self.what}: the probe's output `{key}` was missing or of the wrong type")
        return v

    def has_tensor(self, key: str) -> bool:
        return key in self.outcome.tensors

    def tensor(self, key: str, shape: tuple | None = None, dtype: torch.dtype | None = torch.float32,
               finite: bool = True, what: str | None = None) -> torch.Tensor:
        what = what or f"`{key}`"
        t = self.outcome.tensors.get(key)
        if t is None:
            fail(f"{self.what}: {what} was not produced")
        if dtype is not None and t.dtype != dtype:
            fail(f"{self.what}: {what} has dtype {t.dtype}, expected {dtype}")
        if shape is not None and tuple(t.shape) != tuple(shape):
            fail(f"{self.what}: {what} has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if finite and t.is_floating_point() and not torch.isfinite(t).all():
            fail(f"{self.what}: {what} contains NaN or infinite values")
        return t
