"""Self-checks of 03_network: run by a student's `autograder check`, worth no points, never graded.

The graded trainer and accuracy checks compare your code with the judge's own reference loop, which
cannot leave the instructor. These run your own code on the same public probes and judge it by what
any correct trainer must do: lower the loss of the model it trains, return one float per epoch, count
like a hand count. They cannot prove a trainer right (the graded replay does that); they catch the
bugs that make it plainly wrong.
"""
import pytest
import torch

from autograder.evidence import check, fail


def _loss(probes, kind, state, x, y) -> float:
    model = probes.replay_model(kind)
    model.load_state_dict(state)
    model.train()  # the mode the trainer trains in: BatchNorm normalises with the batch's statistics
    with torch.no_grad():
        return float(probes.replay_criterion(kind)(model(x), y))


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_trainer_lowers_the_loss__catches_missing_zero_grad_or_step(probe, plan, probes, kind):
    """After a few epochs, the loss of the trained model on its own training data is lower than
    before training: recomputed here from the model's weights before and after."""
    ev = probe(f"replay_{kind}", "trainer")
    prefix = f"{kind}.state."
    before = {k.removeprefix(prefix): v for k, v in plan.inputs.items() if k.startswith(prefix)}
    after = {}
    for key, value in before.items():
        after[key] = ev.tensor(f"state/{key}", tuple(value.shape), dtype=value.dtype,
                               what=f"the model's `{key}`")
    x, y = plan.inputs[f"{kind}.x"], plan.inputs[f"{kind}.y"]
    start, end = _loss(probes, kind, before, x, y), _loss(probes, kind, after, x, y)
    if all(torch.equal(before[k], after[k]) for k in before
           if before[k].is_floating_point() and "running_" not in k):  # weights, not BatchNorm statistics
        fail("training did not change the weights at all: call optimizer.step() after "
             "loss.backward(), and optimizer.zero_grad() before backward(), not between the two")
    check(end < start, f"training raised the loss from {start:.4f} to {end:.4f}: are the gradients "
          "cleared with optimizer.zero_grad() before every backward()? Without it they pile up "
          "from batch to batch")


def test_trainer_returns_one_float_per_epoch__catches_tensors_or_wrong_length(probe, plan):
    """trainer returns a list with one Python float per epoch (use loss.item(), not the tensor)."""
    ev = probe("replay_classification", "trainer's return value")
    epochs = next(s.args["epochs"] for s in plan.probes if s.name == "replay_classification")
    items = ev.items("losses")
    kind = ev.kind("losses")
    check(kind == "list" and len(items) == epochs,
          f"trainer(..., epochs={epochs}) should return a list of {epochs} losses; it returned a "
          f"{kind} of length {(ev.node('losses') or {}).get('len', 0)}")
    for i, item in enumerate(items):
        got = ev.typename(item)
        if got != "builtins.float":
            graph = " that still holds the computation graph" if ev.reported(item, "requires_grad") else ""
            fail(f"epoch {i + 1}'s loss is a {got.rsplit('.', 1)[-1]}{graph}: add up loss.item(), "
                 "a Python float")


def test_accuracy_agrees_with_a_hand_count__catches_missing_eval_mode(probe, plan, probes):
    """accuracy() on a fixed model and loader equals counting argmax predictions by hand, with the
    model in evaluation mode."""
    ev = probe("accuracy", "accuracy()")
    value = ev.scalar("result")
    if value is None:
        fail(f"accuracy() returned a value of type {ev.kind('result')}, not a number")
    model = probes.accuracy_model()
    model.load_state_dict({k.removeprefix("state."): v for k, v in plan.inputs.items()
                           if k.startswith("state.")})
    model.eval()
    with torch.no_grad():
        right = (model(plan.inputs["acc.x"]).argmax(dim=1) == plan.inputs["acc.y"]).sum().item()
    n = len(plan.inputs["acc.y"])
    if abs(value - right / n) <= 1e-6:
        return
    if abs(value - right) <= 1e-6:
        fail(f"accuracy() returned {value:g}, the number right; return the fraction ({right}/{n})")
    if any(ev.has(f"{c}/training") and ev.value(f"{c}/training", bool) for c in ev.items("calls")):
        fail(f"accuracy() returned {value:.4f}, with the model still in training mode: call "
             f"model.eval() first. Counted by hand in evaluation mode: {right}/{n} = {right / n:.4f}")
    fail(f"accuracy() returned {value:.4f}; counting the argmax predictions equal to the labels "
         f"gives {right}/{n} = {right / n:.4f}")


def test_an_unknown_activation_is_refused__catches_a_silent_fallback(probe):
    """Network(sizes, activation="swish") raises ValueError instead of quietly using another."""
    ev = probe("bad_activation", "Network(..., activation='swish')")
    raised = ev.node("raised") or {}
    check(raised.get("t") == "exception", "Network(..., activation='swish') did not raise: raise "
          "ValueError for a name it does not know")
    check("builtins.ValueError" in (raised.get("mro") or []), "Network(..., activation='swish') "
          f"raised {ev.kind('raised')}; raise ValueError instead")


ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def _layer_trace(ev, activation):
    """What flowed into and out of each of the network's layers on its first call (kept by the
    probe's hooks), or None where a layer was not called as a module: such a network leaves nothing
    to compare here, and the graded check recomputes its forward pass anyway."""
    layers = ev.items(f"{activation}.flows")
    keys = [(f"{calls}/0/input", f"{calls}/0/output") for calls in layers]
    if not keys or not all(ev.has_tensor(a) and ev.has_tensor(b) for a, b in keys):
        return None
    return [(ev.tensor(a, dtype=None, what=f"the input of layer {j}"),
             ev.tensor(b, dtype=None, what=f"the output of layer {j}")) for j, (a, b) in enumerate(keys)]


def _close(a, b) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("activation", ["default", "sigmoid", "tanh", "relu"])
def test_forward_returns_the_last_layers_raw_scores__catches_an_activated_output(probe, activation):
    """forward() returns exactly what the last nn.Linear computes: raw scores, no activation."""
    ev = probe("forward", f"Network(..., activation={activation!r}).forward")
    trace = _layer_trace(ev, activation)
    if trace is None:
        return
    out = ev.tensor(f"{activation}.out", dtype=None, what="the output")
    last = trace[-1][1]
    if _close(out, last):
        return
    act = ACTIVATIONS["sigmoid" if activation == "default" else activation]
    if _close(out, act(last.float())):
        fail(f"with activation={activation!r} the activation is also applied after the last layer; "
             "the last layer must return raw scores (CrossEntropyLoss applies softmax itself)")
    fail(f"with activation={activation!r}, forward() returns something other than its last layer's "
         "output: return self.layers[-1](x) as it is")


@pytest.mark.parametrize("activation", ["default", "sigmoid", "tanh", "relu"])
def test_each_hidden_layer_feeds_its_activation_on__catches_a_wrong_activation(probe, activation):
    """Every layer but the first receives the chosen activation of the previous layer's output
    (sigmoid when no activation is given); ReLU is max(0, x)."""
    ev = probe("forward", f"Network(..., activation={activation!r}).forward")
    trace = _layer_trace(ev, activation)
    if trace is None:
        return
    name = "sigmoid" if activation == "default" else activation
    for j in range(1, len(trace)):
        z, fed = trace[j - 1][1].float(), trace[j][0].float()
        if _close(fed, ACTIVATIONS[name](z)):
            continue
        if name == "relu" and _close(fed, torch.clamp(z, max=0)):
            fail("ReLU is computed as min(0, x); it is max(0, x): torch.relu(x) or x.clamp(min=0)")
        for other, fn in ACTIVATIONS.items():
            if other != name and _close(fed, fn(z)):
                fail(f"activation={activation!r} applies {other} between the layers instead")
        fail(f"with activation={activation!r}, layer {j} does not receive {name} of layer {j - 1}'s "
             "output: apply self.activation after every layer but the last")


def test_trainer_trains_in_training_mode__catches_missing_train_mode(probe, plan):
    """trainer switches the model to training mode itself (model.train()): the replay's model starts
    in evaluation mode, and its BatchNorm layer updates its running statistics only in training mode."""
    ev = probe("replay_classification", "trainer")
    prefix = "classification.state."
    counters = [k for k in plan.inputs if k.startswith(prefix) and k.endswith("num_batches_tracked")]
    for key in counters:
        name = key.removeprefix(prefix)
        before = plan.inputs[key]
        after = ev.tensor(f"state/{name}", tuple(before.shape), dtype=before.dtype,
                          what=f"the model's `{name}`")
        check(not torch.equal(before, after), "the model's BatchNorm layer saw no batch in training "
              "mode: the trainer must call model.train() (at the start of each epoch), since the "
              "model it is handed may be in evaluation mode")


def _criterion_calls(ev) -> list[tuple[list, list, float | None]]:
    """Each call of the criterion: (the predictions' shape, the targets' shape, the loss)."""
    calls = []
    for call in ev.items("criterion_calls"):
        shapes = [[ev.number(d) for d in ev.items(s)] for s in ev.items(f"{call}/args")]
        if len(shapes) != 2 or any(ev.typename(s) != "builtins.list" for s in ev.items(f"{call}/args")):
            fail("the criterion was not called as criterion(predictions, targets)")
        loss = ev.number(f"{call}/out_value") if ev.has(f"{call}/out_value") else None
        calls.append(tuple([int(d) for d in shape if d is not None] for shape in shapes) + (loss,))
    return calls


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_trainer_passes_the_targets_as_given__catches_reshaped_targets(probe, plan, kind):
    """The criterion receives each batch's targets in the shape the loader gives them: reshaping
    (N, 1) regression targets to (N,) makes MSELoss broadcast to an (N, N) comparison."""
    ev = probe(f"replay_{kind}", "trainer")
    tail = list(plan.inputs[f"{kind}.y"].shape[1:])
    for prediction, target, _ in _criterion_calls(ev):
        if target[1:] != tail or (target and prediction and target[0] != prediction[0]):
            fail(f"the targets are reshaped: the loader gives targets of shape "
                 f"{tuple([target[0] if target else '?', *tail])}, the criterion got "
                 f"{tuple(target)} beside predictions of shape {tuple(prediction)}; pass y as it comes")


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_trainer_returns_the_mean_batch_loss__catches_a_sum(probe, plan, kind):
    """Each epoch's value is the mean of the losses of its batches, as the criterion computed them
    (the probe keeps each one), not their sum nor the last batch's."""
    ev = probe(f"replay_{kind}", "trainer's return value")
    spec = next(s for s in plan.probes if s.name == f"replay_{kind}")
    epochs, batches = spec.args["epochs"], -(-len(plan.inputs[f"{kind}.y"]) // spec.args["batch_size"])
    reported = [ev.scalar(i) for i in ev.items("losses")]
    calls = _criterion_calls(ev)
    if len(reported) != epochs or len(calls) != epochs * batches or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in reported):
        return  # one loss per batch and one float per epoch: the other self-checks say what is off
    for e, value in enumerate(reported):
        seen = [loss for _, _, loss in calls[e * batches:(e + 1) * batches]]
        if None in seen:
            return
        mean = sum(seen) / batches
        if abs(value - mean) <= 1e-4 * max(1.0, abs(mean)):
            continue
        if abs(value - sum(seen)) <= 1e-4 * max(1.0, abs(sum(seen))):
            fail(f"epoch {e + 1}'s loss is {value:.4f}, the sum of its {batches} batch losses: the "
                 "trainer sums over the batches; divide the total by len(dataloader)")
        if abs(value - seen[-1]) <= 1e-6 * max(1.0, abs(value)):
            fail(f"epoch {e + 1}'s loss is {value:.4f}, its last batch's loss only: add up every "
                 "batch's loss.item() and divide by len(dataloader)")
        fail(f"epoch {e + 1}'s loss is {value:.4f}; the mean of its {batches} batch losses is "
             f"{mean:.4f}: return the mean batch loss of each epoch")
