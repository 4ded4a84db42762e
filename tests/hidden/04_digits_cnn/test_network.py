"""DigitCNN: shapes, layers in order, ReLUs, dropout, logits.

The layer, ReLU, dropout and logits checks read no report of the student's process: the judge
rebuilds the network from its exported graph (autograder/graph.py) and runs it itself."""
from types import SimpleNamespace

import torch

from autograder.evidence import check, fail
from autograder.graph import GraphNet, GraphRefused

LAYER_NAMES = {"conv2d": "Conv2d", "linear": "Linear"}
# said after an operator the grader does not run
NEEDS = ("; a network of the described shape needs only convolutions, ReLU, max-pooling, "
         "flattening, dropout and linear layers")


def _net(probe, what="DigitCNN"):
    return probe("network", what)


def _rebuilt_runs(probe, plan) -> SimpleNamespace:
    """The untrained network, rebuilt from its graph, run by the judge on the probe images: what
    flows into each conv and linear layer, two passes in evaluation mode and two in training mode
    with different random seeds."""
    ev = probe("graph", "DigitCNN")
    x = plan.inputs["images"]
    try:
        net = GraphNet.from_node(ev.node("graph"), ev.outcome.tensors, "DigitCNN")
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            net.eval()
            net.trace = []
            eval_a = net(x)
            trace, net.trace = net.trace, None
            eval_b = net(x)
            net.train()
            torch.manual_seed(1)
            train_a = net(x)
            torch.manual_seed(2)
            train_b = net(x)
    except GraphRefused as exc:
        fail(f"DigitCNN could not be rebuilt from its graph: {exc}"
             + (NEEDS if "does not run" in str(exc) else ""))
    return SimpleNamespace(trace=trace, eval_a=eval_a, eval_b=eval_b, train_a=train_a,
                           train_b=train_b)


def _rebuilt(probe, plan, submission_run) -> SimpleNamespace:
    """_rebuilt_runs, once per submission."""
    if "rebuilt" not in submission_run.memo:
        submission_run.memo["rebuilt"] = _rebuilt_runs(probe, plan)
    return submission_run.memo["rebuilt"]


def test_output_shape_for_any_batch_size__catches_hardcoded_batch(probe, p):
    """forward maps (N, 1, 28, 28) to (N, 10) for any N (flatten with torch.flatten(x, 1) or
    x.view(x.size(0), -1), not a fixed batch size)."""
    ev = _net(probe)
    for bs in p.batch_sizes:
        got = list(ev.tensor(f"batch{bs}", dtype=None, finite=False, what="the output").shape)
        check(got == [bs, 10], f"a batch of {bs} images gave output shape {got}; expected [{bs}, 10]")


def test_parameter_count_within_bounds(probe, p):
    """The network is neither trivially small nor huge."""
    ev = probe("parameters", "DigitCNN()")
    n = sum(t.numel() for _, t in ev.parameters("model"))
    lo, hi = p.parameter_bounds
    check(lo <= n <= hi, f"DigitCNN has {n:,} parameters; a network of the described shape has "
          f"between {lo:,} and {hi:,}")


def test_two_convs_then_three_linears__catches_missing_or_extra_layers(probe, plan, submission_run):
    """forward runs exactly two nn.Conv2d layers, then exactly three nn.Linear layers."""
    names = [LAYER_NAMES[op] for op, _ in _rebuilt(probe, plan, submission_run).trace]
    check(names == ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"],
          f"forward should use Conv2d, Conv2d, Linear, Linear, Linear in that order; it used {names}")


def test_relu_after_hidden_layers__catches_missing_relu(probe, plan, submission_run):
    """A ReLU follows each conv layer and the first two linear layers, so every layer after the
    first receives non-negative inputs."""
    trace = _rebuilt(probe, plan, submission_run).trace
    check(len(trace) == 5, "cannot check the ReLUs: the network does not have 2 conv and 3 linear layers")
    names = ["the second conv layer", "the first linear layer", "the second linear layer",
             "the last linear layer"]
    for name, (_, low) in zip(names, trace[1:]):
        if low < 0:
            fail(f"{name} receives negative inputs, so no ReLU comes before it")


def test_dropout_active_in_training__catches_missing_dropout(probe, plan, submission_run):
    """In training mode dropout is active: two passes with different random seeds differ."""
    runs = _rebuilt(probe, plan, submission_run)
    a, b = runs.train_a, runs.train_b
    check(a.shape == b.shape and not torch.equal(a, b),
          "in training mode two forward passes gave identical outputs: is there a dropout layer?")


def test_dropout_inactive_in_eval__catches_dropout_always_on(probe, plan, submission_run):
    """In evaluation mode the network is deterministic: dropout is off (use nn.Dropout, or
    F.dropout(x, training=self.training))."""
    runs = _rebuilt(probe, plan, submission_run)
    a, b = runs.eval_a, runs.eval_b
    check(a.shape == b.shape and torch.equal(a, b), "in evaluation mode two forward passes on the "
          "same images differ: dropout is still active (F.dropout needs training=self.training)")


def test_outputs_are_logits__catches_softmax_at_the_end(probe, plan, trained, submission_run):
    """The last layer returns raw scores: CrossEntropyLoss applies the softmax itself."""
    out = _rebuilt(probe, plan, submission_run).eval_a
    n = len(plan.inputs["images"])
    check(tuple(out.shape) == (n, 10), f"on {n} images the output has shape {tuple(out.shape)}; "
          f"expected ({n}, 10)")
    out = out.double()
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
        if trained.logits is not None:
            scores = trained.logits.double()
            in_unit = bool(((scores >= 0) & (scores <= 1)).all())
    check(not in_unit, "every output lies in [0, 1]: the last layer is squashed (sigmoid?); it "
          "should return raw scores")

