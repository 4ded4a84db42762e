"""Softmax, one-hot, cross-entropy and the two ReLUs, compared with PyTorch's own functions."""
import torch
from torch.nn import functional as F

from autograder.evidence import check, fail

STABLE = ("subtract the largest score before exponentiating (softmax is unchanged by shifting all "
          "scores by the same amount)")


def _softmax_out(probe, name, z):
    ev = probe(name, "softmax")
    return ev.tensor("p", tuple(z.shape), finite=False, what="the probabilities")


def _explain_softmax(out, z, dim):
    if not torch.isfinite(out).all():
        return f"the result holds NaN or infinity: exp() overflowed; {STABLE}"
    sums = out.double().sum(dim=dim)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        for other in range(z.dim()):
            if other != dim % z.dim() and torch.allclose(out, torch.softmax(z, dim=other), atol=1e-5):
                return f"the probabilities are normalised along dimension {other}, not {dim}"
        return f"the probabilities do not add up to 1 along dimension {dim}: divide by their sum"
    return "the probabilities differ from exp(z) / sum(exp(z))"


def test_softmax_matches_torch__catches_missing_normalisation(probe, plan, p):
    """softmax(z) equals torch.softmax(z, dim=-1): positive, adding up to 1 along the last
    dimension, in the order of the scores."""
    z = plan.inputs["softmax.z"]
    out = _softmax_out(probe, "softmax", z)
    if not torch.allclose(out, torch.softmax(z, dim=-1), atol=p.softmax_atol, rtol=1e-5):
        fail(f"softmax(z) for z of shape {tuple(z.shape)}: {_explain_softmax(out, z, -1)}")


def test_softmax_uses_the_given_dim__catches_hardcoded_last_dim(probe, plan, p):
    """softmax(z, dim=1) normalises along dimension 1 of a 3-D tensor."""
    z = plan.inputs["softmax.z3"]
    out = _softmax_out(probe, "softmax_dim", z)
    if not torch.allclose(out, torch.softmax(z, dim=1), atol=p.softmax_atol, rtol=1e-5):
        fail(f"softmax(z, dim=1) for z of shape {tuple(z.shape)}: {_explain_softmax(out, z, 1)}")


def test_softmax_is_stable_for_large_scores__catches_overflow(probe, plan, p):
    """softmax stays exact for scores near +1000 and -1000, where exp() alone overflows to infinity
    or underflows to 0."""
    z = plan.inputs["softmax.large"]
    out = _softmax_out(probe, "softmax_large", z)
    if not torch.allclose(out, torch.softmax(z, dim=-1), atol=p.softmax_large_atol, rtol=1e-5):
        fail(f"softmax of scores around ±1000: {_explain_softmax(out, z, -1)}")


def _one_hot(probe, plan, k):
    labels = plan.inputs["one_hot.labels"]
    ev = probe(f"one_hot_{k}", f"one_hot(labels, {k})")
    return labels, ev.tensor("encoded", dtype=None, what="the encoding")


def test_one_hot_marks_each_label__catches_off_by_one(probe, plan, p):
    """one_hot(labels, K) is a float32 tensor of shape (N, K) with a single 1 per row, in the column
    of that row's label (labels count from 0)."""
    k = p.one_hot_classes[0]
    labels, out = _one_hot(probe, plan, k)
    n = len(labels)
    if tuple(out.shape) == (n, k + 1):
        fail(f"one_hot(labels, {k}) has {k + 1} columns; expected {k}: labels already count from "
             "0, so label k goes in column k")
    check(tuple(out.shape) == (n, k), f"one_hot(labels, {k}) has shape {tuple(out.shape)}; expected "
          f"({n}, {k})")
    expected = F.one_hot(labels, k).float()
    if not torch.equal(out.float(), expected):
        for shift in (1, -1):
            # labels - 1 puts label 0 in column -1, which Python indexing wraps to the last column
            shifted = F.one_hot((labels + shift) % k, k).float()
            if torch.equal(out.float(), shifted):
                fail(f"every 1 sits one column too far {'right' if shift > 0 else 'left'}: label k "
                     "goes in column k (columns count from 0)")
        fail("the encoding differs from a single 1 in each row's label column")
    check(out.dtype == torch.float32, f"the encoding has dtype {out.dtype}; return float32 "
          "(e.g. add .float())")


def test_one_hot_uses_num_classes__catches_width_from_the_labels(probe, plan, p):
    """The number of columns is num_classes, even when the largest class never appears among the
    labels."""
    k = p.one_hot_classes[1]
    labels, out = _one_hot(probe, plan, k)
    check(tuple(out.shape) == (len(labels), k), f"one_hot(labels, {k}) for labels up to "
          f"{labels.max().item()} has shape {tuple(out.shape)}; expected ({len(labels)}, {k}): use "
          "num_classes, not the largest label, for the width")
    check(torch.equal(out.float(), F.one_hot(labels, k).float()), f"one_hot(labels, {k}) puts its "
          "1s in the wrong columns")


def test_cross_entropy_matches_torch__catches_missing_log_or_sum(probe, plan, p):
    """cross_entropy(logits, targets) equals F.cross_entropy: the mean over the batch of
    -log softmax(logits)[target]."""
    ev = probe("cross_entropy", "cross_entropy")
    logits, targets = plan.inputs["ce.logits"], plan.inputs["ce.targets"]
    number = ev.number("loss")  # a Python number is judged here too (not differentiable: below)
    loss = torch.tensor(number) if number is not None else \
        ev.tensor("loss", what="the loss", finite=False, dtype=None)
    check(loss.numel() == 1, f"the loss has shape {tuple(loss.shape)}; it should be one number "
          "(the mean over the batch)")
    got = loss.double().reshape(()).item()
    want = F.cross_entropy(logits.double(), targets).item()
    if abs(got - want) <= p.ce_atol * max(1.0, abs(want)):
        return
    picked = torch.softmax(logits.double(), dim=1)[torch.arange(len(targets)), targets]
    guesses = {
        "the log is missing: cross-entropy is the mean of -log(probability of the true class)":
            -picked.mean().item(),
        "the loss is summed over the batch; take the mean": -picked.log().sum().item(),
        "the sign is flipped: cross-entropy is minus the mean log-probability":
            picked.log().mean().item(),
        "the scores are used as probabilities: take the softmax of the logits first":
            -logits.double()[torch.arange(len(targets)), targets].clamp_min(1e-12).log().mean().item(),
    }
    for why, value in guesses.items():
        if abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            fail(f"the loss is {got:.5g}, not {want:.5g}: {why}")
    fail(f"the loss is {got:.5g}; F.cross_entropy gives {want:.5g} for the same logits and targets")


def test_cross_entropy_is_differentiable__catches_a_float_or_detached_result(probe, plan, p):
    """The loss is a tensor connected to the logits, so backward() gives d loss / d logits =
    (softmax(logits) - one_hot(targets)) / N."""
    ev = probe("cross_entropy", "cross_entropy")
    kind = ev.typename("loss")
    check(kind == "torch.Tensor", f"cross_entropy returned a {kind.rsplit('.', 1)[-1]}; return the "
          "tensor itself (no .item()), so that backward() can run through it")
    check(ev.has_tensor("grad"), "the loss is not connected to the logits (was it built from "
          ".detach(), .item() or numpy?), so backward() cannot reach them")
    logits, targets = plan.inputs["ce.logits"].double(), plan.inputs["ce.targets"]
    expected = (torch.softmax(logits, dim=1) - F.one_hot(targets, logits.shape[1])) / len(targets)
    grad = ev.tensor("grad", tuple(logits.shape), what="the gradient").double()
    check(torch.allclose(grad, expected, atol=1e-5), "backward() through your loss gives the wrong "
          "gradient for the logits")


def test_relu_is_max_of_zero_and_x__catches_min_instead_of_max(probe, plan):
    """relu(x) is max(0, x): 0 for negative inputs, x itself for positive ones."""
    ev = probe("relu", "relu")
    x = plan.inputs["act.x"]
    out = ev.tensor("out", tuple(x.shape), what="relu's output")
    if torch.equal(out, torch.relu(x)):
        return
    if torch.equal(out, torch.clamp(x, max=0)):
        fail("relu returns x for negative inputs and 0 for positive ones: that is min(0, x); ReLU "
             "is max(0, x)")
    fail("relu's output differs from max(0, x)")


def test_leaky_relu_keeps_a_small_negative_slope__catches_ignored_slope(probe, plan, p):
    """leaky_relu(x, negative_slope) is x for x >= 0 and negative_slope * x below, with
    negative_slope 0.01 when not given."""
    ev = probe("leaky_relu", "leaky_relu")
    x = plan.inputs["act.x"]
    for key, slope in (("default", 0.01), ("custom", p.leaky_slope)):
        out = ev.tensor(key, tuple(x.shape), what="leaky_relu's output")
        if not torch.allclose(out, F.leaky_relu(x, slope), atol=1e-7):
            hint = ""
            if torch.equal(out, torch.relu(x)):
                hint = ": negative inputs give 0, as in plain ReLU; they should give slope * x"
            elif key == "custom" and torch.allclose(out, F.leaky_relu(x, 0.01), atol=1e-7):
                hint = ": the negative_slope argument is ignored"
            fail(f"leaky_relu with negative_slope={slope} differs from x where x >= 0, "
                 f"{slope} * x elsewhere{hint}")


def _left_alone(probe, plan, checks: list[tuple[str, str, str, str]]) -> None:
    """Each (probe, key of the input after the call, input, call) in turn: the caller's tensor must
    hold the values it had (bytes compared by the judge; what a process did to its own memory is a
    report of that process, so the checks that rest on this are `reported`)."""
    for name, key, source, call in checks:
        ev = probe(name, call)
        x = plan.inputs[source]
        after = ev.tensor(key, tuple(x.shape), what=f"the tensor {call} was given")
        if not torch.equal(after, x):
            fail(f"{call} changed the tensor it was given: compute the result into a new tensor "
                 "(torch.clamp(x, min=0), x - x.max(...)) instead of changing x in place "
                 "(x[x < 0] = 0, x -= ..., relu_)")


def test_relu_and_leaky_relu_leave_x_alone__catches_changing_x_in_place(probe, plan):
    """relu and leaky_relu return a new tensor and leave the x they were given as it was."""
    _left_alone(probe, plan, [("relu", "x_after", "act.x", "relu"),
                              ("leaky_relu", "default_x_after", "act.x", "leaky_relu"),
                              ("leaky_relu", "custom_x_after", "act.x", "leaky_relu")])


def test_softmax_leaves_z_alone__catches_shifting_z_in_place(probe, plan):
    """softmax returns a new tensor and leaves the scores it was given as they were (shift a copy:
    z - z.max(...), not z -= z.max(...))."""
    _left_alone(probe, plan, [("softmax", "z_after", "softmax.z", "softmax"),
                              ("softmax_dim", "z_after", "softmax.z3", "softmax"),
                              ("softmax_large", "z_after", "softmax.large", "softmax")])
