"""Shared fixtures of every hidden suite. See autograder/judge.py for how a run is prepared.

Without options, `pytest tests/hidden` judges each assignment's reference solution. `autograder grade`
passes `--submission` (and `--device`, `--grading-config`) to judge a student's work instead.
"""
import pytest

from autograder import judge
from autograder.evidence import Evidence


def pytest_addoption(parser):
    judge.add_options(parser)


@pytest.fixture
def submission_run(request):
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
