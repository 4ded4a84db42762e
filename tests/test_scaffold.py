"""`autograder new`: an assignment is a folder. A new one works at once, grows by editing only its
own files, and changes nothing of the package or of any other assignment."""
import hashlib
import json
import shutil

import pytest

from kit import ROOT, run_cli

AID = "06_example"
OTHERS = ["01_tensors", "02_neurons", "03_network", "04_digits_cnn", "05_quiz"]


def _tree_digest(folder):
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _fingerprints(root):
    import yaml

    from autograder import fingerprint

    text = (root / "grading_config.yaml").read_text()
    notebooks = {a: c["notebook"] for a, c in yaml.safe_load(text)["assignments"].items()}
    return {a: fingerprint.grader(root, a, text, notebooks[a], "cpu", "bwrap") for a in OTHERS}


@pytest.fixture
def kit(tmp_path):
    """A copy of the kit, as an instructor's course folder."""
    root = tmp_path / "course"
    for name in ("autograder", "solutions", "assignments", "tests/hidden", "tests/mutants",
                 "tests/variants", "benchmarks/calibration"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("grading_config.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    return root


def _cli(root, *args):
    return run_cli(*args, cwd=root, env={"AUTOGRADER_ROOT": str(root)})


def _score(root, submission, out):
    proc = _cli(root, "grade", submission, "--assignment", AID, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    return results["score"], {t["name"]: t for t in results["tests"]}


def test_new_assignment_works_at_once_and_touches_nothing_else(kit, tmp_path):
    package = _tree_digest(kit / "autograder")
    before = _fingerprints(kit)
    quiz = tmp_path / "quiz_class"
    quiz.mkdir()
    shutil.copy(kit / "solutions/05_quiz/05_quiz.ipynb", quiz / "ada.ipynb")
    first = _cli(kit, "grade-batch", quiz, "--assignment", "05_quiz", "--out", tmp_path / "quiz_out")
    assert first.returncode == 0, first.stdout + first.stderr

    made = _cli(kit, "new", AID, "--title", "An example")
    assert made.returncode == 0, made.stdout + made.stderr
    for path in ("solutions/06_example/06_example.ipynb", "tests/hidden/06_example/params.py",
                 "tests/hidden/06_example/conftest.py", "tests/hidden/06_example/probes.py",
                 "tests/hidden/06_example/test_06_example.py", "tests/mutants/06_example/mutants.yaml",
                 "tests/variants/06_example/variants.yaml", "assignments/06_example/06_example.ipynb",
                 "assignments/06_example/public/plan.json"):
        assert (kit / path).is_file(), path
    again = _cli(kit, "new", AID)
    assert again.returncode == 1 and "already in grading_config.yaml" in again.stderr, again.stderr

    score, _ = _score(kit, kit / "solutions/06_example/06_example.ipynb", tmp_path / "solution")
    assert score == 1
    score, tests = _score(kit, kit / "assignments/06_example/06_example.ipynb", tmp_path / "release")
    assert score == 0 and "NotImplementedError" in next(iter(tests.values()))["output"]

    # the instructor adds a check: a test function and its line in the config, nothing else
    with (kit / "tests/hidden/06_example/test_06_example.py").open("a") as f:
        f.write('\n\ndef test_double_keeps_the_dtype__catches_a_float64_result(probe, plan):\n'
                '    """double(x) keeps x\'s dtype."""\n'
                '    out = probe("double", "double(x)").tensor("out", dtype=None)\n'
                '    check(out.dtype == plan.inputs["double.x"].dtype, f"the result is {out.dtype}")\n')
    with (kit / "grading_config.yaml").open("a") as f:
        f.write("      test_double_keeps_the_dtype__catches_a_float64_result: {points: 2, group: basics}\n")
    released = _cli(kit, "release", AID)
    assert released.returncode == 0, released.stdout + released.stderr
    score, tests = _score(kit, kit / "solutions/06_example/06_example.ipynb", tmp_path / "solution2")
    assert score == 3 and len(tests) == 2
    mutant = tmp_path / "float64.py"
    mutant.write_text("import torch\n\n\ndef double(x):\n    return 2 * x.double()\n")
    score, tests = _score(kit, mutant, tmp_path / "mutant")
    assert score == 1, tests
    assert "the result is torch.float64" in \
        tests["double keeps the dtype"]["output"]

    # the guide's mutant, then its calibration: the record names the suite it graded with
    (kit / "tests/mutants/06_example/mutants.yaml").write_text(
        'times_three:\n  why: multiplies by 3\n  find: "    return 2 * x"\n  replace: "    return 3 * x"\n'
        '  fails: [test_double_returns_twice_its_input__catches_a_wrong_factor]\n'
        '  message: "is not 2 * x"\n')
    calibrated = _cli(kit, "calibrate", AID, "--seeds", "2")
    assert calibrated.returncode == 0, calibrated.stdout + calibrated.stderr
    record = json.loads((kit / "benchmarks/calibration/06_example.json").read_text())
    assert record["flags"] == [] and set(record["subjects"]) == {"reference", "times_three"}, record
    from autograder import fingerprint
    assert record["suite"] == fingerprint.suite(kit, AID)

    checked = _cli(kit, "check", kit / "solutions/06_example/06_example.ipynb")
    assert checked.returncode == 0 and "1/1 points" in checked.stdout, checked.stdout + checked.stderr

    assert _tree_digest(kit / "autograder") == package
    assert _fingerprints(kit) == before
    second = _cli(kit, "grade-batch", quiz, "--assignment", "05_quiz", "--out", tmp_path / "quiz_out")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 graded now, 1 kept from before" in second.stdout, second.stdout


def test_new_refuses_a_bad_id_and_leaves_no_trace(kit):
    config = (kit / "grading_config.yaml").read_text()
    bad = _cli(kit, "new", "six")
    assert bad.returncode == 1 and "is not an assignment id" in bad.stderr, bad.stderr
    taken = _cli(kit, "new", "03_network")
    assert taken.returncode == 1 and "already in grading_config.yaml" in taken.stderr
    (kit / "solutions/07_x").mkdir()
    (kit / "solutions/07_x/07_x.ipynb").write_text("{}")
    exists = _cli(kit, "new", "07_x")
    assert exists.returncode == 1 and "already has files here: solutions/07_x/07_x.ipynb" in exists.stderr
    assert (kit / "grading_config.yaml").read_text() == config
    assert not (kit / "tests/hidden/07_x").exists()


def test_a_params_block_without_its_model_is_one_clear_message(kit, tmp_path):
    """The failure this issue started from: a config block whose params have no model was an
    internal error (AttributeError) in `release`."""
    made = _cli(kit, "new", AID)
    assert made.returncode == 0, made.stderr
    (kit / "tests/hidden/06_example/params.py").unlink()
    shutil.rmtree(kit / "assignments/06_example/public")
    proc = _cli(kit, "release", AID)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "06_example has params in grading_config.yaml but no params model" in proc.stderr
    assert "tests/hidden/06_example/params.py" in proc.stderr and "internal error" not in proc.stderr


# --- growing an existing assignment ---------------------------------------------------------------

EXERCISE = '''def fraction_correct(scores, labels):
    """The fraction of rows of `scores` whose highest score is at `labels`' class, as a float."""
    ### BEGIN SOLUTION
    return (scores.argmax(dim=1) == labels).float().mean().item()
    ### END SOLUTION'''
PROBE = '''

def fraction_correct(r, args, device):
    r.ship("result", r.student.fraction_correct(r.input("fc.scores"), r.input("fc.labels")))
'''
PLAN_FIND = '''    inputs["forward.x"] = 2 * torch.randn(p.forward_batch, p.forward_sizes[0], generator=g)
'''
PLAN_ADD = '''    specs.append(ProbeSpec("fraction_correct", "fraction_correct"))
    inputs["fc.scores"] = torch.randn(50, 4, generator=g)
    inputs["fc.labels"] = torch.randint(0, 4, (50,), generator=g)
'''
CHECK = '''

def test_fraction_correct__catches_counts_or_tensors(probe, plan):
    """fraction_correct(scores, labels) is the share of rows whose top score is the label's."""
    ev = probe("fraction_correct", "fraction_correct")
    check(ev.typename("result") == "builtins.float", f"it returned a {ev.kind('result')}, not a float")
    expected = (plan.inputs["fc.scores"].argmax(1) == plan.inputs["fc.labels"]).double().mean().item()
    check(abs(ev.value("result", float) - expected) < 1e-6, "it is not the fraction of correct rows")
'''
CONFIG_LINE = "      test_fraction_correct__catches_counts_or_tensors: {points: 1, group: accuracy}\n"


def add_exercise_to_03(root):
    """The README guide's example: one exercise added to 03_network by hand, as an instructor
    would. Returns {file: lines added}."""
    import nbformat

    solution = root / "solutions/03_network/03_network.ipynb"
    nb = nbformat.read(solution, as_version=4)
    cell = nbformat.v4.new_code_cell(EXERCISE)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "fraction_correct", "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}
    text = nbformat.v4.new_markdown_cell("## 11. Counting correct answers\n\nWrite "
                                         "`fraction_correct(scores, labels)`.")
    nb.cells[-2:-2] = [text, cell]  # before "Before you submit"
    nbformat.write(nb, solution)
    hidden = root / "tests/hidden/03_network"
    with (hidden / "probes.py").open("a") as f:
        f.write(PROBE)
    conftest = (hidden / "conftest.py").read_text()
    assert conftest.count(PLAN_FIND) == 1
    (hidden / "conftest.py").write_text(conftest.replace(PLAN_FIND, PLAN_FIND + PLAN_ADD))
    with (hidden / "test_accuracy.py").open("a") as f:
        f.write(CHECK)
    config = (root / "grading_config.yaml").read_text()
    block = config.index("\n  03_network:")
    tests = config.index("\n    tests:\n", block) + len("\n    tests:\n")
    (root / "grading_config.yaml").write_text(config[:tests] + CONFIG_LINE + config[tests:])
    return {"solutions/03_network/03_network.ipynb (a markdown and a code cell)": 2 + len(EXERCISE.splitlines()),
            "tests/hidden/03_network/probes.py": len(PROBE.splitlines()) - 1,
            "tests/hidden/03_network/conftest.py": len(PLAN_ADD.splitlines()),
            "tests/hidden/03_network/test_accuracy.py": len(CHECK.splitlines()) - 1,
            "grading_config.yaml (the 03_network block)": 1}


def test_one_exercise_added_to_03_touches_only_its_folders(kit, tmp_path):
    before = {f.relative_to(kit): f.read_bytes() for f in kit.rglob("*") if f.is_file()}
    others = _fingerprints(kit)
    add_exercise_to_03(kit)
    released = _cli(kit, "release", "03_network")
    assert released.returncode == 0, released.stdout + released.stderr
    after = {f.relative_to(kit): f.read_bytes() for f in kit.rglob("*") if f.is_file()}
    changed = sorted(str(f) for f in after if before.get(f) != after[f])
    edited = [f for f in changed if not f.startswith("assignments/03_network/")]  # the release's output
    assert edited == ["grading_config.yaml", "solutions/03_network/03_network.ipynb",
                      "tests/hidden/03_network/conftest.py", "tests/hidden/03_network/probes.py",
                      "tests/hidden/03_network/test_accuracy.py"], changed
    others.pop("03_network")
    assert {a: v for a, v in _fingerprints(kit).items() if a != "03_network"} == others
    proc = _cli(kit, "grade", kit / "solutions/03_network/03_network.ipynb", "--out", tmp_path / "g")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "g/results.json").read_text())
    assert results["score"] == results["max_score"] > 0
    assert "fraction correct" in [t["name"] for t in results["tests"]]
