"""Autograd: gradients checked against calculus, descent replayed by the judge in float64."""
import pytest
import torch

from autograder.evidence import Evidence, check, fail
from autograder.judge import FEEDBACK  # a passing check's note: how its value was read

NOT_IN_GRAPH = ("does not require grad", "'NoneType'")
BUGS = {
    "no_reset": "the gradients are never reset, so each step adds every earlier gradient again: "
                "zero them after each update (w.grad.zero_(), or optimizer.zero_grad() before "
                "backward())",
    "ascent": "the weights move up the gradient instead of down: subtract lr * grad",
}


def _evidence(submission_run, name, what, broken_graph: str) -> Evidence:
    """The probe's evidence, or a failure that names the autograd mistake behind its error."""
    outcome = submission_run.probes[name]
    if outcome.status == "error" and any(s in outcome.reason for s in NOT_IN_GRAPH):
        fail(f"{what}: {broken_graph} ({outcome.reason})")
    return Evidence(outcome, what)


NO_GRAD = ("w and b must be leaf tensors that require gradients before the loss is computed "
           "(w = w0.clone().requires_grad_(True)), or backward() has nothing to fill")


def test_gradients_match_calculus__catches_missing_requires_grad(probe, submission_run, plan, ref, p,
                                                                 record_property):
    """loss_and_gradients returns the mean squared error as a Python float (a 0-d tensor is read as
    the float it holds, with a note) and the gradients that loss.backward() leaves in w.grad and
    b.grad; the judge derives them by calculus:
    dloss/dw = 2/N X^T (Xw + b - y), dloss/db = 2/N sum(Xw + b - y)."""
    ev = _evidence(submission_run, "loss_and_gradients", "loss_and_gradients", NO_GRAD)
    loss_path, gw_path, gb_path = ev.parts("result", 3, "loss_and_gradients")
    loss, grad_w, grad_b = ref.gradients(plan)
    d = len(grad_w)
    got, said = ev.as_python(loss_path, float)
    check(got is not None, f"the loss came back as a {ev.kind(loss_path)}; return loss.item(), a "
          "Python float")
    check(abs(got - loss) <= p.value_rtol * max(1.0, loss), f"the loss is {got:.6g}; the mean "
          f"squared error at (w0, b0) is {loss:.6g}")
    for what, path in (("w", gw_path), ("b", gb_path)):
        if ev.typename(path) == "builtins.NoneType":
            fail(f"the gradient of {what} is None: was loss.backward() called, on w and b that "
                 f"require gradients? {NO_GRAD}")
    gw = ev.tensor(gw_path, (d,), what="the gradient of w").double()
    gb = ev.tensor(gb_path, (), what="the gradient of b").double()
    for what, seen, want in (("w", gw, grad_w), ("b", gb, grad_b)):
        if not torch.allclose(seen, want, rtol=p.gradient_rtol, atol=p.gradient_rtol):
            twice = torch.allclose(seen, 2 * want, rtol=p.gradient_rtol, atol=p.gradient_rtol)
            fail(f"the gradient of {what} is {seen.numpy().round(5).tolist()}; calculus gives "
                 f"{want.numpy().round(5).tolist()}"
                 + (" (twice the right value: was backward() called twice without resetting "
                    "the gradients?)" if twice else ""))
    if said:
        record_property(FEEDBACK, said)


def _left_alone(ev, plan, name: str) -> None:
    """w0 and b0 as the caller sees them after `name` returned: the same bytes, and still tensors
    that need no gradient (requires_grad is a report of the student's process)."""
    d = plan.inputs["grad.w0"].shape[0]
    for key, shape, source in (("w0", (d,), plan.inputs["grad.w0"]), ("b0", (), plan.inputs["grad.b0"])):
        after = ev.tensor(f"{key}_after", shape, what=key)
        if not torch.equal(after, source):
            fail(f"{name} changed the caller's {key}: work on a copy ({key}.clone()) and leave the "
                 "caller's tensors as they were")
        if ev.reported(f"{key}_after", "requires_grad"):
            fail(f"{name} turned on requires_grad on the caller's {key}: call requires_grad_ on a "
                 f"copy ({key}.clone().requires_grad_(True)), not on the tensor you were given")


def test_loss_and_gradients_leaves_w0_and_b0_alone__catches_changing_the_callers_tensors(
        submission_run, plan):
    """loss_and_gradients leaves w0 and b0 as they were: the same values, and no requires_grad
    turned on (work on copies)."""
    ev = _evidence(submission_run, "loss_and_gradients", "loss_and_gradients", NO_GRAD)
    _left_alone(ev, plan, "loss_and_gradients")


@pytest.mark.parametrize("name", ["gradient_descent", "sgd_descent"])
def test_descent_leaves_w0_and_b0_alone__catches_updating_the_callers_tensors(
        submission_run, plan, name):
    """The descent starts from copies of w0 and b0: the caller's tensors keep their values."""
    ev = _evidence(submission_run, name, name, "a gradient was missing where the update needed it")
    _left_alone(ev, plan, name)


@pytest.mark.parametrize("name", ["gradient_descent", "sgd_descent"])
def test_descent_matches_the_judges_replay__catches_missing_zero_grad_or_broken_graph(
        probe, submission_run, plan, ref, p, name, measure):
    """From (w0, b0), the given number of gradient-descent steps with the given learning rate (by
    hand, or with torch.optim.SGD) ends where the judge's own replay in float64 ends."""
    how = "update in place under torch.no_grad() (w -= lr * w.grad)" if name == "gradient_descent" \
        else "let the optimizer update them (optimizer.step())"
    ev = _evidence(submission_run, name, name,
                   "a gradient was missing where the update needed it. Most likely, after the first "
                   "update w or b is no longer a leaf of the graph that requires gradients "
                   "(w = w - lr * w.grad or w = w.data - lr * w.grad make a new tensor), so the next "
                   f"backward() cannot reach it: {how}; or loss.backward() is not called each step")
    args = next(s.args for s in plan.probes if s.name == name)
    d = plan.inputs["grad.w0"].shape[0]
    w_path, b_path = ev.parts("result", 2, name)
    w = ev.tensor(w_path, (d,), what="the returned w").double()
    b = ev.tensor(b_path, dtype=torch.float32, what="the returned b").double()
    check(b.numel() == 1, f"the returned b has shape {tuple(b.shape)}; it should hold one number")
    b = b.reshape(())
    tol = p.descent_tolerance

    def distance(candidate) -> float:
        """The smallest tolerance t at which allclose(..., rtol=t, atol=t) accepts (w, b)."""
        return max(((x - c).abs() / (1 + c.abs())).max().item() for x, c in zip((w, b), candidate))

    def near(candidate) -> bool:
        return tol.passes(distance(candidate))

    if tol.passes(measure("descent_tolerance", distance(ref.descent(plan, args["lr"], args["steps"])))):
        return
    for bug, why in BUGS.items():
        if near(ref.descent(plan, args["lr"], args["steps"], bug=bug)):
            fail(f"{name} ended at the wrong weights: {why}")
    if near((plan.inputs["grad.w0"].double(), plan.inputs["grad.b0"].double())):
        fail(f"{name} returned the starting weights: they never moved (is the update applied to "
             "the tensors you return?)")
    for steps in range(args["steps"]):
        if near(ref.descent(plan, args["lr"], steps)):
            fail(f"{name} took {steps} steps instead of {args['steps']}")
    fail(f"{name} ended at {w.numpy().round(4).tolist()}, {b.item():.4f}; {args['steps']} steps of "
         f"size {args['lr']} from (w0, b0) end at "
         f"{ref.descent(plan, args['lr'], args['steps'])[0].numpy().round(4).tolist()}, "
         f"{ref.descent(plan, args['lr'], args['steps'])[1].item():.4f}")
