"""`autograder check NOTEBOOK`: a student's own check of their notebook, before they submit.

It runs only the public checks (`public: true` in grading_config.yaml), from the bundle that
`autograder release` writes to `assignments/<id>/public/` (see autograder/public.py): the same
probes and the same check functions the grader runs, on the same inputs. Hidden checks are not in
that bundle and never run here. There is no sandbox: this is the student's own machine and their
own code. The probes still run in a child process with the config's time limits, so an infinite
loop is cut and reported like in grading, and the judge still reads only what the probes wrote.

From a notebook cell (the released notebooks end with one): save the notebook, then
`from autograder.check import check; check("03_network.ipynb")`.
"""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console
from rich.markup import escape

from autograder import fixtures, public, report, score, text
from autograder.config import CONFIG_NAME, TestSpec, load_config, release_path, repo_root
from autograder.errors import UserError
from autograder.extract import extract
from autograder.judge import Collector, JudgeContext, JudgePlugin, SubmissionRun
from autograder.probe import run_probes


@dataclass
class CheckResult:
    assignment_id: str
    score: score.Score
    hidden_points: float  # what the checks that run only at grading are worth
    notes: list[str]
    failure: str | None
    seconds: float
    selfchecks: score.Score = field(default_factory=score.Score)  # no points: hints for the student


class _PublicOnly:
    """pytest plugin: run exactly the public checks (a parametrized check may be public for some
    parameters) and every self-check. The fixtures they ask for are the grader's own
    (autograder/fixtures.py), fed by a judge context that holds the run made here."""

    NAME = "autograder-check-public-only"

    def __init__(self, wanted: set[str]):
        self.wanted = wanted
        self.__name__ = self.NAME

    def pytest_collection_modifyitems(self, config, items):
        items[:] = [item for item in items if item.name in self.wanted
                    or item.path.name.startswith("selfcheck_")]


def course_root(notebook: Path) -> Path:
    """The course folder: the nearest parent of the notebook holding the config (students run
    `check` from anywhere); else, for a notebook fetched through nbgrader's exchange, its public/
    folder, which carries a config of its own (`autograder export nbgrader`); else the kit's usual
    root (AUTOGRADER_ROOT, the current folder...)."""
    for d in notebook.resolve().parents:
        if (d / CONFIG_NAME).is_file():
            return d
    beside = notebook.resolve().parent / "public"
    if (beside / CONFIG_NAME).is_file():
        return beside
    return repo_root()


def find_bundle(root: Path, aid: str, notebook: Path, given: Path | None) -> Path:
    candidates = [given] if given else [public.folder(root, aid), notebook.parent / "public"]
    for c in candidates:
        if c and (c / public.PLAN_FILE).is_file():
            return c
    shown = ", ".join(str(c) for c in candidates if c)
    raise UserError(f"the public checks of {aid} are not here ({shown}); they come with the "
                    f"released assignment (assignments/{aid}/public/), or pass --public FOLDER")


def process_seconds() -> float | None:
    """Wall seconds since this process started (its interpreter start-up and imports included), or
    None where that cannot be read (not Linux)."""
    try:
        import os
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None


def _readable(notebook: Path):
    """The parsed notebook (None for a .py file); one that is not JSON is one clear message,
    before anything else looks at it."""
    from autograder.extract import read_notebook

    if notebook.suffix != ".ipynb":
        return None
    nb, problem = read_notebook(notebook)
    if nb is not None:
        return nb
    raw = notebook.read_bytes()[:5_000_000]
    conflict = any(marker in raw for marker in (b"\n<<<<<<< ", b"\n=======\n", b"\n>>>>>>> "))
    hint = (" It holds git's conflict markers (<<<<<<<, =======, >>>>>>>): a merge left two versions "
            "in it. Keep one (`git checkout --ours` or `--theirs` on the file, or restore the last good "
            "commit) and check again." if conflict else
            " Reopen it in Jupyter: if Jupyter cannot open it either, restore it from your last commit "
            "or backup.")
    raise UserError(f"{notebook.name} cannot be read as a notebook: {problem.removeprefix('the file is not a valid Jupyter notebook ')}."
                    + hint)


def _file_notes(notebook: Path, nb, aid: str, acfg, cfg, meta: dict, inferred: bool) -> list[str]:
    """Warnings about the file itself: the wrong file, or one not saved since it was released."""
    notes = []
    if notebook.stem != Path(acfg.notebook).stem:
        notes.append(f"only a notebook named {acfg.notebook} (assignments/{aid}/{acfg.notebook}) is "
                     f"graded; you checked {notebook.name}. Copy your work into {acfg.notebook} "
                     "before you submit")
    by_name = next((a for a in cfg.assignments if notebook.stem.startswith(a)), None)
    if by_name and by_name != aid:
        why = "its metadata says so" if inferred else "--assignment says so"
        notes.append(f"this notebook is {aid} ({why}), but its file is named like "
                     f"{by_name}: submitted as {notebook.name}, it would be graded as {by_name}")
    stubs = meta.get("stubs") or {}
    if stubs and nb is not None:
        from autograder.extract import _nbgrader  # tolerates metadata a student mangled

        answers = {_nbgrader(c).get("grade_id"): c.source for c in nb.cells}
        if all(public.digest(answers.get(g, "")) == d for g, d in stubs.items()):
            notes.insert(0, f"every answer cell of {notebook.name} on disk is still as released: did "
                            "you save the notebook (Ctrl+S) before running check?")
    return notes


def main(*, notebook: Path, assignment_id: str | None = None, bundle: Path | None = None,
         config_path: Path | None = None, started: float | None = None) -> CheckResult:
    """`started`: time.monotonic() when the user's command began (the CLI passes its process's
    start), so the seconds printed are the wait the student had."""
    from autograder.grade import infer_assignment

    start = time.monotonic() if started is None else started
    notebook = Path(notebook)
    if not notebook.is_file():
        raise UserError(f"notebook not found: {notebook}" if not notebook.exists()
                        else f"{notebook} is not a file: give your notebook")
    nb = _readable(notebook)
    root = course_root(notebook) if config_path is None else repo_root()
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    if not config_path.is_file():
        raise UserError(f"cannot find the course's {CONFIG_NAME} above {notebook} or the current "
                        "folder: keep your notebook inside the course folder (the student kit), "
                        "or pass --config")
    cfg = load_config(config_path)
    aid = assignment_id or infer_assignment(notebook, cfg)
    acfg = cfg.assignment(aid)
    wanted = public.public_names(cfg, aid)
    total = sum(t.points for t in acfg.tests.values())
    public_specs = {n: t for n, t in acfg.tests.items() if n in wanted}
    release = release_path(root, aid, acfg.notebook)
    if not wanted:
        extraction = extract(notebook, release if release.is_file() else notebook, aid)
        empty = score.score({}, {})
        worth = f"all {total:g} points" if total else "all of them"  # a student's config: none listed
        read = (f"the grader cannot read it: {extraction.failure}" if extraction.failure else
                "the grader can read it")
        return CheckResult(aid, empty, total, [f"{aid} has no public checks: {worth} are checked "
                                               f"when your notebook is graded; {read}"]
                           + _file_notes(notebook, nb, aid, acfg, cfg, {}, assignment_id is None) + extraction.notes,
                           extraction.failure, time.monotonic() - start)
    folder = find_bundle(root, aid, notebook, bundle)
    meta, plan = public.load_plan(folder)
    total = meta.get("total_points", total)
    if meta.get("assignment") != aid or set(meta.get("checks", [])) != wanted:
        raise UserError(f"{folder} holds the public checks of another release: run "
                        f"`autograder release {aid}`, or get the current assignment folder")
    extraction = extract(notebook, release if release.is_file() else notebook, aid)
    probes = run_probes(extraction, plan, cfg.limits, "cpu", meta["seed"], sandbox="none")
    run = SubmissionRun(aid, notebook, "cpu", extraction, plan, probes, cfg.params(aid),
                        probes_file=folder / public.PROBES_FILE)
    context = JudgeContext(cfg, root, "cpu", notebook, "none", config_path, aid, runs={aid: run})
    collector = Collector()
    selfcheck = folder / public.selfcheck_file(aid)
    args = [str(f) for f in sorted(folder.glob("test_*.py"))]
    args += [str(selfcheck)] if selfcheck.is_file() else []
    args += ["-q", "-p", "no:cacheprovider", "--import-mode=importlib", f"--rootdir={folder}",
             f"--confcutdir={folder}", "-W", "ignore", "-o", "addopts=", "-o", "pythonpath="]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[collector, JudgePlugin(context), _PublicOnly(wanted),
                                          fixtures])
    if code not in (0, 1) or collector.result.errors:
        raise UserError(f"the public checks in {folder} did not run (pytest exit {code}); get a "
                        f"fresh copy of the assignment folder.\n{sink.getvalue()[-1500:]}")
    outcomes = {n: (o.passed, o.message, o.doc, o.depends_on) for n, o in collector.result.outcomes.items()}
    graded = score.score(outcomes, public_specs)
    hints = score.score(outcomes, {n: TestSpec(points=0, group="self-check", public=True)
                                   for n in collector.result.outcomes if n not in public_specs})
    notes = _file_notes(notebook, nb, aid, acfg, cfg, meta, assignment_id is None) + extraction.notes + run.notes
    return CheckResult(aid, graded, total - graded.max_total, notes, extraction.failure,
                       time.monotonic() - start, hints)


def show(console: Console, result: CheckResult, name: str) -> None:
    if result.score.tests:
        report.print_table(console, result.score, f"{name}: public checks of {result.assignment_id}",
                           [], result.failure)
        if result.selfchecks.tests:
            _show_selfchecks(console, result)
        for n in text.cap_notes(result.notes):
            console.print(f"[yellow]note:[/] {text.console(n)}")
        failed = sum(not t.passed for t in result.score.tests)
        hints = result.selfchecks.tests
        wrong = sum(not t.passed for t in hints)
        verdict = (f", {failed} of {len(result.score.tests)} fail" if failed else
                   ", all pass" if not wrong else "")
        also = (f"; self-checks: {len(hints) - wrong} of {len(hints)} pass" if hints else "")
        console.print(f"public checks: {result.score.total:g}/{result.score.max_total:g} points"
                      f"{verdict}{also}. The other {result.hidden_points:g} points are checked only "
                      f"when your notebook is graded. ({result.seconds:.1f} s)", highlight=False)
    else:
        for n in result.notes:
            console.print(n, highlight=False)


def _show_selfchecks(console: Console, result: CheckResult) -> None:
    from rich.table import Table

    from autograder.report import pretty_name

    table = Table(title="self-checks (no points): your own code on small problems",
                  title_justify="left")
    table.add_column("check")
    table.add_column("feedback", overflow="fold", max_width=80)
    for t in result.selfchecks.tests:
        mark = "[green]✓[/]" if t.passed else "[red]✗[/]"
        table.add_row(f"{mark} {text.console(pretty_name(t.name))}",
                      f"[dim]{text.console(t.message)}[/]" if t.passed else text.console(t.message))
    console.print(table)


def check(notebook: str | Path, assignment: str | None = None) -> CheckResult | None:
    """For a notebook cell, in the kernel's own Python (no PATH or venv to get right): check the
    saved notebook and print the table. Returns the result; a problem with the notebook or the
    course folder is printed as one message (None is returned), never a traceback."""
    console = Console()
    try:
        result = main(notebook=Path(notebook), assignment_id=assignment)
    except UserError as exc:
        console.print(f"[red]check:[/] {escape(str(exc))}", highlight=False)
        return None
    show(console, result, Path(notebook).name)
    return result
