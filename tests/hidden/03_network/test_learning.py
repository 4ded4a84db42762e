"""Your Network and trainer together must learn: lower loss, and held-out accuracy.

The judge recomputes both from the weights your code produced; the held-out examples never leave
the judge.
"""
import pytest
import torch

from autograder.evidence import check, fail


def _trained(ev, ref, params):
    init = ref.weights(ev, "init.", params.sizes)
    final = ref.weights(ev, "final.", params.sizes)
    return init, final


@pytest.mark.parametrize("data", ["gaussians", "digits"])
def test_training_lowers_loss__catches_no_learning(probe, plan, ref, p, data):
    """Training your Network with your trainer lowers the training loss (recomputed by the judge
    from the weights before and after)."""
    params = getattr(p, data)
    ev = probe(f"fit_{data}", f"training on the {data} data")
    (w0, b0), (w1, b1) = _trained(ev, ref, params)
    X, y = plan.inputs[f"{data}.x"], plan.inputs[f"{data}.y"]
    before = ref.cross_entropy(ref.forward(w0, b0, params.activation, X), y)
    after = ref.cross_entropy(ref.forward(w1, b1, params.activation, X), y)
    if not after == after:  # NaN
        fail(f"training on the {data} data produced NaN weights")
    limit = params.loss_drop.value
    check(after <= limit * before, f"training on the {data} data took the loss from {before:.3f} to "
          f"{after:.3f}; it should fall below {limit:.0%} of where it started. Is the optimizer "
          "stepping, and are the gradients cleared each batch?")


@pytest.mark.parametrize("data", ["gaussians", "digits"])
def test_heldout_accuracy__catches_a_network_that_does_not_generalise(probe, plan, ref, p, data):
    """Trained with your code, the network classifies examples it never saw (kept by the judge)
    well enough."""
    params = getattr(p, data)
    ev = probe(f"fit_{data}", f"training on the {data} data")
    _, (w, b) = _trained(ev, ref, params)
    Xh, yh = plan.secrets[f"{data}.held"]
    with torch.no_grad():
        acc = (ref.forward(w, b, params.activation, Xh).argmax(dim=1) == yh).double().mean().item()
    check(acc >= params.accuracy.value, f"held-out accuracy on the {data} data is {acc:.1%}; "
          f"a correct Network and trainer reach at least {params.accuracy.value:.0%}")
