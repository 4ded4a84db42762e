"""Self-checks of 04_digits_cnn: run by a student's `autograder check`, worth no points, never graded.

The graded checks judge the trained network's scores on held-out digits, which never leave the
instructor. These look at what the public probes return: an untrained network's outputs and the
dataset's own images.
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


def test_images_of_one_digit_differ__catches_one_generator_per_image(probe):
    """Two images of the same digit are different drawings: one np.random.default_rng(seed) for the
    whole dataset, not a new one for each image (which draws the same image every time)."""
    ev = probe("dataset", "DigitDataset")
    images = ev.tensor("ds0.images", dtype=None, what="the images").float()
    labels = ev.value("datasets", list)[0].get("labels") or []
    by_digit: dict = {}
    for image, label in zip(images, labels):
        by_digit.setdefault(label, []).append(image)
    same = [d for d, drawn in by_digit.items() if d is not None and len(drawn) > 1
            and all(torch.equal(drawn[0], other) for other in drawn[1:])]
    check(not same, f"every image of digit {same[0] if same else ''} is the same image: draw them all from one "
          "np.random.default_rng(seed) made once in __init__, so that each drawing differs")
