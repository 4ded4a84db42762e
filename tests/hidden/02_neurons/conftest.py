"""The judge's side of 02_neurons: the inputs it chooses and its own reference computations.

Trusted code. Softmax, one-hot and cross-entropy are compared with PyTorch's own functions; the
perceptron rule and the gates are replayed here; linearity is measured here by least squares. The
student's XORNet arrives as graphs with its initial weights: the judge rebuilds it
(autograder/graph.py) and trains it with the course's loop (test_neurons.py).
"""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from autograder.config import GradingConfig
from autograder.judge import load_probes
from autograder.probe import Plan, ProbeSpec

AID = "02_neurons"
GATE_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
# Truth tables; NAND is not in the notebook, so a gate learned by rote from the notebook's two fails.
GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0]}

probes = load_probes(Path(__file__).parent)


def _perceptron_cases(n: int, g: torch.Generator) -> dict:
    """Points, labels and weights with scores at least 0.2 away from the boundary (no float ties),
    half of them misclassified so that the rule has to move the line."""
    w = torch.randn(n, 3, generator=g)
    x = torch.randn(n, 3, generator=g) * 2
    score = (w * x).sum(dim=1)
    b = torch.where(score.abs() < 0.2, torch.sign(score) * 0.5 - score, torch.zeros(n)) \
        + 0.1 * torch.sign(score)
    predicted = ((w * x).sum(dim=1) + b >= 0).long()
    wrong = torch.arange(n) % 2 == 0
    y = torch.where(wrong, 1 - predicted, predicted)
    return {"pst.w": w, "pst.b": b, "pst.x": x, "pst.y": y}


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    g = torch.Generator().manual_seed(a.seed)
    large = torch.stack([
        torch.tensor([1000.0, 999.0, 995.0, 0.0, -3.0]),
        torch.full((5,), 1000.0),
        torch.tensor([-1000.0, -999.5, -1001.0, -1000.0, -998.0]),
        1000.0 + 5 * torch.randn(5, generator=g),
    ])
    labels = torch.cat([torch.arange(5), torch.randint(0, 5, (7,), generator=g)])
    labels = labels[torch.randperm(len(labels), generator=g)]
    inputs = {
        "softmax.z": 3 * torch.randn(6, 5, generator=g),
        "softmax.z3": 2 * torch.randn(3, 4, 5, generator=g),
        "softmax.large": large,
        "one_hot.labels": labels,
        "ce.logits": 2 * torch.randn(8, 4, generator=g),
        "ce.targets": torch.randint(0, 4, (8,), generator=g),
        "act.x": torch.cat([torch.linspace(-5, 5, 41), torch.tensor([0.0, -1e-3, 1e-3])]),
        "gate.X": GATE_X.clone(),
        "xor.X": GATE_X.clone(),
        "xor.y": torch.tensor([[0.0], [1.0], [1.0], [0.0]]),
        "xor.grid": 2 * torch.randn(p.xor.grid_points, 2, generator=g),
        **_perceptron_cases(p.perceptron_cases, g),
    }
    for gate, truth in GATES.items():
        inputs[f"gate.{gate}"] = torch.tensor(truth, dtype=torch.float32)
    lrs = [float(v) for v in torch.tensor(p.perceptron_lrs).repeat(p.perceptron_cases)[:p.perceptron_cases]]
    specs = [
        ProbeSpec("softmax", "softmax", {"input": "softmax.z", "dim": None}),
        ProbeSpec("softmax_dim", "softmax", {"input": "softmax.z3", "dim": 1}),
        ProbeSpec("softmax_large", "softmax", {"input": "softmax.large", "dim": None}),
        *[ProbeSpec(f"one_hot_{k}", "one_hot", {"num_classes": k}) for k in p.one_hot_classes],
        ProbeSpec("cross_entropy", "cross_entropy"),
        ProbeSpec("relu", "relu"),
        ProbeSpec("leaky_relu", "leaky_relu", {"slope": p.leaky_slope}),
        ProbeSpec("perceptron_step", "perceptron_step", {"lrs": lrs}),
        *[ProbeSpec(f"gate_{gate}", "train_gate", {"gate": gate}) for gate in GATES],
        ProbeSpec("xor_net", "xor_net", {"seeds": [a.seed + k for k in range(p.xor.restarts)]}),
    ]
    return Plan(specs, inputs)


def perceptron(w, b, x, y, lr, bug: str | None = None):
    """The perceptron rule on a batch of independent cases (float64), or with one named bug:
    `wrong_sign` moves the line away from a missed point, `raw_score` uses the score instead of
    the 0/1 prediction (the delta rule)."""
    w, b, x, y, lr = (t.double() for t in (w, b, x, y, torch.as_tensor(lr)))
    score = (w * x).sum(dim=1) + b
    predicted = (score >= 0).double()
    error = y - (score if bug == "raw_score" else predicted)
    if bug == "wrong_sign":
        error = -error
    return w + (lr * error)[:, None] * x, b + lr * error


def gate_predictions(w, b):
    """The neuron's decisions on the four points, computed exactly as the contract states it,
    X @ w + b >= 0 in float32, so that a point lying on the line (score 0, class 1) gets the same
    answer here as in the notebook's own check."""
    return (GATE_X @ w.float() + b.float() >= 0).long()


def nonlinearity(inputs: torch.Tensor, outputs: torch.Tensor) -> float:
    """How far a map is from affine on the given points: the residual of the best least-squares fit
    out ~ inputs @ A + c, relative to the outputs' spread (about 1e-7, float32 rounding, for a
    network with no hidden non-linearity). Meant for freshly initialised networks: a linear one
    trained on XOR ends almost constant, and rounding over a near-zero spread looks large."""
    design = torch.cat([inputs.double(), torch.ones(len(inputs), 1, dtype=torch.float64)], dim=1)
    out = outputs.double().reshape(len(inputs), -1)
    solution = torch.linalg.lstsq(design, out).solution
    residual = (design @ solution - out).norm()
    spread = (out - out.mean(dim=0)).norm()
    return (residual / spread).item() if spread > 0 else 0.0


@pytest.fixture
def ref():
    return SimpleNamespace(perceptron=perceptron, gate_predictions=gate_predictions, gates=GATES,
                           nonlinearity=nonlinearity, probes=probes)
