"""The solution notebook runs top to bottom: every worked example, plot and visible check."""
import nbformat
from nbclient import NotebookClient

from kit import ROOT


def test_solution_notebook_runs(tmp_path):
    nb = nbformat.read(ROOT / "solutions/03_network/03_network.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    for line in ("Network: the quick checks pass", "trainer: the quick checks pass",
                 "accuracy: the quick checks pass", "test accuracy:", "test MAE:"):
        assert line in printed
