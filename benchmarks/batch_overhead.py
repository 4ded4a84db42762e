"""Benchmark: the grader's overhead per submission in a batch.

Grades N copies of the correct 03_network example with `autograder grade-batch` (a fresh output
folder, so nothing is reused) and reports:

  - wall time of the whole batch, and per submission (wall / N);
  - the probes' own compute per submission: the seconds the probes ran inside the sandbox,
    summed over the class and divided by the workers (they run side by side) and by N;
  - overhead per submission = wall / N - that compute: sandbox start (bwrap, Python, `import
    torch`, warm-up), extraction, the judge, the reports, the pool, and the reference solution that
    every batch grades first.

    .venv/bin/python benchmarks/batch_overhead.py [--copies 100] [--workers 2]

Figures go to stdout and to benchmarks/results/batch_overhead.json.
"""
import argparse
import json
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
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        for i in range(args.copies):
            shutil.copy(EXAMPLE, inbox / f"student{i:03d}.ipynb")
        out = Path(tmp) / "out"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(inbox),
                               "--assignment", "03_network", "--out", str(out), "--workers",
                               str(args.workers)], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"grade-batch failed:\n{proc.stderr[-3000:]}")
        records = [json.loads(p.read_text()) for p in (out / "students").glob("*/grading.json")]
        short = [r for r in records if r["score"] != r["max_score"]]
        if len(records) != args.copies or short:
            for r in short:
                print(r["student"], r["status"], r["score"], r["reason"], r["failed_checks"])
                print((out / "students" / r["student"] / "feedback.md").read_text()[:3000])
            sys.exit(f"{len(records)} of {args.copies} graded, {len(short)} without full marks")
    n = len(records)
    compute = sum(r["probe_seconds"] for r in records) / args.workers / n
    figures = {"copies": n, "workers": args.workers, "wall_s": round(wall, 1),
               "per_submission_s": round(wall / n, 3), "probe_compute_per_submission_s": round(compute, 3),
               "overhead_per_submission_s": round(wall / n - compute, 3),
               "mean_grading_s": round(sum(r["seconds"] for r in records) / n, 2)}
    for k, v in figures.items():
        print(f"{k:>32}: {v}")
    target = ROOT / "benchmarks" / "results" / "batch_overhead.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
