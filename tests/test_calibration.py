"""`autograder calibrate`: the CI subset of the sweep flags nothing, and the committed records are
the evidence the config's thresholds cite: current, complete, at least 50 seeds, clean."""
import json

import pytest

from autograder.calibrate import RECORDS, thresholds
from autograder.config import load_config
from kit import CI_SEEDS, ROOT, load_manifests, run_cli

CFG = load_config(ROOT / "grading_config.yaml")
ASSIGNMENTS = list(CFG.assignments)
FULL_SWEEP = 50


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_ci_sweep_flags_nothing(calibrated, aid):
    """Over the CI seeds, the reference and every variant score full marks, every mutant loses
    exactly its checks with its message, and no threshold lets a mutant through."""
    run = calibrated(aid)
    assert run.record["seeds"] == CI_SEEDS
    assert run.record["flags"] == [], run.record["flags"]
    kinds = {info["kind"] for info in run.record["subjects"].values()}
    assert kinds == {"reference", "variant", "mutant"}


def _record(aid):
    path = ROOT / RECORDS / f"{aid}.json"
    assert path.exists(), f"no calibration record: run `autograder calibrate {aid}`"
    return json.loads(path.read_text())


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_committed_record_is_the_full_sweep_of_the_current_config(aid):
    record = _record(aid)
    assert record["seeds"] >= FULL_SWEEP and record["flags"] == []
    subjects = {"reference", *load_manifests("variants").get(aid, {}), *load_manifests("mutants")[aid]}
    assert set(record["subjects"]) == subjects, "mutants or variants changed since: rerun the sweep"
    assert all(info["as_intended"] == info["seeds"] == record["seeds"]
               for info in record["subjects"].values())
    limits = thresholds(CFG.params(aid))
    assert set(record["thresholds"]) == set(limits)
    for path, limit in limits.items():
        entry = record["thresholds"][path]
        assert (entry["value"], entry["bound"]) == (limit.value, limit.bound), \
            f"{path} changed since the sweep: rerun `autograder calibrate {aid}`"
        assert entry["checks"], f"{path} was never measured"


THRESHOLDED = [aid for aid in ASSIGNMENTS if thresholds(CFG.params(aid))]


def test_only_the_quiz_has_no_threshold():
    """The quiz compares exact answers with a key; everything else has numbers to justify."""
    assert set(ASSIGNMENTS) - set(THRESHOLDED) == {"05_quiz"}


@pytest.mark.parametrize("aid", THRESHOLDED)
def test_thresholds_cite_their_record(aid):
    for path, limit in thresholds(CFG.params(aid)).items():
        assert f"{RECORDS.as_posix()}/{aid}.json" in limit.calibration, path


def test_a_rerun_resumes_from_the_kept_seeds(calibrated, tmp_path):
    """An interrupted or repeated sweep loses nothing: with the same --results folder, seeds already
    graded with the same kit, config and subjects are read back instead of graded again."""
    first = calibrated("05_quiz")
    record = tmp_path / "again.json"
    proc = run_cli("calibrate", "05_quiz", "--seeds", CI_SEEDS, "--record", record,
                   "--results", first.folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming: {CI_SEEDS} of {CI_SEEDS} seeds already graded" in proc.stderr
    again = json.loads(record.read_text())
    assert again["resumed"] == CI_SEEDS and "read back from" in again["report"]
    assert again["subjects"].keys() == first.record["subjects"].keys()
    assert [s["as_intended"] for s in again["subjects"].values()] == \
        [s["as_intended"] for s in first.record["subjects"].values()]
    # one more seed is graded, the kept ones are not
    proc = run_cli("calibrate", "05_quiz", "--seeds", CI_SEEDS + 1, "--no-record",
                   "--results", first.folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming: {CI_SEEDS} of {CI_SEEDS + 1} seeds already graded" in proc.stderr
    assert f"seed {CI_SEEDS} graded (1/1" in proc.stderr


def test_grading_with_an_uncalibrated_threshold_says_so(tmp_path):
    """A threshold changed in the config grades at once (the instructor may mean it), but `grade`
    says which ones the committed sweep does not support, before anyone reads a score."""
    import yaml

    from autograder.calibrate import unsupported_thresholds
    from autograder.config import load_config

    raw = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    raw["assignments"]["03_network"]["params"]["digits"]["accuracy"]["value"] = 0.5
    config = tmp_path / "grading_config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    lines = unsupported_thresholds(ROOT, load_config(config), "03_network")
    assert len(lines) == 1 and "digits.accuracy is 0.5 (lower bound)" in lines[0], lines
    assert "its `calibration` text still cites 0.85" in lines[0], lines
    assert unsupported_thresholds(ROOT, CFG, "03_network") == []
    assert unsupported_thresholds(tmp_path, load_config(config), "03_network") == []  # no records kept
    proc = run_cli("grade", ROOT / "examples/03_network/alice_correct.ipynb", "--out", tmp_path / "out",
                   "--config", config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "thresholds the committed calibration does not support" in proc.stderr
    assert "digits.accuracy is 0.5" in proc.stderr and "autograder calibrate 03_network" in proc.stderr


def test_calibration_text_citing_a_number():
    from autograder.calibrate import cites

    text = "1e-4 sits 950x above the first and 7,700x below; correct 0.916-0.986 (0.066 above 0.85)"
    for value in (1e-4, 7700, 0.916, 0.986, 0.85, 950):
        assert cites(text, value), value
    for value in (0.5, 1e-3, 0.9, 16):
        assert not cites(text, value), value


def test_a_changed_suite_is_named_against_its_record(tmp_path):
    """A record keeps the fingerprint of the hidden suite it graded with; once the suite changes,
    `grade` says the committed sweep no longer covers it. Editing a self-check (no points) does not
    count, nor does another assignment's suite."""
    import json
    import shutil

    from autograder import fingerprint
    from autograder.calibrate import RECORDS, unsupported_thresholds

    hidden = tmp_path / "tests" / "hidden"
    shutil.copytree(ROOT / "tests" / "hidden" / "03_network", hidden / "03_network",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "tests" / "hidden" / "conftest.py", hidden / "conftest.py")
    assert fingerprint.suite(tmp_path, "03_network") == fingerprint.suite(ROOT, "03_network")
    record = json.loads((ROOT / RECORDS / "03_network.json").read_text())
    record["suite"] = fingerprint.suite(ROOT, "03_network")
    (tmp_path / RECORDS).mkdir(parents=True)
    (tmp_path / RECORDS / "03_network.json").write_text(json.dumps(record))
    assert unsupported_thresholds(tmp_path, CFG, "03_network") == []
    (hidden / "03_network" / "selfcheck.py").write_text("# a hint reworded\n")
    (hidden / "04_digits_cnn").mkdir()
    (hidden / "04_digits_cnn" / "test_new.py").write_text("def test_x():\n    pass\n")
    assert unsupported_thresholds(tmp_path, CFG, "03_network") == []
    with (hidden / "03_network" / "test_network.py").open("a") as f:
        f.write("\n# a check edited\n")
    assert unsupported_thresholds(tmp_path, CFG, "03_network") == [
        "03_network: its hidden suite (tests/hidden/03_network/) changed since the committed sweep"]
