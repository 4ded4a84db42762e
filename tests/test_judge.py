"""The judge's own process: how many threads its computations get."""
import torch

from autograder import judge
from autograder.config import load_config
from kit import ROOT


def test_the_judge_computes_on_the_configs_threads_and_gives_them_back(tmp_path, monkeypatch):
    """A single `grade` judges on `limits.threads` (as the sandbox, `grade-batch` and `calibrate`
    do): on more, 02's XOR training took 35x as long beside a busy neighbour. The caller's own
    setting comes back afterwards."""
    cfg = load_config(ROOT / "grading_config.yaml")
    seen = []

    def fake_pytest_main(args, plugins):
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(judge.pytest, "main", fake_pytest_main)
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.limits.threads + 1)
    try:
        judge.run_judge("05_quiz", tmp_path / "none.py", device="cpu",
                        config_path=ROOT / "grading_config.yaml", root=ROOT,
                        sandbox_mode="none", cfg=cfg)
        assert seen == [cfg.limits.threads]
        assert torch.get_num_threads() == cfg.limits.threads + 1
    finally:
        torch.set_num_threads(before)


def _outcomes(*rows):
    """TestOutcomes from (name, passed, cause, prerequisites) rows."""
    return {name: judge.TestOutcome(name, passed, f"{name} says why", cause=cause,
                                    prerequisites=tuple(prerequisites))
            for name, passed, cause, prerequisites in rows}


def test_one_root_cause_is_charged_once_to_the_first_check_in_the_configs_order():
    outcomes = _outcomes(("test_b", False, "forward crashes", ()),
                         ("test_a", False, "forward crashes", ()),
                         ("test_c", False, "", ()),
                         ("test_d", True, "", ()))
    judge.attribute(outcomes, ["test_a", "test_b", "test_c", "test_d"])
    assert outcomes["test_a"].depends_on == "" and outcomes["test_a"].message == "test_a says why"
    assert outcomes["test_b"].depends_on == "test_a"
    assert outcomes["test_b"].message.startswith('Not graded: this depends on "a", which fails')
    assert outcomes["test_c"].depends_on == "" and outcomes["test_c"].message == "test_c says why"


def test_a_declared_dependency_names_the_first_failed_prerequisite_or_none():
    outcomes = _outcomes(("test_layers", True, "", ()),
                         ("test_shapes", False, "", ()),
                         ("test_relu", False, "", ("test_layers", "test_shapes")),
                         ("test_pool", False, "", ("test_layers",)))
    judge.attribute(outcomes, list(outcomes))
    assert outcomes["test_relu"].depends_on == "test_shapes"
    # its prerequisite passed: it is charged with its own words
    assert outcomes["test_pool"].depends_on == "" and outcomes["test_pool"].message == "test_pool says why"


def test_a_chain_of_dependencies_ends_at_the_charged_check_and_a_cycle_charges_one():
    outcomes = _outcomes(("test_a", False, "x", ()), ("test_b", False, "x", ()),
                         ("test_c", False, "", ("test_b",)))
    judge.attribute(outcomes, ["test_a", "test_b", "test_c"])
    assert outcomes["test_c"].depends_on == "test_a"
    # a cycle charges its check first in the config's order, whatever order pytest ran them in
    cycle = _outcomes(("test_c", False, "", ("test_a",)), ("test_b", False, "", ("test_a",)),
                      ("test_a", False, "", ("test_b",)))
    judge.attribute(cycle, ["test_a", "test_b", "test_c"])
    assert [n for n, o in cycle.items() if not o.depends_on] == ["test_a"]
    assert cycle["test_a"].message.endswith("says why")
    assert cycle["test_b"].depends_on == cycle["test_c"].depends_on == "test_a"
