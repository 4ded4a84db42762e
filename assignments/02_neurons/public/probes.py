"""Probes of 02_neurons. They run in the sandbox, next to the student's code.

Each probe calls the student's functions on inputs the judge chose and returns raw outputs. They hold
no secrets (a student may read this file): the judge compares everything with PyTorch's own functions
and its own replay of the perceptron rule. `train_xor` is the course's training loop, so an `XORNet`
is graded on its own and not on a training loop of the student's.

Each probe is `name(student, args, inputs, device) -> (json_dict, tensor_dict)`.
"""
import torch
from torch import nn


def _type(x) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _tensor(x, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} is a {type(x).__name__}, not a tensor")
    return x.detach()


def _pair(result, what: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"{what} should return a pair (w, b); it returned {type(result).__name__}")
    return result


def _scalar(b, what: str) -> torch.Tensor:
    """A bias as a float32 0-dim tensor, whether it came back as a tensor or a Python number."""
    if type(b) in (int, float):
        return torch.tensor(float(b))
    b = _tensor(b, what)
    if b.numel() != 1:
        raise TypeError(f"{what} has shape {tuple(b.shape)}; it should be a single number")
    return b.reshape(()).float()


def softmax(student, args, inputs, device):
    z = inputs[args["input"]].clone()
    out = student.softmax(z) if args["dim"] is None else student.softmax(z, dim=args["dim"])
    return {}, {"p": _tensor(out, "softmax's result")}


def one_hot(student, args, inputs, device):
    out = student.one_hot(inputs["one_hot.labels"].clone(), args["num_classes"])
    return {}, {"encoded": _tensor(out, "one_hot's result")}


def cross_entropy(student, args, inputs, device):
    """The loss on logits that require gradients, and the gradient backward() leaves on them."""
    logits = inputs["ce.logits"].clone().requires_grad_(True)
    result = student.cross_entropy(logits, inputs["ce.targets"].clone())
    data = {"type": _type(result), "requires_grad": bool(getattr(result, "requires_grad", False))}
    tensors = {}
    if isinstance(result, torch.Tensor):
        tensors["loss"] = result.detach()
        if result.requires_grad and result.numel() == 1:
            result.sum().backward()
            if logits.grad is not None:
                tensors["grad"] = logits.grad
    elif type(result) in (int, float):
        tensors["loss"] = torch.tensor(float(result))
    return data, tensors


def relu(student, args, inputs, device):
    return {}, {"out": _tensor(student.relu(inputs["act.x"].clone()), "relu's result")}


def leaky_relu(student, args, inputs, device):
    x = inputs["act.x"]
    return {}, {"default": _tensor(student.leaky_relu(x.clone()), "leaky_relu's result"),
                "custom": _tensor(student.leaky_relu(x.clone(), args["slope"]), "leaky_relu's result")}


def perceptron_step(student, args, inputs, device):
    ws, bs = [], []
    for k, lr in enumerate(args["lrs"]):
        w, b = _pair(student.perceptron_step(
            inputs["pst.w"][k].clone(), inputs["pst.b"][k].clone(), inputs["pst.x"][k].clone(),
            int(inputs["pst.y"][k]), lr), "perceptron_step")
        ws.append(_tensor(w, "the new w"))
        bs.append(_scalar(b, "the new b"))
    if any(w.shape != ws[0].shape for w in ws):
        raise TypeError("perceptron_step returned weights of different shapes")
    return {}, {"w": torch.stack(ws), "b": torch.stack(bs)}


def train_gate(student, args, inputs, device):
    gate = args["gate"]
    w, b = _pair(student.train_gate(inputs["gate.X"].clone(), inputs[f"gate.{gate}"].clone()),
                 "train_gate")
    return {}, {"w": _tensor(w, "the learned w"), "b": _scalar(b, "the learned b")}


def train_xor(model, X, y, steps, lr):
    """The course's loop for XOR: full batch, Adam, binary cross-entropy on raw scores."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()


def xor_net(student, args, inputs, device):
    """Per restart seed: a fresh XORNet's outputs on scattered points (is the map linear?), then its
    scores on the four XOR points after training."""
    X, y, grid = (inputs[k].to(device) for k in ("xor.X", "xor.y", "xor.grid"))
    tensors = {}
    for k, seed in enumerate(args["seeds"]):
        torch.manual_seed(seed)
        model = student.XORNet().to(device)
        with torch.no_grad():
            tensors[f"init{k}.grid"] = _tensor(model(grid), "XORNet's output")
        train_xor(model, X, y, args["steps"], args["lr"])
        model.eval()
        with torch.no_grad():
            tensors[f"trained{k}.xor"] = _tensor(model(X), "XORNet's output")
    return {}, tensors
