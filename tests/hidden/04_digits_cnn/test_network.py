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


def _rebuild(probe, name: str, what: str) -> GraphNet:
    ev = probe(name, what)
    try:
        return GraphNet.from_node(ev.node("graph"), ev.outcome.tensors, "DigitCNN")
    except GraphRefused as exc:
        fail(f"{what} could not be rebuilt from its graph: {exc}"
             + (NEEDS if "does not run" in str(exc) else ""))


def _rebuilt_runs(probe, plan) -> SimpleNamespace:
    """The untrained network, rebuilt from its graph, run by the judge on the probe images: the
    operations the images flow through (in evaluation and in training mode), two passes in
    evaluation mode and two in training mode with different random seeds."""
    net = _rebuild(probe, "graph", "DigitCNN")
    x = plan.inputs["images"]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            net.eval()
            net.trace = []
            eval_a = net(x)
            trace, net.trace = net.trace, None
            eval_b = net(x)
            net.train()
            torch.manual_seed(1)
            net.trace = []
            train_a = net(x)
            train_trace, net.trace = net.trace, None
            torch.manual_seed(2)
            train_b = net(x)
    except GraphRefused as exc:
        fail(f"DigitCNN could not be run from its graph: {exc}")
    return SimpleNamespace(trace=trace, train_trace=train_trace, eval_a=eval_a, eval_b=eval_b,
                           train_a=train_a, train_b=train_b)


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
    """The network has between 5,000 and 5,000,000 parameters, as the notebook says: neither
    trivially small nor too big to train within the grader's time."""
    ev = probe("parameters", "DigitCNN()")
    n = sum(t.numel() for _, t in ev.parameters("model"))
    lo, hi = p.parameter_bounds
    check(lo <= n <= hi, f"DigitCNN has {n:,} parameters; the notebook asks for between {lo:,} "
          f"and {hi:,} (fewer channels or hidden units?)")


def _layers(trace) -> list:
    """The conv and linear operations the images flow through, in order."""
    return [step for step in trace if step.op in LAYER_NAMES]


def test_two_convs_then_three_linears__catches_missing_or_extra_layers(probe, plan, submission_run):
    """The images flow through exactly two nn.Conv2d layers, then exactly three nn.Linear layers
    (a layer called on something else, or whose result is thrown away, does not count)."""
    names = [LAYER_NAMES[step.op] for step in _layers(_rebuilt(probe, plan, submission_run).trace)]
    check(names == ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"],
          f"the images should flow through Conv2d, Conv2d, Linear, Linear, Linear in that order; "
          f"they flow through {names}")


def test_relu_after_hidden_layers__catches_missing_relu(probe, plan, submission_run):
    """A ReLU follows each conv layer and the first two linear layers, so every layer after the
    first receives non-negative inputs."""
    layers = _layers(_rebuilt(probe, plan, submission_run).trace)
    check(len(layers) == 5, "cannot check the ReLUs: the network does not have 2 conv and 3 linear layers")
    names = ["the second conv layer", "the first linear layer", "the second linear layer",
             "the last linear layer"]
    for name, step in zip(names, layers[1:]):
        if step.low is not None and step.low < 0:
            fail(f"{name} receives negative inputs, so no ReLU comes before it")


def test_max_pooling_halves_each_feature_map__catches_missing_or_average_pooling(probe, plan,
                                                                                 submission_run):
    """After each convolution (and its ReLU), 2x2 max-pooling halves the feature map's height and
    width before the next layer."""
    trace = _rebuilt(probe, plan, submission_run).trace
    convs = [i for i, step in enumerate(trace) if step.op == "conv2d"]
    check(convs, "cannot check the pooling: the images flow through no conv layer")
    if any(step.op in ("avg_pool2d", "adaptive_avg_pool2d") for step in trace):
        fail("the network uses average pooling; the blocks use max-pooling (nn.MaxPool2d(2)), which "
             "keeps each region's strongest response")
    for n, start in enumerate(convs, 1):
        block = []
        for step in trace[start + 1:]:
            if step.op in LAYER_NAMES:
                break
            block.append(step)
        height, width = trace[start].shape_out[-2:] if trace[start].shape_out else ("?", "?")
        halved = [s for s in block if s.op == "max_pool2d" and s.shape_in and s.shape_out
                  and tuple(s.shape_out[-2:]) == (s.shape_in[-2] // 2, s.shape_in[-1] // 2)]
        if not halved:
            fail(f"after conv layer {n} the {height}x{width} feature map goes on without being "
                 "halved: follow each conv layer and its ReLU with 2x2 max-pooling "
                 "(nn.MaxPool2d(2))")


def test_dropout_acts_on_the_features__catches_dropout_on_the_input(probe, plan, submission_run):
    """Dropout is applied to the flattened features, after both conv blocks and before the linear
    layers, not to the input images."""
    trace = _rebuilt(probe, plan, submission_run).train_trace
    drops = [i for i, step in enumerate(trace) if "dropout" in step.op]
    convs = [i for i, step in enumerate(trace) if step.op == "conv2d"]
    if drops and convs and min(drops) < max(convs):  # no dropout at all: the next check says so
        where = "the input images" if min(drops) < min(convs) else "the first block's features"
        fail(f"dropout is applied to {where}; apply it to the flattened features, after both "
             "conv blocks and before the first linear layer")


def test_dropout_follows_its_argument__catches_a_hardcoded_rate(probe, plan):
    """DigitCNN(dropout=0.0) has no dropout: in training mode, two passes on the same images agree
    (use the `dropout` argument, nn.Dropout(dropout), not a fixed rate)."""
    net = _rebuild(probe, "graph_no_dropout", "DigitCNN(dropout=0.0)")
    x = plan.inputs["images"]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            net.train()
            torch.manual_seed(1)
            a = net(x)
            torch.manual_seed(2)
            b = net(x)
    except GraphRefused as exc:
        fail(f"DigitCNN(dropout=0.0) could not be run from its graph: {exc}")
    check(a.shape == b.shape and torch.equal(a, b), "DigitCNN(dropout=0.0) still drops activations "
          "in training mode: pass the `dropout` argument on to nn.Dropout instead of a fixed rate")


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

