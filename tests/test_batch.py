"""`autograder grade-batch`: a whole class in one command, resumable, in parallel, with a gradebook,
Gradescope results, feedback per student and a class summary; locally and on a Dask cluster."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from autograder import batch
from autograder.errors import UserError
from kit import ROOT, run_cli

EXAMPLES = ROOT / "examples" / "03_network"
SCHEMA = json.loads((ROOT / "autograder/schemas/gradescope_results.schema.json").read_text())
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (.ci/run installs it)")
HANG = """
import time
while True:
    time.sleep(1)
"""


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _inbox(folder: Path, students: dict[str, str]) -> Path:
    """A folder of submissions: {file name: bundled example to copy}."""
    folder.mkdir()
    for name, example in students.items():
        shutil.copy(EXAMPLES / f"{example}.ipynb", folder / name)
    return folder


def _quick_config(tmp: Path) -> Path:
    """The repo's config with a short whole-submission limit, so a hanging submission costs the
    test seconds, not minutes (the reference still fits well inside it)."""
    raw = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    raw["limits"]["submission_timeout_s"] = 45
    path = tmp / "grading_config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A class of five: correct, buggy, hostile, not a notebook at all, and one that hangs."""
    tmp = tmp_path_factory.mktemp("class")
    inbox = _inbox(tmp / "inbox", {"alice.ipynb": "alice_correct", "bob.ipynb": "bob_forgot_zero_grad",
                                   "mallory.ipynb": "mallory_cheats"})
    (inbox / "carol.ipynb").write_text("this is not a notebook")
    (inbox / "dave.py").write_text(HANG)
    (inbox / "notes.txt").write_text("ignored")
    config = _quick_config(tmp)
    out = tmp / "out"
    proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", out, "--workers", 2,
                   "--config", config, "--nbgrader-db", tmp / "gradebook.db", "--add-students",
                   timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return {"tmp": tmp, "inbox": inbox, "out": out, "config": config, "proc": proc}


def test_every_student_gets_a_row_with_the_right_status(klass):
    rows = _rows(klass["out"])
    assert set(rows) == {"alice", "bob", "mallory", "carol", "dave"}
    assert rows["alice"]["status"] == "graded" and rows["alice"]["total"] == rows["alice"]["max_score"]
    assert rows["bob"]["status"] == "graded" and 0 < float(rows["bob"]["total"]) < float(rows["bob"]["max_score"])
    assert float(rows["mallory"]["total"]) < float(rows["mallory"]["max_score"])
    assert rows["carol"]["status"] == "failed" and rows["carol"]["total"] == "0"
    assert rows["dave"]["status"] == "timed out" and rows["dave"]["total"] == "0"
    assert "ignored 1 entries" in klass["proc"].stderr


def test_gradebook_has_a_column_per_test_group_that_adds_up(klass):
    from autograder.config import load_config

    groups = {s.group for s in load_config(ROOT / "grading_config.yaml").assignment("03_network").tests.values()}
    for row in _rows(klass["out"]).values():
        assert groups <= set(row)
        assert float(row["total"]) == pytest.approx(sum(float(row[g]) for g in groups))
        assert float(row["duration_s"]) >= 0


def test_each_student_gets_gradescope_results_and_feedback(klass):
    out = klass["out"] / "students"
    for student in ("alice", "bob", "mallory", "carol", "dave"):
        results = json.loads((out / student / "results.json").read_text())
        jsonschema.validate(results, SCHEMA)
        assert (out / student / "feedback.md").read_text().startswith("# 03_network: feedback for")
    bob = (out / "bob" / "feedback.md").read_text()
    assert "## What to fix" in bob and "zero_grad" in bob  # the diagnosis reaches the student
    assert "loss.png" in bob and (out / "bob" / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "alice" / "loss.png").exists() and "What to fix" not in (out / "alice" / "feedback.md").read_text()
    assert "not a notebook" in (out / "carol" / "feedback.md").read_text() or \
        "could not" in (out / "carol" / "feedback.md").read_text()


def test_the_reference_is_graded_first_and_scores_full_marks(klass):
    ref = json.loads((klass["out"] / "reference" / "grading.json").read_text())
    assert ref["status"] == "graded" and ref["score"] == ref["max_score"]
    assert json.loads((klass["out"] / "reference" / "curves.json").read_text())


def test_class_summary_names_the_most_failed_checks_and_the_slowest(klass):
    summary = (klass["out"] / "summary.md").read_text()
    assert "5 students" in summary and "## Most-failed checks" in summary
    assert "## Slowest submissions" in summary and "dave" in summary
    assert (klass["out"] / "scores.png").read_bytes().startswith(b"\x89PNG")


def test_scores_reach_nbgraders_gradebook(klass):
    from nbgrader.api import Gradebook

    rows = _rows(klass["out"])
    with Gradebook(f"sqlite:///{klass['tmp'] / 'gradebook.db'}") as gb:
        for student, row in rows.items():
            assert gb.find_submission("03_network", student).score == pytest.approx(float(row["total"]))


def test_a_rerun_skips_what_is_graded_and_regrades_what_changed(klass):
    before = {s: (klass["out"] / "students" / s / "grading.json").read_text() for s in _rows(klass["out"])}
    shutil.copy(EXAMPLES / "alice_correct.ipynb", klass["inbox"] / "carol.ipynb")  # carol fixed hers
    start = time.monotonic()
    proc = run_cli("grade-batch", klass["inbox"], "--assignment", "03_network", "--out", klass["out"],
                   "--config", klass["config"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming: 4 of 5 students already graded" in proc.stderr
    rows = _rows(klass["out"])
    assert rows["carol"]["status"] == "graded" and rows["carol"]["total"] == rows["carol"]["max_score"]
    for s in ("alice", "bob", "mallory", "dave"):
        assert (klass["out"] / "students" / s / "grading.json").read_text() == before[s]
    assert time.monotonic() - start < 120  # one submission graded, not five


def test_interrupt_keeps_what_is_graded_and_the_rerun_finishes(tmp_path):
    inbox = _inbox(tmp_path / "inbox", {f"{name}.ipynb": "alice_correct" for name in ("ann", "ben", "cat", "dan")})
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C as a terminal delivers it: SIGINT's default action, even where this test runs in a
    # process that ignores it (a pytest-xdist worker does, and an ignored signal stays ignored
    # across exec)
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade-batch", str(inbox), "--assignment",
                             "03_network", "--out", str(out), "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((out / "students").glob("*/grading.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted:" in err and "Traceback" not in err
    kept = {p.parent.name for p in (out / "students").glob("*/grading.json")}
    assert 1 <= len(kept) < 4 and set(_rows(out)) == kept
    proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming: {len(kept)} of 4 students" in proc.stderr
    assert set(_rows(out)) == {"ann", "ben", "cat", "dan"}


def test_the_same_batch_runs_on_a_dask_cluster(tmp_path):
    """--scheduler takes the same code path through a Dask LocalCluster."""
    distributed = pytest.importorskip("distributed")
    inbox = _inbox(tmp_path / "inbox", {"alice.ipynb": "alice_correct",
                                        "bob.ipynb": "bob_forgot_zero_grad"})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", tmp_path / "out",
                       "--scheduler", cluster.scheduler_address, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(tmp_path / "out")
    assert rows["alice"]["total"] == rows["alice"]["max_score"]
    assert float(rows["bob"]["total"]) < float(rows["bob"]["max_score"])


def test_a_grader_that_fails_its_own_reference_grades_nobody(tmp_path):
    raw = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    raw["assignments"]["03_network"]["params"]["digits"]["accuracy"]["value"] = 1.01  # unreachable
    config = tmp_path / "grading_config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    inbox = _inbox(tmp_path / "inbox", {"alice.ipynb": "alice_correct"})
    proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", tmp_path / "out",
                   "--config", config, timeout=600)
    assert proc.returncode == 1 and "the reference solution scores" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "students" / "alice").exists()


@pytest.mark.parametrize("args, said", [
    (["grade-batch", "nowhere", "--assignment", "03_network", "--out", "o"], "does not exist"),
    (["grade-batch", "examples/03_network", "--assignment", "99_nope", "--out", "o"], "99_nope"),
    (["grade-batch", "examples/03_network", "--assignment", "03_network", "--out", "o", "--workers", "0"],
     "--workers must be at least 1"),
    (["grade-batch", "README.md", "--assignment", "03_network", "--out", "o"], "is a file"),
])
def test_bad_input_is_one_clear_message(tmp_path, args, said):
    proc = run_cli(*[a if a != "o" else str(tmp_path / "o") for a in args])
    assert proc.returncode == 1 and said in proc.stderr and "Traceback" not in proc.stderr


# --- finding the submissions (no grading) --------------------------------------------------------

def _nb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_a_flat_folder_gives_one_student_per_file(tmp_path):
    _nb(tmp_path / "in" / "alice.ipynb")
    _nb(tmp_path / "in" / "bob smith.py")
    _nb(tmp_path / "in" / ".ipynb_checkpoints" / "alice-checkpoint.ipynb")
    found, ignored = batch.discover(tmp_path / "in", "03_network", "03_network.ipynb", tmp_path / "s")
    assert [s.student for s in found] == ["alice", "bob_smith"] and ignored == []


def test_nbgraders_layout_picks_the_assignments_notebook(tmp_path):
    sub = tmp_path / "course" / "submitted"
    _nb(sub / "alice" / "03_network" / "03_network.ipynb")
    _nb(sub / "alice" / "03_network" / "scratch.ipynb")
    _nb(sub / "bob" / "03_network" / "mine.ipynb")
    (sub / "carol" / "03_network").mkdir(parents=True)
    _nb(sub / "dan" / "03_network" / "a.ipynb")
    _nb(sub / "dan" / "03_network" / "b.ipynb")
    _nb(sub / "erin" / "01_tensors" / "01_tensors.ipynb")  # another assignment: not in this batch
    found, _ = batch.discover(tmp_path / "course", "03_network", "03_network.ipynb", tmp_path / "s")
    by = {s.student: s for s in found}
    assert set(by) == {"alice", "bob", "carol", "dan"}
    assert by["alice"].path.name == "03_network.ipynb" and by["bob"].path.name == "mine.ipynb"
    assert "no notebook" in by["carol"].problem and "cannot tell which" in by["dan"].problem


def test_a_zip_is_unpacked_safely(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/alice.ipynb", "{}")
        zf.writestr("export/bob.ipynb", "{}")
        zf.writestr("../escape.ipynb", "{}")
        zf.writestr("/abs.ipynb", "{}")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    found, _ = batch.discover(archive, "03_network", "03_network.ipynb", scratch)
    assert [s.student for s in found] == ["alice", "bob"]
    assert not (tmp_path / "escape.ipynb").exists()


def _malformed(path: Path, kind: str) -> Path:
    import warnings

    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        zf.writestr("alice.ipynb", "{}")
        if kind == "duplicate":
            zf.writestr("alice.ipynb", '{"later": "buggy"}')
        elif kind == "clash":
            zf.writestr("alice.ipynb/inner.ipynb", "{}")
        elif kind == "size lie":
            zf.writestr("bob.ipynb", "x" * 5000)
    if kind == "size lie":  # bob's headers claim 10 bytes; 5000 follow
        data = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            at = data.rfind(signature)
            data[at + offset:at + offset + 4] = (10).to_bytes(4, "little")
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind, said", [("duplicate", "holds alice.ipynb twice"),
                                        ("clash", "a file and a folder of the same name clash"),
                                        ("size lie", "could not be unpacked at bob.ipynb")])
def test_a_malformed_zip_is_a_user_error_before_anything_is_graded(tmp_path, kind, said):
    """A duplicate entry used to be overwritten silently (the later, buggy file was graded); a
    clash or a size lie ended in an internal error."""
    archive = _malformed(tmp_path / f"{kind}.zip", kind)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(UserError, match=said):
        batch.discover(archive, "03_network", "03_network.ipynb", scratch)
    proc = run_cli("grade-batch", archive, "--assignment", "03_network", "--out", tmp_path / "out")
    assert proc.returncode == 1 and said in " ".join(proc.stderr.split()), proc.stderr
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_two_files_for_one_student_and_an_empty_folder_are_user_errors(tmp_path):
    _nb(tmp_path / "in" / "alice.ipynb")
    _nb(tmp_path / "in" / "alice.py")
    with pytest.raises(UserError, match="two submissions for student alice"):
        batch.discover(tmp_path / "in", "03_network", "03_network.ipynb", tmp_path / "s")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no submissions"):
        batch.discover(tmp_path / "empty", "03_network", "03_network.ipynb", tmp_path / "s")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(UserError, match="not a readable zip"):
        batch.discover(tmp_path / "bad.zip", "03_network", "03_network.ipynb", tmp_path / "s")


@pytest.mark.parametrize("layout", ["flat", "nbgrader"])
def test_names_that_clean_to_one_id_are_a_user_error_before_anything_is_graded(tmp_path, layout):
    """`josé` and `jos_` both become the id `jos_`: grading both would write one folder and one
    gradebook row for two students, so the batch names both and grades neither."""
    for name in ("josé", "jos_"):
        if layout == "flat":
            _nb(tmp_path / "in" / f"{name}.ipynb")
        else:
            _nb(tmp_path / "in" / "submitted" / name / "03_network" / "03_network.ipynb")
    with pytest.raises(UserError, match="two submissions for student jos_") as raised:
        batch.discover(tmp_path / "in", "03_network", "03_network.ipynb", tmp_path / "s")
    assert "josé" in str(raised.value) and "jos_" in str(raised.value)


def test_the_most_failed_checks_count_only_submissions_that_were_graded(tmp_path):
    """A submission that could not be read fails every check; counting those would bury the
    checks the class actually struggles with."""
    def outcome(student, status, failed):
        return batch.Outcome(student, status, 0.0 if status == "failed" else 5.0, 10.0, {}, 1.0,
                             failed_checks=failed)

    everyone = [outcome("a", "graded", ["test_b"]), outcome("b", "graded", ["test_b", "test_c"]),
                outcome("c", "failed", ["test_a", "test_b", "test_c", "test_d"]),
                outcome("d", "failed", ["test_a", "test_b", "test_c", "test_d"])]
    text = batch.summarize(everyone, "03_network", tmp_path, 10.0, 12.0, 2)
    table = text.split("## Most-failed checks", 1)[1].split("##", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "students" not in line]
    counts = {row.split("|")[1].strip(): int(row.split("|")[2]) for row in rows}
    assert list(counts.values()) == [2, 1], counts       # test_b by a and b, then test_c by b
    assert "2 failed" in text and "c (failed)" in text    # the unreadable ones are still listed


def test_a_write_that_fails_marks_its_row_and_the_batch_goes_on(tmp_path):
    """bob's folder cannot be made (a file is in the way, as a full disk would refuse it): his row
    says so with no score, alice is graded in full, and the batch ends normally."""
    inbox = _inbox(tmp_path / "inbox", {"alice.ipynb": "alice_correct", "bob.ipynb": "bob_forgot_zero_grad"})
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    (out / "students" / "bob").write_text("in the way")
    proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = _rows(out)
    assert rows["alice"]["total"] == "28" and rows["alice"]["status"] == "graded"
    assert rows["bob"]["status"] == "error" and rows["bob"]["total"] == ""
    assert "could not be written" in rows["bob"]["reason"]
