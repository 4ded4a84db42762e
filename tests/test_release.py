"""The checked-in releases are what nbgrader makes from the solutions, and give nothing away."""
import json

import pytest

from autograder.release import render_release
from kit import ROOT, grade_many

SOLUTIONS = sorted(ROOT.glob("solutions/*/*.ipynb"))
IDS = [s.parent.name for s in SOLUTIONS]
# one `raise NotImplementedError()` per stubbed body; the quiz's stub is its blank ANSWERS dict
STUBS = {"01_tensors": 14, "02_neurons": 9, "03_network": 4, "04_digits_cnn": 5, "05_quiz": 0}
ANSWERS = {"01_tensors": ("torch.manual_seed(seed)", "torch.from_numpy(a)", "requires_grad_(True)",
                          "optimizer.zero_grad()", "dtype=torch.float32"),
           "02_neurons": ("z.max(dim=dim", "torch.logsumexp", "lr * error", "torch.tanh",
                          "torch.clamp"),
           "03_network": ("xavier_normal_(layer.weight)", "optimizer.zero_grad()", "total += loss.item()",
                          "model.eval()"),
           "04_digits_cnn": ("nn.Conv2d(", "np.random.default_rng(seed)", "self.fc3(x)"),
           "05_quiz": (": True", ": False")}


def _release(solution):
    return ROOT / "assignments" / solution.parent.name / solution.name


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_release_is_fresh(solution):
    """Fails when a solution changed and `autograder release` was not rerun."""
    assert render_release(solution) == _release(solution).read_text(), \
        f"assignments/{solution.parent.name} is stale: run `autograder release {solution.parent.name}`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_release_has_stubs_and_no_solution(solution):
    nb = json.loads(_release(solution).read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
                     and not c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith(("check_", "setup")))
    assert code.count("raise NotImplementedError()") == STUBS[solution.parent.name]
    assert "BEGIN SOLUTION" not in code
    graded = "\n".join("".join(c["source"]) for c in nb["cells"]
                        if c["metadata"].get("nbgrader", {}).get("solution"))
    for answer in ANSWERS[solution.parent.name]:
        assert answer not in graded
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_release_keeps_visible_checks_locked(solution):
    nb = json.loads(_release(solution).read_text())
    checks = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("check_")]
    assert checks
    assert all(c["metadata"]["nbgrader"]["locked"] and c["metadata"].get("editable") is False for c in checks)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_release_holds_nothing_of_the_hidden_suite(solution):
    text = _release(solution).read_text()
    for marker in ("secret_seed", "test_heldout_accuracy", "make_plan", "probes.py"):
        assert marker not in text


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_untouched_release_scores_zero(solution, tmp_path):
    """A student who hands in the release as it came earns nothing, in every assignment."""
    aid = solution.parent.name
    results = grade_many([_release(solution)], tmp_path, assignment=aid)[solution.stem]
    assert results["score"] == 0, [t["name"] for t in results["tests"] if t["score"]]
    assert all(t["status"] == "failed" for t in results["tests"])


@pytest.mark.parametrize("aid", IDS)
def test_public_checks_are_fresh(aid):
    """assignments/<id>/public/ is what `autograder release` makes from the hidden suite and config."""
    from autograder import public
    from autograder.config import load_config

    built = public.build(ROOT, load_config(ROOT / "grading_config.yaml"), aid)
    folder = public.folder(ROOT, aid)
    on_disk = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    assert built == on_disk, f"assignments/{aid}/public is stale: run `autograder release {aid}`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_check_cells_say_which_condition_failed(solution):
    """A read-only check cell tests one condition per `assert`, each with a message: never a bare
    `AssertionError:` after several conditions joined by `and`."""
    import ast

    nb = json.loads(_release(solution).read_text())
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] != "code" or meta.get("solution"):
            continue
        source = "".join(cell["source"])
        tree = ast.parse("\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                                   for line in source.splitlines()))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                assert node.msg is not None, f"{meta.get('grade_id')}: `{ast.unparse(node)}` has no message"
                assert not (isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And)), \
                    f"{meta.get('grade_id')}: `{ast.unparse(node.test)}` joins conditions with `and`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=IDS)
def test_every_notebook_ends_with_its_check_cell(solution):
    """`check` through the kernel's own Python: no PATH or activated venv needed."""
    nb = json.loads(_release(solution).read_text())
    last = nb["cells"][-1]
    assert last["cell_type"] == "code" and last.get("id") == "run-check"
    assert "".join(last["source"]) == f'from autograder.check import check\n\ncheck("{solution.name}")'
    assert not any("!autograder" in "".join(c["source"]) for c in nb["cells"])
