"""The grader's fingerprint (autograder/fingerprint.py): per assignment, by relative path."""
import shutil

import yaml

from autograder import fingerprint
from kit import ROOT

AID, NOTEBOOK = "03_network", "03_network.ipynb"


def _checkout(where):
    """The parts of a checkout that one assignment's fingerprint reads, copied to `where`."""
    for part in ("autograder", f"tests/hidden/{AID}", f"assignments/{AID}"):
        shutil.copytree(ROOT / part, where / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "tests/hidden/conftest.py", where / "tests/hidden/conftest.py")
    return where


def _key(root, config_text):
    return fingerprint.grader(root, AID, config_text, NOTEBOOK, "cpu", "bwrap")


def test_moving_the_checkout_keeps_the_fingerprint(tmp_path):
    config = (ROOT / "grading_config.yaml").read_text()
    a, b = _checkout(tmp_path / "a"), _checkout(tmp_path / "b")
    assert _key(a, config) == _key(b, config) == _key(ROOT, config)


def test_another_assignment_does_not_change_it(tmp_path):
    """Adding an assignment's folder and its config section, or editing another's, regrades no one
    of this assignment; editing this one's config or suite does."""
    config = (ROOT / "grading_config.yaml").read_text()
    root = _checkout(tmp_path / "kit")
    before = _key(root, config)
    (root / "tests/hidden/06_new").mkdir()
    (root / "tests/hidden/06_new/conftest.py").write_text("# a new assignment\n")
    raw = yaml.safe_load(config)
    raw["assignments"]["06_new"] = {"title": "New", "notebook": "06_new.ipynb", "seed": 6}
    raw["assignments"]["01_tensors"]["seed"] += 1
    assert _key(root, yaml.safe_dump(raw)) == before
    raw["assignments"][AID]["seed"] += 1
    assert _key(root, yaml.safe_dump(raw)) != before
    (root / f"tests/hidden/{AID}/test_network.py").write_text("# edited\n")
    assert _key(root, config) != before


def test_the_exporters_are_left_out(tmp_path):
    config = (ROOT / "grading_config.yaml").read_text()
    root = _checkout(tmp_path / "kit")
    before = _key(root, config)
    (root / "autograder/exports/student.py").write_text("# edited\n")
    assert _key(root, config) == before
    (root / "autograder/harness.py").write_text("# edited\n")
    assert _key(root, config) != before
