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
        after[key] = ev.tensor(key, tuple(value.shape), dtype=value.dtype, what=f"the model's `{key}`")
    x, y = plan.inputs[f"{kind}.x"], plan.inputs[f"{kind}.y"]
    start, end = _loss(probes, kind, before, x, y), _loss(probes, kind, after, x, y)
    if all(torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point()):
        fail("training did not change the weights at all: call optimizer.step() after "
             "loss.backward(), and optimizer.zero_grad() before backward(), not between the two")
    check(end < start, f"training raised the loss from {start:.4f} to {end:.4f}: are the gradients "
          "cleared with optimizer.zero_grad() before every backward()? Without it they pile up "
          "from batch to batch")


def test_trainer_returns_one_float_per_epoch__catches_tensors_or_wrong_length(probe, plan):
    """trainer returns a list with one Python float per epoch (use loss.item(), not the tensor)."""
    ev = probe("replay_classification", "trainer's return value")
    epochs = next(s.args["epochs"] for s in plan.probes if s.name == "replay_classification")
    items = ev.value("losses", list)
    kind = ev.value("returned_type", str).rsplit(".", 1)[-1]
    check(kind == "list" and len(items) == epochs,
          f"trainer(..., epochs={epochs}) should return a list of {epochs} losses; it returned a "
          f"{kind} of length {len(items)}")
    for i, item in enumerate(items):
        got = ev.value("type", str, item)
        if got != "builtins.float":
            graph = " that still holds the computation graph" if item.get("requires_grad") else ""
            fail(f"epoch {i + 1}'s loss is a {got.rsplit('.', 1)[-1]}{graph}: add up loss.item(), "
                 "a Python float")


def test_accuracy_agrees_with_a_hand_count__catches_missing_eval_mode(probe, plan, probes):
    """accuracy() on a fixed model and loader equals counting argmax predictions by hand, with the
    model in evaluation mode."""
    ev = probe("accuracy", "accuracy()")
    value = ev.data.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        fail(f"accuracy() returned a {ev.value('type', str).rsplit('.', 1)[-1]}, not a number")
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
    if any(c.get("training") is True for c in ev.value("calls", list) if isinstance(c, dict)):
        fail(f"accuracy() returned {value:.4f}, with the model still in training mode: call "
             f"model.eval() first. Counted by hand in evaluation mode: {right}/{n} = {right / n:.4f}")
    fail(f"accuracy() returned {value:.4f}; counting the argmax predictions equal to the labels "
         f"gives {right}/{n} = {right / n:.4f}")


def test_an_unknown_activation_is_refused__catches_a_silent_fallback(probe):
    """Network(sizes, activation="swish") raises ValueError instead of quietly using another."""
    ev = probe("bad_activation", "Network(..., activation='swish')")
    check(ev.value("raised", bool), "Network(..., activation='swish') did not raise: raise "
          "ValueError for a name it does not know")
    check(ev.value("is_value_error", bool), "Network(..., activation='swish') raised "
          f"{ev.value('type', str).rsplit('.', 1)[-1]}; raise ValueError instead")
