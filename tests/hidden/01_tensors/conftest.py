"""The judge's side of 01_tensors: the inputs it chooses and its own answers to every question.

Trusted code. Every expected value is computed here, in float64 where arithmetic is involved, from the
same inputs the probes were given.
"""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from autograder.config import GradingConfig
from autograder.judge import load_probes
from autograder.probe import Plan, ProbeSpec

AID = "01_tensors"
probes = load_probes(Path(__file__).parent)
FUNCTIONS = ["random_pair", "shape_and_ndim", "as_float32", "broadcast", "mean_and_sum",
             "first_row_and_column", "to_numpy", "share_from_numpy", "copy_from_numpy",
             "pick_device", "to_device", "loss_and_gradients", "gradient_descent", "sgd_descent"]


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    g = torch.Generator().manual_seed(a.seed)
    m, n = p.broadcast_shape
    rows, cols = p.index_shape
    d = p.regression.n_features
    X = torch.randn(p.regression.n_samples, d, generator=g)
    w_true = 3 * torch.randn(d, generator=g)
    inputs = {
        "dtypes.float64": torch.randn(3, 4, generator=g, dtype=torch.float64) * 10,
        "dtypes.int64": torch.randint(-50, 50, (2, 5), generator=g),
        "ops.a": torch.randn(1, n, generator=g),
        "ops.b": torch.randn(m, 1, generator=g),
        "ops.x": torch.randn(4, 6, generator=g) + 0.5,
        "index.X": torch.randn(rows, cols, generator=g),
        "bridge.t": torch.randn(3, 4, generator=g),
        "bridge.a": torch.randn(3, 4, generator=g, dtype=torch.float64),
        "device.t": torch.randn(2, 3, generator=g),
        "grad.X": X,
        "grad.y": X @ w_true + 1.5 + 0.3 * torch.randn(len(X), generator=g),
        "grad.w0": torch.randn(d, generator=g),
        "grad.b0": torch.randn((), generator=g),
    }
    # random_pair's seeds, and the two global states it is called from: all different from each
    # other and from the seed the harness starts every probe with, so that a function that draws
    # without seeding (or seeds numpy instead) cannot pass for one that seeds torch
    drawn = [int(v) for v in torch.randperm(10**6, generator=g)[:5] + 1 if int(v) + 1 != a.seed]
    seed, other, *states = drawn[:4]
    args = {
        "random_pair": {"shape": p.random_shape, "seed": seed, "other_seed": other, "states": states},
        "shape_and_ndim": {"shapes": p.ndim_shapes},
        "to_numpy": {"index": [1, 2], "marker": p.marker},
        "share_from_numpy": {"index": [1, 2], "marker": p.marker},
        "copy_from_numpy": {"index": [1, 2], "marker": p.marker},
        "pick_device": {"cuda": None},
        "gradient_descent": p.descent.model_dump(include={"lr", "steps"}),
        "sgd_descent": p.descent.model_dump(include={"lr", "steps"}),
    }
    specs = [ProbeSpec(name, name, args.get(name, {})) for name in FUNCTIONS]
    # pick_device as this machine is, then as if it had a GPU, then as if it had none
    specs += [ProbeSpec("pick_device_gpu", "pick_device", {"cuda": True}),
              ProbeSpec("pick_device_cpu", "pick_device", {"cuda": False})]
    return Plan(specs, inputs)


def mse(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean()


def _regression(plan: Plan):
    return (plan.inputs[f"grad.{k}"].double() for k in ("X", "y", "w0", "b0"))


def gradients(plan: Plan):
    """d loss / d w and d loss / d b at (w0, b0), by calculus (probes.calculus_gradients)."""
    return probes.calculus_gradients(*_regression(plan))


def descent(plan: Plan, lr: float, steps: int, bug: str | None = None):
    """Gradient descent as the contract defines it (float64), or with one named bug, for diagnosis
    (probes.calculus_descent: the self-checks recompute with the same code)."""
    return probes.calculus_descent(*_regression(plan), lr, steps, bug=bug)


@pytest.fixture
def ref():
    return SimpleNamespace(gradients=gradients, descent=descent, mse=mse)
