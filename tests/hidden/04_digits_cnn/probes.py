"""Probes of 04_digits_cnn: what the sandbox calls in the student's module, and what it ships back.

Each probe is a recipe, `name(r, args, device)` (autograder/recipe.py). It ships values, as they
are, and holds no secrets. No training happens in the sandbox, and no held-out image comes there:
`graph` ships the student's DigitCNN as two graphs of standard operators (training and evaluation
mode) with its initial weights, and the judge rebuilds it (autograder/graph.py), trains it with
`train_reference`, the course's own loop, on digits it drew, and scores it on digits that never
enter the sandbox. The dataset's items are shipped as they are (each image with its type, dtype and
shape, each label as the object it is), and the judge derives every property of the contract.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def dataset(r, args, device):
    """Per seed: the dataset's length and its items (a few past the expected length, if it has
    them)."""
    for k, seed in enumerate(args["seeds"]):
        ds = r.let(r.student.DigitDataset(args["n_per_class"], seed=seed))
        r.ship(f"ds{k}.length", r.lib("builtins.len")(ds))
        r.ship(f"ds{k}.items", r.take(ds, 10 * args["n_per_class"] + 10))


def parameters(r, args, device):
    """Construction only, as its module tree: no forward pass, so a crashing forward costs only the
    forward checks."""
    r.ship("model", r.student.DigitCNN())


def network(r, args, device):
    """The untrained network's outputs in evaluation mode, twice on the probe images and once per
    batch size (for the shape check, the student's self-check and the learning check's hint; the
    layer, ReLU, dropout and logits checks run the network rebuilt from `graph`)."""
    x = r.input("images").to(device)
    model = r.let(r.student.DigitCNN().to(device))
    model.eval()
    with r.no_grad():
        r.ship("eval.a", model(x))
        r.ship("eval.b", model(x))
        for bs in args["batch_sizes"]:
            r.ship(f"batch{bs}", model(r.lib("torch.rand")(bs, 1, 28, 28, device=device)))


def graph(r, args, device):
    """DigitCNN() as data (or DigitCNN(dropout=...) where args say so): its graphs in training and
    evaluation mode, with a batch dimension of any size, and its initial weights. The judge
    rebuilds, trains and scores it."""
    model = r.student.DigitCNN(dropout=args["dropout"]) if "dropout" in args else r.student.DigitCNN()
    r.export("graph", model, [2, 1, 28, 28])


def train_reference(model, images, labels, args, device):
    """The course's training loop (assignment 03's shape), with a fixed seed and budget. The judge
    runs it on the rebuilt network; it never runs in the sandbox."""
    generator = torch.Generator().manual_seed(args["seed"])
    loader = DataLoader(TensorDataset(images, labels), batch_size=args["batch_size"], shuffle=True,
                        generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=args["lr"])
    losses = []
    for _ in range(args["epochs"]):
        model.train()
        total = 0.0
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    return losses
