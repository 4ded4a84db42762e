"""`autograder check`: a student's own run of the public checks, and what the public bundle ships.

The bundle (assignments/<id>/public/) is what students get; the hidden suite must stay out of it.
"""
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from autograder import public
from autograder.calibrate import apply_edits
from autograder.check import main as check_main
from autograder.config import load_config
from autograder.extract import extract
from kit import ROOT, load_manifests, run_cli

CFG = load_config(ROOT / "grading_config.yaml")
WITH_PUBLIC = [aid for aid in CFG.assignments if public.public_names(CFG, aid)]
MUTANTS = load_manifests("mutants")
VARIANTS = load_manifests("variants")


def _solution(aid):
    return ROOT / "solutions" / aid / CFG.assignment(aid).notebook


def _reference(aid) -> str:
    return extract(_solution(aid), _solution(aid), aid).source


@pytest.mark.parametrize("aid", WITH_PUBLIC)
def test_reference_passes_every_public_check_and_nothing_hidden_runs(aid):
    result = check_main(notebook=_solution(aid))
    names = {t.name for t in result.score.tests}
    assert names == public.public_names(CFG, aid)
    failed = {t.name: t.message for t in result.score.tests if not t.passed}
    assert not failed, failed
    total = sum(t.points for t in CFG.assignment(aid).tests.values())
    assert result.score.max_total + result.hidden_points == total and result.hidden_points > 0


_CHECKED: dict = {}


def checked(aid, name, kind="mutant"):
    """`check` on a known submission (a mutant or a correct variant), once per session."""
    key = (aid, name, kind)
    if key not in _CHECKED:
        entry = (MUTANTS if kind == "mutant" else VARIANTS)[aid][name]
        with tempfile.TemporaryDirectory() as folder:
            notebook = Path(folder) / f"{aid}.py"  # an edit of the extracted module, as in calibrate
            notebook.write_text(apply_edits(_reference(aid), entry, name))
            _CHECKED[key] = check_main(notebook=notebook, assignment_id=aid)
    return _CHECKED[key]


def caught(result) -> bool:
    return any(not t.passed for t in [*result.score.tests, *result.selfchecks.tests])


def _public_mutants():
    for aid in WITH_PUBLIC:
        wanted = public.public_names(CFG, aid)
        for name, entry in MUTANTS.get(aid, {}).items():
            if set(entry["fails"]) & wanted:
                yield pytest.param(aid, name, id=f"{aid}-{name}")


@pytest.mark.parametrize("aid,name", list(_public_mutants()))
def test_a_mutant_fails_exactly_its_public_checks(aid, name):
    """Every known bug that a public check catches is caught by `check` too, with the same message."""
    entry = MUTANTS[aid][name]
    wanted = public.public_names(CFG, aid)
    result = checked(aid, name)
    failed = {t.name: t.message for t in result.score.tests if not t.passed}
    must = set(entry["fails"]) & wanted
    may = set(entry.get("may_fail", {})) & wanted
    waiting = set(entry.get("not_graded", [])) & wanted  # they depend on one it is charged with
    assert must <= set(failed) <= must | may | waiting, failed
    first = entry["fails"][0]
    if first in failed:
        assert entry["message"] in failed[first]


@pytest.mark.parametrize("aid,name", [pytest.param(a, n, id=f"{a}-{n}") for a in WITH_PUBLIC
                                      for n in VARIANTS.get(a, {})])
def test_a_correct_variant_passes_every_public_check_and_self_check(aid, name):
    """No correct solution is told it is wrong: not by a public check, not by a self-check."""
    result = checked(aid, name, "variant")
    wrong = {t.name: t.message for t in [*result.score.tests, *result.selfchecks.tests] if not t.passed}
    assert not wrong and result.score.tests


def _coverage_in_readme() -> dict[str, tuple[int, int]]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("<!-- check-coverage -->"):text.index("<!-- /check-coverage -->")]
    return {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"^\| `(\w+)` \| (\d+) of (\d+) \|", table, re.M)}


@pytest.mark.parametrize("aid", list(CFG.assignments))
def test_the_readme_states_which_share_of_the_mutants_check_catches(aid):
    """Each known bug run through `check`: caught when a public check or a self-check fails. The
    README's table says how many, per assignment; the ones that need the judge's secrets (the
    reference trainer, the quiz's key) are what is left."""
    names = list(MUTANTS.get(aid, {}))
    found = sum(caught(checked(aid, n)) for n in names) if aid in WITH_PUBLIC else 0
    assert _coverage_in_readme()[aid] == (found, len(names))


@pytest.mark.parametrize("name", ["no_zero_grad", "no_step", "graph_kept_alive", "no_eval_in_accuracy",
                                  "sum_not_mean", "no_train_mode", "reshaped_targets"])
def test_the_common_trainer_bugs_are_caught_before_grading(name):
    """03's trainer is checked against the judge's reference loop only when graded; the self-checks
    still catch its bugs from the student's own code, and the later ones name the bug as the grader
    does."""
    result = checked("03_network", name)
    failed = [t for t in result.selfchecks.tests if not t.passed]
    assert failed, [t.message for t in result.selfchecks.tests]
    said = {"no_zero_grad": "optimizer.zero_grad()", "sum_not_mean": MUTANTS["03_network"][name]["message"],
            "no_train_mode": "call model.train()", "reshaped_targets": "the targets are reshaped"}
    if name in said:
        assert any(said[name] in t.message for t in failed), [t.message for t in failed]


@pytest.mark.parametrize("name", ["sigmoid_on_output", "relu_as_min"])
def test_a_wrong_forward_pass_is_named_before_grading(name):
    """The graded forward checks recompute the network with the judge's reference forward pass,
    which stays hidden; the self-checks compare what flows between the student's own layers."""
    failed = [t.message for t in checked("03_network", name).selfchecks.tests if not t.passed]
    assert failed and all(MUTANTS["03_network"][name]["message"] in m for m in failed), failed


def test_a_dataset_that_draws_one_image_per_digit_fails_a_public_check(tmp_path):
    """A new generator for every image draws every image of a digit alike: the notebook then reaches
    10% accuracy, the grader takes the dataset's point, and `check` says why before any training."""
    source = _reference("04_digits_cnn")
    find = "make_digit_image(digit, rng) for digit in self.labels"
    assert source.count(find) == 1
    notebook = tmp_path / "04_digits_cnn.py"
    notebook.write_text(source.replace(find, "make_digit_image(digit, np.random.default_rng(seed)) "
                                             "for digit in self.labels"))
    result = check_main(notebook=notebook, assignment_id="04_digits_cnn")
    failed = {t.name: t.message for t in [*result.score.tests, *result.selfchecks.tests] if not t.passed}
    assert list(failed) == ["test_dataset_is_deterministic_per_seed"], failed
    assert "is the same image" in next(iter(failed.values()))


def test_a_renamed_trainer_is_named_by_check(tmp_path):
    notebook = tmp_path / "03_network.py"
    notebook.write_text(_reference("03_network").replace("def trainer(", "def train("))
    proc = run_cli("check", notebook, "--assignment", "03_network")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the grader calls `trainer`, which your notebook does not define" in out
    assert "all pass" not in out
    hints = [t.message for t in check_main(notebook=notebook, assignment_id="03_network").selfchecks.tests]
    assert any("your notebook defines no `trainer`, which the grader calls: was it renamed" in m
               for m in hints), hints


def test_the_cli_prints_the_table_and_the_points_at_stake(tmp_path):
    aid = "03_network"
    entry = MUTANTS[aid]["default_init"]  # biases start at PyTorch's default, not zero: public
    assert set(entry["fails"]) & public.public_names(CFG, aid)
    notebook = tmp_path / "mine.py"
    notebook.write_text(apply_edits(_reference(aid), entry))
    proc = run_cli("check", notebook, "--assignment", aid)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    public_points = sum(t.points for n, t in CFG.assignment(aid).tests.items() if t.public)
    total = sum(t.points for t in CFG.assignment(aid).tests.values())
    assert "✗" in out and f"/{public_points:g} points" in out
    assert f"The other {total - public_points:g} points are checked only when your notebook is graded" in out


def test_check_needs_no_sandbox(tmp_path):
    """A student's laptop has no bubblewrap: check must not look for it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    proc = run_cli("check", _solution("01_tensors"), env={"PATH": str(bin_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all pass" in proc.stdout


def test_from_a_notebook_cell(capsys):
    from autograder.check import check
    result = check(_solution("04_digits_cnn"))
    assert result.score.total == result.score.max_total > 0
    assert "public checks" in capsys.readouterr().out


def test_quiz_has_no_public_checks_and_says_so():
    proc = run_cli("check", _solution("05_quiz"))
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0 and "has no public checks" in out, proc.stdout + proc.stderr
    assert "the grader can read it" in out


# --- what a beginner reads -------------------------------------------------------------------------

def _student_copy(tmp_path, name="03_network.ipynb", edit=None):
    """The course folder as a student has it: the config, the release and its public checks."""
    import shutil
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "03_network", course / "assignments" / "03_network")
    shutil.copy(ROOT / "grading_config.yaml", course / "grading_config.yaml")
    notebook = course / "assignments" / "03_network" / name
    if name != "03_network.ipynb":
        shutil.copy(course / "assignments" / "03_network" / "03_network.ipynb", notebook)
    if edit:
        edit(notebook)
    return notebook


def test_an_unsaved_notebook_gets_a_did_you_save_hint(tmp_path):
    notebook = _student_copy(tmp_path)
    proc = run_cli("check", notebook)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    assert "every answer cell of 03_network.ipynb on disk is still as released: did you save" in out
    # a stub says what to do, names the class and its heading, and ends in no dangling colon
    messages = [t.message for t in check_main(notebook=notebook).score.tests]
    stub = ("`Network.__init__` is not written yet: line 7 of the answer cell under “2. "
            "Network(sizes, activation=\"sigmoid\")” still raises NotImplementedError. Replace that "
            "line with your code")
    assert any(stub in m for m in messages), messages
    assert not any("`network`" in m or m.rstrip().endswith(":") for m in messages), messages


def test_a_copy_of_the_notebook_is_not_the_one_graded(tmp_path):
    proc = run_cli("check", _student_copy(tmp_path, "03_network-Copy1.ipynb"))
    out = " ".join(proc.stdout.split())
    assert ("only a notebook named 03_network.ipynb (assignments/03_network/03_network.ipynb) is "
            "graded; you checked 03_network-Copy1.ipynb") in out


def test_a_notebook_saved_under_another_assignments_name_is_flagged(tmp_path):
    proc = run_cli("check", _student_copy(tmp_path, "04_digits_cnn.ipynb"))
    out = " ".join(proc.stdout.split())
    assert ("this notebook is 03_network (its metadata says so), but its file is named like "
            "04_digits_cnn") in out


def test_a_merge_conflicted_notebook_is_named_as_such(tmp_path):
    def conflict(path):
        text = path.read_text().splitlines(keepends=True)
        path.write_text("".join(text[:5] + ["<<<<<<< HEAD\n"] + text[5:9] + ["=======\n"]
                                + text[5:9] + [">>>>>>> other\n"] + text[9:]))
    proc = run_cli("check", _student_copy(tmp_path, "mine.ipynb", conflict))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    said = " ".join(proc.stderr.split())
    assert "mine.ipynb cannot be read as a notebook" in said and "git's conflict markers" in said
    assert "cannot tell which assignment" not in said


def test_a_missing_notebook_from_a_cell_is_one_message(capsys, tmp_path, monkeypatch):
    from autograder.check import check
    monkeypatch.chdir(tmp_path)
    assert check("03_network.ipynb") is None
    out = capsys.readouterr().out
    assert "notebook not found: 03_network.ipynb" in out and "Traceback" not in out


@pytest.mark.parametrize("args,said", [
    (["missing.ipynb"], "notebook not found"),
    (["solutions/03_network/03_network.ipynb", "--public", "tests"], "public checks of 03_network are not here"),
    (["solutions/03_network/03_network.ipynb", "--public", "assignments/01_tensors/public"], "another release"),
])
def test_user_errors_are_one_message(args, said):
    proc = run_cli("check", *args)
    assert proc.returncode == 1 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# --- what the bundle ships ------------------------------------------------------------------------

def _bundle_text(aid) -> str:
    folder = public.folder(ROOT, aid)
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.iterdir()) if p.suffix in (".py", ".json"))


@pytest.mark.parametrize("aid", WITH_PUBLIC)
def test_the_bundle_holds_no_hidden_check(aid):
    folder = public.folder(ROOT, aid)
    selfcheck = [public.selfcheck_file(aid)] if (ROOT / "tests/hidden" / aid / public.SELFCHECK_SOURCE).is_file() else []
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("test_")) == \
        sorted(["inputs.safetensors", "params.py", "plan.json", "probes.py", *selfcheck])
    text = "\n".join(p.read_text() for p in sorted(folder.glob("test_*.py")))
    wanted = {n.split("[")[0] for n in public.public_names(CFG, aid)}
    defined = set(re.findall(r"^def (test_\w+)", text, re.M))
    assert defined == wanted
    text = _bundle_text(aid)
    hidden = {n.split("[")[0] for n in CFG.assignment(aid).tests} - wanted
    for name in hidden:
        assert name not in text, f"the hidden check {name} leaks into the public bundle"
    # the judge's own code and data: the conftest and its reference computations
    for secret in ("def make_plan", "reference_trainer", "def network_forward", "secrets[", "def perceptron("):
        assert secret not in text
    a = CFG.assignment(aid)
    if a.secret_seed is not None:
        assert str(a.secret_seed) not in text


def test_the_quiz_key_is_never_shipped():
    key = yaml.safe_load((ROOT / "tests/hidden/05_quiz/key.yaml").read_text())
    assert not public.folder(ROOT, "05_quiz").exists()
    assert key  # and there is a key to leak


@pytest.mark.parametrize("aid", WITH_PUBLIC)
def test_the_bundle_ships_only_the_public_probes(aid):
    meta = json.loads((public.folder(ROOT, aid) / "plan.json").read_text())
    plan_names = {p["name"] for p in meta["probes"]}
    assert plan_names and meta["checks"] == sorted(public.public_names(CFG, aid))
    if aid == "03_network":  # the fit probes carry the training data of the held-out split
        assert not plan_names & {"fit_gaussians", "fit_digits"}
    if aid == "04_digits_cnn":  # the held-out images never leave the instructor
        assert "train" not in plan_names
        from safetensors.torch import load_file
        shipped = set(load_file(public.folder(ROOT, aid) / "inputs.safetensors"))
        assert "held.x" not in shipped and not shipped & {"train.x", "train.y"}


def test_a_check_that_asks_for_the_reference_is_refused(tmp_path):
    """`ref` is the judge's reference code (e.g. the trainer a student must write): marking a check
    that uses it public must fail the release, not ship the reference."""
    from autograder.errors import UserError
    cfg = CFG.model_copy(deep=True)
    cfg.assignment("03_network").tests["test_default_activation_is_sigmoid"].public = True
    with pytest.raises(UserError, match="asks for ref"):
        public.build(ROOT, cfg, "03_network")
