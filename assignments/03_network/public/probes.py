"""Probes of 03_network. They run in the sandbox, next to the student's code.

A probe calls the student's functions on inputs the judge chose and returns raw observations: plain
JSON plus tensors. It decides nothing and holds no secrets (a student may read this file): the judge
recomputes every outcome from what comes back. The judge imports `replay_model` and `accuracy_model`
from here too, so both sides build the very same fixed models.

Each probe is `name(student, args, inputs, device) -> (json_dict, tensor_dict)`.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _type(x) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _layers(model) -> list:
    layers = getattr(model, "layers", None)
    if layers is None:
        raise AttributeError("the Network has no attribute `layers`")
    return list(layers)


def _weights(model, prefix: str) -> dict:
    """Each layer's weight and bias, for the judge to recompute the forward pass itself."""
    out = {}
    for j, layer in enumerate(_layers(model)):
        for kind in ("weight", "bias"):
            t = getattr(layer, kind, None)
            if isinstance(t, torch.Tensor):
                out[f"{prefix}{kind[0]}{j}"] = t
    return out


def _as_tensor(x, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} returned {type(x).__name__}, not a tensor")
    return x


def structure(student, args, inputs, device):
    models = []
    tensors = {}
    for i, sizes in enumerate(args["sizes"]):
        model = student.Network(list(sizes))
        layers = getattr(model, "layers", None)
        models.append({
            "layers_type": _type(layers),
            "layer_types": [_type(layer) for layer in _layers(model)],
            "n_parameters": int(sum(p.numel() for p in model.parameters())),
        })
        tensors.update(_weights(model, f"m{i}."))
    return {"models": models}, tensors


def init(student, args, inputs, device):
    model = student.Network(list(args["sizes"]))
    return {}, _weights(model, "")


def _watch_layers(model, prefix: str, tensors: dict) -> list:
    """Forward hooks that keep what flows into and out of each layer on its first call, so that a
    student's `check` can compare the network's output with its own last layer's, and each layer's
    input with the activation of the layer before, without the judge's reference forward pass."""
    handles = []
    for j, layer in enumerate(_layers(model)):
        def keep(module, args, out, j=j):
            if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                tensors.setdefault(f"{prefix}in{j}", args[0].detach().clone())
                tensors.setdefault(f"{prefix}z{j}", out.detach().clone())
        if isinstance(layer, nn.Module):
            handles.append(layer.register_forward_hook(keep))
    return handles


def forward(student, args, inputs, device):
    x = inputs["forward.x"].to(device)
    tensors = {}
    for activation in args["activations"]:
        torch.manual_seed(args["seed"])
        if activation == "default":
            model = student.Network(list(args["sizes"]))
        else:
            model = student.Network(list(args["sizes"]), activation=activation)
        model = model.to(device)
        handles = _watch_layers(model, f"{activation}.", tensors)
        with torch.no_grad():
            out = _as_tensor(model(x), "forward")
        for handle in handles:
            handle.remove()
        tensors[f"{activation}.out"] = out
        tensors.update(_weights(model, f"{activation}."))
    return {}, tensors


def bad_activation(student, args, inputs, device):
    # a working network alongside: the judge recomputes it, so the report below is corroborated
    demo = student.Network([3, 4, 2])
    with torch.no_grad():
        tensors = {"demo.out": _as_tensor(demo(inputs["forward.x"][:, :3]), "forward"),
                   **_weights(demo, "demo.")}
    try:
        student.Network([2, 2], activation=args["name"])
    except Exception as exc:  # the point is to see which exception it was
        return {"raised": True, "type": _type(exc), "is_value_error": isinstance(exc, ValueError)}, tensors
    return {"raised": False, "type": None, "is_value_error": False}, tensors


def replay_model(kind: str) -> nn.Module:
    """The fixed model of a trainer replay. BatchNorm makes train and eval mode differ
    deterministically, so a trainer that forgets `model.train()` ends at different weights."""
    if kind == "classification":
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1))


def replay_criterion(kind: str):
    return nn.CrossEntropyLoss() if kind == "classification" else nn.MSELoss()


def describe_losses(losses) -> dict:
    items = []
    for v in list(losses) if isinstance(losses, (list, tuple)) else []:
        try:
            value = float(v)
        except Exception:
            value = None
        items.append({"type": _type(v), "value": value,
                      "requires_grad": bool(getattr(v, "requires_grad", False))})
    return {"returned_type": _type(losses), "losses": items}


def _state(inputs, prefix: str, model) -> dict:
    """The judge's starting weights for `model`, read key by key (a probe reads only what it needs,
    so the public bundle ships only that: see autograder/public.py)."""
    return {k: inputs[prefix + k] for k in model.state_dict()}


def replay(student, args, inputs, device):
    kind = args["kind"]
    model = replay_model(kind)
    prefix = f"{kind}.state."
    model.load_state_dict(_state(inputs, prefix, model))
    model = model.to(device)
    model.eval()  # the trainer must switch it to training mode itself
    loader = DataLoader(TensorDataset(inputs[f"{kind}.x"], inputs[f"{kind}.y"]),
                        batch_size=args["batch_size"], shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    criterion = replay_criterion(kind)
    calls = []  # what the criterion was handed and gave back, for the self-checks: worth no points
    criterion.register_forward_hook(lambda m, a, out: calls.append(_criterion_call(a, out))
                                    if len(calls) < 1000 else None)
    losses = student.trainer(model, criterion, optimizer, loader, epochs=args["epochs"])
    return {**describe_losses(losses), "criterion_calls": calls}, dict(model.state_dict())


def _criterion_call(args, out) -> dict:
    try:
        loss = float(out.detach())
    except Exception:
        loss = None
    return {"shapes": [list(getattr(t, "shape", ())) for t in args[:2]], "loss": loss}


def accuracy_model() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


def accuracy(student, args, inputs, device):
    model = accuracy_model()
    model.load_state_dict(_state(inputs, "state.", model))
    model = model.to(device)
    model.train()  # accuracy() must switch to evaluation mode itself
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(
        {"training": m.training, "grad_enabled": torch.is_grad_enabled()}))
    loader = DataLoader(TensorDataset(inputs["acc.x"], inputs["acc.y"]),
                        batch_size=args["batch_size"], shuffle=False)
    result = student.accuracy(model, loader)
    try:
        value = float(result)
    except Exception:
        value = None
    grads = [p.grad is not None for p in model.parameters()]
    return {"value": value, "type": _type(result), "calls": calls[:100],
            "requires_grad": bool(getattr(result, "requires_grad", False)),
            "grads_left": any(grads)}, {}


def fit(student, args, inputs, device):
    name = args["data"]
    model = student.Network(list(args["sizes"]), activation=args["activation"]).to(device)
    initial = {k: v.detach().clone() for k, v in _weights(model, "init.").items()}
    generator = torch.Generator().manual_seed(args["seed"])
    loader = DataLoader(TensorDataset(inputs[f"{name}.x"], inputs[f"{name}.y"]),
                        batch_size=args["batch_size"], shuffle=True, generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"],
                                nesterov=args["nesterov"])
    losses = student.trainer(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=args["epochs"])
    return describe_losses(losses), {**initial, **_weights(model, "final.")}
