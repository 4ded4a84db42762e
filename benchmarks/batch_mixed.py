"""Benchmark: a 300-submission class of good, buggy and hostile 03_network submissions.

The class is built from what the kit's tests already trust:
  - good:    the bundled correct example and every correct variant (tests/variants/03_network);
  - buggy:   every mutant (tests/mutants/03_network), each the reference with one known bug;
  - hostile: every attack of tests/adversarial/cases.py, plus unreadable files (not a notebook,
             an empty notebook, a notebook that is not JSON).
They are cycled to `--students` (default 300: half good, a third buggy, the rest hostile) and
graded with one `autograder grade-batch`. The benchmark then checks that every student has a row,
that every good one scored full marks, that every mutant lost at least the checks its manifest
says it must, and that every attack lost exactly what tests/adversarial says it deserves, and
reports the wall time, time per submission, statuses and the slowest submissions.

    .venv/bin/python benchmarks/batch_mixed.py [--students 300] [--workers N]

Exit status 1 when any check fails. Figures go to stdout and benchmarks/results/batch_mixed.json.
"""
import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests/adversarial"))
sys.path.insert(0, str(ROOT / "tests"))

from autograder.calibrate import apply_edits  # noqa: E402
from autograder.config import load_config  # noqa: E402
from autograder.extract import extract  # noqa: E402

AID = "03_network"


def build_class(folder: Path, students: int, scratch: Path) -> dict[str, dict]:
    """Write the submissions; return {student: {"kind", "name", "lost" (set or None), "must_lose"}}."""
    import cases as attacks

    solution = ROOT / f"solutions/{AID}/{AID}.ipynb"
    reference = extract(solution, solution, AID).source
    names = list(load_config(ROOT / "grading_config.yaml").assignment(AID).tests)
    good = [("example", (ROOT / f"examples/{AID}/alice_correct.ipynb").read_text(), ".ipynb")]
    variants = yaml.safe_load((ROOT / f"tests/variants/{AID}/variants.yaml").read_text())
    good += [(n, apply_edits(reference, e, n), ".py") for n, e in variants.items()]
    mutants = yaml.safe_load((ROOT / f"tests/mutants/{AID}/mutants.yaml").read_text())
    buggy = [(n, apply_edits(reference, e, n), ".py", set(e["fails"])) for n, e in mutants.items()]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # never listened on: a connection attempt simply fails
    ctx = {"port": listener.getsockname()[1], "repo_paths": [str(ROOT / "grading_config.yaml")],
           "result_targets": [str(scratch / "results.json")],
           "pickle_marker": str(scratch / "PICKLE_RAN"), "secret_file": str(scratch / "secret")}
    listener.close()
    table = attacks.cases(reference, names, ctx)
    hostile = [(n, src, ".py", lost) for n, (src, lost, _) in table.items()
               if n != "shipped_conftest"]  # that one is about files beside it, not a submission
    hostile += [("not_a_notebook", "this is not a notebook", ".ipynb", set(names)),
                ("empty_notebook", json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                               "nbformat_minor": 5}), ".ipynb", set(names)),
                ("binary_garbage", "\x00\x01\x02" * 100, ".ipynb", set(names))]
    n_good, n_buggy = students // 2, students // 3
    plan: dict[str, dict] = {}
    for i in range(students):
        if i < n_good:
            name, text, suffix = good[i % len(good)]
            kind, lost = "good", set()
        elif i < n_good + n_buggy:
            name, text, suffix, lost = buggy[(i - n_good) % len(buggy)]
            kind = "buggy"
        else:
            name, text, suffix, lost = hostile[(i - n_good - n_buggy) % len(hostile)]
            kind = "hostile"
        student = f"s{i:03d}_{kind}_{name}"
        (folder / f"{student}{suffix}").write_text(text)
        plan[student] = {"kind": kind, "name": name, "lost": lost}
    return plan


def check(plan: dict, out: Path) -> list[str]:
    problems = []
    for student, want in plan.items():
        try:
            results = json.loads((out / "students" / student / "results.json").read_text())
        except (OSError, ValueError):
            problems.append(f"{student}: no results.json")
            continue
        failed = {t["extra_data"]["check"] for t in results.get("tests", []) if t["status"] == "failed"}
        lost = want["lost"]
        if want["kind"] == "good" and failed:
            problems.append(f"{student}: a correct submission lost {sorted(failed)}")
        elif want["kind"] == "buggy" and not lost <= failed:
            problems.append(f"{student}: the mutant kept {sorted(lost - failed)}")
        elif want["kind"] == "hostile" and lost is not None and failed != lost and results.get("tests"):
            problems.append(f"{student}: lost {sorted(failed ^ lost)} unlike tests/adversarial")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=300)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as name:
        tmp = Path(name)
        (tmp / "class").mkdir()
        (tmp / "scratch").mkdir()
        plan = build_class(tmp / "class", args.students, tmp / "scratch")
        out = tmp / "out"
        argv = [sys.executable, "-m", "autograder", "grade-batch", str(tmp / "class"),
                "--assignment", AID, "--out", str(out)]
        if args.workers:
            argv += ["--workers", str(args.workers)]
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"grade-batch failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with open(out / "gradebook.csv") as f:
            rows = list(csv.DictReader(f))
        problems = check(plan, out)
        if {r["student"] for r in rows} != set(plan):
            problems.append(f"the gradebook has {len(rows)} rows for {len(plan)} students")
        slowest = sorted(rows, key=lambda r: -float(r["duration_s"]))[:5]
        figures = {
            "students": len(plan), "cpus": os.cpu_count(), "workers": args.workers or "default",
            "kinds": dict(Counter(p["kind"] for p in plan.values())),
            "wall_s": round(wall, 1), "per_submission_s": round(wall / len(plan), 3),
            "statuses": dict(Counter(r["status"] for r in rows)),
            "slowest": [(r["student"], r["status"], float(r["duration_s"])) for r in slowest],
            "problems": problems,
        }
    print(json.dumps(figures, indent=1))
    target = ROOT / "benchmarks" / "results" / "batch_mixed.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=1) + "\n")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
