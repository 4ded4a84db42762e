"""grading_config.yaml: validated as one model; errors print as `path: message`; in step with the suite."""
import subprocess
import sys

import pytest
import yaml

from autograder.config import load_config, parse_config
from autograder.errors import UserError
from kit import ROOT, run_cli


def test_repo_config_is_valid():
    cfg = load_config(ROOT / "grading_config.yaml")
    assert cfg.assignment("03_network").max_points > 0


def _raw():
    return yaml.safe_load((ROOT / "grading_config.yaml").read_text())


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["assignments"]["03_network"]["tests"]
     ["test_default_activation_is_sigmoid"].update(points=-1), "assignments.03_network.tests.test_default_activation_is_sigmoid.points"),
    (lambda d: d["limits"].update(probe_timeout_s=0), "limits.probe_timeout_s"),
    (lambda d: d.update(device="tpu"), "device"),
    (lambda d: d["assignments"]["03_network"]["params"]["digits"]["accuracy"].pop("calibration"),
     "assignments.03_network.params.digits.accuracy.calibration"),
    (lambda d: d["assignments"]["03_network"]["params"]["replay"].update(n_samples=50),
     "assignments.03_network.params.replay"),
    (lambda d: d.update(typo_key=1), "typo_key"),
])
def test_bad_config_names_the_path(mutate, path):
    data = _raw()
    mutate(data)
    with pytest.raises(UserError) as err:
        parse_config(data)
    assert f"  - {path}:" in str(err.value)


def test_bad_config_on_the_cli_is_one_message_and_exit_1(tmp_path):
    data = _raw()
    data["limits"]["memory_mb"] = "lots"
    bad = tmp_path / "grading_config.yaml"
    bad.write_text(yaml.safe_dump(data))
    proc = run_cli("grade", ROOT / "examples/03_network/alice_correct.ipynb", "--config", bad)
    assert proc.returncode == 1
    assert "limits.memory_mb:" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unparseable_yaml_is_a_user_error(tmp_path):
    bad = tmp_path / "grading_config.yaml"
    bad.write_text("version: 1\nassignments: [\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)


ASSIGNMENTS = sorted(p.name for p in (ROOT / "tests/hidden").iterdir() if (p / "probes.py").exists())


def test_every_hidden_suite_is_configured():
    assert set(ASSIGNMENTS) == set(load_config(ROOT / "grading_config.yaml").assignments)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_config_tests_match_the_hidden_suite(aid):
    """Every hidden test has points in the config, and every configured test exists."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           str(ROOT / "tests/hidden" / aid)], capture_output=True, text=True,
                          cwd=ROOT)
    collected = {line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line}
    configured = set(load_config(ROOT / "grading_config.yaml").assignment(aid).tests)
    assert collected and collected == configured, (collected ^ configured)
