"""The perceptron rule, logic gates learned by one neuron, and a two-layer network for XOR."""
import pytest
import torch

from autograder.evidence import check, fail


def _cases(plan):
    lrs = next(s.args["lrs"] for s in plan.probes if s.name == "perceptron_step")
    return [plan.inputs[f"pst.{k}"] for k in "wbxy"], torch.tensor(lrs)


def _stepped(probe, plan):
    ev = probe("perceptron_step", "perceptron_step")
    (w, _, _, _), _ = _cases(plan)
    return ev.tensor("w", tuple(w.shape), what="the new weights").double(), \
        ev.tensor("b", (len(w),), what="the new biases").double()


def _matches(got, expected, rows):
    return all(torch.allclose(g[rows], e[rows], atol=1e-5) for g, e in zip(got, expected))


def test_perceptron_step_moves_the_line_towards_a_missed_point__catches_wrong_sign(probe, plan, ref):
    """For a misclassified point, perceptron_step returns w + lr * (y - prediction) * x and
    b + lr * (y - prediction), where prediction is 1 if w @ x + b >= 0, else 0."""
    got = _stepped(probe, plan)
    (w, b, x, y), lrs = _cases(plan)
    expected = ref.perceptron(w, b, x, y, lrs)
    missed = ((w * x).sum(dim=1) + b >= 0).long() != y
    if _matches(got, expected, missed):
        return
    for bug, why in (("wrong_sign", "the line moves away from the missed point: add "
                                    "lr * (y - prediction) * x, do not subtract it"),
                     ("raw_score", "the update uses the raw score w @ x + b instead of the 0/1 "
                                   "prediction")):
        if _matches(got, ref.perceptron(w, b, x, y, lrs, bug=bug), missed):
            fail(f"for misclassified points, {why}")
    if _matches(got, (w.double(), b.double()), missed):
        fail("misclassified points leave w and b unchanged: they should move the line")
    fail("for misclassified points the new (w, b) differ from w + lr * (y - prediction) * x and "
         "b + lr * (y - prediction)")


def test_perceptron_step_leaves_correct_points_alone__catches_update_on_every_point(probe, plan):
    """For a point the neuron already classifies correctly, (w, b) come back unchanged."""
    got = _stepped(probe, plan)
    (w, b, x, y), _ = _cases(plan)
    right = ((w * x).sum(dim=1) + b >= 0).long() == y
    check(_matches(got, (w.double(), b.double()), right), "a correctly classified point changed the "
          "weights: update only when the prediction is wrong (y - prediction is then 0)")


@pytest.mark.parametrize("gate", ["AND", "OR", "NAND"])
def test_trained_gate_classifies_all_four_points__catches_a_rule_that_does_not_converge(
        probe, ref, gate):
    """train_gate(X, y) returns (w, b) with which the neuron (predict 1 where X @ w + b >= 0)
    gets all four points of the gate right. NAND is graded too, so the rule must really learn."""
    ev = probe(f"gate_{gate}", f"train_gate on {gate}")
    w = ev.tensor("w", (2,), what="the learned w")
    b = ev.tensor("b", (), what="the learned b")
    predicted = ref.gate_predictions(w, b)
    truth = torch.tensor(ref.gates[gate])
    wrong = [f"({int(p[0])}, {int(p[1])})" for p, ok in
             zip(torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), predicted == truth) if not ok]
    if wrong:
        hint = " (with zero weights every score is 0, which predicts 1 everywhere: did any update " \
               "happen?)" if not w.any() and not b.any() else ""
        fail(f"the neuron learned for {gate} gets {4 - len(wrong)} of 4 points right; it is wrong "
             f"on {', '.join(wrong)}{hint}")


def _xor(probe, p):
    return probe("xor_net", "XORNet")


def test_xor_net_gives_one_score_per_point__catches_wrong_output_shape(probe, p, plan):
    """XORNet() maps a batch of points of shape (N, 2) to raw scores of shape (N, 1)."""
    ev = _xor(probe, p)
    n = len(plan.inputs["xor.grid"])
    out = ev.tensor("init0.grid", dtype=None, what="the output")
    check(tuple(out.shape) == (n, 1), f"for {n} points XORNet returned shape {tuple(out.shape)}; "
          f"expected ({n}, 1), one raw score per point")


def _solved(ev, p, plan):
    """Per restart: the trained scores of the four XOR points, and whether all four are right."""
    y = plan.inputs["xor.y"].reshape(-1)
    results = []
    for k in range(p.xor.restarts):
        scores = ev.tensor(f"trained{k}.xor", dtype=None, what="the trained scores").float()
        check(scores.numel() == 4, f"XORNet gave {scores.numel()} scores for the 4 XOR points")
        scores = scores.reshape(-1)
        results.append((scores, torch.equal((scores > 0).float(), y)))
    return results


def test_xor_net_is_not_linear__catches_missing_hidden_nonlinearity(probe, p, plan, ref, measure):
    """Between its two linear layers XORNet applies a non-linearity. Without one, the network is a
    single linear map of its input, which no training can turn into XOR. (Measured on fresh
    networks; a network that has learned XOR is non-linear by that fact alone.)"""
    ev = _xor(probe, p)
    grid = plan.inputs["xor.grid"]
    fresh = [ev.tensor(f"init{k}.grid", dtype=None, what="the output") for k in range(p.xor.restarts)]
    bent = measure("xor.nonlinearity", max(ref.nonlinearity(grid, s) for s in fresh))
    if p.xor.nonlinearity.passes(bent) or any(ok for _, ok in _solved(ev, p, plan)):
        return
    fail(f"XORNet's output is a linear function of its input (least-squares residual {bent:.1e}): "
         "put a non-linearity such as torch.tanh or torch.relu between the two linear layers")


def test_xor_net_learns_xor__catches_a_network_that_cannot_learn_it(probe, p, plan, measure):
    """Trained by the course's loop (Adam on binary cross-entropy of raw scores), XORNet scores the
    four XOR points on the right side of 0 (positive for 1), in at least one of a few restarts."""
    ev = _xor(probe, p)
    results = _solved(ev, p, plan)
    if p.xor.solved.passes(measure("xor.solved", sum(ok for _, ok in results))):
        return
    seen = [scores for scores, _ in results]
    if all(bool((s > 0).all()) and bool((s < 1).all()) for s in seen):
        fail("every score lies between 0 and 1, so every point is called 1: the output looks "
             "squashed by a sigmoid; return raw scores (BCEWithLogitsLoss applies the sigmoid)")
    y = plan.inputs["xor.y"].reshape(-1)
    best = max(int(((s > 0).float() == y).sum()) for s in seen)
    fail(f"after training, XORNet gets at most {best} of the 4 XOR points right in "
         f"{p.xor.restarts} restarts; a network with a hidden non-linearity (and the default "
         "hidden=8) learns all four")
