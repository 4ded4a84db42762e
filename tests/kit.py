"""Helpers of the kit's own tests: run the CLI in a fresh process, as a user would."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=ROOT, timeout=600, env=None):
    """Run `python -m autograder ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("AUTOGRADER_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def grade_many(paths, out: Path, assignment="03_network", extra=(), env=None):
    """Grade several submissions in one grader process; return {stem: results.json dict}."""
    proc = run_cli("grade", *paths, "--assignment", assignment, "--out", out, *extra, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if len(paths) == 1:
        return {Path(paths[0]).stem: json.loads((out / "results.json").read_text())}
    return {Path(p).stem: json.loads((out / Path(p).stem / "results.json").read_text()) for p in paths}


def grade_split(paths, out: Path, processes: int = 2, assignment="03_network", extra=(), env=None):
    """grade_many in `processes` grader processes side by side (one per core), each grading every
    n-th submission into the same `out`; for suites that grade many submissions."""
    chunks = [paths[i::processes] for i in range(processes)]
    assert all(len(c) > 1 for c in chunks), "each process needs two submissions or more"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("AUTOGRADER_DEBUG", None)
    procs = [subprocess.Popen([sys.executable, "-m", "autograder", "grade", *map(str, chunk),
                               "--assignment", assignment, "--out", str(out), *map(str, extra)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=full_env) for chunk in chunks]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=1800)
        assert proc.returncode == 0, stdout + stderr
    return {Path(p).stem: json.loads((out / Path(p).stem / "results.json").read_text()) for p in paths}




def load_manifests(kind: str) -> dict[str, dict]:
    """tests/<kind>/<assignment>/<kind>.yaml for every assignment, e.g. kind="mutants"."""
    import yaml
    return {path.parent.name: yaml.safe_load(path.read_text())
            for path in sorted((ROOT / "tests" / kind).glob(f"*/{kind}.yaml"))}


CI_SEEDS = 1  # the CI subset of the calibration sweep (the config's own seed); the full sweep is 50


class Calibrated:
    """One `autograder calibrate` run: its record, and every results.json it graded."""

    def __init__(self, record: dict, results: Path, log: str):
        self.record, self.folder, self.log = record, results, log

    def results(self, seed: int, subject: str) -> dict:
        return json.loads((self.folder / f"seed{seed}" / subject / "results.json").read_text())


def calibrate(aid: str, folder: Path, seeds: int = CI_SEEDS) -> Calibrated:
    """Run the calibration sweep of `aid` as a user would; its exit code says whether it flagged
    anything, so the caller judges the record rather than the code."""
    record = folder / "record.json"
    proc = run_cli("calibrate", aid, "--seeds", seeds, "--workers", 2, "--record", record,
                   "--results", folder / "results", timeout=3600)
    assert proc.returncode in (0, 1) and record.exists(), proc.stdout + proc.stderr[-4000:]
    (folder / "log.txt").write_text(proc.stderr)
    return read_calibrated(folder)


def read_calibrated(folder: Path) -> Calibrated:
    """A run `calibrate` made in `folder` (another pytest-xdist worker's, say), read back."""
    return Calibrated(json.loads((folder / "record.json").read_text()), folder / "results",
                      (folder / "log.txt").read_text())


def require_tier(tier: str) -> None:
    """Skip the calling test where `tier`'s self-test fails here; in CI, fail it instead: CI must
    exercise every tier."""
    import pytest

    from autograder import judge, sandbox
    from autograder.errors import SandboxUnavailable

    try:
        sandbox.select(tier, "cpu", judge.secret_paths(ROOT))
    except SandboxUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the {tier} tier must run in CI: {exc}")
        pytest.skip(f"the {tier} tier cannot run here: {exc}")
