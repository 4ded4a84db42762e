"""Benchmark: what the bubblewrap sandbox adds to the probe stage, against an unsandboxed child.

Runs the probe stage of 03_network on the reference solution, alternating `--sandbox bwrap` and
`--sandbox none` in one run so both see the same machine load, and reports medians and the ratio.

    .venv/bin/python benchmarks/sandbox_overhead.py [--repeat 5]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from autograder import assignment  # noqa: E402
from autograder.config import load_config  # noqa: E402
from autograder.extract import extract  # noqa: E402
from autograder.probe import run_probes  # noqa: E402

AID = "03_network"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cfg = load_config(ROOT / "grading_config.yaml")
    plan = assignment.make_plan(ROOT, cfg, AID, "cpu")
    sol = ROOT / "solutions" / AID / f"{AID}.ipynb"
    extraction = extract(sol, sol, AID)
    times = {"none": [], "bwrap": []}
    for _ in range(args.repeat):
        for mode in times:
            start = time.perf_counter()
            run = run_probes(extraction, plan, cfg.limits, "cpu", cfg.assignment(AID).seed,
                             sandbox=mode)
            times[mode].append(time.perf_counter() - start)
            assert all(o.ok for o in run.outcomes.values()), mode
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"probe stage of {AID}, reference solution, {args.repeat} runs each, alternating")
    for mode, values in times.items():
        print(f"  sandbox {mode:5s}: median {med[mode]:.2f} s (min {min(values):.2f}, max {max(values):.2f})")
    print(f"  bwrap / none: {med['bwrap'] / med['none']:.2f}x  (+{med['bwrap'] - med['none']:.2f} s per submission)")


if __name__ == "__main__":
    main()
