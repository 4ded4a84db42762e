"""Benchmark: how much a submission that spins many busy loops slows an honest neighbour graded on
the same machine at the same time, with the kit before and after the sandbox kept each
submission in one session.

Where the kernel groups processes into autogroups by session (sched_autogroup_enabled, the default
on most distributions, for processes in the root cpu cgroup), CPU time is shared between sessions
first. A submission whose busy loops each call setsid() gets one share per loop; kept in the
sandbox's session (the seccomp filter refuses setsid), all of them share one.

Side by side in one run, alternating kits round by round: `autograder grade` of 01_tensors's
reference alone, then the same while a second `autograder grade` grades the attacker (01's
reference plus, at import, LOOPS busy loops that try setsid() first), regraded in a loop until the
neighbour is done. The "before" kit is a git worktree of --before (default: the commit before the
filter refused setsid); both use this checkout's virtual environment. Needs root (the sandbox uids).

    .venv/bin/python benchmarks/starvation.py [--before REV] [--rounds 2] [--loops 40]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
from autograder.extract import extract  # noqa: E402

AID = "01_tensors"
SOLUTION = ROOT / "solutions" / AID / f"{AID}.ipynb"

SPIN = '''
import os as _os, time as _time
for _ in range({loops}):
    if _os.fork() == 0:
        try:
            _os.setsid()  # a session, and so an autogroup, of its own where that is allowed
        except OSError:
            pass
        _end = _time.monotonic() + 120
        while _time.monotonic() < _end:
            pass
        _os._exit(0)
'''


def grade(kit: Path, submission: Path, out: Path) -> float:
    """Seconds `autograder grade` takes on `submission` with the kit checked out at `kit`."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission),
                           "--assignment", AID, "--out", str(out)], cwd=kit,
                          capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise SystemExit(f"grading {submission.name} with {kit} failed:\n{proc.stderr[-2000:]}")
    return time.monotonic() - start


def contended(kit: Path, neighbour: Path, attacker: Path, scratch: Path) -> float:
    """The neighbour's seconds while the attacker is graded, again and again, beside it."""
    done = threading.Event()

    def attack():
        while not done.is_set():
            grade(kit, attacker, scratch / "attacker")
    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    time.sleep(5)  # the attacker's sandbox is up and spinning
    try:
        return grade(kit, neighbour, scratch / "neighbour")
    finally:
        done.set()
        thread.join()


def _cpu_cgroup() -> str:
    """This process's cpu cgroup (v1's cpu controller, or v2's single hierarchy): autogroups
    apply only in the root one."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" or "cpu" in controllers.split(","):
            return path
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default=None, help="the kit before (default: the last commit "
                    "whose autograder/confine.py does not refuse setsid)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--loops", type=int, default=40)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the sandbox gives each submission a uid of its own")
    before = args.before or subprocess.run(
        ["git", "log", "-1", "--format=%H", "-S", '"setsid",', "--", "autograder/confine.py"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip() + "~1"
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    print(f"sched_autogroup_enabled: {autogroup.read_text().strip() if autogroup.exists() else 'absent'}; "
          f"cpu cgroup: {_cpu_cgroup()}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), before], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            source = extract(SOLUTION, SOLUTION, AID).source
            neighbour = tmp / "neighbour.py"
            neighbour.write_text(source)
            attacker = tmp / "attacker.py"
            attacker.write_text(SPIN.format(loops=args.loops) + source)
            times = {kit: {"alone": [], "beside": []} for kit in ("before", "after")}
            for r in range(args.rounds):
                for name, kit in (("before", old), ("after", ROOT)):
                    alone = grade(kit, neighbour, tmp / f"alone-{name}-{r}")
                    beside = contended(kit, neighbour, attacker, tmp / f"beside-{name}-{r}")
                    times[name]["alone"].append(alone)
                    times[name]["beside"].append(beside)
                    print(f"round {r + 1} {name:6}: neighbour alone {alone:6.1f} s, beside "
                          f"{args.loops} busy loops {beside:6.1f} s ({beside / alone:.1f}x)", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                           capture_output=True)
    summary = {}
    for name, t in times.items():
        alone, beside = statistics.median(t["alone"]), statistics.median(t["beside"])
        summary[name] = {"alone_s": round(alone, 2), "beside_s": round(beside, 2),
                         "slowdown": round(beside / alone, 2)}
        print(f"{name:6}: median alone {alone:.1f} s, beside the attacker {beside:.1f} s: "
              f"{beside / alone:.1f}x slower")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "starvation.json").write_text(json.dumps({"before": before, "loops": args.loops,
                                                     "rounds": args.rounds, **summary}, indent=2))


if __name__ == "__main__":
    main()
