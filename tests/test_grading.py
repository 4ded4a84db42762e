"""`autograder grade` end to end: examples, stubs, broken and hostile submissions, user errors.

Submissions are graded in as few grader processes as possible (one per fixture), as a batch would.
"""
import json
import os

import jsonschema
import nbformat
import pytest
import yaml

from autograder.config import load_config
from kit import ROOT, grade_many, run_cli

CFG = load_config(ROOT / "grading_config.yaml").assignment("03_network")
NAMES = list(CFG.tests)
MAX = CFG.max_points
SCHEMA = json.loads((ROOT / "autograder/schemas/gradescope_results.schema.json").read_text())
EXAMPLES = ROOT / "examples/03_network"


def failed(results) -> dict[str, str]:
    return {t["extra_data"]["check"]: t["output"] for t in results["tests"]
            if t["status"] == "failed"}


def charged(results) -> dict[str, str]:
    """The failed checks that say what went wrong: one root cause is charged once, and the checks
    that share it say "Not graded: this depends on" the first (autograder/judge.py, attribute)."""
    waiting = {t["extra_data"]["check"] for t in results["tests"] if t["extra_data"].get("depends_on")}
    assert all(failed(results)[n].startswith("Not graded: this depends on") for n in waiting)
    return {n: o for n, o in failed(results).items() if n not in waiting}


def starts(names, *prefixes):
    return {n for n in names if n.startswith(prefixes)}


# --- the bundled examples ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples")
    paths = sorted(EXAMPLES.glob("*.ipynb"))
    paths.append(ROOT / "assignments/03_network/03_network.ipynb")  # the untouched release
    paths.append(EXAMPLES / "alice_correct.ipynb")  # graded twice: must be identical
    first = grade_many(paths[:-1], out / "a")
    second = grade_many(paths[-1:], out / "b")
    return first, second


def test_results_follow_gradescope_schema(examples):
    for results in [*examples[0].values(), *examples[1].values()]:
        jsonschema.validate(results, SCHEMA)
        assert results["score"] == sum(t["score"] for t in results["tests"])


def test_correct_solution_gets_full_marks(examples):
    alice = examples[0]["alice_correct"]
    assert alice["score"] == MAX, failed(alice)


def test_grading_is_deterministic(examples):
    a, b = examples[0]["alice_correct"], examples[1]["alice_correct"]
    strip = lambda r: [(t["name"], t["score"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert strip(a) == strip(b)


def test_released_stubs_score_zero(examples):
    stub = examples[0]["03_network"]
    assert stub["score"] == 0
    assert charged(stub) and all("NotImplementedError" in o for o in charged(stub).values())


def test_common_bug_is_caught_and_named(examples):
    bob = failed(examples[0]["bob_forgot_zero_grad"])
    assert set(bob) == {
        "test_trainer_matches_reference__catches_missing_zero_grad_step_or_train_mode[classification]",
        "test_trainer_matches_reference__catches_missing_zero_grad_step_or_train_mode[regression]",
        "test_training_lowers_loss__catches_no_learning[digits]",
        "test_heldout_accuracy__catches_a_network_that_does_not_generalise[digits]"}
    assert all("zero_grad()" in bob[n] for n in bob if "replay" in bob[n] or "reference" in n)


def test_cheater_gains_nothing(examples):
    """An always-true __eq__ float subclass plus patched torch.allclose/torch.equal earn 0 points."""
    mallory = examples[0]["mallory_cheats"]
    assert mallory["score"] == 0, [t["name"] for t in mallory["tests"] if t["score"]]


# --- broken submissions -------------------------------------------------------------------------

def _cases(reference: str) -> dict[str, str]:
    trainer_def = "def trainer(model, criterion, optimizer, dataloader, epochs=5, verbose=False):\n"
    acc_def = "def accuracy(model, dataloader):\n"
    fwd_ret = "        return self.layers[-1](x)  # raw scores: no activation on the output layer"
    no_acc = reference[: reference.index(acc_def)]
    return {
        "syntax_error": reference + "\ndef broken(:\n    pass\n",
        "raises_at_import": reference + "\nraise RuntimeError('boom at import')\n",
        "exits_at_import": reference + "\nimport sys\nsys.exit(0)\n",
        "missing_accuracy": no_acc,
        "infinite_loop": reference.replace(acc_def, acc_def + "    while True:\n        pass\n"),
        "os_exit_in_trainer": reference.replace(trainer_def, trainer_def + "    import os\n    os._exit(0)\n"),
        "nan_forward": reference.replace(fwd_ret, "        return self.layers[-1](x) * float('nan')"),
        "list_forward": reference.replace(fwd_ret, "        return self.layers[-1](x).tolist()"),
        "kills_parent": reference.replace(trainer_def, trainer_def +
                                          "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"),
        "noisy_but_correct": "import sys, warnings\nprint('hello', file=sys.stderr)\n"
                             "warnings.warn('deprecated!', DeprecationWarning)\n" + reference.replace(
                                 trainer_def, trainer_def + "    print('training...', file=sys.stderr)\n"
                                 "    warnings.warn('NNPACK is not supported')\n"),
    }


@pytest.fixture(scope="module")
def broken(tmp_path_factory, reference_source):
    folder = tmp_path_factory.mktemp("broken")
    paths = []
    for name, source in _cases(reference_source).items():
        (folder / f"{name}.py").write_text(source)
        paths.append(folder / f"{name}.py")
    (folder / "essay.txt").write_text("I did not do the homework.")
    paths.append(folder / "essay.txt")
    nb = nbformat.read(EXAMPLES / "alice_correct.ipynb", as_version=4)
    nb.metadata["autograder"] = {"assignment": "04_digits_cnn"}
    nbformat.write(nb, folder / "wrong_assignment.ipynb")
    paths.append(folder / "wrong_assignment.ipynb")
    # a short probe timeout keeps the infinite-loop case quick
    data = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    data["assignments"]["03_network"]["probe_timeout_s"]["accuracy"] = 3
    config = folder / "grading_config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return grade_many(paths, folder / "out", extra=("--config", config))


ALL = set(NAMES)
ACCURACY = starts(ALL, "test_accuracy")
AFTER_TRAINER = starts(ALL, "test_trainer", "test_accuracy", "test_training", "test_heldout")
FORWARD = starts(ALL, "test_forward", "test_default")
FITS = starts(ALL, "test_training", "test_heldout")
# the ValueError report only counts beside a network that demonstrably computes (see test_network)
VALUE_ERROR = {"test_unknown_activation_raises_valueerror"}


@pytest.mark.parametrize("name, lost, reason", [
    ("syntax_error", ALL, "could not be loaded: SyntaxError at line"),
    ("raises_at_import", ALL, "RuntimeError at line"),
    ("exits_at_import", ALL, "sys.exit(0) was called"),
    ("missing_accuracy", ACCURACY, "your notebook defines no `accuracy`, which the grader calls"),
    ("infinite_loop", ACCURACY, "did not finish within 3 s"),
    ("os_exit_in_trainer", starts(ALL, "test_trainer", "test_training", "test_heldout"), "os._exit()"),
    ("nan_forward", FORWARD | FITS | VALUE_ERROR, "NaN"),
    ("list_forward", FORWARD | FITS | VALUE_ERROR, "output is a list, not a tensor"),
    ("kills_parent", AFTER_TRAINER, "killed"),
    ("essay", ALL, "neither a notebook"),
    ("wrong_assignment", ALL, "is assignment `04_digits_cnn`"),
])
def test_broken_submission_costs_only_what_it_touches(broken, name, lost, reason):
    results = broken[name]
    jsonschema.validate(results, SCHEMA)
    got = failed(results)
    assert set(got) == lost, sorted(set(got) ^ lost)
    assert any(reason in text for text in got.values()), list(got.values())[:2]


def test_syntax_error_names_the_cell(broken):
    got = charged(broken["syntax_error"])
    assert got and all("of submission.py" in t or "syntax_error.py" in t for t in got.values())


def test_warnings_and_stderr_cost_nothing(broken):
    assert broken["noisy_but_correct"]["score"] == MAX, failed(broken["noisy_but_correct"])


def test_student_code_never_runs_in_the_grading_process(tmp_path, reference_source):
    """Invariant 1: every import of the student's module happened outside the judge's process.
    Run without the OS sandbox, so the submission can leave a note on the host's disk at all."""
    marker = tmp_path / "where.jsonl"
    spy = tmp_path / "where_am_i.py"
    spy.write_text("import json, os, sys\nwith open(%r, 'a') as f:\n    f.write(json.dumps("
                   "{'pid': os.getpid(), 'judge': 'autograder.judge' in sys.modules, "
                   "'pytest': '_pytest' in sys.modules}) + '\\n')\n" % str(marker) + reference_source)
    results = grade_many([spy], tmp_path / "out", extra=("--sandbox", "none"))
    assert results["where_am_i"]["score"] == MAX
    lines = [json.loads(line) for line in marker.read_text().splitlines()]
    assert len(lines) >= 9  # once per probe
    assert not any(entry["judge"] or entry["pytest"] for entry in lines)
    assert os.getpid() not in {entry["pid"] for entry in lines}


# --- user errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["grade", "no/such/file.ipynb"], "submission not found"),
    (["grade", "examples/03_network/alice_correct.ipynb", "--assignment", "99_nope"], "unknown assignment '99_nope'"),
    (["grade", "examples/03_network/alice_correct.ipynb", "--device", "tpu"], "--device must be one of"),
    (["grade", "examples/03_network"], "is a folder"),
    (["release", "99_nope"], "unknown assignment"),
    (["calibrate", "99_nope", "--seeds", "1"], "unknown assignment '99_nope'"),
    (["calibrate", "05_quiz", "--seeds", "0"], "--seeds must be at least 1"),
    (["grade", "examples/03_network/alice_correct.ipynb", "--config", "missing.yaml"], "config file not found"),
    (["grade", "examples/03_network/alice_correct.ipynb", "--out", "/proc/no-write"], "cannot write"),
])
def test_user_errors_are_one_message_and_exit_1(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3


def test_two_submissions_of_one_name_get_two_result_folders(tmp_path):
    """`grade A/x.ipynb B/x.ipynb --out D` keeps both: D/A_x and D/B_x, not one over the other."""
    quiz = (ROOT / "solutions/05_quiz/05_quiz.ipynb").read_text()
    for folder in ("A", "B"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "05_quiz.ipynb").write_text(quiz)
    out = tmp_path / "D"
    proc = run_cli("grade", tmp_path / "A/05_quiz.ipynb", tmp_path / "B/05_quiz.ipynb", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.parent.name for p in out.glob("*/results.json")) == ["A_05_quiz", "B_05_quiz"]


def test_result_folders_never_repeat():
    from pathlib import Path

    from autograder.cli import _result_folders

    assert _result_folders([Path("a/x.ipynb"), Path("b/y.ipynb")]) == ["x", "y"]
    assert _result_folders([Path("a/x.ipynb"), Path("b/x.ipynb")]) == ["a_x", "b_x"]
    assert _result_folders([Path("a/x.ipynb"), Path("a/x.ipynb"), Path("y.py")]) == ["a_x-1", "a_x-2", "y"]
