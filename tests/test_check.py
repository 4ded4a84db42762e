"""`autograder check`: a student's own run of the public checks, and what the public bundle ships.

The bundle (assignments/<id>/public/) is what students get; the hidden suite must stay out of it.
"""
import json
import os
import re
import sys

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


def _public_mutants():
    for aid in WITH_PUBLIC:
        wanted = public.public_names(CFG, aid)
        for name, entry in MUTANTS.get(aid, {}).items():
            if set(entry["fails"]) & wanted:
                yield pytest.param(aid, name, id=f"{aid}-{name}")


@pytest.mark.parametrize("aid,name", list(_public_mutants()))
def test_a_mutant_fails_exactly_its_public_checks(tmp_path, aid, name):
    """Every known bug that a public check catches is caught by `check` too, with the same message."""
    entry = MUTANTS[aid][name]
    wanted = public.public_names(CFG, aid)
    notebook = tmp_path / f"{aid}.py"  # a mutant is an edit of the extracted module, as in calibrate
    notebook.write_text(apply_edits(_reference(aid), entry, name))
    result = check_main(notebook=notebook, assignment_id=aid)
    failed = {t.name: t.message for t in result.score.tests if not t.passed}
    must = set(entry["fails"]) & wanted
    may = set(entry.get("may_fail", {})) & wanted
    assert must <= set(failed) <= must | may, failed
    first = entry["fails"][0]
    if first in failed:
        assert entry["message"] in failed[first]


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
    assert proc.returncode == 0 and "has no public checks" in proc.stdout, proc.stdout + proc.stderr


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
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("test_")) == \
        ["inputs.safetensors", "plan.json", "probes.py"]
    text = _bundle_text(aid)
    wanted = {n.split("[")[0] for n in public.public_names(CFG, aid)}
    defined = set(re.findall(r"^def (test_\w+)", text, re.M))
    assert defined == wanted
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


def test_a_check_that_asks_for_the_reference_is_refused(tmp_path):
    """`ref` is the judge's reference code (e.g. the trainer a student must write): marking a check
    that uses it public must fail the release, not ship the reference."""
    from autograder.errors import UserError
    cfg = CFG.model_copy(deep=True)
    cfg.assignment("03_network").tests["test_default_activation_is_sigmoid"].public = True
    with pytest.raises(UserError, match="asks for ref"):
        public.build(ROOT, cfg, "03_network")
