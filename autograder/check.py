"""`autograder check NOTEBOOK`: a student's own check of their notebook, before they submit.

It runs only the public checks (`public: true` in grading_config.yaml), from the bundle that
`autograder release` writes to `assignments/<id>/public/` (see autograder/public.py): the same
probes and the same check functions the grader runs, on the same inputs. Hidden checks are not in
that bundle and never run here. There is no sandbox: this is the student's own machine and their
own code. The probes still run in a child process with the config's time limits, so an infinite
loop is cut and reported like in grading, and the judge still reads only what the probes wrote.

From a notebook cell: save the notebook, then `!autograder check 03_network.ipynb`, or
`from autograder.check import check; check("03_network.ipynb")`.
"""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from autograder import public, report, score
from autograder.config import CONFIG_NAME, load_config, release_path, repo_root
from autograder.errors import UserError
from autograder.extract import extract
from autograder.judge import Collector, SubmissionRun
from autograder.probe import run_probes


@dataclass
class CheckResult:
    assignment_id: str
    score: score.Score
    hidden_points: float  # what the checks that run only at grading are worth
    notes: list[str]
    failure: str | None
    seconds: float


class _Fixtures:
    """The fixtures a public check may ask for (public.PUBLIC_FIXTURES), without the hidden conftest."""

    NAME = "autograder-check-fixtures"

    def __init__(self, run: SubmissionRun, wanted: set[str]):
        self.run, self.wanted = run, wanted
        self.__name__ = self.NAME

    @pytest.fixture
    def plan(self):
        return self.run.plan

    @pytest.fixture
    def p(self):
        return self.run.params

    @pytest.fixture
    def probe(self):
        from autograder.evidence import Evidence

        def get(name: str, what: str) -> Evidence:
            return Evidence(self.run.probes[name], what)
        return get

    @pytest.fixture
    def measure(self):
        return lambda threshold, value: value

    @pytest.fixture
    def curve(self):
        return lambda label, values: None

    def pytest_collection_modifyitems(self, config, items):
        """Run exactly the public checks: a parametrized check may be public for some parameters."""
        items[:] = [item for item in items if item.name in self.wanted]


def course_root(notebook: Path) -> Path:
    """The course folder: the nearest parent of the notebook holding the config (students run
    `check` from anywhere), else the kit's usual root (AUTOGRADER_ROOT, the current folder...)."""
    for d in notebook.resolve().parents:
        if (d / CONFIG_NAME).is_file():
            return d
    return repo_root()


def find_bundle(root: Path, aid: str, notebook: Path, given: Path | None) -> Path:
    candidates = [given] if given else [public.folder(root, aid), notebook.parent / "public"]
    for c in candidates:
        if c and (c / public.PLAN_FILE).is_file():
            return c
    shown = ", ".join(str(c) for c in candidates if c)
    raise UserError(f"the public checks of {aid} are not here ({shown}); they come with the "
                    f"released assignment (assignments/{aid}/public/), or pass --public FOLDER")


def main(*, notebook: Path, assignment_id: str | None = None, bundle: Path | None = None,
         config_path: Path | None = None) -> CheckResult:
    from autograder.grade import infer_assignment

    start = time.monotonic()
    notebook = Path(notebook)
    if not notebook.is_file():
        raise UserError(f"notebook not found: {notebook}" if not notebook.exists()
                        else f"{notebook} is not a file: give your notebook")
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
    if not wanted:
        empty = score.score({}, {})
        worth = f"all {total:g} points" if total else "all of them"  # a student's config: none listed
        return CheckResult(aid, empty, total, [f"{aid} has no public checks: {worth} are checked "
                                               "when your notebook is graded"], None,
                           time.monotonic() - start)
    folder = find_bundle(root, aid, notebook, bundle)
    meta, plan = public.load_plan(folder)
    total = meta.get("total_points", total)
    if meta.get("assignment") != aid or set(meta.get("checks", [])) != wanted:
        raise UserError(f"{folder} holds the public checks of another release: run "
                        f"`autograder release {aid}`, or get the current assignment folder")
    release = release_path(root, aid, acfg.notebook)
    extraction = extract(notebook, release if release.is_file() else notebook, aid)
    probes = run_probes(extraction, folder / public.PROBES_FILE, plan, cfg.limits, "cpu",
                        meta["seed"], sandbox="none")
    run = SubmissionRun(aid, notebook, "cpu", extraction, plan, probes, cfg.params(aid))
    collector, fixtures = Collector(), _Fixtures(run, wanted)
    args = [str(f) for f in sorted(folder.glob("test_*.py"))]
    args += ["-q", "-p", "no:cacheprovider", "--import-mode=importlib", f"--rootdir={folder}",
             f"--confcutdir={folder}", "-W", "ignore", "-o", "addopts=", "-o", "pythonpath="]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[collector, fixtures])
    if code not in (0, 1) or collector.result.errors:
        raise UserError(f"the public checks in {folder} did not run (pytest exit {code}); get a "
                        f"fresh copy of the assignment folder.\n{sink.getvalue()[-1500:]}")
    outcomes = {n: (o.passed, o.message, o.doc) for n, o in collector.result.outcomes.items()}
    graded = score.score(outcomes, public_specs)
    notes = extraction.notes + run.notes
    return CheckResult(aid, graded, total - graded.max_total, notes, extraction.failure,
                       time.monotonic() - start)


def show(console: Console, result: CheckResult, name: str) -> None:
    if result.score.tests:
        report.print_table(console, result.score, f"{name}: public checks of {result.assignment_id}",
                           result.notes, result.failure)
        failed = sum(not t.passed for t in result.score.tests)
        verdict = "all pass" if not failed else f"{failed} of {len(result.score.tests)} fail"
        console.print(f"public checks: {result.score.total:g}/{result.score.max_total:g} points, "
                      f"{verdict}. The other {result.hidden_points:g} points are checked only when "
                      f"your notebook is graded. ({result.seconds:.1f} s)", highlight=False)
    else:
        for n in result.notes:
            console.print(n, highlight=False)


def check(notebook: str | Path, assignment: str | None = None) -> CheckResult:
    """For a notebook cell: check a saved notebook and print the table. Returns the result."""
    result = main(notebook=Path(notebook), assignment_id=assignment)
    show(Console(), result, Path(notebook).name)
    return result
