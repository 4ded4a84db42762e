"""Every known-wrong submission loses exactly the checks it should, with the right diagnosis.

A manifest entry lists the checks the mutant is charged with (`fails`), the checks that are then
"not graded" because they depend on one of those (`not_graded`: the judge's one root cause, charged
once), and, where calibration shows an outcome genuinely straddles a threshold for that bug, the
checks it may fail either way (`may_fail`, each with the evidence). Everything else must pass.
"""
import pytest

from autograder.config import load_config
from kit import ROOT, load_manifests

MANIFESTS = load_manifests("mutants")
CASES = [(aid, name) for aid, manifest in MANIFESTS.items() for name in manifest]


@pytest.mark.parametrize("aid", list(MANIFESTS))
def test_at_least_eight_mutants(aid):
    assert len(MANIFESTS[aid]) >= 8


@pytest.mark.parametrize("aid, name", CASES)
def test_mutant_loses_exactly_its_points(calibrated, aid, name):
    cfg = load_config(ROOT / "grading_config.yaml").assignment(aid)
    m = MANIFESTS[aid][name]
    must, may = set(m["fails"]), set(m.get("may_fail", {}))
    waiting = set(m.get("not_graded", []))
    assert must, f"mutant {name} must lose something"
    assert must | may | waiting <= set(cfg.tests), "the manifest names a check the config does not have"
    results = calibrated(aid).results(0, name)  # seed 0: the config's own seeds
    failed = {t["extra_data"]["check"] for t in results["tests"] if t["status"] == "failed"}
    dependent = {t["extra_data"]["check"] for t in results["tests"]
                 if t["status"] == "failed" and t["extra_data"].get("depends_on")}
    charged = failed - dependent
    assert must <= charged <= must | may, f"{name}: charged with {sorted(charged)}"
    assert waiting - may <= dependent <= waiting | may, f"{name}: not graded {sorted(dependent)}"
    lost = sum(cfg.tests[n].points for n in failed)
    assert results["score"] == pytest.approx(cfg.max_points - lost)
    outputs = {t["extra_data"]["check"]: t["output"] for t in results["tests"]}
    for check, words in {m["fails"][0]: m["message"], **m.get("messages", {})}.items():
        assert words in outputs[check], outputs[check]
