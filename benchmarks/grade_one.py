"""Benchmark: wall time to grade one submission, next to the cost of `import torch`.

Measures, side by side in one run on this machine:
  - `python -c "import torch"` alone (the floor any fresh-process grader pays);
  - the probe stage alone (sandbox start + torch import + warm-up + every probe);
  - `autograder grade` end to end (CLI start, judge inputs, sandboxed probes, judge, report).

    .venv/bin/python benchmarks/grade_one.py [--repeat 3] [--assignment 04_digits_cnn]

The submission is the bundled correct example of 03, or the reference solution notebook otherwise.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {"03_network": ROOT / "examples/03_network/alice_correct.ipynb"}


def timed(argv) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--assignment", default="03_network")
    args = ap.parse_args()
    submission = EXAMPLES.get(args.assignment,
                              ROOT / "solutions" / args.assignment / f"{args.assignment}.ipynb")
    py = sys.executable
    rows = {"import torch": [], f"grade {args.assignment}": []}
    for _ in range(args.repeat):
        rows["import torch"].append(timed([py, "-c", "import torch"]))
        rows[f"grade {args.assignment}"].append(
            timed([py, "-m", "autograder", "grade", str(submission), "--assignment", args.assignment,
                   "--out", "/tmp/bench-grade"]))
    print(f"{'what':28s} {'median s':>9s} {'min s':>7s} {'max s':>7s}   (n={args.repeat}, "
          f"{Path('/proc/cpuinfo').read_text().count('processor')} cores)")
    for name, values in rows.items():
        print(f"{name:28s} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    ratio = statistics.median(rows[f"grade {args.assignment}"]) / statistics.median(rows["import torch"])
    print(f"grade / import torch: {ratio:.1f}x")


if __name__ == "__main__":
    main()
