"""The judge's side of 05_quiz: the answer key, and how a student's answers are read.

Trusted code. The key (key.yaml, beside this file) is read here and nowhere else: the probe only
reports what the student wrote, so the key never enters the sandbox, and the release never holds it.
"""
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from autograder.config import GradingConfig
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


def _shown(d: dict) -> str:
    kind, value = d.get("kind"), d.get("value")
    if kind == "str":
        return repr(value)
    if kind in ("bool", "int", "float"):
        return repr(value)
    if kind == "none":
        return "None"
    return f"an object of type {str(d.get('type', 'object')).rsplit('.', 1)[-1]}"


def read_answer(d: dict) -> Reading:
    """An answer as True/False. Plain bools are taken as they are; 1/0 and the usual words
    (true/false, t/f, yes/no, y/n, in any case) are read too, and the feedback says so."""
    if not isinstance(d, dict):
        return Reading(None, "?", problem="the answer could not be read")
    kind, value, shown = d.get("kind"), d.get("value"), _shown(d)
    if kind == "bool" and isinstance(value, bool):
        return Reading(value, shown)
    if kind == "none":
        return Reading(None, shown, problem="no answer: it is still None")
    if kind in ("int", "float") and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and value in (0, 1):
        return Reading(value == 1, shown, how=f"{shown} was read as {value == 1}")
    if kind == "str" and isinstance(value, str):
        word = value.strip().lower()
        for truth, words in ((True, TRUE_WORDS), (False, FALSE_WORDS)):
            if word in words:
                return Reading(truth, shown, how=f"{shown} was read as {truth}")
    return Reading(None, shown, problem=f"{shown} could not be read as True or False; write True "
                                        "or False")


def read_answers(ev: Evidence, numbers) -> tuple[dict[int, Reading], list[str]]:
    """Every statement's Reading, plus notes about the dict as a whole (ignored or doubled keys)."""
    kind = ev.value("kind", str)
    if kind == "missing":
        return {n: Reading(None, problem="ANSWERS is not defined: keep the ANSWERS = {...} cell")
                for n in numbers}, []
    if kind != "dict":
        what = str(ev.data.get("type", "something else")).rsplit(".", 1)[-1]
        return {n: Reading(None, problem=f"ANSWERS is a {what}, not a dict of number: answer")
                for n in numbers}, []
    found: dict[int, list[Reading]] = {}
    notes, as_strings = [], []
    for entry in ev.value("entries", list):
        key = entry.get("key") if isinstance(entry, dict) else None
        key = key if isinstance(key, dict) else {}
        number = None
        if key.get("kind") == "int" and isinstance(key.get("value"), int):
            number = key["value"]
        elif key.get("kind") == "str" and isinstance(key.get("value"), str) \
                and key["value"].strip().isdigit():
            number = int(key["value"].strip())
            as_strings.append(f"ANSWERS key {key['value']!r} was read as statement {number}")
        if number not in numbers:
            notes.append(f"ANSWERS has an entry for {_shown(key)}, which is not a statement "
                         f"number (1-{max(numbers)}); it was ignored")
            continue
        found.setdefault(number, []).append(read_answer(entry.get("value", {})))
    readings = {}
    for n in numbers:
        got = found.get(n, [])
        if not got:
            readings[n] = Reading(None, problem=f"ANSWERS has no entry for statement {n}")
        elif len(got) > 1 and len({r.value for r in got}) > 1:
            readings[n] = Reading(None, problem=f"statement {n} is answered twice, differently")
        else:
            readings[n] = got[0]
    if ev.data.get("truncated"):
        notes.append("ANSWERS has more entries than the grader reads; the rest were ignored")
    if as_strings:  # one line for a whole dict of string keys, so that problems stay in view
        more = len(as_strings) - 1
        notes.append(as_strings[0] + (f", and {more} more key{'s' if more > 1 else ''} written "
                                      "as strings the same way" if more else ""))
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
