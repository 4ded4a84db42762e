"""Benchmark: wall time to grade one submission, next to the cost of `import torch`.

Measures, side by side in one run on this machine:
  - `python -c "import torch"` alone (the floor any fresh-process grader pays);
  - `autograder grade` end to end (CLI start, judge inputs, sandboxed probes, judge, report);
  - with --baseline DIR, the same `grade` run from another checkout of the kit (a git worktree of
    an earlier commit, say), alternating with this one, and the ratio of the two;
  - with --also-through-app, this checkout once more, started through typer's app() instead of
    `autograder.cli.main`, so with Python's usual exit: the work alone, without the fast exit.

    .venv/bin/python benchmarks/grade_one.py [--repeat 3] [--assignment 04_digits_cnn ...]
    git worktree add /tmp/kit-before <commit>
    .venv/bin/python benchmarks/grade_one.py --assignment 01_tensors 02_neurons --baseline /tmp/kit-before
    .venv/bin/python benchmarks/grade_one.py --assignment 01_tensors --baseline /tmp/kit-before --also-through-app

The submission is the bundled correct example of 03, or the reference solution notebook otherwise
(each checkout grades its own). Both checkouts run with this Python and its packages.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv, cwd=ROOT, env=None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


# `autograder.cli.main` leaves with os._exit once the command is done; typer's `app()` ends the way
# any Python program does, tearing the interpreter down (about 1 s with torch imported)
THROUGH_APP = "from autograder.cli import app; app(prog_name='autograder')"


def grade(root: Path, assignment: str, through_app: bool = False) -> float:
    """One `autograder grade` of the assignment's submission, run from the checkout at `root`
    (`through_app`: started through typer's app(), with Python's usual exit)."""
    examples = {"03_network": root / "examples/03_network/alice_correct.ipynb"}
    submission = examples.get(assignment, root / "solutions" / assignment / f"{assignment}.ipynb")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    start = ["-c", THROUGH_APP] if through_app else ["-m", "autograder"]
    return timed([sys.executable, *start, "grade", str(submission), "--assignment",
                  assignment, "--out", f"/tmp/bench-grade-{os.getpid()}"], cwd=root, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--assignment", nargs="+", default=["03_network"])
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout of the kit to time alternately with this one")
    ap.add_argument("--also-through-app", action="store_true",
                    help="also time this checkout started through typer's app(), which exits "
                         "as Python does: what the work costs, without the CLI's fast exit")
    args = ap.parse_args()
    rows: dict[str, list[float]] = {"import torch": []}
    for _ in range(args.repeat):
        rows["import torch"].append(timed([sys.executable, "-c", "import torch"]))
        for aid in args.assignment:
            rows.setdefault(f"grade {aid}", []).append(grade(ROOT, aid))
            if args.also_through_app:
                rows.setdefault(f"grade {aid} (through app())", []).append(grade(ROOT, aid, True))
            if args.baseline:
                rows.setdefault(f"grade {aid} (baseline)", []).append(grade(args.baseline.resolve(), aid))
    print(f"{'what':40s} {'median s':>9s} {'min s':>7s} {'max s':>7s}   (n={args.repeat}, "
          f"{Path('/proc/cpuinfo').read_text().count('processor')} cores)")
    for name, values in rows.items():
        print(f"{name:40s} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    torch_s = statistics.median(rows["import torch"])
    for aid in args.assignment:
        now = statistics.median(rows[f"grade {aid}"])
        line = f"{aid}: grade / import torch {now / torch_s:.1f}x"
        if args.baseline:
            base = statistics.median(rows[f"grade {aid} (baseline)"])
            line += f"; this checkout / baseline {now / base:.2f}x"
            if args.also_through_app:
                line += (f" (through app(): "
                         f"{statistics.median(rows[f'grade {aid} (through app())']) / base:.2f}x)")
        print(line)


if __name__ == "__main__":
    main()
