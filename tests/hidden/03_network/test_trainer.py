"""trainer(): replayed on a model, data and optimizer the judge fixed, against the judge's own loop."""
import pytest
import torch

from autograder.evidence import check, fail

BUGS = {
    "no_zero_grad": "gradients are never cleared: call optimizer.zero_grad() before each backward()",
    "no_step": "the weights never change: call optimizer.step() after loss.backward() (and "
               "zero_grad() before backward(), not between backward() and step())",
    "no_train_mode": "the model is never put in training mode: call model.train() in the trainer",
    "reshaped_targets": "the targets are reshaped; use them exactly as the loader yields them",
}


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
            fail(f"the {kind} replay ended at the wrong weights: {why}")
    fail(f"the {kind} replay ended at weights different from the reference loop (check the order "
         "zero_grad, forward, loss, backward, step, and that every batch is used)")


def _losses(ev, epochs) -> list[str]:
    """The paths of the returned list's items; fails unless it is a list of one loss per epoch."""
    kind, items = ev.typename("losses"), ev.items("losses")
    check(kind == "builtins.list" and len(items) == epochs,
          f"trainer should return a list with one loss per epoch ({epochs}); got "
          f"{kind.rsplit('.', 1)[-1]} of length {(ev.node('losses') or {}).get('len', 0)}")
    return items


def test_trainer_returns_python_floats__catches_graph_kept_alive(probe, p, ref):
    """Each epoch's loss is a plain Python float. Summing loss tensors instead of loss.item()
    keeps every batch's computation graph in memory."""
    ev = probe("replay_classification", "trainer's return value")
    _state(ev, ref, "classification")  # the trained model must be there beside the losses
    for i, item in enumerate(_losses(ev, p.replay.epochs)):
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
    values = [ev.scalar(item) for item in _losses(ev, p.replay.epochs)]
    if any(v is None for v in values):
        fail("some returned losses are not numbers")
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
        fail("the returned losses are sums over the batches; divide by the number of batches")
    if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(values, lasts)):
        fail("the returned losses are the last batch's loss; return the mean over all batches")
    fail(f"the returned per-epoch losses {[round(v, 4) for v in values]} differ from the mean batch "
         "losses of the reference loop")
