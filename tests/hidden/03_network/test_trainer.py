"""trainer(): replayed on a model, data and optimizer the judge fixed, against the judge's own loop."""
import pytest
import torch

from autograder.evidence import depends, fail

BUGS = {
    "no_zero_grad": "gradients are never cleared: call optimizer.zero_grad() before each backward()",
    "no_step": "the weights never change: call optimizer.step() after loss.backward() (and "
               "zero_grad() before backward(), not between backward() and step())",
    "no_train_mode": "the model is never put in training mode: call model.train() in the trainer",
    "reshaped_targets": "the predictions and the targets reach the loss in different shapes (one of "
                        "them reshaped), so MSELoss broadcasts them to an (N, N) comparison",
}


def _which_reshaped(ev, plan, kind) -> str | None:
    """Which side the trainer reshaped before the loss, from the shapes the criterion was handed
    (a report of the student's process: it only words the message)."""
    tail = list(plan.inputs[f"{kind}.y"].shape[1:])
    for call in ev.items("criterion_calls"):
        shapes = [[int(ev.number(d) or 0) for d in ev.items(a)] for a in ev.items(f"{call}/args")]
        if len(shapes) != 2 or not all(shapes):
            return None
        prediction, target = shapes
        if target[1:] != tail:
            return (f"the targets are reshaped: the loader gives them as {tuple([target[0], *tail])}, "
                    f"the loss got {tuple(target)}; use y exactly as the loader yields it")
        if prediction[1:] != tail:
            return (f"the model's output is reshaped: it returns {tuple([prediction[0], *tail])}, "
                    f"the loss got {tuple(prediction)} beside targets of shape {tuple(target)}; "
                    "pass the output to the loss as the model returns it")
    return None


def _state(ev, ref, kind):
    expected = ref.probes.replay_model(kind).state_dict()
    state = {}
    for key, value in expected.items():
        t = ev.tensor(f"state/{key}", tuple(value.shape), dtype=value.dtype, what=f"the model's `{key}`")
        state[key] = t
    return state


def _same(a, b, atol):
    return all(torch.allclose(a[k].double(), b[k].double(), atol=atol, rtol=1e-4) for k in b)


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_trainer_matches_reference__catches_missing_zero_grad_step_or_train_mode(
        probe, plan, ref, submission_run, p, kind):
    """After a few epochs on fixed data, your trainer leaves the model with the same weights as the
    reference loop: train mode, then per batch zero_grad, forward, loss, backward, step."""
    ev = probe(f"replay_{kind}", "trainer")
    state = _state(ev, ref, kind)
    device = submission_run.device
    expected, _ = ref.trainer(kind, plan, device)
    if _same(state, expected, p.replay.atol):
        return
    for bug, why in BUGS.items():
        if bug == "reshaped_targets" and kind != "regression":
            continue
        candidate, _ = ref.trainer(kind, plan, device, bug=bug)
        if _same(state, candidate, p.replay.atol):
            if bug == "reshaped_targets":  # reshaping either side broadcasts the same way
                why = _which_reshaped(ev, plan, kind) or why
            # the same bug seen in both replays is charged once
            fail(f"the {kind} replay ended at the wrong weights: {why}", cause=f"trainer: {bug}")
    fail(f"the {kind} replay ended at weights different from the reference loop (check the order "
         "zero_grad, forward, loss, backward, step, and that every batch is used)")


FLOATS_CHECK = "test_trainer_returns_python_floats__catches_graph_kept_alive"
TRAINER_PROBES = ("replay_classification", "replay_regression", "fit_gaussians", "fit_digits")


def _losses(ev, epochs, strict: bool = True) -> list[str]:
    """The paths of the returned list's items; fails unless it is a list of one loss per epoch.
    Not `strict`: any sequence of one value per epoch; anything else is the floats check's to
    charge (this check then depends on it)."""
    kind, items = ev.typename("losses"), ev.items("losses")
    if len(items) == epochs and (kind == "builtins.list" or not strict):
        return items
    said = (f"trainer should return a list with one loss per epoch ({epochs}); got "
            f"{kind.rsplit('.', 1)[-1]} of length {(ev.node('losses') or {}).get('len', 0)}")
    if strict:
        fail(said)
    depends(FLOATS_CHECK, said)


def test_trainer_returns_python_floats__catches_graph_kept_alive(probe, p, submission_run):
    """Each epoch's loss is a plain Python float, in a list. Summing loss tensors instead of
    loss.item() keeps every batch's computation graph in memory. Read from the first of the
    trainer's calls that returned (a crash in another costs the check about that call)."""
    outcomes = submission_run.probes.outcomes
    name = next((n for n in TRAINER_PROBES if n in outcomes and outcomes[n].ok), TRAINER_PROBES[0])
    ev = probe(name, "trainer's return value")
    spec = next(s for s in submission_run.plan.probes if s.name == name)
    for i, item in enumerate(_losses(ev, spec.args["epochs"])):
        kind = ev.typename(item)
        if kind != "builtins.float":
            grad = " that still holds the computation graph (use loss.item())" if ev.reported(
                item, "requires_grad") else ""
            fail(f"epoch {i + 1}'s loss is a {kind.rsplit('.', 1)[-1]}{grad}; return Python floats")


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_trainer_returns_mean_batch_loss__catches_sum_or_last_batch(probe, plan, ref, submission_run,
                                                                    p, kind):
    """Each epoch's entry is the mean of that epoch's batch losses."""
    ev = probe(f"replay_{kind}", "trainer's returned losses")
    # the type policy: a 0-d tensor or numpy number is read as the number it holds (the floats
    # check charges the type)
    values = [ev.as_python(item, float)[0] for item in _losses(ev, p.replay.epochs, strict=False)]
    if any(v is None for v in values):
        depends(FLOATS_CHECK, "some returned losses are not numbers")
    # Judge the aggregation on the trajectory the trainer actually took, so a wrong update (already
    # failed by the replay test) does not also cost this test.
    state = _state(ev, ref, kind)
    bug = None
    for candidate in BUGS:
        if _same(state, ref.trainer(kind, plan, submission_run.device, bug=candidate)[0],
                 p.replay.atol) and not _same(state, ref.trainer(kind, plan, submission_run.device)[0],
                                              p.replay.atol):
            bug = candidate
            break
    _, expected = ref.trainer(kind, plan, submission_run.device, bug=bug)
    if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(values, expected)):
        return
    _, sums = ref.trainer(kind, plan, submission_run.device, bug=bug, aggregate="sum")
    _, lasts = ref.trainer(kind, plan, submission_run.device, bug=bug, aggregate="last")
    if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(values, sums)):
        fail("the returned losses are sums over the batches; divide by the number of batches",
             cause="trainer: sums the batch losses")
    if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(values, lasts)):
        fail("the returned losses are the last batch's loss; return the mean over all batches",
             cause="trainer: returns the last batch's loss")
    fail(f"the returned per-epoch losses {[round(v, 4) for v in values]} differ from the mean batch "
         "losses of the reference loop")
