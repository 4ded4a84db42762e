"""Self-checks of 04_digits_cnn: run by a student's `autograder check`, worth no points, never graded.

The graded checks judge the trained network's scores on held-out digits, which never leave the
instructor. This one looks at what the public probes return: an untrained network's outputs.
"""
import torch

from autograder.evidence import check


def test_outputs_are_not_probabilities__catches_softmax_at_the_end(probe, plan):
    """DigitCNN returns raw scores (logits): CrossEntropyLoss applies the softmax itself."""
    ev = probe("network", "DigitCNN")
    out = ev.tensor("eval.a", (len(plan.inputs["images"]), 10), what="the output").double()
    rows_sum_to_one = torch.allclose(out.sum(dim=1), torch.ones(len(out), dtype=out.dtype), atol=1e-4)
    check(not (rows_sum_to_one and bool(((out >= 0) & (out <= 1)).all())),
          "every row of the output sums to 1: they are probabilities. Remove the softmax at the end; "
          "CrossEntropyLoss expects raw scores")

