"""Probes of 03_network: what the sandbox calls in the student's module, and what it ships back.

Each probe is a recipe, `name(r, args, device)` (autograder/recipe.py): it calls the student's
functions on inputs the judge chose and ships what came back, as it is (the network as its module
tree with every weight, the list the trainer returned, the weights training left). It decides
nothing and holds no secrets (a student may read this file): the judge recomputes every outcome
from the shipped values. The judge imports `replay_model` and `accuracy_model` from here too, so
both sides build the very same fixed models.

What the hooks of `r.watch` record (what flowed between layers, what the criterion saw, whether a
forward ran in training or grad mode) is a report of the student's process: only self-checks, worth
no points, and `reported` checks read it.
"""
import torch
from torch import nn

# The fixed models of the trainer replays and the accuracy probe, as (layer, *arguments): built with
# torch by the judge (replay_model, accuracy_model) and step by step in the sandbox (_build).
REPLAY_MODELS = {
    # BatchNorm makes train and eval mode differ deterministically, so a trainer that forgets
    # `model.train()` ends at different weights
    "classification": [("Linear", 4, 8), ("BatchNorm1d", 8), ("Tanh",), ("Linear", 8, 3)],
    "regression": [("Linear", 3, 6), ("Tanh",), ("Linear", 6, 1)],
}
ACCURACY_MODEL = [("Linear", 6, 16), ("BatchNorm1d", 16), ("ReLU",), ("Linear", 16, 4)]
CRITERIA = {"classification": "CrossEntropyLoss", "regression": "MSELoss"}


def _torch_model(layers) -> nn.Module:
    return nn.Sequential(*(getattr(nn, name)(*args) for name, *args in layers))


def replay_model(kind: str) -> nn.Module:
    """The fixed model of a trainer replay."""
    return _torch_model(REPLAY_MODELS[kind])


def replay_criterion(kind: str):
    return getattr(nn, CRITERIA[kind])()


def accuracy_model() -> nn.Module:
    return _torch_model(ACCURACY_MODEL)


def _build(r, layers, prefix: str, device: str):
    """A fixed model in the sandbox, holding the judge's weights (read key by key, so a public
    bundle ships only those: see autograder/public.py), on the grading device."""
    model = r.lib("torch.nn.Sequential")(*(r.lib(f"torch.nn.{name}")(*args) for name, *args in layers))
    keys = _torch_model(layers).state_dict()
    model.load_state_dict({k: r.input(prefix + k) for k in keys})
    return model.to(device)


def _loader(r, x: str, y: str, batch_size: int, **kwargs):
    dataset = r.lib("torch.utils.data.TensorDataset")(r.input(x), r.input(y))
    return r.lib("torch.utils.data.DataLoader")(dataset, batch_size=batch_size, **kwargs)


def structure(r, args, device):
    """Each network whole (its module tree: types and weights), and what `layers` holds."""
    for i, sizes in enumerate(args["sizes"]):
        model = r.let(r.student.Network(list(sizes)))
        r.ship(f"m{i}", model)
        r.ship(f"m{i}.layers", model.layers)


def init(r, args, device):
    r.ship("layers", r.student.Network(list(args["sizes"])).layers)


def forward(r, args, device):
    """The output on the judge's batch, the weights that made it, and (for the self-checks) what
    flowed into and out of each layer on that call."""
    for activation in args["activations"]:
        r.seed(args["seed"])
        if activation == "default":
            model = r.student.Network(list(args["sizes"]))
        else:
            model = r.student.Network(list(args["sizes"]), activation=activation)
        model = model.to(device)
        flows = r.watch(model.layers, each=True, keep=1, limit=1)
        with r.no_grad():
            r.ship(f"{activation}.out", model(r.input("forward.x").to(device)))
        r.ship(f"{activation}.layers", model.layers)
        r.ship(f"{activation}.flows", flows)


def bad_activation(r, args, device):
    """Network(sizes, activation=<unknown name>): which exception, if any. Beside it a working
    network, which the judge recomputes, so that the answer is corroborated by a computation."""
    demo = r.let(r.student.Network([3, 4, 2]))
    with r.no_grad():
        r.ship("demo.out", demo(r.input("forward.x")[:, :3]))
    r.ship("demo.layers", demo.layers)
    with r.catch() as raised:
        r.student.Network([2, 2], activation=args["name"])
    r.ship("raised", raised)


def replay(r, args, device):
    """The student's trainer on the judge's fixed model, data and optimizer: the losses it returned,
    the weights it left and (for the self-checks) what the criterion was handed and gave back."""
    kind = args["kind"]
    model = _build(r, REPLAY_MODELS[kind], f"{kind}.state.", device)
    model.eval()  # the trainer must switch it to training mode itself
    loader = _loader(r, f"{kind}.x", f"{kind}.y", args["batch_size"], shuffle=False)
    optimizer = r.lib("torch.optim.SGD")(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    criterion = r.let(r.lib(f"torch.nn.{CRITERIA[kind]}")())
    calls = r.watch(criterion, limit=1000)
    r.ship("losses", r.student.trainer(model, criterion, optimizer, loader, epochs=args["epochs"]))
    r.ship("state", model.state_dict())
    r.ship("criterion_calls", calls)


def accuracy(r, args, device):
    """accuracy() on the judge's fixed model (left in training mode: accuracy() must switch it),
    and what each forward call's mode was (a report, for the reported check and the self-check)."""
    model = _build(r, ACCURACY_MODEL, "state.", device)
    model.train()
    calls = r.watch(model, limit=100)
    loader = _loader(r, "acc.x", "acc.y", args["batch_size"], shuffle=False)
    r.ship("result", r.student.accuracy(model, loader))
    r.ship("calls", calls)
    r.ship("model", model)  # gradients left on its parameters


def fit(r, args, device):
    """The student's Network trained by the student's trainer on the judge's training split: the
    weights before and after, and the losses the trainer returned."""
    name = args["data"]
    model = r.let(r.student.Network(list(args["sizes"]), activation=args["activation"]).to(device))
    r.ship("init.layers", model.layers)
    generator = r.lib("torch.Generator")().manual_seed(args["seed"])
    loader = _loader(r, f"{name}.x", f"{name}.y", args["batch_size"], shuffle=True,
                     generator=generator)
    optimizer = r.lib("torch.optim.SGD")(model.parameters(), lr=args["lr"],
                                         momentum=args["momentum"], nesterov=args["nesterov"])
    r.ship("losses", r.student.trainer(model, r.lib("torch.nn.CrossEntropyLoss")(), optimizer,
                                       loader, epochs=args["epochs"]))
    r.ship("final.layers", model.layers)
