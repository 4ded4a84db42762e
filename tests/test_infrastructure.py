"""An infrastructure failure is never a score (ARCHITECTURE invariant 9): when the sandbox cannot
start, `grade` exits 2 and writes no results.json, a batch marks the row `error` (never 0 points)
and retries it, and Gradescope's run_autograder says AUTOGRADER MISCONFIGURED (tests/test_exports.py).

Each path is forced: a machine with no tier (AUTOGRADER_SANDBOX_REFUSE plays one), a tier asked for
by name that cannot run, a sandbox whose harness fails before any student code runs (warm and
cold), and a batch worker whose sandbox fails for one student."""
import csv
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder import batch, sandbox
from autograder.config import load_config
from autograder.errors import GraderError
from kit import ROOT, require_tier, run_cli

ALICE = ROOT / "examples" / "03_network" / "alice_correct.ipynb"
NO_TIER = {"AUTOGRADER_SANDBOX_REFUSE": "bwrap,landlock,uid"}


def test_no_tier_at_all_is_an_error_of_the_grader_and_no_score(tmp_path):
    proc = run_cli("grade", ALICE, "--out", tmp_path / "out", env=NO_TIER)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = " ".join(proc.stderr.split())
    assert "error of the grader, nothing graded" in said and "no sandbox tier can run here" in said
    for tier in ("bwrap:", "landlock:", "uid:"):  # each tier's reason, and how to go on
        assert tier in said, said
    assert "--sandbox none" in said and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_tier_asked_for_by_name_that_cannot_run(tmp_path):
    proc = run_cli("grade", ALICE, "--out", tmp_path / "out", "--sandbox", "landlock",
                   env={"AUTOGRADER_SANDBOX_REFUSE": "landlock"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the landlock sandbox cannot run here" in " ".join(proc.stderr.split())
    assert not (tmp_path / "out").exists()


def test_a_batch_with_no_tier_grades_nobody(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "alice.ipynb").write_bytes(ALICE.read_bytes())
    proc = run_cli("grade-batch", klass, "--assignment", "03_network", "--out", tmp_path / "out",
                   env=NO_TIER)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no sandbox tier can run here" in " ".join(proc.stderr.split())
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_the_tier_chosen_is_said_once_and_recorded(tmp_path):
    proc = run_cli("grade", ALICE, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tier = sandbox.select("auto", "cpu", _secrets())
    assert proc.stderr.count("sandbox: ") == 1 and f"sandbox: {tier.name}" in proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["extra_data"]["sandbox"] == tier.name
    assert f"Graded in the {tier.name} sandbox." in results["output"]


def _secrets():
    from autograder import judge
    return judge.secret_paths(ROOT)


@pytest.mark.skipif(os.geteuid() != 0, reason="the confined tiers drop to a uid only as root")
@pytest.mark.parametrize("start", ["warm", "cold"])
def test_a_sandbox_that_fails_before_student_code_is_not_a_score(tmp_path, monkeypatch, start):
    """The harness refuses to start (here: a policy that would leave it root, which confine.apply
    refuses) before any student code runs, so its ready record never reaches the channel. In the
    warm start the zygote is given up and a cold start tried; when that fails too, the grading is
    an error of the grader: no results.json, however good the submission."""
    from autograder import grade, probe

    require_tier("landlock")
    policy = probe.confine_policy
    monkeypatch.setattr(probe, "confine_policy", lambda *a, **k: {**policy(*a, **k), "uid": 0})
    monkeypatch.setenv("AUTOGRADER_SANDBOX_START", start)
    with pytest.raises(probe.SandboxFailed, match="could not start the grading process") as caught:
        grade.main(submission=ALICE, out=tmp_path / "out", sandbox="landlock", device="cpu")
    assert "no student code ran" in str(caught.value)
    assert isinstance(caught.value, GraderError)
    assert not (tmp_path / "out").exists()


def _jobs(n: int) -> list[dict]:
    return [{"student": f"s{i}", "key": f"k{i}", "submission": f"s{i}.ipynb"} for i in range(n)]


def test_a_batch_row_whose_sandbox_failed_is_retried_then_marked_error(monkeypatch):
    """A grader error on one worker is tried again (a sandbox that failed once may start the next
    time); one that keeps failing ends as `error` with its reason and no score, and the rest of
    the class is graded."""
    calls: dict[str, int] = {}

    def flaky(job):
        calls[job["student"]] = calls.get(job["student"], 0) + 1
        if job["student"] == "s0" or (job["student"] == "s1" and calls["s1"] == 1):
            return {"student": job["student"], "key": job["key"], "status": "error", "retry": True,
                    "seconds": 0.1, "reason": "error of the grader, not a grade: the sandbox died"}
        return {"student": job["student"], "key": job["key"], "status": "graded", "score": 5.0,
                "max_score": 5.0, "seconds": 0.1, "groups": {}, "failed_checks": []}

    monkeypatch.setattr(batch, "grade_job", flaky)
    done = []
    limits = load_config(ROOT / "grading_config.yaml").limits
    with ThreadPoolExecutor(2) as pool:
        batch._run(_jobs(3), pool, 2, None, {}, limits, done.append, 2, None)
    rows = {d["student"]: d for d in done}
    assert calls == {"s0": 3, "s1": 2, "s2": 1}
    assert rows["s0"]["status"] == "error" and "score" not in rows["s0"]
    assert "the sandbox died" in rows["s0"]["reason"]
    assert rows["s1"]["status"] == rows["s2"]["status"] == "graded"


def test_an_error_row_has_no_score_in_the_gradebook(tmp_path):
    rows = [batch.write_student(tmp_path / "s0", {"student": "s0", "key": "k", "status": "error",
                                                  "seconds": 1.0, "reason": "error of the grader"},
                                "03_network")]
    batch.write_gradebook(tmp_path / "gradebook.csv", rows, ["network"])
    with open(tmp_path / "gradebook.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["status"] == "error" and row["total"] == "" and row["network"] == ""
