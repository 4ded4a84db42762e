"""Correct solutions written differently from the reference score full marks, in every assignment."""
import pytest

from autograder.config import load_config
from kit import ROOT, load_manifests

MANIFESTS = load_manifests("variants")
CASES = [(aid, name) for aid, manifest in MANIFESTS.items() for name in manifest]


def test_every_assignment_has_variants():
    assert set(MANIFESTS) == set(load_config(ROOT / "grading_config.yaml").assignments)
    assert all(len(manifest) >= 5 for manifest in MANIFESTS.values())


@pytest.mark.parametrize("aid, name", CASES)
def test_correct_variant_scores_full_marks(calibrated, aid, name):
    results = calibrated(aid).results(0, name)  # seed 0: the config's own seeds
    lost = {t["extra_data"]["check"]: t["output"] for t in results["tests"] if t["status"] == "failed"}
    assert not lost, lost
    assert results["score"] == load_config(ROOT / "grading_config.yaml").assignment(aid).max_points
