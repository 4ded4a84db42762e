"""Each solution notebook runs top to bottom: every worked example, plot and visible check."""
import nbformat
import pytest
from nbclient import NotebookClient

from kit import ROOT

EXPECTED = {
    "03_network": ("Network: the quick checks pass", "trainer: the quick checks pass",
                   "accuracy: the quick checks pass", "test accuracy:", "test MAE:"),
    "04_digits_cnn": ("DigitDataset: the quick checks pass", "DigitCNN: the quick checks pass",
                      "test accuracy", "accuracy on real handwriting"),
}


@pytest.mark.parametrize("aid", sorted(EXPECTED))
def test_solution_notebook_runs(tmp_path, aid):
    nb = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    for line in EXPECTED[aid]:
        assert line in printed
