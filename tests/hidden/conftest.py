"""Shared fixtures of every hidden suite: the framework's own (autograder/fixtures.py), which
`autograder check` also gives the public checks. See autograder/judge.py for how a run is prepared.

Without options, `pytest tests/hidden` judges each assignment's reference solution. Given
`--submission` (and `--device`, `--grading-config`, `--sandbox`), it judges a student's work instead;
`autograder grade` hands the judge its context directly (judge.JudgeContext).
"""
from autograder import judge
from autograder.fixtures import curve, measure, p, plan, probe, probes, submission_run  # noqa: F401


def pytest_addoption(parser):
    judge.add_options(parser)
