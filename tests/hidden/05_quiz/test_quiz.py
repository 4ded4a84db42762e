"""Each statement's answer against the key, which only the judge holds (key.yaml)."""
from pathlib import Path

import pytest
import yaml

from autograder.evidence import fail

NUMBERS = sorted(int(n) for n in yaml.safe_load((Path(__file__).parent / "key.yaml").read_text()))


@pytest.mark.parametrize("number", NUMBERS, ids=[f"q{n:02d}" for n in NUMBERS])
def test_answer_matches_the_key(number, readings, key, p, record_property):
    """Your answer to this statement is the right one: True or False."""
    entry, reading = key[number], readings[number]
    statement = f"Statement {number} (\u201c{entry['statement']}\u201d)"
    why = f" Why: {entry['why']}" if p.show_explanations else ""
    if reading.value is None:
        fail(f"{statement}: {reading.problem}.{why}")
    how = f" ({reading.how})" if reading.how else ""
    if reading.value != entry["answer"]:
        fail(f"{statement}: your answer {reading.value}{how} is not right.{why}")
    if how or why:
        record_property("feedback", f"{statement}: right{how}.{why}")
