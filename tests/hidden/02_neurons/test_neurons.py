"""The perceptron rule, logic gates learned by one neuron, and a two-layer network for XOR.

XORNet is rebuilt by the judge from the graph its probe exported (autograder/graph.py) and trained
here with the course's loop: no training runs in the process of the student's code."""
import time

import pytest
import torch
from torch import nn

from autograder.evidence import check, fail
from autograder.graph import GraphNet, GraphRefused


def _cases(plan):
    lrs = next(s.args["lrs"] for s in plan.probes if s.name == "perceptron_step")
    return [plan.inputs[f"pst.{k}"] for k in "wbxy"], torch.tensor(lrs)


def _bias(ev, path: str, what: str) -> torch.Tensor:
    """A bias as a float64 0-dim tensor, whether it came back as a tensor or a Python number."""
    number = ev.number(path)
    if number is not None:
        return torch.tensor(number, dtype=torch.float64)
    b = ev.tensor(path, dtype=None, what=what)
    check(b.numel() == 1, f"{what} has shape {tuple(b.shape)}; it should be a single number")
    return b.reshape(()).double()


def _stepped(probe, plan):
    """Each case's new (w, b), stacked: (n, d) and (n,)."""
    ev = probe("perceptron_step", "perceptron_step")
    (w, _, _, _), _ = _cases(plan)
    ws, bs = [], []
    for k in range(len(w)):
        w_path, b_path = ev.parts(f"step{k}", 2, "perceptron_step")
        ws.append(ev.tensor(w_path, tuple(w.shape[1:]), what="the new w").double())
        bs.append(_bias(ev, b_path, "the new b"))
    return torch.stack(ws), torch.stack(bs)


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
    w_path, b_path = ev.parts("result", 2, "train_gate")
    w = ev.tensor(w_path, (2,), what="the learned w")
    b = _bias(ev, b_path, "the learned b").float()
    predicted = ref.gate_predictions(w, b)
    truth = torch.tensor(ref.gates[gate])
    wrong = [f"({int(p[0])}, {int(p[1])})" for p, ok in
             zip(torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), predicted == truth) if not ok]
    if wrong:
        hint = " (with zero weights every score is 0, which predicts 1 everywhere: did any update " \
               "happen?)" if not w.any() and not b.any() else ""
        fail(f"the neuron learned for {gate} gets {4 - len(wrong)} of 4 points right; it is wrong "
             f"on {', '.join(wrong)}{hint}")


def test_perceptron_step_leaves_the_callers_w_alone__catches_updating_w_in_place(probe, plan):
    """perceptron_step returns a new w: the w it was given keeps its values (w + lr * ... makes a
    new tensor; w += ... changes the caller's)."""
    ev = probe("perceptron_step", "perceptron_step")
    (w, _, _, _), _ = _cases(plan)
    for k in range(len(w)):
        after = ev.tensor(f"w{k}_after", tuple(w.shape[1:]), what="the w it was given")
        if not torch.equal(after, w[k]):
            fail("perceptron_step changed the w it was given: return w + lr * (y - prediction) * x, "
                 "a new tensor, rather than updating w in place (w += ...)")


def train_xor(model, X, y, steps, lr):
    """The course's loop for XOR: full batch, Adam, binary cross-entropy on raw scores."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()


def _xor_runs(probe, plan, p, device):
    """Per restart, the rebuilt XORNet's outputs on the grid when fresh, and its scores of the four
    XOR points after the course's training, within the config's budget."""
    ev = probe("xor_net", "XORNet")
    X, y, grid = (plan.inputs[k].to(device) for k in ("xor.X", "xor.y", "xor.grid"))
    fresh, trained = [], []
    deadline = time.monotonic() + p.xor.budget_s
    try:
        for k in range(p.xor.restarts):
            net = GraphNet.from_node(ev.node(f"net{k}"), ev.outcome.tensors, "XORNet",
                                     "an XORNet").to(device)
            net.deadline = deadline
            with torch.random.fork_rng(devices=[]):
                net.eval()
                with torch.no_grad():
                    fresh.append(net(grid).cpu())
                train_xor(net, X, y, p.xor.steps, p.xor.lr)
                net.eval()
                with torch.no_grad():
                    trained.append(net(X).cpu())
    except GraphRefused as exc:
        return None, None, f"XORNet could not be rebuilt and trained: {exc}"
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return None, None, (f"training XORNet failed: {type(exc).__name__}: "
                            f"{(str(exc).splitlines() or [''])[0][:300]}")
    return fresh, trained, None


def _xor(probe, plan, p, submission_run):
    """_xor_runs once per submission; fails the asking test with the reason where it could not run."""
    if "xor" not in submission_run.memo:
        submission_run.memo["xor"] = _xor_runs(probe, plan, p, submission_run.device)
    fresh, trained, problem = submission_run.memo["xor"]
    if problem:
        fail(problem)
    return fresh, trained


def test_xor_net_gives_one_score_per_point__catches_wrong_output_shape(probe, p, plan, submission_run):
    """XORNet() maps a batch of points of shape (N, 2) to raw scores of shape (N, 1)."""
    fresh, _ = _xor(probe, plan, p, submission_run)
    n = len(plan.inputs["xor.grid"])
    out = fresh[0]
    check(tuple(out.shape) == (n, 1), f"for {n} points XORNet returned shape {tuple(out.shape)}; "
          f"expected ({n}, 1), one raw score per point")


def _solved(trained, plan):
    """Per restart: the trained scores of the four XOR points, and whether all four are right."""
    y = plan.inputs["xor.y"].reshape(-1)
    results = []
    for scores in trained:
        check(scores.numel() == 4, f"XORNet gave {scores.numel()} scores for the 4 XOR points")
        scores = scores.float().reshape(-1)
        results.append((scores, torch.equal((scores > 0).float(), y)))
    return results


def test_xor_net_is_not_linear__catches_missing_hidden_nonlinearity(probe, p, plan, ref, measure,
                                                                     submission_run):
    """Between its two linear layers XORNet applies a non-linearity. Without one, the network is a
    single linear map of its input, which no training can turn into XOR. (Measured on fresh
    networks; a network that has learned XOR is non-linear by that fact alone.)"""
    fresh, trained = _xor(probe, plan, p, submission_run)
    grid = plan.inputs["xor.grid"]
    bent = measure("xor.nonlinearity", max(ref.nonlinearity(grid, s) for s in fresh))
    if p.xor.nonlinearity.passes(bent) or any(ok for _, ok in _solved(trained, plan)):
        return
    fail(f"XORNet's output is a linear function of its input (least-squares residual {bent:.1e}): "
         "put a non-linearity such as torch.tanh or torch.relu between the two linear layers")


def test_xor_net_learns_xor__catches_a_network_that_cannot_learn_it(probe, p, plan, measure,
                                                                      submission_run):
    """Trained by the course's loop (Adam on binary cross-entropy of raw scores), XORNet scores the
    four XOR points on the right side of 0 (positive for 1), in at least one of a few restarts."""
    _, trained = _xor(probe, plan, p, submission_run)
    results = _solved(trained, plan)
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
