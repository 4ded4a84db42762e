"""Where student code runs: a child process tree with limits, killed as a whole when time is up.

`run_isolated` is the seam for the OS sandbox. Today it gives process isolation: a fresh session,
resource limits (address space, CPU time, file size, processes), a minimal environment, a wall-clock
timeout, and a kill of every process left in the session afterwards. An OS-level sandbox (bubblewrap:
no network, read-only filesystem, private /tmp, pid namespace) wraps the same argv here.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Limits


@dataclass
class SandboxResult:
    returncode: int | None
    timed_out: bool
    seconds: float


def _session_members(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # fields after the command name, which is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (the sandbox leader started a new session)."""
    for _ in range(3):  # a fork racing with the kill gets a second look
        members = _session_members(sid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def _limit_resources(limits: Limits):
    def apply():
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_time_s, limits.cpu_time_s))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb * mb, limits.max_file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def sandbox_env(workdir: Path, threads: int, device: str) -> dict[str, str]:
    """A minimal environment: nothing of the grader's own variables reaches student code."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
        "MPLBACKEND": "Agg",
    }
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_isolated(argv: list[str], workdir: Path, limits: Limits, timeout_s: float,
                 env: dict[str, str], log_path: Path) -> SandboxResult:
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_limit_resources(limits), close_fds=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_session(proc.pid)
            proc.wait()
    return SandboxResult(None if timed_out else proc.returncode, timed_out,
                         time.monotonic() - start)
