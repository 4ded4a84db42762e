"""Stage 3 (trusted): the hidden pytest suite, run over what the probes returned.

`pytest tests/hidden` and `autograder grade` run the same suite. In both, the first test of an
assignment asks for `submission_run`, which extracts the submission (the reference solution by
default), lets the assignment's conftest choose the inputs (`make_plan`, found and given its time
limits by autograder/assignment.py), and runs the probes in the sandbox. The tests then read only
that data. `run_judge` drives pytest in-process with a collector plugin that records each test's
outcome and the message a student should read.

There is one way in: a `JudgeContext`, handed to pytest as a plugin that keeps it in
`config.stash`. `grade` (and so `calibrate` and `grade-batch`) builds one in `run_judge`, the otter
bridge builds one whose `extract` and `run_probes` work on the student's namespace in its own
process, and `check` builds one holding the run it already made from the public bundle. Only a
plain `pytest tests/hidden` has none; then it is built from the command-line options.
"""
from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from autograder import assignment, sandbox
from autograder.config import (CONFIG_NAME, GradingConfig, load_config, release_path, repo_root,
                               solution_path)
from autograder.errors import GraderError
from autograder.evidence import Charged, NotGraded
from autograder.extract import Extraction, extract
from autograder.probe import Plan, ProbeRun, run_probes
from autograder.report import pretty_name

_RUNS = pytest.StashKey[dict]()
_CONTEXT = pytest.StashKey["JudgeContext"]()
FEEDBACK = "feedback"  # record_property name under which a passing test leaves its feedback
MEASURE = "measure"    # ... and under which any test records (threshold path, value) for calibrate
CURVE = "curve"        # ... and (label, per-epoch losses) for the feedback page's plot
# Plans depend only on the config and the device, so a process grading many submissions (a batch, or
# `grade a b c`) builds each one once; 04's generated images cost seconds.
_PLANS: dict[tuple, Plan] = {}


@dataclass
class SubmissionRun:
    assignment_id: str
    submission: Path
    device: str
    extraction: Extraction
    plan: Plan
    probes: ProbeRun
    params: object = None
    notes: list[str] = field(default_factory=list)  # the judge's remarks on the whole submission
    memo: dict = field(default_factory=dict)        # what an assignment's fixtures compute once
    probes_file: Path | None = None                 # the probes.py the probes ran from


@dataclass
class TestOutcome:
    name: str
    passed: bool
    message: str = ""
    doc: str = ""
    seconds: float = 0.0
    measures: dict[str, float] = field(default_factory=dict)  # threshold path -> measured value
    cause: str = ""       # what made it fail, where other checks may share it (evidence.Charged)
    depends_on: str = ""  # the check charged with its cause: this one is "not graded" (attribute)
    prerequisites: tuple[str, ...] = ()  # the checks it declared it depends on (evidence.NotGraded)


@dataclass
class JudgeResult:
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    runs: dict[str, SubmissionRun] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    grader_error: Exception | None = None  # the machinery failed (the sandbox did not start)
    seconds: float = 0.0
    curves: dict[str, list[float]] = field(default_factory=dict)


def load_probes(assignment_dir: Path):
    """An assignment's probes.py as a module of the judge (trusted: the kit's own file, never the
    sandbox's copy), so the judge builds the very same fixed models the probes use."""
    import importlib.util

    path = Path(assignment_dir) / "probes.py"
    spec = importlib.util.spec_from_file_location(f"probes_{Path(assignment_dir).name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def secret_paths(root: Path, config_path: Path | None = None) -> tuple[str, ...]:
    """What a sandbox must never read: the config (secret seeds), the hidden suites (the quiz's
    key, the judge's reference code) and the solutions. A tier's self-test checks each one."""
    paths = [root / CONFIG_NAME, root / "tests" / "hidden", root / "solutions"]
    if config_path is not None:
        paths.append(Path(config_path))
    return tuple(sorted({str(p.resolve()) for p in paths if p.exists()}))


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def add_options(parser) -> None:
    group = parser.getgroup("autograder")
    group.addoption("--submission", default=None,
                    help="submission to judge (default: the assignment's reference solution)")
    group.addoption("--device", default=None, help="auto, cpu or cuda (default: the config's)")
    group.addoption("--grading-config", default=None, help="path of grading_config.yaml")
    group.addoption("--sandbox", default=None,
                    help="auto, bwrap, landlock, uid or none (default: the config's)")


@dataclass
class JudgeContext:
    """What one run of the hidden suite judges, and how: handed to pytest by `JudgePlugin`."""

    cfg: GradingConfig
    root: Path
    device: str                              # resolved: cpu or cuda
    submission: Path | None = None           # None: each assignment's reference solution
    sandbox_mode: str = "auto"
    config_path: Path | None = None          # a config outside the kit (its path is kept secret)
    assignment_id: str | None = None         # None: the test's folder names its assignment
    extract: Callable = extract              # how a submission becomes one module's source
    run_probes: Callable = run_probes        # how the probes run (the sandbox; otter: in-process)
    runs: dict[str, SubmissionRun] = field(default_factory=dict)  # prepared before pytest (check)


class JudgePlugin:
    """pytest plugin that hands the judge its context (kept in config.stash)."""

    NAME = "autograder-context"

    def __init__(self, context: JudgeContext):
        self.context = context
        self.__name__ = self.NAME

    def pytest_configure(self, config):
        config.stash[_CONTEXT] = self.context


def context(config) -> JudgeContext:
    """The run's context: the one a caller handed in, else one from the command-line options."""
    if _CONTEXT not in config.stash:
        cfg_path = config.getoption("--grading-config", None)
        cfg = load_config(Path(cfg_path) if cfg_path else None)
        given = config.getoption("--submission", None)
        config.stash[_CONTEXT] = JudgeContext(
            cfg, repo_root(), resolve_device(config.getoption("--device", None) or cfg.device),
            Path(given) if given else None, config.getoption("--sandbox", None) or cfg.sandbox,
            Path(cfg_path) if cfg_path else None)
    return config.stash[_CONTEXT]


def plan_for(ctx: JudgeContext, aid: str) -> Plan:
    """The assignment's plan (built once per config and device in this process)."""
    key = (aid, ctx.device, ctx.cfg.model_dump_json(), str(ctx.root))
    if key not in _PLANS:
        _PLANS.clear()  # keep one: a new config makes the old plans useless
        _PLANS[key] = assignment.make_plan(ctx.root, ctx.cfg, aid, ctx.device)
    return _PLANS[key]


def submission_run(request) -> SubmissionRun:
    """The extracted, probed submission of the requesting test's assignment (cached per session)."""
    config = request.config
    runs = config.stash.setdefault(_RUNS, {})
    ctx = context(config)
    aid = ctx.assignment_id or Path(request.node.path).parent.name
    if aid in runs:
        return runs[aid]
    collector = config.pluginmanager.get_plugin(Collector.NAME)
    if aid in ctx.runs:
        run = ctx.runs[aid]
    else:
        run = _probe(ctx, aid, collector)
    runs[aid] = run
    if collector is not None:
        collector.result.runs[aid] = run
    return run


def _probe(ctx: JudgeContext, aid: str, collector) -> SubmissionRun:
    root, cfg = ctx.root, ctx.cfg
    acfg = cfg.assignment(aid)
    if ctx.submission is not None:
        submission = ctx.submission
        extraction = ctx.extract(submission, release_path(root, aid, acfg.notebook), aid)
    else:  # the reference solution: its own setup cells are the released ones
        submission = solution_path(root, aid, acfg.notebook)
        extraction = ctx.extract(submission, submission, aid)
    plan = plan_for(ctx, aid)
    probes_file = assignment.hidden_dir(root, aid) / assignment.PROBES_FILE
    try:
        tier = sandbox.select(ctx.sandbox_mode, ctx.device, secret_paths(root, ctx.config_path))
        probes = ctx.run_probes(extraction, plan, cfg.limits, ctx.device, acfg.seed,
                                sandbox=tier.name)
    except GraderError as exc:  # not the submission's fault: the caller reports it, never scores it
        if collector is not None:
            collector.result.grader_error = exc
        raise
    return SubmissionRun(aid, submission, ctx.device, extraction, plan, probes, cfg.params(aid),
                         probes_file=probes_file)


def attribute(outcomes: dict[str, TestOutcome], order: list[str]) -> None:
    """One root cause, charged once. Of the failed checks that share a cause (evidence.Charged),
    the first in `order` (the config's) keeps its message; each other one, and each check that
    declared it depends on a failed check (evidence.NotGraded), is "not graded": its points are
    lost, and its message names the check that says what to fix."""
    rank = {name: i for i, name in enumerate(order)}
    roots: dict[str, str] = {}
    for o in outcomes.values():
        o.depends_on = next((n for n in o.prerequisites if n in outcomes and not outcomes[n].passed
                             and n != o.name), "")
    for name in sorted(outcomes, key=lambda n: rank.get(n, len(rank))):
        o = outcomes[name]
        if o.passed or not o.cause or o.depends_on:
            continue
        if o.cause in roots:
            o.depends_on = roots[o.cause]
        else:
            roots[o.cause] = name
    resolved = {}
    for o in outcomes.values():
        root, seen = o.depends_on, [o.name]
        while root and root in outcomes and outcomes[root].depends_on and root not in seen:
            seen.append(root)
            root = outcomes[root].depends_on  # a chain ends at the check that is charged
        if root in seen:  # declared dependencies that form a cycle: its first check is charged
            root = min(seen[seen.index(root):], key=lambda n: rank.get(n, len(rank)))
        resolved[o.name] = root
    for o in outcomes.values():
        root = resolved[o.name]
        if not root or root not in outcomes or outcomes[root].passed or root == o.name:
            o.depends_on = ""  # nothing failed to depend on: the check is charged with its own words
            continue
        o.depends_on = root
        o.message = (f"Not graded: this depends on \"{pretty_name(root)}\", which fails; "
                     "its feedback says what to fix.")


def _message(excinfo) -> str:
    exc = excinfo.value
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg)
    if isinstance(exc, AssertionError):
        return str(exc).split("\nassert ")[0].strip() or "a check failed"
    return f"the judge could not check this ({type(exc).__name__}: {exc})"


class Collector:
    """pytest plugin: one TestOutcome per test, keyed by the test's name (with its parameters)."""

    NAME = "autograder-collector"

    def __init__(self):
        self.result = JudgeResult()
        self.__name__ = self.NAME  # pluggy registers a plugin object under its __name__

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        name = item.name
        for key, value in report.user_properties:
            if key == CURVE:
                label, values = value
                self.result.curves[str(label)] = [float(v) for v in values]
        if report.when == "call" or report.failed or report.skipped:
            previous = self.result.outcomes.get(name)
            if previous is not None and not previous.passed:
                return  # keep the first failure (setup before teardown)
            doc = (getattr(item.obj, "__doc__", None) or "").strip()
            measures = {k: v for key, value in report.user_properties if key == MEASURE
                        for k, v in [value]}
            if report.passed and report.when == "call":
                # a passing test may still have feedback, left with record_property("feedback", ...)
                said = dict(report.user_properties).get(FEEDBACK, "")
                self.result.outcomes[name] = TestOutcome(name, True, str(said), doc, report.duration,
                                                         measures)
            elif report.failed or report.skipped:
                msg = _message(call.excinfo) if call.excinfo else "failed"
                if report.skipped:
                    msg = "skipped"
                exc = call.excinfo.value if call.excinfo else None
                self.result.outcomes[name] = TestOutcome(
                    name, False, msg, doc, report.duration, measures,
                    cause=(exc.cause or "") if isinstance(exc, (Charged, NotGraded)) else "",
                    prerequisites=exc.on if isinstance(exc, NotGraded) else ())

    def pytest_sessionfinish(self, session):
        cfg = context(session.config).cfg
        order = [name for aid in self.result.runs if aid in cfg.assignments
                 for name in cfg.assignment(aid).tests]
        attribute(self.result.outcomes, order)

    def pytest_collectreport(self, report):
        if report.failed:
            self.result.errors.append(f"could not collect {report.nodeid}: {report.longreprtext}")


@contextlib.contextmanager
def judge_threads(n: int):
    """The judge computes with the config's thread count, as the sandbox does. Its tensors are
    small (four XOR points, a batch of digits): with more threads than that, every operation opens
    an OpenMP region, and on a busy machine (a batch, a sweep, other users) the threads spin
    against each other: 900 steps of 02's XOR training took 2.8 s on two threads beside a sweep
    and 0.08 s on one. `grade-batch` and `calibrate` already run their workers on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_judge(assignment_id: str, submission: Path, *, device: str, config_path: Path,
              root: Path, sandbox_mode: str, cfg: GradingConfig | None = None,
              extract_with: Callable = extract, probe_with: Callable = run_probes) -> JudgeResult:
    """Judge one submission with the assignment's hidden suite. `cfg`: the config already loaded
    from `config_path` (read again if not given); `extract_with` and `probe_with` replace the
    extraction and the sandboxed probes (the otter bridge runs them on a notebook namespace)."""
    cfg = cfg or load_config(config_path)
    ctx = JudgeContext(cfg, root, device, submission, sandbox_mode, config_path, assignment_id,
                       extract_with, probe_with)
    collector = Collector()
    hidden = root / "tests" / "hidden"
    # The context travels as a plugin, never as options: no path of the submission is parsed by
    # pytest, and --confcutdir stops conftest discovery at the hidden suite, so no conftest.py
    # lying beside the submission is ever loaded into this (trusted) process.
    args = [str(hidden / assignment_id), f"--confcutdir={hidden}", "-q",
            "--import-mode=importlib", "-p", "no:cacheprovider", "--rootdir", str(root),
            "-c", str(root / "pyproject.toml"), "-W", "ignore"]
    sink = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            judge_threads(cfg.limits.threads):
        code = pytest.main(args, plugins=[collector, JudgePlugin(ctx)])
    if code not in (0, 1) or not collector.result.outcomes:
        tail = sink.getvalue()[-3000:]
        collector.result.errors.append(f"the hidden suite did not run (pytest exit {code}):\n{tail}")
    collector.result.seconds = time.monotonic() - start
    return collector.result
