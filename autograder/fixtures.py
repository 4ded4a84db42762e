"""The fixtures every check may ask for, in one module: the hidden suite's conftest imports them,
and `autograder check` registers this module as a plugin for the public bundle's checks.

What they read comes from the judge's context (autograder/judge.py, `JudgeContext`): the grader,
the otter bridge and `check` each hand one to pytest; a plain `pytest tests/hidden` gets one built
from its command-line options. So a check runs the same way wherever it runs, and nothing here is
written twice.

    submission_run  the extracted, probed submission (judge.SubmissionRun)
    plan            the judge's plan: probes, inputs (and, in grading only, its secrets)
    p               the assignment's params, as its model (tests/hidden/<id>/params.py)
    probe           probe(name, what) -> Evidence of one probe's output
    probes          the assignment's probes.py as a module of the judge (its fixed models)
    measure         record a value measured against a config threshold, for `calibrate`
    curve           keep a per-epoch loss curve for the feedback page
"""
from __future__ import annotations

import pytest

from autograder import judge
from autograder.evidence import Evidence


@pytest.fixture
def submission_run(request) -> judge.SubmissionRun:
    return judge.submission_run(request)


@pytest.fixture
def plan(submission_run):
    return submission_run.plan


@pytest.fixture
def p(submission_run):
    """The assignment's parameters from grading_config.yaml, as their typed model."""
    return submission_run.params


@pytest.fixture
def probe(submission_run):
    """probe(name, what) -> Evidence; fails the test with the probe's reason if it did not run."""
    def get(name: str, what: str) -> Evidence:
        return Evidence(submission_run.probes[name], what)
    return get


@pytest.fixture
def probes(submission_run):
    """The probes module the submission was probed with, loaded in the judge (trusted: the kit's
    or the bundle's own file, never the sandbox's copy)."""
    return judge.load_probes(submission_run.probes_file.parent)


@pytest.fixture
def measure(record_property):
    """measure(threshold, value) -> value: record what a check measured against one of the config's
    thresholds (its path under the assignment's params, e.g. "digits.accuracy"), so that
    `autograder calibrate` can show its distribution. Record before deciding, so that failing
    submissions are measured too."""
    def record(threshold: str, value: float) -> float:
        record_property(judge.MEASURE, (threshold, float(value)))
        return value
    return record


@pytest.fixture
def curve(record_property):
    """curve(label, values): keep a per-epoch training loss curve for the student's feedback page,
    where `autograder grade-batch` draws it against the reference solution's. For display only:
    no score depends on it. Non-numbers are dropped; at most 1000 points are kept."""
    def record(label: str, values) -> None:
        if isinstance(values, list):
            kept = [float(v) for v in values[:1000] if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if kept:
                record_property(judge.CURVE, (label, kept))
    return record
