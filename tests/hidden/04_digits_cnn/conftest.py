"""The judge's side of 04_digits_cnn: the digits it generates, and how it checks labels.

Trusted code. The digit generator is the one students were given, taken from the solution notebook's
setup cell. The training digits, the held-out digits and their labels never leave this process: the
student's DigitCNN arrives as graphs with its initial weights (the `graph` probe), and the judge
rebuilds it (autograder/graph.py), trains it with the course's loop and scores it here.
"""
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autograder import judge
from autograder.config import GradingConfig, repo_root, solution_path
from autograder.evidence import Evidence
from autograder.extract import setup_source
from autograder.judge import load_probes
from autograder.probe import Plan, ProbeSpec

AID = "04_digits_cnn"
# said after an operator the grader does not run
NEEDS = ("; a network of the described shape needs only convolutions, ReLU, max-pooling, "
         "flattening, dropout and linear layers")


probes = load_probes(Path(__file__).parent)


def _generator(cfg: GradingConfig):
    namespace: dict = {}
    exec(setup_source(solution_path(repo_root(), AID, cfg.assignment(AID).notebook)), namespace)
    return namespace["make_digit_image"]


def generate(make_digit_image, n_per_class: int, seed: int):
    """Images (N, 1, 28, 28) and labels (N,) in class-major order, as the reference dataset."""
    rng = np.random.default_rng(seed)
    labels = [d for d in range(10) for _ in range(n_per_class)]
    images = np.stack([make_digit_image(d, rng) for d in labels])
    return torch.from_numpy(images).unsqueeze(1), torch.tensor(labels)


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    draw = _generator(cfg)
    probe_x, _ = generate(draw, p.probe_images_per_class, a.seed)
    knn_x, knn_y = generate(draw, p.knn_reference_per_class, a.seed + 1)
    train_x, train_y = generate(draw, p.train.n_per_class, a.seed + 2)
    held_x, held_y = generate(draw, p.held_out_per_class, a.secret_seed)
    specs = [
        ProbeSpec("dataset", "dataset", {"n_per_class": p.dataset_n_per_class,
                                         "seeds": [p.dataset_seeds[0], p.dataset_seeds[0], p.dataset_seeds[1]]}),
        ProbeSpec("parameters", "parameters"),
        ProbeSpec("network", "network", {"batch_sizes": p.batch_sizes}),
        ProbeSpec("graph", "graph"),
    ]
    inputs = {"images": probe_x}
    secrets = {"train.x": train_x, "train.y": train_y, "held.x": held_x, "held.y": held_y,
               "knn.x": knn_x, "knn.y": knn_y}
    return Plan(specs, inputs, secrets)


@dataclass
class Trained:
    """The student's DigitCNN as the judge rebuilt, trained and ran it (or why it could not)."""
    losses: list[float] | None = None
    logits: torch.Tensor | None = None  # on the held-out digits, after training
    problem: str | None = None


@contextlib.contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_rebuilt(outcome, plan: Plan, p, seed: int, threads: int, device: str) -> Trained:
    """Rebuild the network from the `graph` probe's output, train it with the course's loop on the
    judge's digits (budget and seed from the config), and score the held-out digits."""
    from autograder.graph import GraphNet, GraphRefused

    if outcome is None:
        return Trained(problem="your DigitCNN was not probed")
    try:
        ev = Evidence(outcome, "your DigitCNN")
    except pytest.fail.Exception as exc:
        return Trained(problem=str(exc.msg))
    images, labels = plan.secrets["train.x"], plan.secrets["train.y"]
    try:
        net = GraphNet.from_node(ev.node("graph"), ev.outcome.tensors, "DigitCNN").to(device)
        with torch.random.fork_rng(devices=[]), _threads(threads):
            # a few images first: a network too big to train within the budget is refused before
            # the judge spends it (a training step costs about three forward passes)
            start = time.monotonic()
            with torch.no_grad():
                # warm-up, at the training's batch size: a network too big for the judge's memory
                # is refused here, whatever the machine's speed, before any timing
                net(images[:p.train.batch_size].to(device))
                timed = time.monotonic()
                net(images[:8].to(device))
            guess = (time.monotonic() - timed) / 8 * 3 * len(images) * p.train.epochs
            if guess > p.train.budget_s:
                return Trained(problem=f"training it would take about {guess:.0f} s, more than "
                                       f"the grader's {p.train.budget_s:g} s (a network of the "
                                       "described shape takes a few seconds): use fewer channels "
                                       "or units")
            net.deadline = start + p.train.budget_s
            torch.manual_seed(seed)
            train_args = {k: v for k, v in p.train.model_dump().items() if k != "budget_s"}
            losses = probes.train_reference(net, images, labels, {**train_args, "seed": seed},
                                            device)
            net.deadline = None
            net.eval()
            with torch.no_grad():
                logits = torch.cat([net(x.to(device)).cpu() for x in plan.secrets["held.x"].split(500)])
    except GraphRefused as exc:
        return Trained(problem=str(exc) + (NEEDS if "does not run" in str(exc) else ""))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return Trained(problem=f"training it failed: {type(exc).__name__}: "
                               f"{(str(exc).splitlines() or [''])[0][:300]}")
    n = len(plan.secrets["held.y"])
    if logits.dim() != 2 or tuple(logits.shape) != (n, 10):
        return Trained(losses, problem=f"on {n} images it returns scores of shape "
                                       f"{tuple(logits.shape)}; expected ({n}, 10)")
    return Trained(losses, logits.float())


def nearest_labels(images: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Label each image by its nearest judge-generated digit (1-NN on pixels): a classifier that
    does not depend on the student's code, good enough to tell matching labels from shifted ones."""
    d = torch.cdist(images.flatten(1).double(), plan.secrets["knn.x"].flatten(1).double())
    return plan.secrets["knn.y"][d.argmin(dim=1)]


@pytest.fixture
def ref():
    return SimpleNamespace(nearest_labels=nearest_labels, probes=probes)


@pytest.fixture
def trained(request, submission_run, p) -> Trained:
    """The judge's training of the student's network, once per submission, with the config's
    seed and the sandbox's thread count (so that the same submission trains the same way)."""
    if "trained" not in submission_run.memo:
        cfg = judge.context(request.config).cfg
        outcome = submission_run.probes.outcomes.get("graph")
        submission_run.memo["trained"] = train_rebuilt(
            outcome, submission_run.plan, p, cfg.assignment(AID).seed, cfg.limits.threads,
            submission_run.device)
    return submission_run.memo["trained"]
