"""Self-checks of 01_tensors: run by a student's `autograder check`, worth no points, never graded.

The graded autograd checks compare your gradients and your descent with the judge's own replay.
These recompute the same things by calculus (probes.calculus_gradients and calculus_descent: the
loss is mean((X @ w + b - y) ** 2), so its gradients are 2/N X^T r and 2/N sum(r)), on the public
inputs, so that a broken graph or gradients that pile up are named before you submit.
"""
import torch

from autograder.evidence import Evidence, check, fail

_NOT_IN_GRAPH = ("does not require grad", "'NoneType'")


def _regression(plan):
    return [plan.inputs[f"grad.{k}"].double() for k in ("X", "y", "w0", "b0")]


def _evidence(submission_run, name: str, broken_graph: str) -> Evidence:
    """The probe's evidence, or a failure that names the autograd mistake behind its error."""
    outcome = submission_run.probes[name]
    if outcome.status == "error" and any(s in outcome.reason for s in _NOT_IN_GRAPH):
        fail(f"{name}: {broken_graph} ({outcome.reason})")
    return Evidence(outcome, name)


def test_gradients_are_the_calculus_ones__catches_missing_requires_grad(submission_run, plan, probes):
    """loss_and_gradients returns the loss at (w0, b0) and the gradients backward() leaves in w.grad
    and b.grad, equal to the calculus ones."""
    ev = _evidence(submission_run, "loss_and_gradients", "w and b must be leaf tensors that require "
                   "gradients before the loss is computed (w = w0.clone().requires_grad_(True)), or "
                   "backward() has nothing to fill")
    loss, grad_w, grad_b = probes.calculus_gradients(*_regression(plan))
    loss_path, gw_path, gb_path = ev.parts("result", 3, "loss_and_gradients")
    got = ev.value(loss_path, float, what="the loss")
    check(abs(got - loss) <= 1e-4 * max(1.0, loss), f"the loss is {got:.6g}; the mean squared error "
          f"at (w0, b0) is {loss:.6g}")
    for what, key, want in (("w", gw_path, grad_w), ("b", gb_path, grad_b)):
        check(ev.typename(key) != "builtins.NoneType", f"the gradient of {what} is None: was "
              "loss.backward() called, on w and b that require gradients?")
        seen = ev.tensor(key, tuple(want.shape), what=f"the gradient of {what}").double()
        check(torch.allclose(seen, want, rtol=1e-4, atol=1e-4), f"the gradient of {what} is "
              f"{seen.numpy().round(5).tolist()}; calculus gives {want.numpy().round(5).tolist()}")


def _descent_check(submission_run, plan, probes, name: str, how: str):
    ev = _evidence(submission_run, name, "a gradient was missing where the update needed it: after "
                   "the first update w or b is no longer a leaf of the graph that requires gradients "
                   "(w = w - lr * w.grad or w = w.data - lr * w.grad make a new tensor), so the next "
                   f"backward() cannot reach it: {how}")
    args = next(s.args for s in plan.probes if s.name == name)
    X, y, w0, b0 = _regression(plan)
    w_path, b_path = ev.parts("result", 2, name)
    w = ev.tensor(w_path, tuple(w0.shape), what="the returned w").double()
    b = ev.tensor(b_path, dtype=torch.float32, what="the returned b").double()
    check(b.numel() == 1, f"the returned b has shape {tuple(b.shape)}; it should hold one number")
    b = b.reshape(())

    def near(candidate) -> bool:
        return all(torch.allclose(x, c, rtol=1e-4, atol=1e-4) for x, c in zip((w, b), candidate))

    lr, steps = args["lr"], args["steps"]
    if near(probes.calculus_descent(X, y, w0, b0, lr, steps)):
        return
    if near(probes.calculus_descent(X, y, w0, b0, lr, steps, bug="no_reset")):
        fail(f"{name} ended where the gradients of every earlier step are added again: the "
             "gradients are never reset; zero them after each update (w.grad.zero_(), or "
             "optimizer.zero_grad() before backward())")
    if near(probes.calculus_descent(X, y, w0, b0, lr, steps, bug="ascent")):
        fail(f"{name} climbs the loss: subtract lr * grad")
    want_w, want_b = probes.calculus_descent(X, y, w0, b0, lr, steps)
    fail(f"{name} ended at {w.numpy().round(4).tolist()}, {b.item():.4f}; {steps} steps of size "
         f"{lr} from (w0, b0) end at {want_w.numpy().round(4).tolist()}, {want_b.item():.4f}")


def test_gradient_descent_ends_where_calculus_says__catches_gradients_that_pile_up(
        submission_run, plan, probes):
    """gradient_descent's steps, by hand, end where the same steps by calculus end."""
    _descent_check(submission_run, plan, probes, "gradient_descent",
                   "update in place under torch.no_grad() (w -= lr * w.grad)")


def test_sgd_descent_ends_where_calculus_says__catches_missing_zero_grad(submission_run, plan, probes):
    """sgd_descent's steps with torch.optim.SGD end where the same steps by calculus end."""
    _descent_check(submission_run, plan, probes, "sgd_descent",
                   "let the optimizer update them (optimizer.step())")
