"""Each solution notebook runs top to bottom: every worked example, plot and visible check."""
import nbformat
import pytest
from nbclient import NotebookClient

from kit import ROOT

EXPECTED = {
    "01_tensors": ("creating: the quick checks pass", "dtypes: the quick checks pass",
                   "operations: the quick checks pass", "indexing: the quick checks pass",
                   "numpy bridge: the quick checks pass", "devices: the quick checks pass",
                   "autograd: the quick checks pass", "one step by hand:", "fitted weights:"),
    "02_neurons": ("perceptron: the quick checks pass", "XORNet: the quick checks pass",
                   "activations: the quick checks pass", "softmax: the quick checks pass",
                   "one_hot: the quick checks pass", "cross_entropy: the quick checks pass",
                   "predictions: [0, 1, 1, 0]", "training accuracy"),
    "03_network": ("Network: the quick checks pass", "trainer: the quick checks pass",
                   "accuracy: the quick checks pass", "test accuracy:", "test MAE:"),
    "04_digits_cnn": ("DigitDataset: the quick checks pass", "DigitCNN: the quick checks pass",
                      "test accuracy", "accuracy on real handwriting"),
    "05_quiz": ("20 of 20 statements answered",),
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
