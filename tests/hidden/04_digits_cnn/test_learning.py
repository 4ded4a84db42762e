"""Your DigitCNN, trained by the course's own loop, reads digits it never saw.

The judge rebuilds the network from its exported graph and trains it itself (the `trained` fixture);
the training digits and the held-out digits, from a seed only the judge knows, never enter the
sandbox."""
import torch

from autograder.evidence import fail


def _hint(trained, logits, submission_run) -> str:
    """The likely reason a CNN reads badly, from what the judge saw of it."""
    rows = logits.double()
    if torch.allclose(rows.sum(dim=1), torch.ones(len(rows), dtype=rows.dtype), atol=1e-4) \
            and bool(((rows >= 0) & (rows <= 1)).all()):
        return ("its outputs are probabilities (each row sums to 1), so the loss, which applies "
                "its own softmax, barely trains it: return raw scores from the last layer")
    network = submission_run.probes.outcomes.get("network")
    a, b = (network.tensors.get(k) for k in ("eval.a", "eval.b")) if network and network.ok else (None, None)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
            and not torch.equal(a, b):
        return ("in evaluation mode it gives different outputs for the same images, so dropout is "
                "still on when it predicts")
    losses = trained.losses
    if isinstance(losses, list) and len(losses) >= 2 and all(isinstance(v, float) for v in losses):
        if losses[-1] >= 0.95 * losses[0]:
            return (f"its training loss did not fall ({losses[0]:.3f} to {losses[-1]:.3f}): check "
                    "that forward uses every layer, with a ReLU after each hidden one")
    return "check the layers against the description, and the ReLUs between them"


def test_heldout_accuracy__catches_a_cnn_that_does_not_learn(trained, p, plan, measure,
                                                             submission_run, curve):
    """After a fixed training budget, your network classifies fresh digits well enough."""
    if trained.problem:
        fail(f"your DigitCNN could not be trained: {trained.problem}")
    curve("training loss, the course's loop", trained.losses)
    held_y = plan.secrets["held.y"]
    logits = trained.logits
    acc = (logits.argmax(dim=1) == held_y).double().mean().item()
    if not p.accuracy.passes(measure("accuracy", acc)):
        fail(f"after training, your network reads {acc:.1%} of fresh digits correctly; a correct "
             f"DigitCNN reaches at least {p.accuracy.value:.0%} with this budget. Likely: "
             f"{_hint(trained, logits, submission_run)}")
