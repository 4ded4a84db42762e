"""The judge's side of 05_quiz: the answer key, and how a student's answers are read.

Trusted code. The key (key.yaml, beside this file) is read here and nowhere else: the probe only
ships what the student wrote, so the key never enters the sandbox, and the release never holds it.
"""
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from autograder.config import GradingConfig
from autograder import evidence
from autograder.evidence import Evidence
from autograder.probe import Plan, ProbeSpec

AID = "05_quiz"
KEY_FILE = Path(__file__).parent / "key.yaml"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


def load_key() -> dict[int, dict]:
    return {int(n): entry for n, entry in yaml.safe_load(KEY_FILE.read_text()).items()}


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    # No inputs and no arguments: nothing about the key goes into the sandbox. The student's module
    # needs no torch either, so the sandbox skips importing it.
    return Plan([ProbeSpec("answers", "answers", {})], {},
                uses_torch=False)


@dataclass
class Reading:
    """One statement's answer as the judge read it."""
    value: bool | None          # None: no usable answer
    shown: str = ""             # the answer as the student wrote it, for the feedback
    how: str = ""               # how an unusual spelling was read, e.g. "'yes' was read as True"
    problem: str = ""           # why there is no usable answer


def _plain(node) -> tuple[str, object]:
    """A key's or an answer's node as (how it reads in the feedback, the plain value it holds or
    None). Python's own bools, numbers and strings hold themselves; so do numpy's integer, bool
    and float scalars (np.int64(1), np.True_), which the feedback names."""
    if not isinstance(node, dict):
        return "?", None
    t, value = node.get("t"), node.get("v")
    if t == "none":
        return "None", None
    if (t, type(value).__name__) in (("bool", "bool"), ("int", "int"), ("float", "float"),
                                     ("float", "int"), ("str", "str")):
        return repr(value), value
    if t == "numpy" and type(value) in (bool, int, float):
        return f"{node.get('type', 'numpy')}({value!r})", value
    return f"an object of type {evidence.kind(node)}", None


def read_answer(node) -> Reading:
    """An answer as True/False. Plain bools are taken as they are; numpy's bools, 1/0 (as Python or
    numpy numbers) and the usual words (true/false, t/f, yes/no, y/n, in any case) are read too,
    and the feedback says how."""
    shown, value = _plain(node)
    t = node.get("t") if isinstance(node, dict) else None
    if t == "bool" and type(value) is bool:
        return Reading(value, shown)
    if t == "none":
        return Reading(None, shown, problem="no answer: it is still None")
    if type(value) is bool:  # a numpy bool
        return Reading(value, shown, how=f"{shown} was read as {value}")
    if type(value) in (int, float) and value in (0, 1):
        return Reading(value == 1, shown, how=f"{shown} was read as {value == 1}")
    if type(value) is str:
        word = value.strip().lower()
        for truth, words in ((True, TRUE_WORDS), (False, FALSE_WORDS)):
            if word in words:
                return Reading(truth, shown, how=f"{shown} was read as {truth}")
    return Reading(None, shown, problem=f"{shown} could not be read as True or False; write True "
                                        "or False")


def _number(key) -> tuple[int | None, str]:
    """The statement number a key names, and how it was read when it was not a plain int."""
    shown, value = _plain(key)
    if type(value) is int and key.get("t") == "int":
        return value, ""
    if type(value) is int:  # a numpy integer (np.arange(1, 21) as keys, say)
        return value, f"ANSWERS key {shown} was read as statement {value}"
    if type(value) is str and value.strip().isdigit():
        return int(value.strip()), f"ANSWERS key {value!r} was read as statement {int(value.strip())}"
    return None, ""


def read_answers(ev: Evidence, numbers) -> tuple[dict[int, Reading], list[str]]:
    """Every statement's Reading, plus notes about the dict as a whole (ignored or doubled keys,
    keys that needed reading)."""
    node = ev.node("answers")
    if node is None:
        missing = ev.node("missing")
        why = ("ANSWERS is not defined: keep the ANSWERS = {...} cell"
               if isinstance(missing, dict) and evidence.kind(missing) == "AttributeError"
               else f"ANSWERS could not be read ({evidence.kind(missing)})")
        return {n: Reading(None, problem=why) for n in numbers}, []
    if node.get("t") != "dict":
        return {n: Reading(None, problem=f"ANSWERS is a {evidence.kind(node)}, not a dict of "
                                         "number: answer") for n in numbers}, []
    found: dict[int, list[Reading]] = {}
    notes, read_as = [], []
    for key, value in ev.pairs_of(node):
        number, how = _number(key)
        if number not in numbers:
            notes.append(f"ANSWERS has an entry for {_plain(key)[0]}, which is not a statement "
                         f"number (1-{max(numbers)}); it was ignored")
            continue
        if how:
            read_as.append(how)
        found.setdefault(number, []).append(read_answer(value))
    readings = {}
    for n in numbers:
        got = found.get(n, [])
        if not got:
            readings[n] = Reading(None, problem=f"ANSWERS has no entry for statement {n}")
        elif len(got) > 1 and len({r.value for r in got}) > 1:
            readings[n] = Reading(None, problem=f"statement {n} is answered twice, differently")
        else:
            readings[n] = got[0]
    if isinstance(node.get("len"), int) and node["len"] > len(ev.pairs_of(node)):
        notes.append("ANSWERS has more entries than the grader reads; the rest were ignored")
    if read_as:  # one line for a whole dict of such keys, so that problems stay in view
        more = len(read_as) - 1
        notes.append(read_as[0] + (f", and {more} more key{'s' if more > 1 else ''} read "
                                   "the same way" if more else ""))
    return readings, notes


@pytest.fixture(scope="session")
def key():
    return load_key()


@pytest.fixture
def readings(probe, key, submission_run):
    """The student's answers, read once per submission; notes about the dict go into the report."""
    if "readings" not in submission_run.memo:
        readings, notes = read_answers(probe("answers", "your ANSWERS"), sorted(key))
        submission_run.memo["readings"] = readings
        submission_run.notes.extend(notes)
    return submission_run.memo["readings"]
