"""`autograder calibrate ID`: every threshold of an assignment, measured over many seeds.

Seed k moves the assignment's seeds in the config (seed + 101 k, and secret_seed likewise; k = 0 is
the config as it is), so every input the judge draws changes, held-out data included, which still
never leaves the judge. For each seed the reference solution, every correct variant
(`tests/variants/<id>/variants.yaml`) and every mutant (`tests/mutants/<id>/mutants.yaml`) are
graded through the real pipeline: `grade.main`, with sandboxed probes and the hidden suite as judge.
The hidden checks record what they measured against each threshold (the `measure` fixture), and
this module turns those into distributions and flags:

- a correct subject (the reference or a variant) that loses any check on any seed;
- a mutant that, on some seed, does not lose exactly its intended checks with its message;
- a threshold that a mutant passes on some seed, where its manifest says it must fail that check;
- a threshold that a correct subject comes within the threshold's `margin` of failing.

The record (`benchmarks/calibration/<id>.json`) keeps the distributions, the flags and the printed
report, stamped with the torch version, the device and the date; the config's thresholds cite it.
"""
from __future__ import annotations

import datetime
import io
import json
import math
import os
import platform
import re
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from autograder import __version__, fingerprint
from autograder.config import CONFIG_NAME, Threshold, load_config, repo_root, solution_path
from autograder.errors import UserError

SEED_STEP = 101  # apart enough that seed-derived streams (02's XOR restarts: seed, seed + 1, ...) never overlap
RECORDS = Path("benchmarks") / "calibration"


@dataclass
class Subject:
    name: str
    kind: str  # reference | variant | mutant
    source: str
    fails: list[str] = field(default_factory=list)
    may_fail: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)  # check -> words its feedback must hold
    not_graded: list[str] = field(default_factory=list)  # checks that depend on one it fails


@dataclass
class Run:
    """One subject graded on one seed."""
    seed: int
    subject: str
    score: float
    failed: dict[str, str]                    # check -> the feedback a student would read
    measures: dict[str, dict[str, float]]     # check -> {threshold path: value}
    failure: str | None
    seconds: float
    waiting: list[str] = field(default_factory=list)  # failed checks "not graded": they depend on another


def apply_edits(reference: str, entry: dict, name: str = "") -> str:
    """The reference with a manifest entry's textual edits applied. An entry has either
    `find`/`replace` or `edits` (a list of them); each `find` must occur exactly once, so a manifest
    that no longer matches the reference fails loudly."""
    source = reference
    for edit in entry.get("edits", [entry]):
        found = source.count(edit["find"])
        if found != 1:
            raise UserError(f"{name}: its `find` text occurs {found} times in the reference, not once")
        source = source.replace(edit["find"], edit["replace"])
    return source


def manifest(root: Path, kind: str, assignment_id: str) -> dict:
    path = root / "tests" / kind / assignment_id / f"{kind}.yaml"
    if not path.exists():
        return {}
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None


def subjects(root: Path, assignment_id: str, notebook: str) -> list[Subject]:
    from autograder.extract import extract

    solution = solution_path(root, assignment_id, notebook)
    if not solution.exists():
        raise UserError(f"no solution notebook for {assignment_id}: {solution}")
    reference = extract(solution, solution, assignment_id).source
    found = [Subject("reference", "reference", reference)]
    for name, entry in manifest(root, "variants", assignment_id).items():
        found.append(Subject(name, "variant", apply_edits(reference, entry, name)))
    for name, entry in manifest(root, "mutants", assignment_id).items():
        found.append(Subject(name, "mutant", apply_edits(reference, entry, name),
                             list(entry["fails"]), list(entry.get("may_fail", {})),
                             {entry["fails"][0]: entry["message"], **entry.get("messages", {})},
                             list(entry.get("not_graded", []))))
    return found


def thresholds(params, prefix: str = "") -> dict[str, Threshold]:
    """Every Threshold in an assignment's parameters, by its dotted path (e.g. digits.accuracy)."""
    found = {}
    for name, value in (vars(params).items() if hasattr(params, "__dict__") else []):
        path = f"{prefix}{name}"
        if isinstance(value, Threshold):
            found[path] = value
        elif hasattr(value, "model_fields"):
            found.update(thresholds(value, path + "."))
    return found


def unsupported_thresholds(root: Path, cfg, assignment_id: str) -> list[str]:
    """What the committed calibration record of `assignment_id` does not cover, one line each: a
    threshold whose value or bound changed since the sweep (and whose `calibration` text still cites
    the old value), one never measured, or a hidden suite changed since the sweep (records made
    before records kept the suite's fingerprint are not compared). Grading still uses the config
    (the instructor may mean it); `grade`, `grade-batch` and `release` say so before they go on,
    rather than leaving it to `make test`. Nothing where the checkout keeps no records at all (a
    student kit, a Gradescope bundle)."""
    limits = thresholds(cfg.params(assignment_id))
    folder = Path(root) / RECORDS
    if not limits or not folder.is_dir():
        return []
    path = folder / f"{assignment_id}.json"
    try:
        record = json.loads(path.read_text())
        measured = record["thresholds"]
    except FileNotFoundError:
        return [f"{assignment_id} has no calibration record ({RECORDS}/{assignment_id}.json): none of "
                f"its {len(limits)} thresholds was measured"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path} cannot be read ({exc}), so no threshold of {assignment_id} is supported"]
    lines = []
    for name, limit in limits.items():
        entry = measured.get(name) if isinstance(measured, dict) else None
        if not isinstance(entry, dict):
            lines.append(f"{assignment_id}: {name} = {limit.value:g} was never calibrated")
        elif (entry.get("value"), entry.get("bound")) != (limit.value, limit.bound):
            line = (f"{assignment_id}: {name} is {limit.value:g} ({limit.bound} bound); the "
                    f"committed sweep measured it at {entry.get('value')} ({entry.get('bound')} bound)")
            old = entry.get("value")
            if isinstance(old, (int, float)) and cites(limit.calibration, old) \
                    and not cites(limit.calibration, limit.value):
                line += f", and its `calibration` text still cites {old:g}"
            lines.append(line)
    kept = record.get("suite") if isinstance(record, dict) else None
    if isinstance(kept, str) and kept and kept != fingerprint.suite(root, assignment_id):
        lines.append(f"{assignment_id}: its hidden suite (tests/hidden/{assignment_id}/) changed since "
                     "the committed sweep")
    return lines


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?", re.I)


def cites(text: str, value: float) -> bool:
    """Whether `text` states the number `value` (written as 0.85, 1e-4, 1.0e-04, 7,700...)."""
    for token in _NUMBER.findall(text):
        try:
            number = float(token.replace(",", ""))
        except ValueError:
            continue
        if math.isclose(number, value, rel_tol=1e-9, abs_tol=0.0):
            return True
    return False


def warn_unsupported(console, root: Path, cfg, assignment_id: str) -> None:
    lines = unsupported_thresholds(root, cfg, assignment_id)
    if lines:
        from rich.markup import escape

        console.print("[bold yellow]warning:[/] grading with thresholds the committed calibration "
                      "does not support:\n  " + escape("\n  ".join(lines)) + f"\n  Run `autograder "
                      f"calibrate {assignment_id}` to see whether the reference, the variants and "
                      "the mutants still land where they should, and commit its record.",
                      highlight=False)


def seeded_config(data: dict, assignment_id: str, k: int) -> dict:
    data = json.loads(json.dumps(data))  # a deep copy
    a = data["assignments"][assignment_id]
    a["seed"] += SEED_STEP * k
    if a.get("secret_seed") is not None:
        a["secret_seed"] += SEED_STEP * k
    return data


def _grade_seed(job: dict) -> list[Run]:
    """Grade every subject on one seed, in one process, so the judge's plan is built once."""
    from autograder import grade

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    runs = []
    for name, path in job["subjects"]:
        start = time.monotonic()
        result = grade.main(submission=Path(path), assignment_id=job["assignment"],
                            out=Path(job["results"]) / f"seed{job['seed']}" / name,
                            device=job["device"], config_path=Path(job["config"]),
                            sandbox=job["sandbox"])
        outputs = {t["extra_data"]["check"]: t["output"] for t in result.results["tests"]}
        runs.append(Run(job["seed"], name, result.score.total,
                        {t.name: outputs[t.name] for t in result.score.tests if not t.passed},
                        result.measures, result.failure, time.monotonic() - start,
                        [t.name for t in result.score.tests if not t.passed and t.depends_on]))
        if job.get("progress") is not None:
            job["progress"].put(name)
    return runs


def _seed_key(job: dict) -> str:
    """What a seed's outcome depends on: the grader's fingerprint for the seeded config (see
    autograder/fingerprint.py) and the subjects' code. A kept seed is reused only when both are
    unchanged; moving the checkout or editing another assignment keeps it."""

    subjects = b"".join(name.encode() + b"\0" + Path(path).read_bytes() + b"\0"
                        for name, path in job["subjects"])
    return fingerprint.digest(repo_root(), job["assignment"], Path(job["config"]).read_text(),
                              job["notebook"], job["device"], job["sandbox"], extra=subjects)


def _seed_file(keep: Path, job: dict) -> Path:
    return keep / f"seed{job['seed']}" / "calibration.json"


def _load_seed(keep: Path, job: dict) -> list[Run] | None:
    """The runs of a seed graded before into `keep` with the same inputs, else None."""
    try:
        data = json.loads(_seed_file(keep, job).read_text())
        if data["key"] != job["key"]:
            return None
        return [Run(**r) for r in data["runs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_seed(keep: Path, job: dict, runs: list[Run]) -> None:
    target = _seed_file(keep, job)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": job["key"], "runs": [asdict(r) for r in runs]}))
    tmp.replace(target)  # atomic: an interrupted write never looks like a finished seed


def _grade_jobs(jobs: list[dict], workers: int, keep: Path | None, advance, seed_done) -> list[Run]:
    """Grade every job (one seed each), saving each finished seed into `keep` as it completes;
    `advance()` after each graded subject, `seed_done(job, runs)` after each seed. With fewer seeds
    than workers, a seed's subjects are split among them."""
    runs: list[Run] = []
    if workers == 1:
        for job in jobs:
            mine = []
            for subject in job["subjects"]:
                mine += _grade_seed({**job, "subjects": [subject]})
                advance()
            if keep:
                _save_seed(keep, job, mine)
            seed_done(job, mine)
            runs += mine
        return runs
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, wait

    # Fewer seeds than workers (CI's one seed): each seed's subjects are shared among the workers,
    # in interleaved parts, and the seed is done when all its parts are.
    parts = max(1, -(-workers // len(jobs))) if jobs else 1
    context = multiprocessing.get_context("spawn")  # no torch state crosses a fork
    with context.Manager() as manager:
        queue = manager.Queue()
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending = {pool.submit(_grade_seed, {**job, "subjects": job["subjects"][i::parts],
                                                 "progress": queue}): job
                       for job in jobs for i in range(min(parts, len(job["subjects"])))}
            left = {id(job): sum(1 for j in pending.values() if j is job) for job in jobs}
            graded: dict[int, list[Run]] = {id(job): [] for job in jobs}
            try:
                while pending:
                    finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while not queue.empty():
                        queue.get()
                        advance()
                    for future in finished:
                        job = pending.pop(future)
                        graded[id(job)] += future.result()
                        left[id(job)] -= 1
                        if left[id(job)]:
                            continue
                        order = [name for name, _ in job["subjects"]]
                        mine = sorted(graded[id(job)], key=lambda r: order.index(r.subject))
                        if keep:
                            _save_seed(keep, job, mine)
                        seed_done(job, mine)
                        runs += mine
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return runs


def summary(values: list[float]) -> dict:
    v = sorted(values)
    return {"n": len(v), "min": v[0], "p5": v[int(0.05 * (len(v) - 1))],
            "median": statistics.median(v), "max": v[-1]}


@dataclass
class Calibration:
    assignment: str
    seeds: int
    device: str
    torch: str
    date: str
    command: str
    thresholds: dict = field(default_factory=dict)
    subjects: dict = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    resumed: int = 0  # seeds read back from a previous run's --results folder, not graded again
    report: str = ""
    suite: str = ""   # fingerprint.suite of the hidden suite this sweep graded with

    def to_dict(self) -> dict:
        return {"kit": __version__, **asdict(self)}


def analyse(subjects_: list[Subject], runs: list[Run], limits: dict[str, Threshold],
            cal: Calibration) -> None:
    """Fill `cal` with the outcome of every subject and the distribution of every threshold."""
    by_name = {s.name: s for s in subjects_}
    for s in subjects_:
        mine = [r for r in runs if r.subject == s.name]
        good = 0
        for r in mine:
            failed = set(r.failed)
            if s.kind != "mutant":
                if failed or r.failure:
                    lost = ", ".join(sorted(failed)) or r.failure
                    cal.flags.append(f"{s.kind} {s.name} lost checks on seed {r.seed}: {lost} "
                                     f"({next(iter(r.failed.values()), r.failure)[:200]})")
                    continue
            else:
                must, may, waiting = set(s.fails), set(s.may_fail), set(s.not_graded)
                dependent = set(r.waiting)
                charged = failed - dependent
                if not must <= charged <= must | may:
                    cal.flags.append(f"mutant {s.name} on seed {r.seed}: expected to be charged "
                                     f"with {sorted(must)}, charged with {sorted(charged)}")
                    continue
                if not waiting - may <= dependent <= waiting | may:
                    cal.flags.append(f"mutant {s.name} on seed {r.seed}: expected {sorted(waiting)} "
                                     f"not graded, not graded {sorted(dependent)}")
                    continue
                missing = [c for c, words in s.messages.items() if words not in r.failed.get(c, "")]
                if missing:
                    cal.flags.append(f"mutant {s.name} on seed {r.seed}: the feedback of {missing} "
                                     "does not name its bug")
                    continue
            good += 1
        cal.subjects[s.name] = {"kind": s.kind, "seeds": len(mine), "as_intended": good,
                                "mean_seconds": round(statistics.mean(r.seconds for r in mine), 2)
                                if mine else None}
    for path, limit in limits.items():
        checks: dict[str, dict[str, list[float]]] = {}
        for r in runs:
            for check, measured in r.measures.items():
                if path in measured:
                    checks.setdefault(check, {}).setdefault(r.subject, []).append(measured[path])
        entry = {"value": limit.value, "bound": limit.bound, "margin": limit.margin, "checks": {}}
        if not checks:
            cal.flags.append(f"threshold {path} was never measured: does a hidden check call "
                             f"measure({path!r}, ...)?")
        for check, per_subject in sorted(checks.items()):
            rows, correct, caught = {}, [], []
            for name, values in per_subject.items():
                s = by_name[name]
                if s.kind == "mutant" and check not in s.fails and check not in s.may_fail:
                    continue  # a mutant aimed elsewhere: it passes this check like the reference
                row = {"kind": s.kind, **summary(values), "values": [float(f"{v:.6g}") for v in values]}
                if s.kind == "mutant":
                    row["must_fail"] = check in s.fails
                    if check in s.fails:
                        caught += values
                        passing = sum(limit.passes(v) for v in values)
                        if passing:
                            cal.flags.append(f"threshold {path}: mutant {name} passes it on "
                                             f"{passing} of {len(values)} seeds ({check})")
                else:
                    correct += values
                rows[name] = row
            worst = min(correct, key=limit.distance) if correct else None
            best_bug = max(caught, key=limit.distance) if caught else None
            if worst is not None and limit.distance(worst) < limit.margin:
                cal.flags.append(f"threshold {path}: a correct subject comes to {worst:.4g}, within "
                                 f"the margin {limit.margin:g} of {limit.value:g} ({check})")
            entry["checks"][check] = {
                "subjects": rows,
                "correct_worst": worst, "correct_margin": limit.distance(worst) if worst is not None else None,
                "mutant_best": best_bug,
                "mutant_margin": -limit.distance(best_bug) if best_bug is not None else None}
        cal.thresholds[path] = entry


def print_report(console, cal: Calibration) -> None:
    from rich.table import Table

    fmt = lambda v: "none" if v is None else f"{v:.4g}"  # noqa: E731
    for path, entry in cal.thresholds.items():
        sign = ">=" if entry["bound"] == "lower" else "<="
        for check, info in entry["checks"].items():
            table = Table(title=f"{path} {sign} {entry['value']:g}   [dim]{check}[/]",
                          title_justify="left")
            for col in ("subject", "kind", "n", "min", "p5", "median", "max"):
                table.add_column(col, justify="left" if col in ("subject", "kind") else "right")
            for name, row in info["subjects"].items():
                kind = row["kind"] + ("" if row["kind"] != "mutant" or row["must_fail"] else " (may pass: see its manifest)")
                table.add_row(name, kind, str(row["n"]), *(fmt(row[k]) for k in ("min", "p5", "median", "max")))
            console.print(table)
            console.print(f"  worst correct {fmt(info['correct_worst'])} (margin "
                          f"{fmt(info['correct_margin'])}); best mutant that must fail "
                          f"{fmt(info['mutant_best'])} (margin {fmt(info['mutant_margin'])})\n")
    table = Table(title="outcomes on every seed", title_justify="left")
    for col in ("subject", "kind", "as intended", "s / grade"):
        table.add_column(col)
    for name, info in cal.subjects.items():
        ok = info["as_intended"] == info["seeds"]
        table.add_row(name, info["kind"], f"{'[green]' if ok else '[red]'}{info['as_intended']}/"
                      f"{info['seeds']}[/]", fmt(info["mean_seconds"]))
    console.print(table)
    if cal.flags:
        console.print(f"[bold red]{len(cal.flags)} problem(s):[/]")
        for flag in cal.flags:
            console.print(f"  - {flag}", highlight=False, markup=False)
    else:
        console.print("[bold green]no problems:[/] every correct subject scored full marks on every "
                      "seed, every mutant lost exactly its intended checks, and every threshold "
                      "separates them.")


def plot(cal: Calibration, path: Path) -> Path:
    """One panel per (threshold, check): each subject's values, the threshold, the failing side."""
    import matplotlib

    from autograder.report import pretty_name

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [(p, c, info, e) for p, e in cal.thresholds.items() for c, info in e["checks"].items()]
    if not panels:
        raise UserError(f"{cal.assignment} has no measured threshold to plot")
    colours = {"reference": "tab:green", "variant": "tab:blue", "mutant": "tab:red",
               "may pass": "tab:orange"}
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 + 0.32 * max(
        len(i["subjects"]) for _, _, i, _ in panels) * len(panels) + 0.9 * len(panels)), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (p, check, info, entry) in zip(axes[:, 0], panels):
        names = list(info["subjects"])[::-1]  # the reference at the top
        for i, name in enumerate(names):
            row = info["subjects"][name]
            kind = "may pass" if row["kind"] == "mutant" and not row["must_fail"] else row["kind"]
            ax.scatter(row["values"], i + rng.uniform(-0.15, 0.15, len(row["values"])), s=12,
                       color=colours[kind], alpha=0.8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        values = [info["subjects"][n][k] for n in names for k in ("min", "max")]
        if min(values) > 0 and max(values) / min(values) > 1e3:
            ax.set_xscale("log")
        ax.axvline(entry["value"], color="k", lw=1)
        lo, hi = ax.get_xlim()
        if entry["bound"] == "lower":
            ax.axvspan(lo, entry["value"], color="red", alpha=0.07)
        else:
            ax.axvspan(entry["value"], hi, color="red", alpha=0.07)
        ax.set_xlim(lo, hi)
        ax.set_title(f"{p} {'>=' if entry['bound'] == 'lower' else '<='} {entry['value']:g}   "
                     f"({pretty_name(check)})", fontsize=9)
    fig.suptitle(f"{cal.assignment}: {cal.seeds} seeds, torch {cal.torch}, {cal.device}, {cal.date}\n"
                 "green reference, blue correct variants, red mutants that must fail, orange mutants "
                 "that may pass (see may_fail)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(*, assignment_id: str, seeds: int = 50, device: str | None = None, workers: int | None = None,
         config_path: Path | None = None, record: Path | None = None, write_record: bool = True,
         results: Path | None = None, png: Path | None = None, sandbox: str | None = None,
         console=None) -> Calibration:
    """Calibrate one assignment; see the module docstring. Returns the Calibration, also written to
    `record` (default benchmarks/calibration/<id>.json) unless `write_record` is false. `results`
    keeps every graded results.json as <results>/seed<k>/<subject>/results.json, and each finished
    seed's outcomes beside them, so an interrupted sweep rerun with the same `results` resumes
    (a seed is reused only if the kit, the config, the subjects and the judge are unchanged)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from autograder import grade as grade_stage
    from autograder import judge
    from autograder.sandbox import select

    if seeds < 1:
        raise UserError("--seeds must be at least 1")
    root = repo_root()
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    cfg = load_config(config_path)
    acfg = cfg.assignment(assignment_id)
    dev = grade_stage.resolve_device(device or cfg.device)
    mode = select(sandbox or cfg.sandbox, dev, judge.secret_paths(root, config_path)).name
    console = console or Console(stderr=True)
    found = subjects(root, assignment_id, acfg.notebook)
    workers = max(1, min(workers or (os.cpu_count() or 1), seeds * len(found)))
    limits = thresholds(cfg.params(assignment_id))
    raw = yaml.safe_load(config_path.read_text())
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autograder-calibrate-") as tmp:
        tmp = Path(tmp)
        paths = []
        for s in found:
            (tmp / f"{s.name}.py").write_text(s.source)
            paths.append((s.name, str(tmp / f"{s.name}.py")))
        jobs = []
        for k in range(seeds):
            cpath = tmp / f"config_seed{k}.yaml"
            cpath.write_text(yaml.safe_dump(seeded_config(raw, assignment_id, k), sort_keys=False))
            job = {"assignment": assignment_id, "seed": k, "config": str(cpath),
                   "notebook": acfg.notebook, "subjects": paths, "device": dev, "sandbox": mode,
                   "results": str(results or tmp / "results")}
            jobs.append({**job, "key": _seed_key(job)})
        keep = Path(results) if results else None
        runs: list[Run] = []
        todo = []
        for job in jobs:
            kept = _load_seed(keep, job) if keep else None
            if kept is None:
                todo.append(job)
            else:
                runs += kept
        if keep and len(todo) < len(jobs):
            console.print(f"resuming: {len(jobs) - len(todo)} of {seeds} seeds already graded in {keep}")
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("graded"), TimeRemainingColumn())
        finished = []

        def seed_done(job, mine):
            # a log (CI, nohup) gets no live bar, so it gets a line per seed instead
            finished.append(job["seed"])
            if not console.is_terminal:
                correct = {s.name for s in found if s.kind != "mutant"}
                lost = sorted({r.subject for r in mine if r.subject in correct and (r.failed or r.failure)})
                console.print(f"seed {job['seed']} graded ({len(finished)}/{len(todo)}, "
                              f"{time.monotonic() - start:.0f} s); correct subjects that lost checks: "
                              f"{', '.join(lost) or 'none'}", highlight=False)

        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(f"calibrating {assignment_id}", total=len(todo) * len(paths))
                runs += _grade_jobs(todo, workers, keep, lambda: progress.advance(task), seed_done)
        except KeyboardInterrupt:
            done = sum(1 for job in jobs if keep and _load_seed(keep, job) is not None)
            console.print(f"interrupted: {done} of {seeds} seeds are kept in {keep}; the same "
                          "command resumes from there" if keep else
                          "interrupted: nothing kept; pass --results DIR to make a sweep resumable")
            raise
    import torch

    argv = f"autograder calibrate {assignment_id} --seeds {seeds}" + (f" --device {device}" if device else "")
    cal = Calibration(assignment_id, seeds, dev, torch.__version__,
                      datetime.date.today().isoformat(), argv, seconds=round(time.monotonic() - start, 1),
                      resumed=len(jobs) - len(todo), suite=fingerprint.suite(root, assignment_id))
    analyse(found, runs, limits, cal)
    recorder = Console(record=True, width=120, file=io.StringIO())
    recorder.print(f"{argv}: torch {cal.torch}, {dev}, {platform.machine()}, {cal.date}, "
                   f"{len(found)} subjects x {seeds} seeds in {cal.seconds:.0f} s"
                   + (f", {cal.resumed} of them read back from {keep}" if cal.resumed else ""))
    print_report(recorder, cal)
    cal.report = recorder.export_text()
    print_report(console, cal)
    if write_record:
        target = Path(record) if record else root / RECORDS / f"{assignment_id}.json"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(cal.to_dict(), indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}") from None
        console.print(f"record: {target}")
    if png and any(entry["checks"] for entry in cal.thresholds.values()):
        console.print(f"plot: {plot(cal, Path(png))}")
    elif png:
        console.print(f"no plot: {assignment_id} has no threshold to show")
    return cal
