"""`autograder export gradescope` and `autograder export student`, used as their users would.

The Gradescope zip is unpacked into a fake /autograder tree (a temp folder with Gradescope's layout)
and its own run_autograder grades a correct, a buggy and a hostile submission there, with the kit
code from the zip (not this checkout's) and the real sandbox.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from autograder import public
from autograder.config import load_config
from kit import ROOT, run_cli

SCHEMA = json.loads((ROOT / "autograder/schemas/gradescope_results.schema.json").read_text())
EXAMPLES = ROOT / "examples" / "03_network"
CFG = load_config(ROOT / "grading_config.yaml")


@pytest.fixture(scope="module")
def gradescope_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    proc = run_cli("export", "gradescope", "03_network", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _fake_autograder(tmp: Path, zip_path: Path, submitted: list[Path]) -> Path:
    """Gradescope's layout: source/ holds the unpacked zip, submission/ the student's upload."""
    home = tmp / "autograder"
    (home / "results").mkdir(parents=True)
    (home / "submission").mkdir()
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(home / "source")
    for info in zipfile.ZipFile(zip_path).infolist():  # zipfile drops the mode bits: restore them
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(home / "source" / info.filename, mode)
    for f in submitted:
        shutil.copy(f, home / "submission" / f.name)
    return home


def _run_autograder(home: Path, env=None) -> subprocess.CompletedProcess:
    full = {**os.environ, "AUTOGRADER_HOME": str(home), "AUTOGRADER_PYTHON": sys.executable, **(env or {})}
    full.pop("AUTOGRADER_ROOT", None)
    return subprocess.run([str(home / "source" / "run_autograder")], capture_output=True, text=True,
                          env=full, timeout=600, cwd=home)


def test_the_zip_has_gradescopes_files_and_no_solution(gradescope_zip):
    names = set(zipfile.ZipFile(gradescope_zip).namelist())
    assert {"setup.sh", "run_autograder", "requirements.txt", "kit/grading_config.yaml",
            "kit/autograder-kit.json", "kit/assignments/03_network/03_network.ipynb",
            "kit/tests/hidden/03_network/probes.py", "kit/tests/hidden/conftest.py"} <= names
    assert not [n for n in names if n.startswith(("kit/solutions", "kit/tests/mutants"))
                or "01_tensors" in n or "05_quiz" in n or "__pycache__" in n]
    with zipfile.ZipFile(gradescope_zip) as z:
        manifest = json.loads(z.read("kit/autograder-kit.json"))
        requirements = [line for line in z.read("requirements.txt").decode().splitlines()
                        if line and not line.startswith("#")]
        assert (z.getinfo("run_autograder").external_attr >> 16) & 0o111
    from autograder import __version__
    assert manifest["kit_version"] == __version__ and manifest["assignment"] == "03_network"
    assert f"torch=={manifest['pins']['torch']}" in requirements
    assert len(requirements) >= 10 and all("==" in r for r in requirements)


def test_setup_sh_is_valid_bash(gradescope_zip, tmp_path):
    with zipfile.ZipFile(gradescope_zip) as z:
        (tmp_path / "setup.sh").write_bytes(z.read("setup.sh"))
    proc = subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "apt-get install -y -qq bubblewrap" in (tmp_path / "setup.sh").read_text()


@pytest.mark.parametrize("submission,expected", [
    ("alice_correct.ipynb", 28),
    ("bob_forgot_zero_grad.ipynb", 19),
    ("mallory_cheats.ipynb", 0),
])
def test_run_autograder_grades_into_results_json(gradescope_zip, tmp_path, submission, expected):
    home = _fake_autograder(tmp_path, gradescope_zip, [EXAMPLES / submission])
    proc = _run_autograder(home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"from {home / 'source' / 'kit'}" in proc.stdout  # the zip's kit, not this checkout
    results = json.loads((home / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == expected and results["max_score"] == 28
    if expected == 19:
        assert any("zero_grad" in t["output"] for t in results["tests"] if t["status"] == "failed")


def test_a_submission_named_otherwise_or_missing(gradescope_zip, tmp_path):
    renamed = tmp_path / "my work.ipynb"
    shutil.copy(EXAMPLES / "alice_correct.ipynb", renamed)
    home = _fake_autograder(tmp_path / "one", gradescope_zip, [renamed])
    assert _run_autograder(home).returncode == 0
    assert json.loads((home / "results" / "results.json").read_text())["score"] == 28
    empty = _fake_autograder(tmp_path / "none", gradescope_zip, [])
    assert _run_autograder(empty).returncode == 0
    results = json.loads((empty / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "upload 03_network.ipynb" in results["output"]


def test_an_oversized_submission_is_refused_before_it_is_parsed(gradescope_zip, tmp_path):
    """Gradescope's path checks the size before any parse, as `grade` does: a notebook past the
    limit is a graded failure that says so (the bytes are not JSON at all, so a parse would fail
    with another message)."""
    from autograder.extract import MAX_SUBMISSION_BYTES

    big = tmp_path / "03_network.ipynb"
    big.write_bytes(b"{" + b" " * MAX_SUBMISSION_BYTES)
    home = _fake_autograder(tmp_path / "big", gradescope_zip, [big])
    proc = _run_autograder(home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((home / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0
    assert f"over the {MAX_SUBMISSION_BYTES // 1024} KiB limit" in json.dumps(results)


def test_a_mismatch_fails_loudly_and_grades_nothing(gradescope_zip, tmp_path):
    """An edited hidden suite, or another kit version, must not produce scores."""
    home = _fake_autograder(tmp_path / "edited", gradescope_zip, [EXAMPLES / "alice_correct.ipynb"])
    test_file = home / "source/kit/tests/hidden/03_network/test_accuracy.py"
    test_file.write_text(test_file.read_text() + "\n# edited after export\n")
    proc = _run_autograder(home)
    assert proc.returncode == 2 and "MISCONFIGURED" in proc.stderr and "fingerprint" in proc.stderr
    assert not (home / "results" / "results.json").exists()

    home = _fake_autograder(tmp_path / "version", gradescope_zip, [EXAMPLES / "alice_correct.ipynb"])
    manifest = home / "source/kit/autograder-kit.json"
    data = json.loads(manifest.read_text())
    data["kit_version"], data["pins"]["torch"] = "0.0.1", "1.0.0"
    manifest.write_text(json.dumps(data))
    proc = _run_autograder(home)
    assert proc.returncode == 2 and "built by autograder 0.0.1" in proc.stderr
    assert "torch" in proc.stderr and "torch==1.0.0" in proc.stderr
    assert not (home / "results" / "results.json").exists()


def test_no_sandbox_is_a_misconfigured_autograder_not_a_zero(gradescope_zip, tmp_path):
    """Where no sandbox tier can start (bwrap refused by the container, no Landlock, a kit readable
    by the sandbox's uid), Gradescope must show a failed autograder, never a 0 for the student."""
    home = _fake_autograder(tmp_path / "nosandbox", gradescope_zip, [EXAMPLES / "alice_correct.ipynb"])
    proc = _run_autograder(home, env={"AUTOGRADER_SANDBOX_REFUSE": "bwrap,landlock,uid"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "AUTOGRADER MISCONFIGURED" in proc.stderr and "no sandbox tier can run here" in proc.stderr
    assert not (home / "results" / "results.json").exists()


def test_the_kit_is_made_readable_by_root_only(gradescope_zip, tmp_path):
    """The `uid` tier's guarantee rests on file permissions: run_autograder takes the kit away from
    every other uid before grading, as setup.sh did when the image was built."""
    home = _fake_autograder(tmp_path / "perms", gradescope_zip, [])  # nothing to grade: fast
    proc = _run_autograder(home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if os.geteuid() == 0:
        for path in [home / "source", *(home / "source").rglob("*")]:
            assert not path.lstat().st_mode & 0o077, path


@pytest.mark.parametrize("args,said", [
    (["export", "gradescope", "99_nothing"], "99_nothing"),
    (["export", "gradescope", "03_network", "--out", "x.tar"], "must name a .zip"),
    (["export", "gradescope", "03_network", "--sandbox", "docker"], "must be one of auto, bwrap, landlock, uid, none"),
])
def test_export_user_errors(args, said, tmp_path):
    proc = run_cli(*args, cwd=ROOT)
    assert proc.returncode == 1 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# --- the student kit --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "kit"
    proc = run_cli("export", "student", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_student_kit_holds_no_secret(student_kit):
    files = [p for p in student_kit.rglob("*") if p.is_file()]
    assert not (student_kit / "tests").exists() and not (student_kit / "solutions").exists()
    text = "\n".join(p.read_text(errors="replace") for p in files if p.suffix != ".safetensors")
    assignment_text = "\n".join(p.read_text(errors="replace") for p in files
                                 if p.suffix != ".safetensors" and "autograder" not in p.relative_to(student_kit).parts)
    for aid, a in CFG.assignments.items():
        if a.secret_seed is not None:
            assert str(a.secret_seed) not in text
        for name, spec in a.tests.items():
            if not spec.public:  # the package's own code may cite check names as examples
                assert name.split("[")[0] not in assignment_text, name
    assert "secret_seed" not in (student_kit / "grading_config.yaml").read_text()
    key = yaml.safe_load((ROOT / "tests/hidden/05_quiz/key.yaml").read_text())
    reasons = [str(v.get("why", "")) for v in key.values() if isinstance(v, dict)]
    assert reasons and not any(r and r in text for r in reasons)
    config = load_config(student_kit / "grading_config.yaml")
    for aid, a in config.assignments.items():
        assert set(a.tests) == public.public_names(CFG, aid)


def test_a_student_checks_with_the_kit_alone(student_kit, tmp_path):
    """In the student kit, `check` works (from the kit's folder) and `grade` says it cannot."""
    notebook = student_kit / "assignments" / "03_network" / "03_network.ipynb"
    shutil.copy(EXAMPLES / "alice_correct.ipynb", notebook)
    env = {"PYTHONPATH": str(student_kit)}
    proc = run_cli("check", notebook, cwd=student_kit, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    from autograder.config import load_config
    tests = load_config(ROOT / "grading_config.yaml").assignment("03_network").tests
    public_points = sum(t.points for t in tests.values() if t.public)
    total = sum(t.points for t in tests.values())
    assert f"{public_points:g}/{public_points:g} points, all pass" in out
    assert f"The other {total - public_points:g} points" in out
    elsewhere = run_cli("check", notebook, cwd=tmp_path, env=env)  # the kit is found from the notebook
    assert elsewhere.returncode == 0 and f"{public_points:g}/{public_points:g} points" in elsewhere.stdout, \
        elsewhere.stderr
    proc = run_cli("grade", notebook, cwd=student_kit, env=env)
    assert proc.returncode == 1 and "hidden suite of 03_network is not in" in proc.stderr


def test_the_student_kit_refuses_a_used_folder(tmp_path):
    (tmp_path / "taken.txt").write_text("x")
    proc = run_cli("export", "student", "--out", tmp_path)
    assert proc.returncode == 1 and "not an empty folder" in proc.stderr
