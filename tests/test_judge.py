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
