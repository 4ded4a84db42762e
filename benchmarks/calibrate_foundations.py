"""Calibration of the thresholds of 01_tensors and 02_neurons.

- 01: `descent_tolerance`, how far a gradient descent may end from the judge's float64 replay. The
  reference and the correct variants (float32 arithmetic in other orders) against the mutants that
  never reset their gradients.
- 02: `xor.nonlinearity`, the least-squares residual of a fresh XORNet's outputs, and `xor.solved`,
  how many restarts of the course's XOR loop end with all four points right. The reference and the
  XOR variants against the mutants without a hidden non-linearity or with a squashed output; plus
  two designs the contract excludes (2 hidden units), to show what the default of 8 buys.

For each seed the assignment's seed is changed, which changes every input the judge draws (the
regression data, the starting weights, the XOR restarts and the scattered points). Trusted code
only: the kit's own reference, variants and mutants run in this process through the real probes.

    .venv/bin/python benchmarks/calibrate_foundations.py [--seeds 50]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from autograder.config import load_config  # noqa: E402
from autograder.extract import extract  # noqa: E402
from kit import load_module as load, module_from_source as module_from, patched_source  # noqa: E402


def sources(aid: str, variants: list[str], mutants: list[str]) -> dict[str, tuple[str, str]]:
    """{name: (kind, module source)} for the reference and the named variants and mutants."""
    sol = ROOT / "solutions" / aid / f"{aid}.ipynb"
    reference = extract(sol, sol, aid).source
    out = {"reference": ("correct", reference)}
    for kind, names, folder in (("correct", variants, "variants"), ("bug", mutants, "mutants")):
        manifest = yaml.safe_load((ROOT / "tests" / folder / aid / f"{folder}.yaml").read_text())
        for name in names:
            out[name] = (kind, patched_source(reference, manifest[name], name))
    return out


def summary(values: list[float]) -> str:
    v = sorted(values)
    p5 = v[max(0, int(0.05 * (len(v) - 1)))]
    return f"min {v[0]:.3g}  p5 {p5:.3g}  median {statistics.median(v):.3g}  max {v[-1]:.3g}"


def deviation(w, b, expected) -> float:
    """The smallest tolerance at which torch.allclose(x, y, rtol=tol, atol=tol) holds."""
    ew, eb = expected
    pairs = [(w.double(), ew), (b.double().reshape(()), eb)]
    return max(((x - y).abs() / (1 + y.abs())).max().item() for x, y in pairs)


def calibrate_01(cfg, seeds: int) -> None:
    aid = "01_tensors"
    hidden = ROOT / "tests/hidden" / aid
    conf, probes = load(hidden / "conftest.py", "judge01"), load(hidden / "probes.py", "probes01")
    subjects = sources(aid, ["grad_to_none_and_data_updates", "mse_loss_and_zero_grad_after_step"],
                       ["missing_zero_grad_sgd", "missing_grad_reset_by_hand"])
    # each mutant breaks one of the two functions; its other one is the reference's
    broken = {"missing_zero_grad_sgd": "sgd_descent", "missing_grad_reset_by_hand": "gradient_descent"}
    tol = cfg.params(aid).descent_tolerance.value
    rows: dict[tuple[str, str], list[float]] = {}
    a = cfg.assignments[aid]
    for seed in range(seeds):
        a.seed = 1000 + seed
        plan = conf.make_plan(cfg, "cpu")
        for name, (kind, source) in subjects.items():
            student = module_from(source, name)
            for fn in (broken[name],) if name in broken else ("gradient_descent", "sgd_descent"):
                args = next(s.args for s in plan.probes if s.name == fn)
                _, t = getattr(probes, fn)(student, args, plan.inputs, "cpu")
                expected = conf.descent(plan, args["lr"], args["steps"])
                rows.setdefault((name, fn), []).append(deviation(t["w"], t["b"], expected))
    print(f"\n01_tensors: distance from the judge's float64 replay (descent_tolerance = {tol:g}), "
          f"{seeds} seeds")
    for (name, fn), values in rows.items():
        kind = subjects[name][0]
        if kind == "correct":
            verdict = "passes on every seed" if max(values) <= tol else "FAILS on some seed"
        else:
            verdict = "caught on every seed" if min(values) > tol else "ESCAPES on some seed"
        print(f"  {name:36s} {fn:17s} {summary(values)}  -> {verdict}")


def calibrate_02(cfg, seeds: int) -> None:
    aid = "02_neurons"
    hidden = ROOT / "tests/hidden" / aid
    conf, probes = load(hidden / "conftest.py", "judge02"), load(hidden / "probes.py", "probes02")
    subjects = sources(aid, ["xor_sequential_relu", "xor_sigmoid_hidden"],
                       ["xor_net_without_nonlinearity", "xor_net_sigmoid_output"])
    reference = subjects["reference"][1]
    for name, act in (("excluded: 2 hidden tanh", "torch.tanh"), ("excluded: 2 hidden relu", "torch.relu")):
        source = reference.replace("def __init__(self, hidden=8):", "def __init__(self, hidden=2):")
        subjects[name] = ("excluded", source.replace("torch.tanh(self.hidden(x))", f"{act}(self.hidden(x))"))
    p = cfg.params(aid).xor
    a = cfg.assignments[aid]
    bent: dict[str, list[float]] = {}
    solved: dict[str, list[int]] = {}
    for seed in range(seeds):
        a.seed = 2000 + seed * 10  # restarts use seed, seed + 1, ...: keep them apart
        plan = conf.make_plan(cfg, "cpu")
        args = next(s.args for s in plan.probes if s.name == "xor_net")
        y = plan.inputs["xor.y"].reshape(-1)
        for name, (_, source) in subjects.items():
            _, t = probes.xor_net(module_from(source, name), args, plan.inputs, "cpu")
            bent.setdefault(name, []).append(max(conf.nonlinearity(plan.inputs["xor.grid"], t[f"init{k}.grid"])
                                                 for k in range(p.restarts)))
            solved.setdefault(name, []).append(sum(
                torch.equal((t[f"trained{k}.xor"].reshape(-1) > 0).float(), y) for k in range(p.restarts)))
    print(f"\n02_neurons: XORNet over {seeds} seeds x {p.restarts} restarts "
          f"(nonlinearity > {p.nonlinearity.value:g}; solved >= {p.solved.value:g} restarts)")
    for name, (kind, _) in subjects.items():
        per_restart = sum(solved[name]) / (seeds * p.restarts)
        failing = sum(s < p.solved.value for s in solved[name])
        print(f"  {name:30s} [{kind:8s}] nonlinearity {summary(bent[name])}; restarts solved "
              f"{per_restart:.1%}; seeds below the bar {failing}/{seeds}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--only", choices=["01_tensors", "02_neurons"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "grading_config.yaml")
    start = time.monotonic()
    print(f"torch {torch.__version__}, CPU, {args.seeds} seeds")
    if args.only in (None, "01_tensors"):
        calibrate_01(cfg, args.seeds)
    if args.only in (None, "02_neurons"):
        calibrate_02(cfg, args.seeds)
    print(f"\n{time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
