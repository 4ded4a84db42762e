"""Benchmark: the grader's overhead per submission in a batch, next to otter-grader and nbgrader.

Side by side in one run on this machine:

  1. `autograder grade-batch` on N copies of the correct 03_network example (a fresh output folder,
     so nothing is reused), warm sandbox (the default): wall time, wall / N, the probes' own compute
     per submission (their seconds inside the sandbox, summed over the class, divided by the workers
     that run side by side and by N), and the overhead = wall / N - that compute: sandbox start,
     extraction, the judge, the reports, the pool, and the reference solution every batch grades
     first;
  2. the same with a cold sandbox per submission (`AUTOGRADER_SANDBOX_START=cold`), on fewer
     copies: what the warm sandbox saves;
  3. `autograder grade-batch` on copies of a trivial notebook (05_quiz's solution: no torch);
  4. `otter run` (otter-grader, from .bench-venv) on a trivial one-question notebook, one call per
     submission, as otter grades outside Docker;
  5. `nbgrader autograde` on the same trivial notebook submitted by as many students;
  6. the sandbox tiers side by side (`--tiers bwrap landlock`, `--tier-copies`, `--rounds`): the
     same warm batch once per tier, alternating tiers round by round, and each tier's overhead
     against the first's (the landlock tier's target: within 1.3x of bwrap's warm path).

    .venv/bin/python benchmarks/batch_overhead.py [--copies 100] [--workers 2] [--cold-copies 20]
                                                  [--anchor-copies 10] [--tiers bwrap landlock]
                                                  [--tier-copies 40] [--rounds 2]

otter-grader is not a dependency of the kit: `make bench-venv` puts it in .bench-venv (the
anchors are skipped, with a note, where it is missing). Figures go to stdout and to
benchmarks/results/batch_overhead.json.
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

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples/03_network/alice_correct.ipynb"
QUIZ = ROOT / "solutions/05_quiz/05_quiz.ipynb"
OTTER = ROOT / ".bench-venv/bin/otter"
NBGRADER = Path(sys.executable).parent / "nbgrader"


def batch(copies: int, workers: int, source: Path, assignment: str, tmp: Path, label: str,
          env: dict | None = None, sandbox: str | None = None) -> dict:
    inbox = tmp / f"{label}-inbox"
    inbox.mkdir()
    for i in range(copies):
        shutil.copy(source, inbox / f"student{i:03d}.ipynb")
    out = tmp / f"{label}-out"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(inbox),
                           "--assignment", assignment, "--out", str(out), "--workers", str(workers),
                           *(["--sandbox", sandbox] if sandbox else [])],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"grade-batch ({label}) failed:\n{proc.stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in (out / "students").glob("*/grading.json")]
    short = [r for r in records if r["score"] != r["max_score"]]
    if len(records) != copies or short:
        for r in short[:3]:
            print(r["student"], r["status"], r["score"], r["reason"], r["failed_checks"])
        sys.exit(f"{label}: {len(records)} of {copies} graded, {len(short)} without full marks")
    n = len(records)
    compute = sum(r["probe_seconds"] for r in records) / workers / n
    return {"copies": n, "workers": workers, "wall_s": round(wall, 1),
            "per_submission_s": round(wall / n, 3), "probe_compute_per_submission_s": round(compute, 3),
            "overhead_per_submission_s": round(wall / n - compute, 3),
            "mean_grading_s": round(sum(r["seconds"] for r in records) / n, 2)}


def _cell(kind: str, source: str, **meta):
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}[kind]
    cell = make(source)
    cell.metadata.update(meta)
    return cell


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def otter(copies: int, tmp: Path) -> dict:
    """`otter assign` a one-question notebook once, then `otter run` it `copies` times."""
    if not OTTER.exists():
        return {"skipped": f"{OTTER} missing: run `make bench-venv`"}
    work = tmp / "otter"
    work.mkdir()
    master = _notebook([
        _cell("raw", "# ASSIGNMENT CONFIG\nname: trivial\nexport_cell: false\n"
                     "check_all_cell: false\ninit_cell: false"),
        _cell("raw", "# BEGIN QUESTION\nname: q1\npoints: 1"),
        _cell("markdown", "Set `x` to 2."),
        _cell("raw", "# BEGIN SOLUTION"),
        _cell("code", "x = 1 + 1  # SOLUTION"),
        _cell("raw", "# END SOLUTION"),
        _cell("raw", "# BEGIN TESTS"),
        _cell("code", "assert x == 2"),
        _cell("raw", "# END TESTS"),
        _cell("raw", "# END QUESTION"),
    ])
    nbformat.write(master, work / "trivial.ipynb")
    env = {**os.environ, "PATH": f"{OTTER.parent}:{os.environ['PATH']}"}
    done = subprocess.run([str(OTTER), "assign", "trivial.ipynb", "dist"], cwd=work, env=env,
                          capture_output=True, text=True)
    zips = sorted((work / "dist/autograder").glob("*.zip"))
    if done.returncode != 0 or not zips:
        return {"skipped": f"otter assign failed: {(done.stdout + done.stderr)[-800:]}"}
    submission = work / "dist/autograder/trivial.ipynb"
    start = time.perf_counter()
    for i in range(copies):
        (work / f"run{i}").mkdir()
        run = subprocess.run([str(OTTER), "run", "-a", str(zips[0]), "-o", str(work / f"run{i}"),
                              str(submission)], cwd=work, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            return {"skipped": f"otter run failed: {(run.stdout + run.stderr)[-800:]}"}
    wall = time.perf_counter() - start
    tests = json.loads((work / "run0/results.json").read_text()).get("tests", [])
    score = sum(t.get("score", 0) for t in tests)
    return {"copies": copies, "wall_s": round(wall, 1), "per_submission_s": round(wall / copies, 3),
            "score_of_first": score}  # 1.0: the solution passed


def nbgrader(copies: int, tmp: Path) -> dict:
    """A course with one trivial assignment; `copies` students submit the solution; one
    `nbgrader autograde` grades them all."""
    course = tmp / "nbgrader"
    (course / "source/ps1").mkdir(parents=True)
    grade_id = {"nbgrader": {"grade_id": "answer", "solution": True, "grade": False, "locked": False,
                             "schema_version": 3}}
    test_id = {"nbgrader": {"grade_id": "check", "solution": False, "grade": True, "locked": True,
                            "points": 1, "schema_version": 3}}
    nbformat.write(_notebook([
        _cell("markdown", "Set `x` to 2."),
        _cell("code", "### BEGIN SOLUTION\nx = 1 + 1\n### END SOLUTION", **grade_id),
        _cell("code", "assert x == 2", **test_id),
    ]), course / "source/ps1/trivial.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'bench'\n"
        f"c.CourseDirectory.db_assignments = [dict(name='ps1')]\n"
        f"c.CourseDirectory.db_students = [dict(id='s{{:03d}}'.format(i)) for i in range({copies})]\n")
    env = {**os.environ, "PATH": f"{NBGRADER.parent}:{os.environ['PATH']}"}
    prep = subprocess.run([str(NBGRADER), "generate_assignment", "ps1", "--force"], cwd=course,
                          env=env, capture_output=True, text=True)
    if prep.returncode != 0:
        return {"skipped": f"nbgrader generate_assignment failed: {prep.stderr[-800:]}"}
    for i in range(copies):
        folder = course / f"submitted/s{i:03d}/ps1"
        folder.mkdir(parents=True)
        shutil.copy(course / "source/ps1/trivial.ipynb", folder / "trivial.ipynb")
        (folder / "timestamp.txt").write_text("2026-11-24 12:00:00.000000 UTC")
    start = time.perf_counter()
    run = subprocess.run([str(NBGRADER), "autograde", "ps1", "--force"], cwd=course, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    graded = len(list((course / "autograded").glob("*/ps1/trivial.ipynb")))
    if run.returncode != 0 or graded != copies:
        return {"skipped": f"nbgrader autograde graded {graded} of {copies}: {run.stderr[-800:]}"}
    return {"copies": copies, "wall_s": round(wall, 1), "per_submission_s": round(wall / copies, 3)}


def tiers(args, tmp: Path) -> dict:
    """Each tier's warm batch, alternating tiers within each round so that the machine's drift
    hits them alike; per tier the median overhead, and its ratio to the first tier's."""
    import statistics

    runs: dict[str, list[dict]] = {t: [] for t in args.tiers}
    for k in range(args.rounds):
        for tier in args.tiers:
            runs[tier].append(batch(args.tier_copies, args.workers, EXAMPLE, "03_network", tmp,
                                    f"tier-{tier}-{k}", sandbox=tier))
    base = statistics.median(r["overhead_per_submission_s"] for r in runs[args.tiers[0]])
    out = {}
    for tier, rs in runs.items():
        overhead = statistics.median(r["overhead_per_submission_s"] for r in rs)
        out[tier] = {"copies": args.tier_copies, "rounds": args.rounds,
                     "per_submission_s": [r["per_submission_s"] for r in rs],
                     "overhead_per_submission_s": [r["overhead_per_submission_s"] for r in rs],
                     "median_overhead_s": round(overhead, 3),
                     "overhead_vs_first": round(overhead / base, 2) if base > 0 else None}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=100, help="copies of the 03_network example")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cold-copies", type=int, default=20, help="03_network copies, cold sandbox")
    ap.add_argument("--anchor-copies", type=int, default=10,
                    help="trivial notebooks for otter, nbgrader and the kit")
    ap.add_argument("--tiers", nargs="*", default=["bwrap", "landlock"],
                    help="sandbox tiers compared side by side (the first is the baseline)")
    ap.add_argument("--tier-copies", type=int, default=40, help="03_network copies per tier run")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the tier comparison")
    args = ap.parse_args()
    figures = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        tmp = Path(name)
        if args.copies:
            figures["kit_03_warm"] = batch(args.copies, args.workers, EXAMPLE, "03_network", tmp,
                                           "warm")
        if args.cold_copies:
            figures["kit_03_cold"] = batch(args.cold_copies, args.workers, EXAMPLE, "03_network", tmp,
                                           "cold", env={"AUTOGRADER_SANDBOX_START": "cold"})
        if args.anchor_copies:
            figures["kit_trivial"] = batch(args.anchor_copies, args.workers, QUIZ, "05_quiz", tmp,
                                           "quiz")
            figures["otter_run_trivial"] = otter(args.anchor_copies, tmp)
            figures["nbgrader_autograde_trivial"] = nbgrader(args.anchor_copies, tmp)
        if args.tiers and args.tier_copies:
            figures["tiers"] = tiers(args, tmp)
    for section, values in figures.items():
        if not isinstance(values, dict):
            print(f"{section}: {values}")
            continue
        print(section)
        for k, v in values.items():
            print(f"  {k:>34}: {v}")
    target = ROOT / "benchmarks" / "results" / "batch_overhead.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
