"""Extraction: solution cells by grade_id, setup from the release, problems reported as notes."""
import copy

import nbformat

from autograder.extract import extract
from kit import ROOT

RELEASE = ROOT / "assignments/03_network/03_network.ipynb"
ALICE = ROOT / "examples/03_network/alice_correct.ipynb"


def _nb():
    return nbformat.read(ALICE, as_version=4)


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _write(tmp_path, nb, name="sub.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_correct_notebook_has_no_notes():
    ex = extract(ALICE, RELEASE, "03_network")
    assert ex.failure is None and ex.notes == []
    assert "class Network" in ex.source and "def trainer" in ex.source
    assert "import torch" in ex.source  # setup cell from the release
    assert "check_network" not in ex.source and "plt." not in ex.source  # only graded code


def test_missing_cell_is_reported(tmp_path):
    nb = _nb()
    nb.cells.remove(_cell(nb, "accuracy"))
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert "the answer cell under “4. Accuracy” is missing from the notebook; its code was not graded" in ex.notes
    assert "def accuracy" not in ex.source


def test_a_renamed_function_is_named_with_its_cell(tmp_path):
    """Jupyter never shows a grade_id: the note names the function and the heading above its cell."""
    nb = _nb()
    _cell(nb, "trainer").source = _cell(nb, "trainer").source.replace("def trainer(", "def train(")
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert ("the grader calls `trainer`, which your notebook does not define: it belongs in the answer "
            "cell under “3. The training loop”. Was it renamed or deleted? Every check that uses it "
            "fails until it is back under that name") in ex.notes
    assert not any("grade" in n and "`trainer`" in n and "id" in n for n in ex.notes)


def test_merged_answer_cells_are_not_called_ungraded(tmp_path):
    """Two answer cells pasted into one: the code was graded, and the note says so."""
    nb = _nb()
    accuracy = _cell(nb, "accuracy")
    _cell(nb, "trainer").source += "\n\n" + accuracy.source
    nb.cells.remove(accuracy)
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert ex.notes == ["the answer cell under “4. Accuracy” is not in the notebook, but what it defines "
                        "(`accuracy`) is in another answer cell and was graded there"]


def test_duplicated_cell_runs_both_in_order(tmp_path):
    nb = _nb()
    dup = copy.deepcopy(_cell(nb, "trainer"))
    dup.source = "def trainer(*args, **kwargs):\n    return [0.0]"
    nb.cells.append(dup)
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert any("the answer cell under “3. The training loop” appears 2 times" in n for n in ex.notes)
    assert ex.source.index("total += loss.item()") < ex.source.index("return [0.0]")


def test_altered_setup_cell_is_replaced_by_the_release(tmp_path):
    nb = _nb()
    _cell(nb, "setup_imports").source = "import torch\ntorch.allclose = lambda *a, **k: True"
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert any(n.startswith("the read-only cell under") and n.endswith("was edited; the released version was used")
               for n in ex.notes)
    assert "torch.allclose = " not in ex.source


def test_magics_are_commented_out(tmp_path):
    nb = _nb()
    _cell(nb, "accuracy").source = "%matplotlib inline\n!pip install x\n" + _cell(nb, "accuracy").source
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert "# %matplotlib inline" in ex.source and "# !pip install x" in ex.source
    compile(ex.source, "m", "exec")


def test_error_lines_map_to_cells():
    ex = extract(ALICE, RELEASE, "03_network")
    line = ex.source.splitlines().index("def trainer(model, criterion, optimizer, dataloader, epochs=5, verbose=False):") + 1
    assert ex.where(line) == "line 1 of the answer cell under “3. The training loop”"


def test_wrong_assignment(tmp_path):
    nb = _nb()
    nb.metadata["autograder"] = {"assignment": "04_digits_cnn"}
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert ex.source is None and "04_digits_cnn" in ex.failure


def test_unrelated_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    ex = extract(_write(tmp_path, nb), RELEASE, "03_network")
    assert ex.source is None and "right notebook" in ex.failure


def test_not_a_notebook(tmp_path):
    (tmp_path / "essay.txt").write_text("hello")
    (tmp_path / "broken.ipynb").write_text("{ not json")
    assert "neither a notebook" in extract(tmp_path / "essay.txt", RELEASE, "03_network").failure
    assert "not a valid Jupyter notebook" in extract(tmp_path / "broken.ipynb", RELEASE, "03_network").failure


def test_py_submission_is_the_module(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    ex = extract(tmp_path / "m.py", RELEASE, "03_network")
    assert ex.source.startswith("x = 1") and ex.failure is None
