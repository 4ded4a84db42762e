"""Your DigitCNN, trained by the course's own loop, reads digits it never saw.

The held-out digits come from a seed only the judge knows; their labels never leave the judge."""
import torch

from autograder.evidence import check


def test_heldout_accuracy__catches_a_cnn_that_does_not_learn(probe, p, plan):
    """After a fixed training budget, your network classifies fresh digits well enough."""
    ev = probe("train", "training your DigitCNN")
    held_y = plan.secrets["held.y"]
    logits = ev.tensor("held.logits", (len(held_y), 10), what="the held-out scores")
    acc = (logits.argmax(dim=1) == held_y).double().mean().item()
    check(acc >= p.accuracy.value, f"after training, your network reads {acc:.1%} of fresh digits "
          f"correctly; a correct DigitCNN reaches at least {p.accuracy.value:.0%} with this budget")
