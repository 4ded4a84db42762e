"""Probes of 04_digits_cnn. They run in the sandbox, next to the student's code.

They return raw observations (JSON + tensors) and hold no secrets: the held-out images arrive
without labels, and the judge counts correct answers itself. `train_reference` is the course's own
training loop, so the CNN is graded on its own and not on the student's loop.

Each probe is `name(student, args, inputs, device) -> (json_dict, tensor_dict)`.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _type(x) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def dataset(student, args, inputs, device):
    data, tensors = {"datasets": []}, {}
    for k, seed in enumerate(args["seeds"]):
        ds = student.DigitDataset(args["n_per_class"], seed=seed)
        length = len(ds)
        info = {"length": int(length), "item_types": [], "image_types": [], "label_types": [],
                "labels": [], "shapes": []}
        images = []
        for i in range(min(length, 10 * args["n_per_class"] + 10)):
            item = ds[i]
            info["item_types"].append(_type(item))
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                continue
            image, label = item
            info["image_types"].append(_type(image))
            info["label_types"].append(_type(label))
            info["labels"].append(int(label) if isinstance(label, int) else None)
            if isinstance(image, torch.Tensor):
                info["shapes"].append(list(image.shape))
                images.append(image.detach())
        if images and all(im.shape == images[0].shape for im in images):
            tensors[f"ds{k}.images"] = torch.stack(images)
        data["datasets"].append(info)
    return data, tensors


def _hooked(model):
    """Record, for every call of a leaf module in forward order, its type and its input's minimum."""
    calls = []

    def hook(module, args, output):
        x = args[0] if args else None
        calls.append({"type": _type(module),
                      "input_min": float(x.min()) if isinstance(x, torch.Tensor) and x.numel() else None})

    for m in model.modules():
        if not list(m.children()):
            m.register_forward_hook(hook)
    return calls


def parameters(student, args, inputs, device):
    """Construction only: no forward pass, so a crashing forward costs only the forward checks."""
    model = student.DigitCNN()
    return {"n_parameters": int(sum(p.numel() for p in model.parameters())),
            "module_types": sorted({_type(m) for m in model.modules()})}, {}


def network(student, args, inputs, device):
    x = inputs["images"].to(device)
    model = student.DigitCNN().to(device)
    calls = _hooked(model)
    model.eval()
    with torch.no_grad():
        first = model(x)
        n_calls = len(calls)
        second = model(x)
        model.train()
        torch.manual_seed(1)
        train_a = model(x)
        torch.manual_seed(2)
        train_b = model(x)
        model.eval()
        shapes = {}
        for bs in args["batch_sizes"]:
            shapes[str(bs)] = list(model(torch.rand(bs, 1, 28, 28, device=device)).shape)
    return {"calls": calls[:n_calls][:200], "shapes": shapes}, {
        "eval.a": first, "eval.b": second, "train.a": train_a, "train.b": train_b}


def train_reference(model, images, labels, args, device):
    """The course's training loop (assignment 03's shape), with a fixed seed and budget."""
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


def train(student, args, inputs, device):
    model = student.DigitCNN().to(device)
    losses = train_reference(model, inputs["train.x"], inputs["train.y"], args, device)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x.to(device)) for x in inputs["held.x"].split(500)])
    return {"losses": losses}, {"held.logits": logits}
