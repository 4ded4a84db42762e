"""Correct solutions written differently from the reference score full marks."""
import pytest
import yaml

from autograder.config import load_config
from kit import ROOT, grade_many, patched_submissions

VARIANTS = yaml.safe_load((ROOT / "tests/variants/03_network/variants.yaml").read_text())


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_source):
    folder = tmp_path_factory.mktemp("variants")
    return grade_many(patched_submissions(reference_source, VARIANTS, folder), folder / "out")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_correct_variant_scores_full_marks(graded, name):
    results = graded[name]
    lost = {t["extra_data"]["check"]: t["output"] for t in results["tests"] if t["status"] == "failed"}
    assert not lost, lost
    assert results["score"] == load_config(ROOT / "grading_config.yaml").assignment("03_network").max_points
