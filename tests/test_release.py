"""The checked-in release is what nbgrader makes from the solution, and gives nothing away."""
import json

from autograder.release import render_release
from kit import ROOT

SOLUTION = ROOT / "solutions/03_network/03_network.ipynb"
RELEASE = ROOT / "assignments/03_network/03_network.ipynb"


def test_release_is_fresh():
    """Fails when the solution changed and `autograder release 03_network` was not rerun."""
    assert render_release(SOLUTION) == RELEASE.read_text(), \
        "assignments/03_network is stale: run `autograder release 03_network`"


def test_release_has_stubs_and_no_solution():
    nb = json.loads(RELEASE.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
                     and not c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("check_"))
    assert code.count("raise NotImplementedError()") == 4  # __init__, forward, trainer, accuracy
    for secret in ("BEGIN SOLUTION", "xavier_normal_(layer.weight)", "optimizer.zero_grad()",
                   "total += loss.item()", "model.eval()"):
        assert secret not in code
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_release_keeps_visible_checks_locked():
    nb = json.loads(RELEASE.read_text())
    checks = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("check_")]
    assert len(checks) == 3
    assert all(c["metadata"]["nbgrader"]["locked"] and c["metadata"].get("editable") is False for c in checks)


def test_release_holds_nothing_of_the_hidden_suite():
    text = RELEASE.read_text()
    for marker in ("secret_seed", "test_heldout_accuracy", "make_plan", "probes.py"):
        assert marker not in text
