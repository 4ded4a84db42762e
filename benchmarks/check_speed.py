"""Benchmark: a student's `autograder check`, in a fresh process as they would run it, per assignment.

Side by side in one run: `python -c "import torch"` (the floor of any fresh process) and
`autograder check` on each reference notebook (every public check passes, so every public probe
runs to the end). The target is "well under a minute on a laptop with no GPU".

    .venv/bin/python benchmarks/check_speed.py [--repeat 3]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDS = ["01_tensors", "02_neurons", "03_network", "04_digits_cnn", "05_quiz"]


def timed(argv) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    rows: dict[str, list[float]] = {"import torch": []}
    for _ in range(args.repeat):  # alternate, so that machine noise hits every row alike
        rows["import torch"].append(timed([py, "-c", "import torch"]))
        for aid in IDS:
            notebook = ROOT / "solutions" / aid / f"{aid}.ipynb"
            rows.setdefault(f"check {aid}", []).append(
                timed([py, "-m", "autograder", "check", str(notebook)]))
    cores = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"{'what':24s} {'median s':>9s} {'min s':>7s} {'max s':>7s}  x import torch   "
          f"(n={args.repeat}, {cores} cores, CPU)")
    floor = statistics.median(rows["import torch"])
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"{name:24s} {med:9.2f} {min(values):7.2f} {max(values):7.2f}  {med / floor:5.1f}x")


if __name__ == "__main__":
    main()
