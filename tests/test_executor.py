"""The executor ships values as they are, a recipe is recorded rather than run, and the judge derives
every report from what was shipped (autograder/executor.py, recipe.py, evidence.py)."""
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder import executor
from autograder.evidence import Evidence, typename
from autograder.probe import ProbeOutcome
from autograder.recipe import Recipe, RecipeUsage, inputs_used


def _shipped(value):
    tensors: dict = {}
    return executor.encode(value, "v", tensors), tensors


@pytest.mark.parametrize("value, t, name", [
    (None, "none", "builtins.NoneType"), (True, "bool", "builtins.bool"), (3, "int", "builtins.int"),
    (2.5, "float", "builtins.float"), ("hi", "str", "builtins.str"),
    (np.int64(4), "numpy", "numpy.int64"), (np.True_, "numpy", "numpy.bool"),
    ((1, 2), "tuple", "builtins.tuple"), ([1], "list", "builtins.list"), ({1: 2}, "dict", "builtins.dict"),
    (torch.Size([2, 3]), "tuple", "torch.Size"), (torch.device("cpu"), "device", "torch.device"),
    (object(), "object", "builtins.object"),
])
def test_a_value_is_shipped_with_its_exact_type(value, t, name):
    node, _ = _shipped(value)
    assert node["t"] == t and typename(node) == name


def test_a_tensor_ships_its_bytes_and_what_only_its_process_knows():
    w = torch.arange(6.0).reshape(2, 3).requires_grad_(True)
    (w * 2).sum().backward()
    node, tensors = _shipped(w)
    assert node["t"] == "tensor" and node["device"] == "cpu" and node["requires_grad"]
    assert torch.equal(tensors[node["key"]], w.detach()) and tensors[node["key"]] is not w
    assert torch.equal(tensors[node["grad"]["key"]], torch.full((2, 3), 2.0))
    meta, tensors = _shipped(torch.zeros(4, device="meta"))
    assert meta["device"] == "meta" and "key" not in meta and not tensors  # no data to ship


def test_a_module_ships_as_its_tree_and_an_exception_as_its_type():
    node, tensors = _shipped(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert typename(node) == "torch.nn.modules.container.Sequential"
    (name, linear), (_, relu) = node["children"]
    assert name == "0" and dict(linear["params"])["weight"]["shape"] == [3, 2]
    assert len(tensors) == 2 and relu["params"] == []

    class Hostile(ValueError):
        def __str__(self):
            raise RuntimeError("no")
    node, _ = _shipped(Hostile())
    assert node["t"] == "exception" and "builtins.ValueError" in node["mro"]
    assert node["message"] == "<message unavailable>"


def test_deep_and_long_values_are_cut_not_followed():
    nested: list = []
    for _ in range(50):
        nested = [nested]
    node, _ = _shipped(nested)
    depth = 0
    while node.get("t") == "list":
        node, depth = node["items"][0], depth + 1
    assert node == {"t": "cut"} and depth == executor.MAX_DEPTH + 1
    node, _ = _shipped(list(range(10_000)))
    assert node["len"] == 10_000 and len(node["items"]) == executor.MAX_ITEMS


def test_a_recipe_records_steps_and_refuses_to_be_used_as_a_value():
    r = Recipe()
    x = r.let(r.input("x"))
    out = r.student.double(x, scale=2)
    r.ship("out", out)
    r.set(x, [0], 9.0)
    with r.catch() as raised:
        r.student.missing()
    r.ship("raised", raised)
    assert [s["do"] for s in r.steps] == ["let", "call", "ship", "set", "catch", "ship"]
    assert inputs_used(r.to_json()) == {"x"}
    for misuse in (lambda: bool(out), lambda: len(out), lambda: list(out), lambda: out == 1):
        with pytest.raises(RecipeUsage):
            misuse()
    with pytest.raises(RecipeUsage):
        r.arg(object())


def test_the_executor_follows_a_recipe_and_ships_only_values():
    student = types.ModuleType("submission")
    exec("import torch\n"
         "def double(x, scale=2):\n    x.mul_(scale)\n    return x\n"  # in place: the caller sees it
         "def missing():\n    raise KeyError('nope')\n", student.__dict__)
    r = Recipe()
    x = r.let(r.input("x"))
    r.ship("out", r.student.double(x, scale=3))
    r.ship("x_after", x)
    with r.catch() as raised:
        r.student.missing()
    r.ship("raised", raised)
    r.ship("items", r.take(r.lib("builtins.list")([1, 2, 3]), 2))
    inputs = {"x": torch.tensor([1.0, 2.0])}
    data, tensors = executor.run(r.to_json(), student, inputs, "cpu")
    assert torch.equal(inputs["x"], torch.tensor([1.0, 2.0]))  # the executor used a copy
    ev = Evidence(ProbeOutcome("p", "ok", data=data, tensors=tensors), "double")
    assert torch.equal(ev.tensor("out"), torch.tensor([3.0, 6.0]))
    assert torch.equal(ev.tensor("x_after"), torch.tensor([3.0, 6.0]))
    assert ev.kind("raised") == "KeyError" and ev.node("raised")["message"] == "'nope'"
    assert [ev.value(p, int) for p in ev.items("items")] == [1, 2]


def test_a_type_name_the_value_contradicts_is_not_believed():
    """A rewritten executor can claim any type name; the judge goes by how the value was shipped."""
    assert typename({"t": "tensor", "type": "builtins.int", "key": "k"}) == "torch.Tensor"
    assert typename({"t": "list", "type": "builtins.tuple", "items": []}) == "builtins.list"
    assert typename({"t": "tuple", "type": "torch.Size", "items": []}) == "torch.Size"
    assert typename({"t": "tuple", "type": "submission.Pair", "items": []}) == "submission.Pair"
    assert typename({"t": "numpy", "type": "builtins.int", "v": 1}) == "numpy.generic"


def test_a_pretended_gpu_is_in_place_before_the_import():
    saved = torch.cuda.is_available, torch.cuda.device_count
    try:
        executor.before_import({"steps": [], "cuda": True})
        assert torch.cuda.is_available() and torch.cuda.device_count() == 1
        executor.before_import({"steps": [], "cuda": False})
        assert not torch.cuda.is_available()
    finally:
        torch.cuda.is_available, torch.cuda.device_count = saved


def test_only_plans_that_export_a_module_ask_the_zygote_to_warm_torch_export():
    """The zygote pays torch.export's first use before forking (about half a second each job would
    pay again) only for a plan with an `export` step, at whatever depth its recipe holds it: 02
    exports XORNet, 04 its CNN; 01, 03 and 05 export nothing and start no sooner for it."""
    from autograder import assignment
    from autograder.config import load_config
    from autograder.probe import Plan, ProbeSpec, _exports

    root = Path(__file__).resolve().parent.parent
    cfg = load_config(root / "grading_config.yaml")
    found = {aid: _exports(assignment.make_plan(root, cfg, aid, "cpu")) for aid in cfg.assignments}
    assert found == {"01_tensors": False, "02_neurons": True, "03_network": False,
                     "04_digits_cnn": True, "05_quiz": False}
    nested = {"steps": [{"do": "catch", "into": 0, "steps": [
        {"do": "no_grad", "steps": [{"do": "export", "module": {"slot": 1}, "example": [4, 2],
                                     "as": "net"}]}]}]}
    assert _exports(Plan([ProbeSpec("p", "f", recipe=nested)], {}))
    assert not _exports(Plan([ProbeSpec("p", "f", recipe={"steps": [{"do": "ship", "value": 1,
                                                                     "as": "export"}]})], {}))


def test_an_exception_names_the_call_that_raised_it():
    """An IndexError deep in Network([10, 1]) reaches the student as that call, not only its
    message (autograder/harness.py describes it, autograder/probe.py words it)."""
    from autograder import harness
    from autograder.probe import _error_reason

    class Network:
        def __init__(self, sizes, activation="sigmoid"):
            self.hidden = sizes[1:-1][0]  # no hidden layer in [10, 1]: IndexError

    r = Recipe()
    for sizes in ([3, 5, 2], [10, 1]):
        r.ship(f"m{len(sizes)}", r.student.Network(list(sizes), activation="relu"))
    run = executor._Run(types.SimpleNamespace(Network=Network), {}, "cpu")
    with pytest.raises(IndexError) as raised:
        run.steps(r.steps)
    said = harness.describe(raised.value)
    assert said["call"] == "Network([10, 1], activation='relu')"
    extraction = types.SimpleNamespace(where=lambda line: "", enclosing=lambda line: None)
    assert _error_reason({**said, "kind": "exception"}, extraction) == (
        "your code raised IndexError, in the grader's call Network([10, 1], activation='relu'): "
        "list index out of range")


@pytest.mark.parametrize("value, want, read, noted", [
    (3, int, 3, False), (np.int64(3), int, 3, True), (torch.tensor(3), int, 3, True),
    (2.5, float, 2.5, False), (2, float, 2.0, False), (np.float32(0.5), float, 0.5, True),
    (torch.tensor(0.25), float, 0.25, True), (torch.tensor(3), float, 3.0, True),
    (3.0, int, None, False), (torch.tensor(3.0), int, None, False), (torch.tensor([3]), int, None, False),
    (True, int, None, False), (torch.tensor(True), int, None, False), ("3", int, None, False),
    (torch.tensor(float("inf")), float, float("inf"), True), (torch.tensor(1 + 2j), float, None, False),
])
def test_the_type_policy_reads_a_number_in_any_of_its_forms(value, want, read, noted):
    """One type policy (README, How grading works): a Python number, a numpy scalar or a 0-d tensor
    of the kind asked for is the number it holds, with a note unless it was a Python number; a
    float for an int, a bool, a one-element tensor of another shape or a string is not."""
    node, tensors = _shipped(value)
    ev = Evidence(ProbeOutcome("p", "ok", data={"v": node}, tensors=tensors), "f()")
    got, note = ev.as_python("v", want)
    assert got == read and type(got) is (want if read is not None else type(None))
    assert bool(note) == noted
