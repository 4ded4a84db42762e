"""Calibration of 04_digits_cnn's thresholds: held-out accuracy and dataset label agreement.

For N seeds (model seed, training digits and held-out digits all varied) it trains the reference
DigitCNN and learning-related mutants with the probe's own training loop and budget, and measures the
1-NN label agreement of reference and shifted-label datasets. Trusted code only (the reference and
the kit's own mutants, in-process).

    .venv/bin/python benchmarks/calibrate_04.py [--seeds 20]
"""
import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from autograder.config import load_config  # noqa: E402
from autograder.extract import extract  # noqa: E402
from kit import load_module as load, module_from_source, patched_submissions  # noqa: E402

AID = "04_digits_cnn"
LEARNING = ("softmax_at_end", "no_relu", "dropout_missing", "single_conv", "dropout_in_eval")


def module_from(path: Path):
    return module_from_source(path.read_text(), path.stem)


def summary(values, threshold):
    v = np.array(values)
    return (f"min {v.min():.3f} p5 {np.percentile(v, 5):.3f} median {np.median(v):.3f} "
            f"max {v.max():.3f} | threshold {threshold} | margin below min {v.min() - threshold:+.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in the sandbox
    cfg = load_config(ROOT / "grading_config.yaml")
    p = cfg.params(AID)
    conf = load(ROOT / "tests/hidden" / AID / "conftest.py", "judge04")
    draw = conf._generator(cfg)
    sol = ROOT / "solutions" / AID / f"{AID}.ipynb"
    folder = Path("/tmp/calibrate04")
    folder.mkdir(exist_ok=True)
    manifest = yaml.safe_load((ROOT / "tests/mutants" / AID / "mutants.yaml").read_text())
    manifest = {k: v for k, v in manifest.items() if k in LEARNING + ("labels_shifted",)}
    manifest["reference"] = {"edits": []}
    modules = {path.stem: module_from(path)
               for path in patched_submissions(extract(sol, sol, AID).source, manifest, folder)}
    accuracy = {name: [] for name in modules if name != "labels_shifted"}
    agreement = {"reference": [], "labels_shifted": []}
    start = time.time()
    for seed in range(args.seeds):
        train_x, train_y = conf.generate(draw, p.train.n_per_class, 100 + seed)
        held_x, held_y = conf.generate(draw, p.held_out_per_class, 900 + seed)
        knn_x, knn_y = conf.generate(draw, p.knn_reference_per_class, 500 + seed)
        plan = types.SimpleNamespace(secrets={"knn.x": knn_x, "knn.y": knn_y})
        for name in accuracy:
            torch.manual_seed(seed)
            model = modules[name].DigitCNN()
            conf.probes.train_reference(model, train_x, train_y, {**p.train.model_dump(), "seed": seed}, "cpu")
            model.eval()
            with torch.no_grad():
                acc = (model(held_x).argmax(1) == held_y).double().mean().item()
            accuracy[name].append(acc)
        for name in agreement:
            ds = modules[name].DigitDataset(p.dataset_n_per_class, seed=seed)
            images = torch.stack([ds[i][0] for i in range(len(ds))])
            labels = torch.tensor([ds[i][1] for i in range(len(ds))])
            agreement[name].append((conf.nearest_labels(images, plan) == labels).double().mean().item())
        print(f"seed {seed + 1}/{args.seeds} ({time.time() - start:.0f} s)", file=sys.stderr)
    print(f"torch {torch.__version__}, cpu, 1 thread, {args.seeds} seeds, budget {p.train.model_dump()}")
    for name, values in accuracy.items():
        print(f"held-out accuracy  {name:18s} {summary(values, p.accuracy.value)}")
    for name, values in agreement.items():
        print(f"label agreement    {name:18s} {summary(values, p.label_agreement.value)}")


if __name__ == "__main__":
    main()
