"""Scoring is a pure function: table-driven tests."""
import pytest

from autograder.config import TestSpec
from autograder.score import score

SPECS = {"a": TestSpec(points=2, group="g1"), "b": TestSpec(points=1, group="g1"),
         "c": TestSpec(points=3, group="g2")}


@pytest.mark.parametrize("outcomes, total, failed", [
    ({"a": (True, "", ""), "b": (True, "", ""), "c": (True, "", "")}, 6, set()),
    ({"a": (True, "", ""), "b": (False, "x", ""), "c": (True, "", "")}, 5, {"b"}),
    ({}, 0, {"a", "b", "c"}),                                            # nothing ran
    ({"a": (True, "", ""), "zzz": (True, "", "")}, 2, {"b", "c"}),       # unknown tests earn nothing
    ({"a": (False, "m", ""), "b": (False, "m", ""), "c": (False, "m", "")}, 0, {"a", "b", "c"}),
])
def test_score_table(outcomes, total, failed):
    s = score(outcomes, SPECS)
    assert s.total == total
    assert s.max_total == 6
    assert {t.name for t in s.tests if not t.passed} == failed
    assert [t.name for t in s.tests] == ["a", "b", "c"]  # config order


def test_missing_test_says_it_did_not_run():
    s = score({}, SPECS)
    assert all(t.message == "this check did not run" for t in s.tests)


def test_groups_add_up():
    s = score({"a": (True, "", ""), "c": (True, "", "")}, SPECS)
    assert s.by_group() == {"g1": (2, 3), "g2": (3, 3)}
