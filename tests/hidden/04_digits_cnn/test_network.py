"""DigitCNN: shapes, layers in order, ReLUs, dropout, logits."""
import pytest
import torch

from autograder.evidence import check, fail

CONV = "torch.nn.modules.conv.Conv2d"
LINEAR = "torch.nn.modules.linear.Linear"


def _net(probe, what="DigitCNN"):
    return probe("network", what)


def test_output_shape_for_any_batch_size__catches_hardcoded_batch(probe, p):
    """forward maps (N, 1, 28, 28) to (N, 10) for any N (flatten with torch.flatten(x, 1) or
    x.view(x.size(0), -1), not a fixed batch size)."""
    ev = _net(probe)
    shapes = ev.value("shapes", dict)
    for bs in p.batch_sizes:
        got = shapes.get(str(bs))
        check(got == [bs, 10], f"a batch of {bs} images gave output shape {got}; expected [{bs}, 10]")


def test_parameter_count_within_bounds(probe, p):
    """The network is neither trivially small nor huge."""
    ev = probe("parameters", "DigitCNN()")
    n = ev.value("n_parameters", int)
    lo, hi = p.parameter_bounds
    check(lo <= n <= hi, f"DigitCNN has {n:,} parameters; a network of the described shape has "
          f"between {lo:,} and {hi:,}")


def test_two_convs_then_three_linears__catches_missing_or_extra_layers(probe):
    """forward runs exactly two nn.Conv2d layers, then exactly three nn.Linear layers."""
    ev = _net(probe)
    order = [c.get("type") for c in ev.value("calls", list) if isinstance(c, dict)]
    layers = [t for t in order if t in (CONV, LINEAR)]
    names = ["Conv2d" if t == CONV else "Linear" for t in layers]
    check(names == ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"],
          f"forward should use Conv2d, Conv2d, Linear, Linear, Linear in that order; it used {names}")


def test_relu_after_hidden_layers__catches_missing_relu(probe):
    """A ReLU follows each conv layer and the first two linear layers, so every layer after the
    first receives non-negative inputs."""
    ev = _net(probe)
    calls = [c for c in ev.value("calls", list) if isinstance(c, dict) and c.get("type") in (CONV, LINEAR)]
    check(len(calls) == 5, "cannot check the ReLUs: the network does not have 2 conv and 3 linear layers")
    names = ["the second conv layer", "the first linear layer", "the second linear layer",
             "the last linear layer"]
    for name, call in zip(names, calls[1:]):
        low = call.get("input_min")
        if isinstance(low, (int, float)) and low < 0:
            fail(f"{name} receives negative inputs, so no ReLU comes before it")


def test_dropout_active_in_training__catches_missing_dropout(probe):
    """In training mode dropout is active: two passes with different random seeds differ."""
    ev = _net(probe)
    a, b = ev.tensor("train.a", dtype=None), ev.tensor("train.b", dtype=None)
    check(a.shape == b.shape and not torch.equal(a, b),
          "in training mode two forward passes gave identical outputs: is there a dropout layer?")


def test_dropout_inactive_in_eval__catches_dropout_always_on(probe):
    """In evaluation mode the network is deterministic: dropout is off (use nn.Dropout, or
    F.dropout(x, training=self.training))."""
    ev = _net(probe)
    a, b = ev.tensor("eval.a", dtype=None), ev.tensor("eval.b", dtype=None)
    check(a.shape == b.shape and torch.equal(a, b), "in evaluation mode two forward passes on the "
          "same images differ: dropout is still active (F.dropout needs training=self.training)")


def test_outputs_are_logits__catches_softmax_at_the_end(probe, plan):
    """The last layer returns raw scores: CrossEntropyLoss applies the softmax itself."""
    ev = _net(probe)
    out = ev.tensor("eval.a", (len(plan.inputs["images"]), 10), what="the output").double()
    sums_to_one = torch.allclose(out.sum(dim=1), torch.ones(len(out), dtype=out.dtype), atol=1e-4)
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    if sums_to_one and in_unit:
        fail("the outputs are probabilities (each row sums to 1): remove the softmax at the end; "
             "CrossEntropyLoss expects logits")
    if in_unit:
        # A fresh correct network's scores are small, and on rare seeds they all fall inside [0, 1]
        # (calibration found one: benchmarks/calibration/04_digits_cnn.json). Trained scores cannot
        # stay there: with every score in [0, 1] cross-entropy cannot fall below 1.46. So where
        # training produced scores, a squashed output is judged on those.
        trained = _trained_scores(probe, len(plan.secrets["held.y"]))
        if trained is not None:
            in_unit = bool(((trained >= 0) & (trained <= 1)).all())
    check(not in_unit, "every output lies in [0, 1]: the last layer is squashed (sigmoid?); it "
          "should return raw scores")


def _trained_scores(probe, n):
    """The trained network's scores on the held-out digits, or None where training failed (that
    costs the learning check, not this one)."""
    try:
        return probe("train", "training your DigitCNN").tensor(
            "held.logits", (n, 10), what="the held-out scores").double()
    except pytest.fail.Exception:
        return None
