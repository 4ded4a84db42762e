"""Your Network and trainer together must learn: lower loss, and held-out accuracy.

The judge recomputes both from the weights your code produced; the held-out examples never leave
the judge.
"""
import pytest
import torch

from autograder.evidence import fail


ZERO_GRAD = ("gradients that are never cleared pile up across batches; call optimizer.zero_grad() "
             "before each backward()")


def diagnose(before: float, after: float, history: list | None = None) -> str:
    """The likely bug, from the training loss the judge recomputed before and after training, and
    (for a hint only) the per-epoch losses the trainer returned."""
    if after != after or after > 1.05 * before:
        return f"the loss rose, so the steps point the wrong way: {ZERO_GRAD}"
    if abs(after - before) <= 1e-3 * max(1.0, before):
        return ("the loss did not move, so the weights never changed: call optimizer.step() after "
                "loss.backward(), and clear the gradients before backward(), not between "
                "backward() and step()")
    values = [v for v in history or [] if isinstance(v, float)]
    rises = sum(b > a for a, b in zip(values, values[1:]))
    if len(values) >= 4 and rises >= len(values) // 3:
        return f"the loss your trainer reported goes up and down from epoch to epoch: {ZERO_GRAD}"
    return ("the loss fell too little: check that every batch takes a step and that the gradients "
            "are cleared each batch")


def _history(ev) -> list:
    return [ev.scalar(item) for item in ev.items("losses")]


def _trained(ev, ref, params):
    init = ref.weights(ev, "init.layers", params.sizes)
    final = ref.weights(ev, "final.layers", params.sizes)
    return init, final


@pytest.mark.parametrize("data", ["gaussians", "digits"])
def test_training_lowers_loss__catches_no_learning(probe, plan, ref, p, data, measure, curve):
    """Training your Network with your trainer lowers the training loss (recomputed by the judge
    from the weights before and after)."""
    params = getattr(p, data)
    ev = probe(f"fit_{data}", f"training on the {data} data")
    curve(f"{data}: the loss your trainer returned", _history(ev))
    (w0, b0), (w1, b1) = _trained(ev, ref, params)
    X, y = plan.inputs[f"{data}.x"], plan.inputs[f"{data}.y"]
    before = ref.cross_entropy(ref.forward(w0, b0, params.activation, X), y)
    after = ref.cross_entropy(ref.forward(w1, b1, params.activation, X), y)
    if not after == after:  # NaN
        fail(f"training on the {data} data produced NaN weights")
    limit = params.loss_drop
    if not limit.passes(measure(f"{data}.loss_drop", after / before)):
        fail(f"training on the {data} data took the loss from {before:.3f} to {after:.3f}; it "
             f"should fall below {limit.value:.0%} of where it started: "
             f"{diagnose(before, after, _history(ev))}")


@pytest.mark.parametrize("data", ["gaussians", "digits"])
def test_heldout_accuracy__catches_a_network_that_does_not_generalise(probe, plan, ref, p, data,
                                                                     measure):
    """Trained with your code, the network classifies examples it never saw (kept by the judge)
    well enough."""
    params = getattr(p, data)
    ev = probe(f"fit_{data}", f"training on the {data} data")
    _, (w, b) = _trained(ev, ref, params)
    Xh, yh = plan.secrets[f"{data}.held"]
    with torch.no_grad():
        acc = (ref.forward(w, b, params.activation, Xh).argmax(dim=1) == yh).double().mean().item()
    if params.accuracy.passes(measure(f"{data}.accuracy", acc)):
        return
    (w0, b0), _ = _trained(ev, ref, params)
    X, y = plan.inputs[f"{data}.x"], plan.inputs[f"{data}.y"]
    before = ref.cross_entropy(ref.forward(w0, b0, params.activation, X), y)
    after = ref.cross_entropy(ref.forward(w, b, params.activation, X), y)
    fail(f"held-out accuracy on the {data} data is {acc:.1%}; a correct Network and trainer reach "
         f"at least {params.accuracy.value:.0%}. The training loss went from {before:.3f} to "
         f"{after:.3f}: {diagnose(before, after, _history(ev))}")
