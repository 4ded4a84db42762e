"""The judge's side of 04_digits_cnn: the digits it generates, and how it checks labels.

Trusted code. The digit generator is the one students were given, taken from the solution notebook's
setup cell. Held-out labels never leave this process.
"""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autograder.config import GradingConfig, repo_root, solution_path
from autograder.extract import setup_source
from autograder.judge import load_probes
from autograder.probe import Plan, ProbeSpec

AID = "04_digits_cnn"


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
        ProbeSpec("train", "train", {**p.train.model_dump(), "seed": a.seed}),
    ]
    inputs = {"images": probe_x, "train.x": train_x, "train.y": train_y, "held.x": held_x}
    secrets = {"held.y": held_y, "knn.x": knn_x, "knn.y": knn_y}
    return Plan(specs, inputs, secrets)


def nearest_labels(images: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Label each image by its nearest judge-generated digit (1-NN on pixels): a classifier that
    does not depend on the student's code, good enough to tell matching labels from shifted ones."""
    d = torch.cdist(images.flatten(1).double(), plan.secrets["knn.x"].flatten(1).double())
    return plan.secrets["knn.y"][d.argmin(dim=1)]


@pytest.fixture
def ref():
    return SimpleNamespace(nearest_labels=nearest_labels, probes=probes)
