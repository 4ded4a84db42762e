"""The grader's fingerprint: what one assignment's grades depend on besides the submission.

`grade-batch` keeps a student's grade while the fingerprint is unchanged (a rerun resumes),
`calibrate` keeps a seed's runs, and the Gradescope export stamps its bundle with it. All three
hash the same inputs, here:

- the kit's version, the device and the sandbox tier;
- the assignment's own part of the config: its section under `assignments`, and every top-level
  setting (limits, device, sandbox), but no other assignment's section;
- the assignment's files: its release notebook and everything under `tests/hidden/<id>/`, and the
  shared judge, `tests/hidden/conftest.py`;
- the package's code, `autograder/**/*.py`, except `autograder/exports/` (nothing there runs while
  a submission is graded).

Files are hashed by their path relative to the checkout, so moving the checkout keeps every
fingerprint, and adding, editing or removing one assignment leaves every other one's unchanged.

`suite` is narrower: only what decides an assignment's checks (its hidden folder and the shared
conftest, without the zero-point self-checks). A calibration record keeps it, so `grade`,
`grade-batch` and `release` can say when the checks changed since the committed sweep.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from autograder import __version__

LEFT_OUT = ("exports", "__pycache__")


def assignment_config(config_text: str, assignment_id: str) -> bytes:
    """The config as one assignment sees it, canonical (key order and comments do not count)."""
    try:
        data = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return config_text.encode()  # unreadable configs are refused elsewhere; hash them as they are
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), dict):
        return config_text.encode()
    data = {**data, "assignments": {assignment_id: data["assignments"].get(assignment_id)}}
    return json.dumps(data, sort_keys=True, default=str).encode()


def files(root: Path, assignment_id: str, notebook: str) -> list[Path]:
    """The files one assignment's grades depend on, in a fixed order."""
    from autograder.config import release_path

    root = Path(root)
    hidden = root / "tests" / "hidden"
    found = [release_path(root, assignment_id, notebook), hidden / "conftest.py"]
    found += sorted((hidden / assignment_id).rglob("*"))
    found += sorted(f for f in (root / "autograder").rglob("*.py")
                    if not set(LEFT_OUT) & set(f.relative_to(root / "autograder").parts))
    return [f for f in found if f.is_file() and "__pycache__" not in f.parts]


def digest(root: Path, assignment_id: str, config_text: str, notebook: str, device: str,
           sandbox: str, extra: bytes = b"") -> str:
    """The full sha256 of everything above, plus `extra` (calibrate adds its subjects' code)."""
    root = Path(root)
    h = hashlib.sha256(f"{__version__}|{assignment_id}|{device}|{sandbox}|".encode())
    h.update(assignment_config(config_text, assignment_id) + b"\0")
    for f in files(root, assignment_id, notebook):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(extra)
    return h.hexdigest()


def grader(root: Path, assignment_id: str, config_text: str, notebook: str, device: str,
           sandbox: str) -> str:
    """The short form kept in each student's grading.json and a Gradescope bundle."""
    return digest(root, assignment_id, config_text, notebook, device, sandbox)[:16]


NOT_GRADING = ("selfcheck.py",)  # runs only in a student's `check`; worth no points


def suite(root: Path, assignment_id: str) -> str:
    """sha256 of the files that decide the assignment's checks (see the module docstring)."""
    root = Path(root)
    hidden = root / "tests" / "hidden"
    found = [hidden / "conftest.py", *sorted((hidden / assignment_id).rglob("*"))]
    h = hashlib.sha256(assignment_id.encode() + b"\0")
    for f in found:
        if f.is_file() and "__pycache__" not in f.parts and f.name not in NOT_GRADING:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
