"""`autograder export otter`: the master notebook, put through real `otter assign` and `otter run`.

The reference solution must score full marks under otter, and a known mutant (03_network's
`no_zero_grad`) must lose exactly the checks its manifest says, with the judge's diagnosis in otter's
output. otter-grader comes with `make setup` (the `otter` extra); otter runs the notebook in a
Jupyter kernel of this venv, and each otter test calls the kit's hidden check through
autograder.exports.otter_bridge. About 30 s on 2 cores.
"""
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import yaml
import pytest

from autograder.config import load_config
from autograder.errors import UserError
from autograder.exports import otter
from kit import ROOT, load_manifests, run_cli

AID = "03_network"
MUTANT = "no_zero_grad"
CHECK_CALL = re.compile(r"""check\(['"]%s['"], ['"]([^'"]+)['"], globals\(\)\)""" % AID)


def _config():
    return load_config(ROOT / "grading_config.yaml").assignment(AID)


def _groups(tests) -> dict[str, dict[str, float]]:
    groups = defaultdict(dict)
    for name, spec in tests.items():
        groups[spec.group][name] = spec.points
    return groups


def _otter(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "otter", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"otter {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    """export otter, then `otter assign`, which also grades its solution notebook with the tests
    and fails unless that scores full marks."""
    work = tmp_path_factory.mktemp("otter")
    env = {**os.environ, "AUTOGRADER_ROOT": str(ROOT),
           # only this venv's kernel: a user's own `python3` kernelspec could name another Python
           "JUPYTER_DATA_DIR": str(work / "jupyter")}
    env.pop("AUTOGRADER_CONFIG", None)
    master = otter.main(assignment_id=AID, out=work / "master", config_path=None)
    _otter("assign", master, work / "dist", cwd=work, env=env)
    zips = list((work / "dist" / "autograder").glob("*-autograder_*.zip"))
    assert len(zips) == 1, zips
    return work, env, master, zips[0], work / "dist" / "autograder" / master.name


def _otter_run(assigned, submission: Path, out: Path) -> dict:
    """`otter run` on a submission; {group: (score, max_score, output)}."""
    work, env, _, zip_path, _ = assigned
    out.mkdir()
    _otter("run", "-a", zip_path, "-o", out, submission, cwd=work, env=env)
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: (t["score"], t["max_score"], t["output"]) for t in results["tests"]
            if "max_score" in t}


def _failed_checks(output: str) -> set[str]:
    """The hidden checks whose otter test failed, read from doctest's report."""
    return set(re.findall(r"Failed example:\s*\n\s*" + CHECK_CALL.pattern, output))


def test_master_notebook_holds_every_check_once_with_its_points(tmp_path):
    acfg = _config()
    nb = nbformat.read(otter.main(assignment_id=AID, out=tmp_path, config_path=None), as_version=4)
    assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("# ASSIGNMENT CONFIG")
    tests = [c.source for c in nb.cells if c.cell_type == "code" and "# BEGIN TEST CONFIG" in c.source]
    seen = {}
    for source in tests:
        config = re.search(r'""" # BEGIN TEST CONFIG\n(.*?)""" # END TEST CONFIG', source, re.S)
        meta = yaml.safe_load(config.group(1))
        (name,) = CHECK_CALL.findall(source)
        assert name not in seen, f"{name} exported twice"
        seen[name] = meta
        assert meta["hidden"] is True
    assert set(seen) == set(acfg.tests)
    for name, meta in seen.items():
        assert meta["points"] == acfg.tests[name].points, name
    questions = [c.source for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    assert sorted(q.split("name: ")[1].split("\n")[0] for q in questions) == sorted(_groups(acfg.tests))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "### BEGIN SOLUTION" not in code and code.count("# BEGIN SOLUTION") == code.count("# END SOLUTION") > 0
    assert not any("nbgrader" in c.metadata for c in nb.cells)
    # otter grades what the kit grades: setup cells and answers; the demos are skipped
    graded = [c.source for c in nb.cells if c.cell_type == "code"
              and "otter_ignore" not in c.metadata.get("tags", [])]
    assert any("from torch import nn" in s for s in graded)
    assert sum("# BEGIN SOLUTION" in s for s in graded) == 3
    assert all("# BEGIN SOLUTION" in s or "import" in s or "BEGIN TEST CONFIG" in s for s in graded)


def test_unknown_assignment_is_one_clear_message(tmp_path):
    with pytest.raises(UserError, match="unknown assignment '99_nope'"):
        otter.main(assignment_id="99_nope", out=tmp_path, config_path=None)
    proc = run_cli("export", "otter", "99_nope", "--out", tmp_path)
    assert proc.returncode == 1
    assert "unknown assignment" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_otter_gives_the_reference_full_marks(assigned, tmp_path):
    _, _, _, _, reference = assigned
    scores = _otter_run(assigned, reference, tmp_path / "reference")
    groups = _groups(_config().tests)
    assert set(scores) == set(groups)
    for group, (score, max_score, output) in scores.items():
        assert max_score == pytest.approx(sum(groups[group].values())), group
        assert score == max_score, f"{group}: {output}"


def test_otter_takes_the_mutants_points_and_names_its_bug(assigned, tmp_path):
    _, _, _, _, reference = assigned
    m = load_manifests("mutants")[AID][MUTANT]
    nb = nbformat.read(reference, as_version=4)
    hits = [c for c in nb.cells if c.cell_type == "code" and m["find"] in c.source]
    assert len(hits) == 1 and hits[0].source.count(m["find"]) == 1
    hits[0].source = hits[0].source.replace(m["find"], m["replace"])
    (tmp_path / "mutant").mkdir()
    submission = tmp_path / "mutant" / reference.name
    nbformat.write(nb, submission)

    scores = _otter_run(assigned, submission, tmp_path / "results")
    acfg = _config()
    groups = _groups(acfg.tests)
    failed = set().union(*(_failed_checks(output) for _, _, output in scores.values()))
    must, may = set(m["fails"]), set(m.get("may_fail", {}))
    waiting = set(m.get("not_graded", []))  # not graded: they depend on one of `must`
    assert must | waiting - may <= failed <= must | may | waiting, f"failed {sorted(failed)}"
    for group, (score, max_score, output) in scores.items():
        lost = sum(pts for name, pts in groups[group].items() if name in failed)
        assert score == pytest.approx(max_score - lost), f"{group}: {output}"
    total = sum(score for score, _, _ in scores.values())
    assert total == pytest.approx(acfg.max_points - sum(acfg.tests[n].points for n in failed))
    assert total < acfg.max_points
    trainer_output = scores[acfg.tests[m["fails"][0]].group][2]
    assert m["message"] in trainer_output, trainer_output
