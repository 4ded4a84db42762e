"""05_quiz: the key stays with the judge, answers are read generously and said how, explanations
follow the config's flag."""
import importlib.util
import json

import nbformat
import pytest
import yaml

from autograder.extract import extract
from kit import ROOT, grade_many, require_tier

AID = "05_quiz"
HIDDEN = ROOT / "tests/hidden" / AID
RELEASE = ROOT / "assignments" / AID / f"{AID}.ipynb"
SOLUTION = ROOT / "solutions" / AID / f"{AID}.ipynb"
KEY = {int(n): e for n, e in yaml.safe_load((HIDDEN / "key.yaml").read_text()).items()}


def _judge():
    spec = importlib.util.spec_from_file_location("quiz_judge", HIDDEN / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_at_least_fifteen_statements_with_both_answers():
    assert len(KEY) >= 15 and sorted(KEY) == list(range(1, len(KEY) + 1))
    answers = [e["answer"] for e in KEY.values()]
    assert all(type(a) is bool for a in answers) and True in answers and False in answers
    assert all(e["statement"].strip() and e["why"].strip() for e in KEY.values())


@pytest.mark.parametrize("notebook", [SOLUTION, RELEASE], ids=["solution", "release"])
def test_notebook_lists_the_keys_statements_in_order(notebook):
    text = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells
                     if c.cell_type == "markdown")
    positions = [text.find(f"{n}. {e['statement']}") for n, e in KEY.items()]
    assert all(p >= 0 for p in positions), [n for n, p in zip(KEY, positions) if p < 0]
    assert positions == sorted(positions)


def test_release_holds_no_answer():
    """The release's ANSWERS are all None, and nothing of the key's answers or reasons is in it."""
    text = RELEASE.read_text()
    for entry in KEY.values():
        assert entry["why"][:40] not in text
    namespace: dict = {}
    exec(extract(RELEASE, RELEASE, AID).source, namespace)  # the kit's own release: trusted
    assert namespace["ANSWERS"] == {n: None for n in KEY}


def test_the_key_never_enters_the_plan():
    """The probe gets no inputs and no arguments: nothing of the key can reach the sandbox."""
    from autograder.config import load_config

    plan = _judge().make_plan(load_config(ROOT / "grading_config.yaml"), "cpu")
    assert plan.inputs == {} and plan.secrets == {}
    assert [(s.function, s.args) for s in plan.probes] == [("answers", {})]
    assert not plan.uses_torch


@pytest.mark.parametrize("written, read", [
    ({"t": "bool", "v": True}, True), ({"t": "bool", "v": False}, False),
    ({"t": "str", "v": "yes"}, True), ({"t": "str", "v": " T "}, True),
    ({"t": "str", "v": "False"}, False), ({"t": "str", "v": "n"}, False),
    ({"t": "int", "v": 1}, True), ({"t": "int", "v": 0}, False),
    ({"t": "float", "v": 1.0}, True), ({"t": "str", "v": "0"}, False),
    ({"t": "none"}, None), ({"t": "str", "v": "maybe"}, None),
    ({"t": "int", "v": 2}, None), ({"t": "str", "v": ""}, None),
    ({"t": "object", "type": "builtins.list"}, None), ({"t": "bool", "v": "yes"}, None),
    ({"t": "numpy", "type": "numpy.bool", "v": True}, True),
    ({"t": "numpy", "type": "numpy.int64", "v": 0}, False),
    ({"t": "numpy", "type": "numpy.int64", "v": 3}, None),
    ("garbage", None),
])
def test_answer_spellings(written, read):
    reading = _judge().read_answer(written)
    assert reading.value is read
    if read is None:
        assert reading.problem
    elif written["t"] != "bool":
        assert f"was read as {read}" in reading.how


def _reference_with(extra: str, folder, name):
    source = extract(SOLUTION, SOLUTION, AID).source + "\n" + extra + "\n"
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def _config(folder, show: bool):
    data = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    data["assignments"][AID]["params"]["show_explanations"] = show
    path = folder / f"config_{show}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("show", [False, True])
def test_explanations_follow_the_config_flag(tmp_path, show):
    spelled = _reference_with("ANSWERS = {str(n): ('yes' if v else 'no') for n, v in ANSWERS.items()}"
                              "\nANSWERS['99'] = True", tmp_path, "spelled")
    wrong = _reference_with("ANSWERS[4] = not ANSWERS[4]", tmp_path, "wrong")
    results = grade_many([spelled, wrong], tmp_path / "out", assignment=AID,
                         extra=("--config", _config(tmp_path, show)))
    text = json.dumps(results)
    assert (KEY[1]["why"] in text) is show and ("Why:" in text) is show
    spelled, wrong = results["spelled"], results["wrong"]
    assert spelled["score"] == len(KEY)
    outputs = [t["output"] for t in spelled["tests"]]
    assert all("'yes' was read as True" in o or "'no' was read as False" in o for o in outputs)
    assert "key '1' was read as statement 1" in spelled["output"]
    assert "'99'" in spelled["output"] and "ignored" in spelled["output"]
    assert wrong["score"] == len(KEY) - 1


def _search_for_the_key(repo) -> str:
    """A hostile submission: look for the key where the repository is, then anywhere it can reach,
    and answer with it if found; otherwise answer nothing."""
    return f'''
import os
def _find():
    known = {str(repo / "tests/hidden/05_quiz/key.yaml")!r}
    if os.path.exists(known):
        return known
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if top.count("/") < 5 and os.path.join(top, d) not in
                   ("/proc", "/sys", "/dev", "/usr")]
        if "key.yaml" in files and "05_quiz" in top:
            return os.path.join(top, "key.yaml")
    return None
found = _find()
ANSWERS = {{n: None for n in range(1, 21)}}
try:  # the landlock tier shows the name, and refuses the bytes
    lines = open(found).read().splitlines() if found else []
except OSError:
    lines = []
number = None
for line in lines:
    stripped = line.strip()
    if stripped[:-1].isdigit() and stripped.endswith(":") and not line.startswith(" "):
        number = int(stripped[:-1])
    elif stripped.startswith("answer:") and number:
        ANSWERS[number] = stripped.split(":")[1].strip() == "true"
'''


@pytest.mark.parametrize("tier", ["bwrap", "landlock"])
def test_a_submission_cannot_find_the_key_in_the_sandbox(tmp_path, tier):
    """Under bubblewrap the key is nowhere to be seen; in the landlock tier its name can be seen
    but not its bytes: either way the search reads nothing and scores 0. Without the sandbox the
    same search reads the key and scores full marks, which is what `--sandbox none` gives up
    (README, Security model)."""
    require_tier(tier)
    thief = tmp_path / "thief.py"
    thief.write_text(_search_for_the_key(ROOT))
    sandboxed = grade_many([thief], tmp_path / tier, assignment=AID, extra=("--sandbox", tier))
    assert sandboxed["thief"]["score"] == 0
    unprotected = grade_many([thief], tmp_path / "none", assignment=AID, extra=("--sandbox", "none"))
    assert unprotected["thief"]["score"] == len(KEY)
