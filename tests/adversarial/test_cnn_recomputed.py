"""04_digits_cnn's training and accuracy are the judge's own: the CNN leaves the sandbox as a graph,
and the judge rebuilds, trains and scores it (autograder/graph.py). Each case is graded through the
real CLI beside its honest twin."""
import textwrap

import pytest

from autograder import assignment
from autograder.config import load_config
from autograder.extract import extract
from kit import ROOT, grade_many

AID = "04_digits_cnn"
SOLUTION = ROOT / "solutions" / AID / f"{AID}.ipynb"
CFG = load_config(ROOT / "grading_config.yaml")
ACCURACY = "test_heldout_accuracy__catches_a_cnn_that_does_not_learn"
REFERENCE = extract(SOLUTION, SOLUTION, AID).source
# a two-unit bottleneck: a network the course's budget of 3 epochs cannot train to the threshold
NARROW = REFERENCE.replace("nn.Linear(128, 64)", "nn.Linear(128, 2)").replace(
    "nn.Linear(64, 10)", "nn.Linear(2, 10)")

LONGER_TRAINING = """
import sys as _sys
try:
    import probes as _probes  # the sandbox's copy, which its training loop used to run from
except ImportError:
    _probes = None
if _probes is not None:
    _train = _probes.train_reference
    def _ten_times(model, images, labels, args, device):
        return _train(model, images, labels, {**args, "epochs": args["epochs"] * 10,
                                              "lr": args["lr"] * 3}, device)
    _probes.train_reference = _ten_times
"""

# where a sandboxed process could find digits: any tensor of 28x28 images in its memory, and any
# such tensor in a safetensors file of its work folder or tmp (the only form the harness ships
# tensors in). Other files are not read: a sandbox's tmp may hold large files of other kinds.
SEARCH = """
import gc as _gc, json as _json, os as _os, tempfile as _tempfile

def _in_file(path):
    with open(path, "rb") as f:
        try:
            size = int.from_bytes(f.read(8), "little")
            header = _json.loads(f.read(size)) if 0 < size < 10_000_000 else None
        except (ValueError, UnicodeDecodeError):
            return 0
    if not isinstance(header, dict):
        return 0
    shapes = [v.get("shape", []) for k, v in header.items() if isinstance(v, dict)]
    return max([_prod(s) // 784 for s in shapes if isinstance(s, list) and s[-2:] == [28, 28]] or [0])

def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n

def _largest_batch():
    import torch as _torch
    most = 0
    for obj in _gc.get_objects():
        if isinstance(obj, _torch.Tensor) and obj.dim() >= 3 and tuple(obj.shape[-2:]) == (28, 28):
            most = max(most, obj.numel() // 784)
    for folder in (_os.getcwd(), _tempfile.gettempdir()):
        for base, _, files in _os.walk(folder):
            for name in files:
                try:
                    most = max(most, _in_file(_os.path.join(base, name)))
                except OSError:
                    pass
    return most

_original_init = DigitCNN.__init__

def _searching_init(self, *args, **kwargs):
    found = _largest_batch()
    if found > LIMIT:
        raise RuntimeError(f"found a batch of {found} digits")
    _original_init(self, *args, **kwargs)

DigitCNN.__init__ = _searching_init
"""


def _with(source: str, code: str) -> str:
    return source + "\n" + textwrap.dedent(code) + "\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cnn")
    p = CFG.params(AID)
    probe_images = 10 * p.probe_images_per_class
    subjects = {
        "narrow": NARROW,
        "narrow_training_longer": _with(NARROW, LONGER_TRAINING),
        "outside_allow_list": REFERENCE.replace("return self.fc3(x)", "return self.fc3(x).abs()"),
        # what the judge would have to hold in memory to train it: refused before training
        "far_too_wide": REFERENCE.replace("nn.Conv2d(1, 16, kernel_size=3)", "nn.Conv2d(1, 512, kernel_size=3)")
                                 .replace("nn.Conv2d(16, 32, kernel_size=3)", "nn.Conv2d(512, 32, kernel_size=3)"),
        # nothing bigger than the public probe images is anywhere the submission can look ...
        "search": _with(REFERENCE, SEARCH.replace("LIMIT", str(probe_images))),
        # ... and the search does find those (so it is not blind)
        "search_control": _with(REFERENCE, SEARCH.replace("LIMIT", str(probe_images - 1))),
    }
    assert NARROW != REFERENCE and REFERENCE.count("return self.fc3(x)") == 1
    paths = []
    for name, source in subjects.items():
        path = folder / f"{name}.py"
        path.write_text(source)
        paths.append(path)
    return grade_many(paths, folder / "out", assignment=AID)


def _tests(result) -> dict:
    return {t["name"]: t for t in result["tests"]}


def test_a_patched_training_loop_gains_nothing(graded):
    """The probe's training loop no longer runs in the sandbox: a submission that rewrites it to
    train ten times longer scores exactly what its honest twin scores, and that twin loses the
    accuracy points."""
    honest, attack = graded["narrow"], graded["narrow_training_longer"]
    assert attack["score"] == honest["score"] < honest["max_score"]
    accuracy = "heldout accuracy"
    assert _tests(honest)[accuracy]["score"] == 0, _tests(honest)[accuracy]
    assert _tests(attack)[accuracy]["score"] == 0
    assert {n: t["score"] for n, t in _tests(attack).items()} == \
        {n: t["score"] for n, t in _tests(honest).items()}


def test_an_operator_outside_the_allow_list_is_a_reason(graded):
    result = _tests(graded["outside_allow_list"])
    said = result["heldout accuracy"]["output"]
    assert result["heldout accuracy"]["score"] == 0
    assert "uses abs, which the grader does not run" in said, said


def test_a_network_too_big_for_the_judge_is_refused_with_a_reason(graded):
    result = _tests(graded["far_too_wide"])
    said = result["heldout accuracy"]["output"]
    assert result["heldout accuracy"]["score"] == 0
    assert "far larger than a CNN of the described shape" in said, said


def test_the_training_and_held_out_digits_never_enter_the_sandbox(graded):
    assert graded["search"]["score"] == graded["search"]["max_score"], \
        [t["output"] for t in graded["search"]["tests"] if t["score"] < t["max_score"]]
    control = graded["search_control"]
    outputs = " ".join(t["output"] for t in control["tests"])
    assert control["score"] < control["max_score"] and "found a batch of" in outputs, outputs
    assert set(assignment.make_plan(ROOT, CFG, AID, "cpu").inputs) == {"images"}
