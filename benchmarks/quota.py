"""Benchmark: how far past its quota a submission gets before it is stopped, in each sandbox tier,
and how long removing an inode flood takes.

Runs the quota attacks of tests/adversarial/cases.py (many files under the per-file limit,
preallocation, deleted-but-open files, an inode flood, /tmp, and a flood with the harness stopped)
through the probe stage of 03_network, with the adversarial suite's small quotas, in every tier
that runs here, warm and cold. The overshoot is what the submission held when it was stopped
minus the quota, as the stopping side measured it (the harness for most, the grader's backstop
for the stopped harness). Needs root (the warm start, the sandbox uids).

    .venv/bin/python benchmarks/quota.py
"""
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "adversarial")]
from autograder import assignment, harness, judge, sandbox  # noqa: E402
from autograder.config import load_config  # noqa: E402
from autograder.errors import SandboxUnavailable  # noqa: E402
from autograder.extract import Extraction, extract  # noqa: E402
from autograder.probe import run_probes  # noqa: E402
import cases as attacks  # noqa: E402
from test_adversarial import QUOTA  # noqa: E402

AID = "03_network"
CASES = ("disk_fill_many_files", "disk_fill_preallocated", "disk_fill_deleted_but_open",
         "inode_flood", "tmp_fill", "flood_with_the_harness_stopped")
HELD = re.compile(r"more than (\d+) MiB.*?it held (\d+)")


def main():
    cfg = load_config(ROOT / "grading_config.yaml")
    limits = cfg.limits.model_copy(update=QUOTA)
    sol = ROOT / "solutions" / AID / f"{AID}.ipynb"
    ref = extract(sol, sol, AID).source
    table = attacks.cases(ref, list(cfg.assignment(AID).tests), {
        "port": 0, "repo_paths": [], "result_targets": [], "pickle_marker": "", "secret_file": "",
        "secrets": [], "quota": QUOTA})
    print(f"quotas: {QUOTA['max_written_mb']} MiB written, {QUOTA['max_files']} files, "
          f"/tmp {QUOTA['tmp_memory_mb']} MiB (bwrap); per file {QUOTA['max_file_mb']} MiB")
    print(f"{'tier':14} {'case':32} {'stopped by':48} {'overshoot':>10}")
    for tier in sandbox.TIERS:
        try:
            sandbox.select(tier, "cpu", judge.secret_paths(ROOT))
        except SandboxUnavailable as exc:
            print(f"{tier:14} skipped: {exc}")
            continue
        for start in ("warm", "cold"):
            os.environ["AUTOGRADER_SANDBOX_START"] = start
            for name in CASES:
                plan = assignment.make_plan(ROOT, cfg, AID, "cpu")
                plan.probes = [p for p in plan.probes if p.name in ("accuracy", "fit_gaussians")]
                run = run_probes(Extraction(table[name][0]), plan, limits, "cpu",
                                 cfg.assignment(AID).seed, sandbox=tier)
                reasons = [o.reason for o in run.outcomes.values() if not o.ok]
                reason = next((r for r in reasons if "more than" in r or "No space" in r),
                              reasons[0] if reasons else "not stopped")
                found = HELD.search(reason)
                over = ""
                if found:
                    over = f"+{int(found[2]) - int(found[1])} MiB"
                elif "files" in reason:
                    over = "see below"
                who = ("grader, 2x quota" if "was stopped" in reason else
                       "kernel (tmpfs full)" if "No space" in reason else "harness")
                print(f"{tier + '-' + start:14} {name:32} {who:48} {over:>10}", flush=True)
    # An inode flood is stopped at the first look past the quota (its count stops there, so the
    # harness cannot say by how much): at most what one watch interval lets a loop create.
    with tempfile.TemporaryDirectory() as folder:
        began, made = time.perf_counter(), 0
        while time.perf_counter() - began < 1.0:
            open(os.path.join(folder, str(made)), "w").close()
            made += 1
    rate = made / (time.perf_counter() - began)
    print(f"inode flood: {rate:,.0f} files/s here, so at most about {rate * harness.WATCH_S:,.0f} "
          f"files past the quota per {harness.WATCH_S} s watch interval (plus one walk)")
    # Bytes: a flood of writes is past the quota by what it writes before the next look.
    with tempfile.TemporaryFile() as f:
        block, began = b"x" * (1 << 20), time.perf_counter()
        for _ in range(256):
            f.write(block)
        f.flush()
        mib_s = 256 / (time.perf_counter() - began)
    print(f"writes: {mib_s:,.0f} MiB/s here (1 MiB blocks into the page cache), so at most about "
          f"{mib_s * sandbox.WATCH_S:,.0f} MiB past a quota per {sandbox.WATCH_S} s watch interval")
    # cleanup of an inode flood stopped at the default quota (about 20,000 files, plus overshoot)
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            flood = Path(folder) / "flood"
            flood.mkdir()
            for i in range(cfg.limits.max_files + 2000):
                (flood / str(i)).touch()
            began = time.perf_counter()
            harness.remove_tree(str(flood))
            times.append(time.perf_counter() - began)
    print(f"removing an inode flood of {cfg.limits.max_files + 2000} files: median "
          f"{statistics.median(times):.2f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
