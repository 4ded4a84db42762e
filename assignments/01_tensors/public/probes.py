"""Probes of 01_tensors. They run in the sandbox, next to the student's code.

Each probe calls one of the student's functions on inputs the judge chose and returns raw
observations: plain JSON plus tensors. It decides nothing and holds no secrets (a student may read
this file); the judge recomputes every answer. Where the question is about memory or devices, which
only exist in the sandbox's process, the probe changes the input after the call and returns what the
result holds then, so the judge sees the effect rather than a yes/no.

Each probe is `name(student, args, inputs, device) -> (json_dict, tensor_dict)`.
"""
import numpy as np
import torch


def _type(x) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _tensor(x, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} is a {type(x).__name__}, not a tensor")
    return x.detach()


def _parts(result, n: int, what: str) -> tuple:
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise TypeError(f"{what} should return {n} values as a tuple; it returned "
                        f"{type(result).__name__}" + (f" of length {len(result)}"
                                                      if isinstance(result, (tuple, list)) else ""))
    return tuple(result)


def _number(x):
    """A Python number as itself; anything else as None (its type is reported separately)."""
    return float(x) if type(x) in (int, float) else None


def random_pair(student, args, inputs, device):
    normal, uniform = _parts(student.random_pair(tuple(args["shape"]), args["seed"]), 2, "random_pair")
    return {}, {"normal": _tensor(normal, "the first tensor"),
                "uniform": _tensor(uniform, "the second tensor")}


def shape_and_ndim(student, args, inputs, device):
    seen = []
    for shape in args["shapes"]:
        shape_out, ndim = _parts(student.shape_and_ndim(torch.zeros(shape)), 2, "shape_and_ndim")
        seen.append({
            "shape_type": _type(shape_out),
            "shape": [int(s) if type(s) is int else None for s in shape_out]
            if isinstance(shape_out, tuple) else None,
            "ndim_type": _type(ndim), "ndim": ndim if type(ndim) is int else None})
    return {"seen": seen}, {}


def as_float32(student, args, inputs, device):
    tensors = {}
    for name in ("float64", "int64"):
        array = inputs[f"dtypes.{name}"].numpy().copy()  # a plain numpy array of that dtype
        tensors[name] = _tensor(student.as_float32(array), "as_float32's result")
    return {}, tensors


def broadcast(student, args, inputs, device):
    total, product = _parts(student.broadcast(inputs["ops.a"].clone(), inputs["ops.b"].clone()), 2,
                            "broadcast")
    return {}, {"sum": _tensor(total, "the sum"), "product": _tensor(product, "the product")}


def mean_and_sum(student, args, inputs, device):
    mean, total = _parts(student.mean_and_sum(inputs["ops.x"].clone()), 2, "mean_and_sum")
    return {"types": [_type(mean), _type(total)], "mean": _number(mean), "sum": _number(total)}, {}


def first_row_and_column(student, args, inputs, device):
    row, column = _parts(student.first_row_and_column(inputs["index.X"].clone()), 2,
                         "first_row_and_column")
    return {}, {"row": _tensor(row, "the row"), "column": _tensor(column, "the column")}


def _change(values, index, marker):
    """Write `marker` at `index` of an array or a tensor, after the student's function returned."""
    values[tuple(index)] = marker


def to_numpy(student, args, inputs, device):
    t = inputs["bridge.t"].clone()
    result = student.to_numpy(t)
    if type(result) is not np.ndarray:
        raise TypeError(f"to_numpy returned {_type(result)}, not a numpy array")
    before = torch.tensor(result)  # copies, so later changes do not reach it
    _change(t, args["index"], args["marker"])
    return {}, {"before": before, "after": torch.tensor(result)}


def _from_numpy(student, name, args, inputs):
    array = inputs["bridge.a"].numpy().copy()
    result = _tensor(getattr(student, name)(array), f"{name}'s result")
    before = result.clone()
    _change(array, args["index"], args["marker"])
    return {}, {"before": before, "after": result.clone()}


def share_from_numpy(student, args, inputs, device):
    return _from_numpy(student, "share_from_numpy", args, inputs)


def copy_from_numpy(student, args, inputs, device):
    return _from_numpy(student, "copy_from_numpy", args, inputs)


def _device_name(result) -> dict:
    if isinstance(result, torch.device):
        return {"type": "torch.device", "name": str(result)}
    if type(result) is str:
        return {"type": "str", "name": result[:40]}
    return {"type": _type(result), "name": None}


def pick_device(student, args, inputs, device):
    """pick_device() three times: as this machine is, then as if it had a GPU, then as if not.

    Pretending is done by replacing torch.cuda.is_available (and device_count) for the call, also
    where the student's module holds its own reference to them, so no GPU is needed to see whether
    the answer follows the availability or is fixed."""
    seen = {"actual": _device_name(student.pick_device())}
    originals = {"is_available": torch.cuda.is_available, "device_count": torch.cuda.device_count}
    for label, available in (("with_cuda", True), ("without_cuda", False)):
        fakes = {"is_available": lambda a=available: a, "device_count": lambda a=available: int(a)}
        aliases = {k: v for k, v in vars(student).items()
                   if any(v is f for f in originals.values())}
        try:
            for name, fake in fakes.items():
                setattr(torch.cuda, name, fake)
            for k, v in aliases.items():
                setattr(student, k, fakes["is_available" if v is originals["is_available"]
                                          else "device_count"])
            seen[label] = _device_name(student.pick_device())
        finally:
            for name, original in originals.items():
                setattr(torch.cuda, name, original)
            for k, v in aliases.items():
                setattr(student, k, v)
    return seen, {}


def to_device(student, args, inputs, device):
    """Move to the grading device and to "meta" (a device without data that every machine has)."""
    t = inputs["device.t"]
    data, tensors = {}, {}
    for label, target in (("meta", "meta"), ("grading", device)):
        moved = _tensor(student.to_device(t.clone(), torch.device(target)), "to_device's result")
        data[label] = {"device": moved.device.type, "shape": list(moved.shape),
                       "dtype": str(moved.dtype)}
        if moved.device.type != "meta":
            tensors[label] = moved
    return data, tensors


def _regression(inputs):
    return [inputs[f"grad.{k}"].clone() for k in ("X", "y", "w0", "b0")]


def loss_and_gradients(student, args, inputs, device):
    X, y, w0, b0 = _regression(inputs)
    loss, grad_w, grad_b = _parts(student.loss_and_gradients(X, y, w0, b0), 3, "loss_and_gradients")
    for what, g in (("the gradient of w", grad_w), ("the gradient of b", grad_b)):
        if g is None:
            raise TypeError(f"{what} is None: was loss.backward() called, on w and b that require "
                            "gradients?")
    return {"loss_type": _type(loss), "loss": _number(loss)}, {
        "grad_w": _tensor(grad_w, "the gradient of w"), "grad_b": _tensor(grad_b, "the gradient of b"),
        "w0_after": w0, "b0_after": b0}


def _descent(student, name, args, inputs):
    X, y, w0, b0 = _regression(inputs)
    w, b = _parts(getattr(student, name)(X, y, w0, b0, args["lr"], args["steps"]), 2, name)
    return {}, {"w": _tensor(w, "the returned w"), "b": _tensor(b, "the returned b")}


def gradient_descent(student, args, inputs, device):
    return _descent(student, "gradient_descent", args, inputs)


def sgd_descent(student, args, inputs, device):
    return _descent(student, "sgd_descent", args, inputs)


def calculus_gradients(X, y, w, b):
    """The loss mean((X @ w + b - y) ** 2) and its gradients by calculus, 2/N X^T r and 2/N sum(r),
    with r = X @ w + b - y. Not a probe: the judge and the self-checks import it to recompute."""
    r = X @ w + b - y
    return float((r ** 2).mean()), 2 / len(X) * X.T @ r, 2 / len(X) * r.sum()


def calculus_descent(X, y, w, b, lr: float, steps: int, bug: str | None = None):
    """`steps` steps of gradient descent on that loss, by calculus (pass float64 tensors), or with
    one named bug, for diagnosis: `no_reset` lets the gradients accumulate over the steps, `ascent`
    climbs instead of descending. Not a probe either."""
    acc_w, acc_b = torch.zeros_like(w), torch.zeros_like(b)
    for _ in range(steps):
        _, gw, gb = calculus_gradients(X, y, w, b)
        if bug == "no_reset":
            acc_w, acc_b = acc_w + gw, acc_b + gb
            gw, gb = acc_w, acc_b
        sign = -1 if bug == "ascent" else 1
        w, b = w - sign * lr * gw, b - sign * lr * gb
    return w, b
