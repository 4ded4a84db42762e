"""Calibration of 03_network's learning thresholds (held-out accuracy, loss drop).

Runs the `fit` probe of the reference solution and of learning-related mutants over N seeds (model
seed and held-out split both varied), scores them as the judge does, and prints each distribution
next to the configured threshold. Trusted code only: the reference and the kit's own mutants run
in-process. The full per-assignment `autograder calibrate` command is tracked separately (issue 7).

    .venv/bin/python benchmarks/calibrate_03_fit.py [--seeds 20]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from autograder.config import load_config  # noqa: E402
from autograder.extract import extract  # noqa: E402
from kit import load_module as load, module_from_source as module_from  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "grading_config.yaml")
    hidden = ROOT / "tests/hidden/03_network"
    conf = load(hidden / "conftest.py", "judge03")
    sol = ROOT / "solutions/03_network/03_network.ipynb"
    reference = extract(sol, sol, "03_network").source
    mutants = yaml.safe_load((ROOT / "tests/mutants/03_network/mutants.yaml").read_text())
    variants = {"reference": reference}
    for name in ("no_zero_grad", "no_step", "sigmoid_on_output", "sum_not_mean"):
        m = mutants[name]
        variants[name] = reference.replace(m["find"], m["replace"])
    p = cfg.params("03_network")
    rows = {}
    for seed in range(args.seeds):
        a = cfg.assignments["03_network"]
        a.seed, a.secret_seed = 1000 + seed, 5000 + seed
        plan = conf.make_plan(cfg, "cpu")
        for vname, source in variants.items():
            for spec in plan.probes:
                if spec.function != "fit":
                    continue
                data = spec.args["data"]
                params = getattr(p, data)
                torch.manual_seed(a.seed)
                student = module_from(source, f"{vname}_{seed}")
                _, tensors = conf.probes.fit(student, spec.args, plan.inputs, "cpu")
                ws = [tensors[f"final.w{j}"] for j in range(len(params.sizes) - 1)]
                bs = [tensors[f"final.b{j}"] for j in range(len(params.sizes) - 1)]
                w0 = [tensors[f"init.w{j}"] for j in range(len(params.sizes) - 1)]
                b0 = [tensors[f"init.b{j}"] for j in range(len(params.sizes) - 1)]
                X, y = plan.inputs[f"{data}.x"], plan.inputs[f"{data}.y"]
                Xh, yh = plan.secrets[f"{data}.held"]
                with torch.no_grad():
                    acc = (conf.network_forward(ws, bs, params.activation, Xh).argmax(1) == yh).double().mean().item()
                    before = conf.cross_entropy(conf.network_forward(w0, b0, params.activation, X), y)
                    after = conf.cross_entropy(conf.network_forward(ws, bs, params.activation, X), y)
                ratio = after / before if after == after else float("inf")
                rows.setdefault((data, vname), []).append((acc, ratio))
        print(f"seed {seed + 1}/{args.seeds} done", file=sys.stderr)
    print(f"torch {torch.__version__}, cpu, {args.seeds} seeds")
    for (data, vname), vals in sorted(rows.items()):
        acc = np.array([v[0] for v in vals])
        ratio = np.array([v[1] for v in vals])
        th = getattr(p, data)
        print(f"{data:9s} {vname:18s} accuracy min {acc.min():.3f} p5 {np.percentile(acc, 5):.3f} "
              f"median {np.median(acc):.3f} max {acc.max():.3f} (threshold {th.accuracy.value}) | "
              f"loss ratio min {ratio.min():.3f} median {np.median(ratio):.3f} max {ratio.max():.3f} "
              f"(threshold {th.loss_drop.value})")


if __name__ == "__main__":
    main()
