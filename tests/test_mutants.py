"""Every known-wrong submission loses exactly the checks it should, with the right diagnosis."""
import pytest
import yaml

from autograder.config import load_config
from autograder.report import pretty_name
from kit import ROOT, grade_many, patched_submissions

MUTANTS = yaml.safe_load((ROOT / "tests/mutants/03_network/mutants.yaml").read_text())


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_source):
    folder = tmp_path_factory.mktemp("mutants")
    return grade_many(patched_submissions(reference_source, MUTANTS, folder), folder / "out")


def test_at_least_eight_mutants():
    assert len(MUTANTS) >= 8


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_loses_exactly_its_points(graded, name):
    cfg = load_config(ROOT / "grading_config.yaml").assignment("03_network")
    m = MUTANTS[name]
    assert m["fails"], f"mutant {name} must lose something"
    results = graded[name]
    failed = {t["name"] for t in results["tests"] if t["status"] == "failed"}
    expected = {pretty_name(n) for n in m["fails"]}
    # pretty names collapse parameters only by text, so compare on (name, number) via config order
    failed_full = {t["extra_data"]["check"] for t in results["tests"] if t["status"] == "failed"}
    assert failed_full == set(m["fails"]), f"{name}: failed {sorted(failed_full)}"
    assert failed == expected
    lost = sum(cfg.tests[n].points for n in m["fails"])
    assert results["score"] == pytest.approx(cfg.max_points - lost)
    first = next(t for t in results["tests"] if t["extra_data"]["check"] == m["fails"][0])
    assert m["message"] in first["output"], first["output"]
