"""A submission that rewrites the probes' machinery in its own process gains at most the points of
the `reported: true` checks, for every assignment.

Student code shares its process with the executor (autograder/executor.py), which follows the
judge's recipe and ships what the student's code returned. So a submission can rewrite anything the
executor does, and `FORGER` below rewrites all it can reach while keeping its honest twin's answers:
it ships the caller's inputs as they were before the call, makes results follow (or ignore) the
judge's write to their source, reports tensors on the device they were sent to and needing no
gradient, says grad mode was off during every watched call, and claims library type names its values
do not have (a tensor calling itself an int, a list a tuple). Each twin has bugs in reported checks
and in recomputed ones; each attack is its twin plus `FORGER`, graded through the real CLI beside it.
The attack must gain exactly the reported points its twin lost, and nothing else.
"""
import pytest

from autograder.calibrate import apply_edits
from autograder.config import load_config
from autograder.extract import extract
from kit import ROOT, grade_many, load_manifests

CFG = load_config(ROOT / "grading_config.yaml")
MUTANTS = load_manifests("mutants")

FORGER = '''
def _forge():
    import sys
    executor = sys.modules.get("executor") or sys.modules.get("autograder.executor")
    if executor is None:
        return
    import numpy
    import torch

    run, before, called = executor._Run, {}, set()
    let, ship, put, follow = run.do_let, run.do_ship, run.do_set, executor.run
    tensor_node, encode = executor._tensor, executor._encode

    def names(node):  # the student's functions the recipe calls
        if isinstance(node, dict):
            if isinstance(node.get("student"), str):
                called.add(node["student"])
            for v in node.values():
                names(v)
        elif isinstance(node, list):
            for v in node:
                names(v)

    def forged_run(recipe, student, inputs, device):
        names(recipe)
        return follow(recipe, student, inputs, device)

    def forged_let(self, s):  # remember every input as it was, before any call
        let(self, s)
        value = self.slots[s["into"]]
        if isinstance(value, (torch.Tensor, numpy.ndarray)):
            before[s["into"]] = value.copy() if isinstance(value, numpy.ndarray) else value.detach().clone()

    def forged_ship(self, s):
        slot = s["value"].get("slot") if isinstance(s["value"], dict) else None
        if slot in before:  # the caller's input after the call: ship it as it was
            self.data[s["as"]] = executor.encode(before[slot], s["as"], self.tensors)
            return
        if s["as"] == "after" and "copy_from_numpy" in called:  # a copy must not follow the write
            self.data["after"] = self.data["before"]
            return
        ship(self, s)

    def forged_set(self, s):  # memory "shared" with the source: the write shows in every result
        put(self, s)
        if "copy_from_numpy" in called:
            return
        for slot, value in self.slots.items():
            if slot not in before and isinstance(value, (torch.Tensor, numpy.ndarray)) \\
                    and tuple(value.shape) == tuple(self.arg(s["target"]).shape):
                value[tuple(s["index"])] = s["value"]

    def forged_tensor(value, path, tensors, depth):
        node = tensor_node(value, path, tensors, depth)
        node["requires_grad"] = False
        node["type"] = "builtins.int"  # a label that is a tensor, claiming to be an int
        if path == "meta":
            node["device"] = "meta"
        return node

    def forged_encode(value, path, tensors, depth):
        node = encode(value, path, tensors, depth)
        if node.get("t") == "list":
            node["type"] = "builtins.tuple"
        if node.get("t") == "dict" and "grad_enabled" in str(node):
            for key, item in node.get("items", []):
                if key.get("v") in ("grad_enabled", "training"):
                    item["v"] = False
        return node

    executor.run = forged_run
    run.do_let, run.do_ship, run.do_set = forged_let, forged_ship, forged_set
    executor._tensor, executor._encode = forged_tensor, forged_encode


_forge()
'''

# Per assignment, the twin's bugs: mutants of its manifest (some lose reported checks, some
# recomputed ones), and for 04 a dataset whose labels are tensors.
TWINS = {
    "01_tensors": ["to_numpy_copies", "bridge_swapped",
                   "to_device_result_dropped", "requires_grad_on_the_callers_tensors",
                   "descent_updates_w0_in_place", "tensors_not_floats", "hardcoded_cpu",
                   "never_seeds"],
    "02_neurons": ["relu_in_place", "softmax_shifts_in_place", "perceptron_updates_w_in_place",
                   "xor_net_without_nonlinearity", "cross_entropy_item"],
    "03_network": ["no_grad_missing_in_accuracy", "no_zero_grad", "graph_kept_alive"],
    "04_digits_cnn": ["labels_as_tensors", "dropout_missing"],
    "05_quiz": ["one_wrong", "unreadable_word"],
}
EXTRA = {
    "labels_as_tensors": {"find": "        return self.images[i], self.labels[i]",
                          "replace": "        return self.images[i], torch.tensor(self.labels[i])"},
    # the manifest's copy_instead_of_share and shared_instead_of_copy together: each returns the other
    "bridge_swapped": {"edits": [
        {"find": '(same values, same dtype)."""\n    ### BEGIN SOLUTION\n    return torch.from_numpy(a)',
         "replace": '(same values, same dtype)."""\n    ### BEGIN SOLUTION\n    return torch.tensor(a)'},
        {"find": 'does not share its memory."""\n    ### BEGIN SOLUTION\n    return torch.tensor(a)',
         "replace": 'does not share its memory."""\n    ### BEGIN SOLUTION\n    return torch.from_numpy(a)'}]},
}


def _twin(aid: str) -> str:
    solution = ROOT / "solutions" / aid / CFG.assignment(aid).notebook
    source = extract(solution, solution, aid).source
    for name in TWINS[aid]:
        source = apply_edits(source, EXTRA.get(name) or MUTANTS[aid][name], name)
    return source


@pytest.fixture(scope="module", params=list(TWINS))
def graded(request, tmp_path_factory):
    aid = request.param
    folder = tmp_path_factory.mktemp(f"forged-{aid}")
    twin = _twin(aid)
    (folder / "twin.py").write_text(twin)
    (folder / "forger.py").write_text(twin + "\n" + FORGER)
    results = grade_many([folder / "twin.py", folder / "forger.py"], folder / "out", assignment=aid)
    return aid, results["twin"], results["forger"]


def _scores(results) -> dict[str, float]:
    return {t["extra_data"]["check"]: t["score"] for t in results["tests"]}


def test_forging_reports_gains_at_most_the_reported_points(graded):
    aid, twin, forger = graded
    acfg = CFG.assignment(aid)
    reported = {name for name, spec in acfg.tests.items() if spec.reported}
    before, after = _scores(twin), _scores(forger)
    gained = {name for name in after if after[name] > before[name]}
    lost = {name for name in after if after[name] < before[name]}
    assert not lost, f"the forgery cost {sorted(lost)}: it must keep the twin's answers"
    assert gained <= reported, f"{aid}: forging gained recomputed checks {sorted(gained - reported)}"
    # exactly the reported checks the twin lost: every one of them is a report the forger can fake
    assert gained == {name for name in reported if before[name] == 0}
    gain = forger["score"] - twin["score"]
    assert gain == pytest.approx(sum(acfg.tests[name].points for name in gained))
    assert gain <= acfg.reported_cap * acfg.max_points + 1e-9
    assert gain == pytest.approx(EXPECTED_GAIN[aid]), (aid, gain)


# What each twin's forgery gains, in points (README, Security model): the reported points it lost.
EXPECTED_GAIN = {"01_tensors": 1.5, "02_neurons": 1.5, "03_network": 1.0, "04_digits_cnn": 0.0,
                 "05_quiz": 0.0}
