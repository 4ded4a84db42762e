"""accuracy(): agrees with the judge's own count, in evaluation mode, without building a graph."""
import torch

from autograder.evidence import check, fail


def test_accuracy_matches_judge_count__catches_missing_eval_mode(probe, plan, ref):
    """accuracy() returns the fraction of argmax predictions equal to the labels, computed with the
    model in evaluation mode."""
    ev = probe("accuracy", "accuracy()")
    value = ev.scalar("result")
    if value is None:
        fail(f"accuracy() returned a value of type {ev.kind('result')}, not a number")
    model = ref.probes.accuracy_model()
    model.load_state_dict({k.removeprefix("state."): v for k, v in plan.inputs.items()
                           if k.startswith("state.")})
    model.eval()
    with torch.no_grad():
        predicted = model(plan.inputs["acc.x"]).argmax(dim=1)
    expected = (predicted == plan.inputs["acc.y"]).double().mean().item()
    if abs(value - expected) <= 1e-6:
        return
    if any(ev.has(f"{c}/training") and ev.value(f"{c}/training", bool) for c in ev.items("calls")):
        fail(f"accuracy() returned {value:.4f}, but the model was still in training mode: call "
             "model.eval() first (batch norm and dropout behave differently in training)")
    if abs(value * len(predicted) - round(value * len(predicted))) < 1e-6 and value > 1:
        fail(f"accuracy() returned {value:g}: a count, not a fraction")
    fail(f"accuracy() returned {value:.4f}; counting argmax predictions equal to the labels gives "
         f"{expected:.4f}")


def _grads_left(node) -> bool:
    """Whether any parameter of a shipped module tree holds a gradient."""
    if not isinstance(node, dict) or node.get("t") != "module":
        return False
    return any(isinstance(p, dict) and p.get("grad") is not None for _, p in node.get("params") or []) \
        or any(_grads_left(child) for _, child in node.get("children") or [])


def test_accuracy_builds_no_graph__catches_missing_no_grad(probe, plan):
    """accuracy() evaluates under torch.no_grad() (or inference_mode) and leaves no gradients.
    Grad mode exists only in the process that ran your code: a reported check."""
    ev = probe("accuracy", "accuracy()")
    calls = ev.items("calls")
    batch_size = next(spec.args["batch_size"] for spec in plan.probes if spec.name == "accuracy")
    batches = -(-len(plan.inputs["acc.y"]) // batch_size)
    check(len(calls) >= batches, "accuracy() did not run the model on every batch")
    check(not any(ev.has(f"{c}/grad_enabled") and ev.value(f"{c}/grad_enabled", bool) for c in calls),
          "accuracy() runs the model with gradients enabled: wrap it in torch.no_grad()")
    check(not ev.reported("result", "requires_grad"), "accuracy() returns a tensor attached to the "
          "graph; return a Python float")
    check(not _grads_left(ev.node("model")), "accuracy() left gradients on the model's parameters")
