"""The judge's side of 03_network: the inputs it chooses, and its own reference computations.

Trusted code. Held-out labels and held-out inputs never leave this process: the fit probes return the
trained weights, and the judge runs the forward pass and counts correct answers itself.
"""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autograder.config import GradingConfig
from autograder.evidence import Evidence
from autograder.judge import load_probes
from autograder.probe import Plan, ProbeSpec

AID = "03_network"
ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


probes = load_probes(Path(__file__).parent)


# --- the judge's reference computations ---------------------------------------------------------

def network_forward(weights, biases, activation, x, activate_last=False, relu=None):
    """Network(sizes) as the contract defines it, computed from the returned weights."""
    phi = relu if relu is not None and activation == "relu" else ACTIVATIONS[activation]
    for j, (w, b) in enumerate(zip(weights, biases)):
        x = x @ w.T + b
        if j < len(weights) - 1 or activate_last:
            x = phi(x)
    return x


def network_weights(ev: Evidence, layers: str, sizes) -> tuple[list, list]:
    """Each layer's weight and bias, from the shipped `layers` (its path), checked against sizes."""
    ws, bs = [], []
    for j in range(len(sizes) - 1):
        ws.append(ev.tensor(f"{layers}/{j}/weight", (sizes[j + 1], sizes[j]),
                            what=f"the weight of layer {j}"))
        bs.append(ev.tensor(f"{layers}/{j}/bias", (sizes[j + 1],), what=f"the bias of layer {j}"))
    return ws, bs


def reference_trainer(kind: str, plan: Plan, device: str, bug: str | None = None,
                      aggregate: str = "mean"):
    """The trainer replay as the contract defines it, or with one named bug (for diagnosis).
    `aggregate` is how each epoch's batch losses become one number: mean (right), sum or last."""
    args = next(p.args for p in plan.probes if p.name == f"replay_{kind}")
    model = probes.replay_model(kind)
    prefix = f"{kind}.state."
    model.load_state_dict({k.removeprefix(prefix): v for k, v in plan.inputs.items()
                           if k.startswith(prefix)})
    model = model.to(device)
    model.eval()
    loader = DataLoader(TensorDataset(plan.inputs[f"{kind}.x"], plan.inputs[f"{kind}.y"]),
                        batch_size=args["batch_size"], shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    criterion = probes.replay_criterion(kind)
    history = []
    for _ in range(args["epochs"]):
        if bug != "no_train_mode":
            model.train()
        losses = []
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            if bug == "reshaped_targets":
                y = y.reshape(-1)
            if bug != "no_zero_grad":
                optimizer.zero_grad()
            loss = criterion(model(X), y)
            loss.backward()
            if bug != "no_step":
                optimizer.step()
            losses.append(loss.item())
        history.append({"sum": sum(losses), "last": losses[-1],
                        "mean": sum(losses) / len(losses)}[aggregate])
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return state, history


def cross_entropy(scores, labels) -> float:
    return float(nn.functional.cross_entropy(scores, labels))


# --- the inputs the judge chooses ---------------------------------------------------------------

def _gaussians(p, generator):
    n = p.n_per_class
    shift = torch.full((2,), p.separation / 2)
    X = torch.cat([torch.randn(n, 2, generator=generator) - shift,
                   torch.randn(n, 2, generator=generator) + shift])
    y = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    return X, y


def _digits():
    digits = load_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    return X, y


def _split(X, y, test_fraction, generator):
    order = torch.randperm(len(X), generator=generator)
    n_test = int(round(len(X) * test_fraction))
    return (X[order[n_test:]], y[order[n_test:]]), (X[order[:n_test]], y[order[:n_test]])


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    g = torch.Generator().manual_seed(a.seed)
    secret = torch.Generator().manual_seed(a.secret_seed)
    inputs: dict[str, torch.Tensor] = {}
    secrets: dict = {}
    specs = [
        ProbeSpec("structure", "structure", {"sizes": p.structure_sizes}),
        ProbeSpec("init", "init", {"sizes": p.init_sizes}),
        ProbeSpec("forward", "forward", {"sizes": p.forward_sizes, "seed": a.seed,
                                         "activations": ["default", "sigmoid", "tanh", "relu"]}),
        ProbeSpec("bad_activation", "bad_activation", {"name": "swish"}),
    ]
    inputs["forward.x"] = 2 * torch.randn(p.forward_batch, p.forward_sizes[0], generator=g)

    r = p.replay
    for kind, n_in in (("classification", 4), ("regression", 3)):
        torch.manual_seed(a.seed)
        state = probes.replay_model(kind).state_dict()
        inputs.update({f"{kind}.state.{k}": v.clone() for k, v in state.items()})
        X = torch.randn(r.n_samples, n_in, generator=g)
        inputs[f"{kind}.x"] = X
        if kind == "classification":
            inputs[f"{kind}.y"] = torch.randint(0, 3, (r.n_samples,), generator=g)
        else:
            w = torch.randn(n_in, 1, generator=g)
            inputs[f"{kind}.y"] = X @ w + 0.1 * torch.randn(r.n_samples, 1, generator=g)  # (N, 1)
        specs.append(ProbeSpec(f"replay_{kind}", "replay", {
            "kind": kind, "epochs": r.epochs, "lr": r.lr, "momentum": r.momentum,
            "batch_size": r.batch_size}))

    # accuracy: BatchNorm with non-trivial running statistics, so train mode predicts differently
    torch.manual_seed(a.seed)
    model = probes.accuracy_model()
    with torch.no_grad():
        bn = model[1]
        bn.running_mean.copy_(torch.randn(16, generator=g) * 2)
        bn.running_var.copy_(torch.rand(16, generator=g) * 3 + 0.2)
        bn.weight.copy_(torch.randn(16, generator=g))
        bn.bias.copy_(torch.randn(16, generator=g))
    model.eval()
    X = torch.randn(p.accuracy_samples, 6, generator=g) * 2
    with torch.no_grad():
        y = model(X).argmax(dim=1)
    flip = torch.rand(p.accuracy_samples, generator=g) < 0.35
    y = torch.where(flip, torch.randint(0, 4, y.shape, generator=g), y)
    inputs.update({f"state.{k}": v.clone() for k, v in model.state_dict().items()})
    inputs["acc.x"], inputs["acc.y"] = X, y
    specs.append(ProbeSpec("accuracy", "accuracy", {"batch_size": 40}))

    for name, params in (("gaussians", p.gaussians), ("digits", p.digits)):
        X, y = _gaussians(params, secret) if name == "gaussians" else _digits()
        (Xt, yt), (Xh, yh) = _split(X, y, params.test_fraction, secret)
        inputs[f"{name}.x"], inputs[f"{name}.y"] = Xt, yt
        secrets[f"{name}.held"] = (Xh, yh)  # never sent to the sandbox
        specs.append(ProbeSpec(f"fit_{name}", "fit", {
            "data": name, "sizes": params.sizes, "activation": params.activation,
            "epochs": params.epochs, "lr": params.lr, "momentum": params.momentum,
            "nesterov": params.nesterov, "batch_size": params.batch_size, "seed": a.seed}))
    return Plan(specs, inputs, secrets)


@pytest.fixture
def ref():
    """The judge's reference computations, for the tests of this folder."""
    return SimpleNamespace(forward=network_forward, weights=network_weights,
                           trainer=reference_trainer, cross_entropy=cross_entropy, probes=probes)
