"""Probes of 04_digits_cnn. They run in the sandbox, next to the student's code.

They return raw observations (JSON + tensors) and hold no secrets. No training happens here, and no
held-out image comes here: `graph` exports the student's DigitCNN as two graphs of standard operators
(training and evaluation mode) with its initial weights, and the judge rebuilds it from them
(autograder/graph.py), trains it with `train_reference`, the course's own loop, on digits it drew,
and scores it on digits that never enter the sandbox.

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


def parameters(student, args, inputs, device):
    """Construction only: no forward pass, so a crashing forward costs only the forward checks."""
    model = student.DigitCNN()
    return {"n_parameters": int(sum(p.numel() for p in model.parameters())),
            "module_types": sorted({_type(m) for m in model.modules()})}, {}


def network(student, args, inputs, device):
    x = inputs["images"].to(device)
    model = student.DigitCNN().to(device)
    model.eval()
    with torch.no_grad():
        first = model(x)
        second = model(x)
        shapes = {}
        for bs in args["batch_sizes"]:
            shapes[str(bs)] = list(model(torch.rand(bs, 1, 28, 28, device=device)).shape)
    # for the shape check, the student's self-check and the learning check's hint; the layer,
    # ReLU, dropout and logits checks run the network rebuilt from `graph` instead
    return {"shapes": shapes}, {"eval.a": first, "eval.b": second}


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


def _encode(arg):
    """One argument of a graph node as JSON (autograder/graph.py gives the form)."""
    if isinstance(arg, torch.fx.Node):
        return {"ref": arg.name}
    if isinstance(arg, (list, tuple)):
        return {"list": [_encode(a) for a in arg]}
    if arg is None or type(arg) in (int, float, bool, str):
        return {"const": arg}
    return {"const": str(arg)}  # a dtype or a device: the judge refuses what it does not expect


def _graph(program) -> dict:
    kinds = {spec.arg.name: (spec.kind.name.lower(), spec.target or spec.arg.name)
             for spec in program.graph_signature.input_specs}
    nodes, output = [], None
    for node in program.graph.nodes:
        if node.op == "placeholder":
            kind, target = kinds.get(node.name, ("user_input", node.name))
            nodes.append({"name": node.name, "op": "input", "kind": kind, "target": target})
        elif node.op == "call_function":
            nodes.append({"name": node.name, "op": "call", "target": str(node.target),
                          "args": [_encode(a) for a in node.args],
                          "kwargs": {k: _encode(v) for k, v in node.kwargs.items()}})
        elif node.op == "output":
            output = _encode(node.args[0])
    return {"nodes": nodes, "output": output}


def graph(student, args, inputs, device):
    """DigitCNN() as data: its graph in training and in evaluation mode, with a batch dimension of
    any size, and its initial weights. The judge rebuilds, trains and scores it."""
    model = student.DigitCNN()
    example = (torch.zeros(2, 1, 28, 28),)
    batch = torch.export.Dim("batch", min=2, max=4096)
    graphs = {}
    for mode in ("train", "eval"):
        getattr(model, mode)()
        try:
            program = torch.export.export(model, example, dynamic_shapes=({0: batch},))
        except Exception as exc:  # noqa: BLE001 - the student's forward: say what stopped it
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            return {"export_error": f"{type(exc).__name__}: {first}", "mode": mode}, {}
        graphs[mode] = _graph(program)
        if mode == "train":
            state = {k: v.detach().clone() for k, v in program.state_dict.items()}
            state.update({k: v.detach().clone() for k, v in program.constants.items()
                          if isinstance(v, torch.Tensor)})
    return {"graphs": graphs}, {f"state.{k}": v.contiguous() for k, v in state.items()}
