"""Correct solutions written differently from the reference score full marks, in every assignment."""
import pytest
import yaml

from autograder.config import load_config
from kit import ROOT, grade_many, patched_submissions

MANIFESTS = {path.parent.name: yaml.safe_load(path.read_text())
             for path in sorted((ROOT / "tests/variants").glob("*/variants.yaml"))}
CASES = [(aid, name) for aid, manifest in MANIFESTS.items() for name in manifest]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_sources):
    results = {}
    for aid, manifest in MANIFESTS.items():
        folder = tmp_path_factory.mktemp(f"variants-{aid}")
        paths = patched_submissions(reference_sources[aid], manifest, folder)
        results[aid] = grade_many(paths, folder / "out", assignment=aid)
    return results


def test_every_assignment_with_training_has_variants():
    assert {"03_network", "04_digits_cnn"} <= set(MANIFESTS)


@pytest.mark.parametrize("aid, name", CASES)
def test_correct_variant_scores_full_marks(graded, aid, name):
    results = graded[aid][name]
    lost = {t["extra_data"]["check"]: t["output"] for t in results["tests"] if t["status"] == "failed"}
    assert not lost, lost
    assert results["score"] == load_config(ROOT / "grading_config.yaml").assignment(aid).max_points
