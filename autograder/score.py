"""Stage 4 (pure): per-test outcomes x the config's points -> a score. No I/O, no torch."""
from __future__ import annotations

from dataclasses import dataclass, field

from autograder.config import TestSpec


@dataclass(frozen=True)
class ScoredTest:
    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    group: str
    public: bool
    doc: str = ""
    reported: bool = False  # rests on the student's process's word about itself (config.TestSpec)
    depends_on: str = ""    # not graded: the failed check that is charged with the cause


@dataclass
class Score:
    tests: list[ScoredTest] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def max_total(self) -> float:
        return sum(t.max_points for t in self.tests)

    def by_group(self) -> dict[str, tuple[float, float]]:
        groups: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            got, top = groups.get(t.group, (0.0, 0.0))
            groups[t.group] = (got + t.points, top + t.max_points)
        return groups


def score(outcomes: dict[str, tuple], specs: dict[str, TestSpec]) -> Score:
    """`outcomes` maps test name -> (passed, message, doc) or (passed, message, doc, depends_on);
    a passing test's message is optional feedback (how an answer was read, say), a failed one's
    depends_on the check charged with its cause (judge.attribute). Every configured test is scored, in the config's order;
    one the judge never reported counts as failed. Tests the config does not list earn nothing (the
    kit's consistency test keeps the two in step)."""
    result = Score()
    for name, spec in specs.items():
        passed, message, doc, *rest = outcomes.get(name, (False, "this check did not run", ""))
        depends_on = rest[0] if rest and not passed and rest[0] in specs else ""
        result.tests.append(ScoredTest(name, spec.points if passed else 0.0, spec.points, passed,
                                       message, spec.group, spec.public, doc, spec.reported,
                                       depends_on))
    return result
