"""Benchmark: how batch grading scales with workers on a Dask LocalCluster.

For each worker count, starts a LocalCluster of that many single-threaded worker processes, grades
the same class (copies of the correct 03_network example) with `autograder grade-batch --scheduler`,
and reports throughput (submissions per minute, the reference solution's grading included, as a
user would see it) and the parallel efficiency: throughput(w) / (w x throughput(1)).

    .venv/bin/python benchmarks/batch_scaling.py [--workers 1 2 4] [--per-worker 8]

Each run grades `per-worker x the largest worker count` submissions, so every run does the same
work. Figures go to stdout and to benchmarks/results/batch_scaling.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples/03_network/alice_correct.ipynb"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--per-worker", type=int, default=8)
    args = ap.parse_args()
    from distributed import LocalCluster

    copies = args.per_worker * max(args.workers)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as name:
        inbox = Path(name) / "inbox"
        inbox.mkdir()
        for i in range(copies):
            shutil.copy(EXAMPLE, inbox / f"student{i:03d}.ipynb")
        for workers in args.workers:
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                out = Path(name) / f"out{workers}"
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(inbox),
                                       "--assignment", "03_network", "--out", str(out),
                                       "--scheduler", cluster.scheduler_address],
                                      cwd=ROOT, capture_output=True, text=True)
                wall = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(f"grade-batch with {workers} workers failed:\n{proc.stderr[-3000:]}")
            graded = [json.loads(p.read_text()) for p in (out / "students").glob("*/grading.json")]
            full = sum(r["score"] == r["max_score"] for r in graded)
            if full != copies:
                sys.exit(f"{workers} workers: {full} of {copies} full marks")
            rows.append({"workers": workers, "submissions": copies, "wall_s": round(wall, 1),
                         "per_minute": round(60 * copies / wall, 1)})
            print(rows[-1], flush=True)
    base = next((r["per_minute"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["efficiency"] = round(r["per_minute"] / (r["workers"] * base), 2) if base else None
    figures = {"cpus": os.cpu_count(), "runs": rows}
    print(json.dumps(figures, indent=1))
    target = ROOT / "benchmarks" / "results" / "batch_scaling.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
