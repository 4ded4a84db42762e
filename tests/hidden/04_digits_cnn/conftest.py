"""The judge's side of 04_digits_cnn: the digits it generates, and how it checks labels.

Trusted code. The digit generator is the one students were given, taken from the solution notebook's
setup cell. The training digits, the held-out digits and their labels never leave this process: the
student's DigitCNN arrives as graphs with its initial weights (the `graph` probe), and the judge
rebuilds it (autograder/graph.py), trains it with the course's loop and scores it here.
"""
import contextlib
import math
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


def generate(make_digit_image, n_per_class: int, seed, order=None):
    """Images (N, 1, 28, 28) and labels (N,): `n_per_class` of each digit from one generator
    (`seed`: an int or a numpy SeedSequence), in class-major order, or shuffled by the numpy
    Generator `order` so that nothing can be read from where an image sits."""
    rng = np.random.default_rng(seed)
    labels = [d for d in range(10) for _ in range(n_per_class)]
    images = torch.from_numpy(np.stack([make_digit_image(d, rng) for d in labels])).unsqueeze(1)
    labels = torch.tensor(labels)
    if order is None:
        return images, labels
    shuffled = torch.from_numpy(order.permutation(len(labels)))
    return images[shuffled], labels[shuffled]


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    """Every set of digits but the public probe images comes from the secret seed (a large random
    number: the sandbox knows the assignment's seed, and could redraw anything drawn from it), and
    every set is shuffled by a permutation drawn from the secret too."""
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    draw = _generator(cfg)
    held, knn, train, order = np.random.SeedSequence(a.secret_seed).spawn(4)
    order = np.random.default_rng(order)
    probe_x, _ = generate(draw, p.probe_images_per_class, a.seed, order)
    knn_x, knn_y = generate(draw, p.knn_reference_per_class, knn, order)
    train_x, train_y = generate(draw, p.train.n_per_class, train, order)
    held_x, held_y = generate(draw, p.held_out_per_class, held, order)
    n, seeds = p.dataset_n_per_class, p.dataset_seeds
    specs = [
        ProbeSpec("dataset", "dataset", {"n_per_class": n, "seeds": [seeds[0], seeds[0], seeds[1]]}),
        ProbeSpec("parameters", "parameters"),
        ProbeSpec("network", "network", {"batch_sizes": p.batch_sizes}),
        ProbeSpec("graph", "graph"),
        ProbeSpec("graph_no_dropout", "graph", {"dropout": 0.0}),
    ]
    inputs = {"images": probe_x}
    # the 1-NN reference of the label check: every digit the judge drew for training, and more
    reference_x, reference_y = torch.cat([knn_x, train_x]), torch.cat([knn_y, train_y])
    secrets = {"train.x": train_x, "train.y": train_y, "held.x": held_x, "held.y": held_y,
               "knn.x": _shape_of(reference_x), "knn.y": reference_y}
    return Plan(specs, inputs, secrets)


def _shape_of(images: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Each image blurred (a Gaussian, 7 taps each way) and scaled to unit length, as (N, 784)
    float64: nearest neighbours then match a digit's shape, not its exact pixels nor its
    brightness (over 500 judge-drawn digits of each class, 99.7% right on fresh ones)."""
    k = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-k ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    x = torch.nn.functional.conv2d(images.float(), g.view(1, 1, 1, 7), padding=(0, 3))
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 7, 1), padding=(3, 0)).flatten(1).double()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


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


def _seconds(net, batch) -> float:
    start = time.monotonic()
    net(batch)
    return time.monotonic() - start


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
            # one batch first: a network too big to train within the budget is refused before the
            # judge spends it (a training step costs about three forward passes)
            start = time.monotonic()
            batch = images[:p.train.batch_size].to(device)
            with torch.no_grad():
                # a warm-up at the training's batch size: a network too big for the judge's memory
                # is refused here, whatever the machine's speed, before any timing
                net(batch)
                # the fastest of three passes: one pass on a busy machine can stall for longer
                # than it computes (a single pass of 8 images once priced a correct network at
                # 153 s on a loaded 2-core machine: benchmarks/calibration/04_digits_cnn.json)
                fastest = min(_seconds(net, batch) for _ in range(3))
            guess = fastest * 3 * math.ceil(len(images) / len(batch)) * p.train.epochs
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
    """Label each image by its nearest judge-drawn digit, both as `_shape_of` (1-NN): a classifier
    that does not depend on the student's code, right more than 99% of the time."""
    d = torch.cdist(_shape_of(images), plan.secrets["knn.x"])
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
