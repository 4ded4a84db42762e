"""Probes of 01_tensors: what the sandbox calls in the student's module, and what it ships back.

Each probe is a recipe, `name(r, args, device)` (autograder/recipe.py): it calls one of the
student's functions on inputs the judge chose and ships what came back, as it is (a tuple of two
tensors, a Python float, a numpy array...). It decides nothing and holds no secrets (a student may
read this file); the judge recomputes every answer from the shipped values. Where the question is
about memory, which exists only in the sandbox's process, the recipe changes the source after the
call and ships the result again, so the judge sees the effect rather than a yes/no (such checks are
`reported: true` in grading_config.yaml: a process that lies about itself could fake them).

The two calculus functions at the end are not probes: the judge and the self-checks import them.
"""
import torch


def random_pair(r, args, device):
    """random_pair from two different global random states with the same seed, then with another
    seed: a seeded function gives the same draws whatever came before it, and other draws for
    another seed."""
    shape = tuple(args["shape"])
    first, again = args["states"]
    r.seed(first)
    r.ship("pair", r.student.random_pair(shape, args["seed"]))
    r.seed(again)
    r.ship("again", r.student.random_pair(shape, args["seed"]))
    r.ship("other", r.student.random_pair(shape, args["other_seed"]))


def shape_and_ndim(r, args, device):
    for i, shape in enumerate(args["shapes"]):
        r.ship(f"s{i}", r.student.shape_and_ndim(r.lib("torch.zeros")(list(shape))))


def as_float32(r, args, device):
    for name in ("float64", "int64"):  # a plain numpy array of that dtype
        r.ship(name, r.student.as_float32(r.numpy(f"dtypes.{name}")))


def broadcast(r, args, device):
    r.ship("result", r.student.broadcast(r.input("ops.a"), r.input("ops.b")))


def mean_and_sum(r, args, device):
    r.ship("result", r.student.mean_and_sum(r.input("ops.x")))


def first_row_and_column(r, args, device):
    r.ship("result", r.student.first_row_and_column(r.input("index.X")))


def _shared(r, args, name, source):
    """The result, then the result again after the source was changed at `index` (memory shared
    with the source shows the change)."""
    source = r.let(source)
    result = getattr(r.student, name)(source)
    r.ship("before", result)
    r.set(source, args["index"], args["marker"])
    r.ship("after", result)


def to_numpy(r, args, device):
    _shared(r, args, "to_numpy", r.input("bridge.t"))


def share_from_numpy(r, args, device):
    _shared(r, args, "share_from_numpy", r.numpy("bridge.a"))


def copy_from_numpy(r, args, device):
    _shared(r, args, "copy_from_numpy", r.numpy("bridge.a"))


def pick_device(r, args, device):
    """pick_device() as this machine is (cuda: None), or as if it had a GPU (True) or none (False).
    The pretence starts before the student's module is imported, so a device chosen once at import
    follows it like one chosen at call time."""
    if args["cuda"] is not None:
        r.pretend_cuda(args["cuda"])
    r.ship("device", r.student.pick_device())


def to_device(r, args, device):
    """To "meta" (a device without data that every machine has) and to the grading device."""
    for label, target in (("meta", "meta"), ("grading", device)):
        r.ship(label, r.student.to_device(r.input("device.t"), r.device(target)))


def _regression(r):
    return [r.let(r.input(f"grad.{k}")) for k in ("X", "y", "w0", "b0")]


def loss_and_gradients(r, args, device):
    X, y, w0, b0 = _regression(r)
    r.ship("result", r.student.loss_and_gradients(X, y, w0, b0))
    r.ship("w0_after", w0)  # the caller's tensors, after the call: left alone?
    r.ship("b0_after", b0)


def _descent(r, args, name):
    X, y, w0, b0 = _regression(r)
    r.ship("result", getattr(r.student, name)(X, y, w0, b0, args["lr"], args["steps"]))
    r.ship("w0_after", w0)
    r.ship("b0_after", b0)


def gradient_descent(r, args, device):
    _descent(r, args, "gradient_descent")


def sgd_descent(r, args, device):
    _descent(r, args, "sgd_descent")


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
