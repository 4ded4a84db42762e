"""Self-checks of 02_neurons: run by a student's `autograder check`, worth no points, never graded.

The graded perceptron check compares each step with the judge's own rule. This one asks only what
any right rule must do to a point it got wrong: move the line towards it, so that the point's score
w @ x + b rises for a missed 1 and falls for a missed 0.
"""
import torch

from autograder.evidence import fail


def test_a_missed_point_moves_the_line_towards_it__catches_wrong_sign(probe, plan):
    """After perceptron_step on a misclassified point, its score moves towards the right side."""
    ev = probe("perceptron_step", "perceptron_step")
    w, b, x, y = (plan.inputs[f"pst.{k}"].double() for k in "wbxy")
    steps = [ev.parts(f"step{k}", 2, "perceptron_step") for k in range(len(w))]
    new_w = torch.stack([ev.tensor(w_path, tuple(w.shape[1:]), what="the new weights").double()
                         for w_path, _ in steps])
    new_b = torch.stack([torch.tensor(ev.number(b_path), dtype=torch.float64)
                         if ev.number(b_path) is not None else
                         ev.tensor(b_path, dtype=None, what="the new bias").double().reshape(())
                         for _, b_path in steps])
    before = (w * x).sum(dim=1) + b
    after = (new_w * x).sum(dim=1) + new_b
    missed = (before >= 0).long() != y.long()
    wanted = torch.where(y.long() == 1, 1.0, -1.0).double()  # up for a missed 1, down for a missed 0
    moved = (after - before) * wanted
    away = missed & (moved < -1e-9)
    if away.any():
        k = int(away.nonzero()[0])
        fail(f"for a misclassified point with label {int(y[k])} the score w @ x + b went from "
             f"{before[k]:.4f} to {after[k]:.4f}: the line moves away from the missed point; add "
             "lr * (y - prediction) * x to w (and lr * (y - prediction) to b), do not subtract it")
    still = missed & (moved.abs() <= 1e-9)
    if still.any():
        fail("a misclassified point left w and b unchanged: it should move the line")
