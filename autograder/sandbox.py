"""Where student code runs: bubblewrap around a child process tree with limits.

Two modes:

- `bwrap` (the default): a bubblewrap sandbox with new pid, network, ipc and uts namespaces (so no
  network at all, not even loopback to the host), an empty root holding only /usr, the Python
  installation and the virtual environment (all read-only), /etc/ld.so.cache, a private /tmp, a fresh
  /proc and a minimal /dev, and the work folder at /sandbox. Nothing else of the host exists in it:
  not the repository, not $HOME, not the config. Started as root, the harness drops to a uid of
  its own (`claim_uid`: one per running sandbox, from a range nothing else uses) before any student
  code runs, so RLIMIT_NPROC applies (the kernel exempts root from it) and sandboxes running side
  by side in a batch cannot starve or signal each other.
- `none`: process isolation only (the same limits and timeouts; files and network exposed). For a
  student's own machine, or where bubblewrap cannot run; `grade` says loudly what it gives up.

Around both: resource limits (address space, CPU time, file size, processes, no core files), a
minimal environment, a wall-clock timeout, and a kill of every process left in the session.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autograder import harness
from autograder.config import Limits
from autograder.errors import UserError

SANDBOXES = ("bwrap", "none")
INSIDE = "/sandbox"      # where the work folder appears inside the bwrap sandbox
UNPROTECTED = ("--sandbox none: student code can read this machine's files (the repository, hidden "
               "tests, solutions, config, $HOME) and use its network. Only process limits and "
               "timeouts apply. Use it on a machine with nothing to protect.")


@dataclass
class SandboxResult:
    returncode: int | None
    timed_out: bool
    seconds: float


def _processes(field) -> list[int]:
    """Pids of the processes for which `field(pid)` is true (False where it cannot tell)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if field(entry):
                    pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile, or unreadable
    return pids


def _in_session(sid: int):
    def test(pid: str) -> bool:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # fields after the command name, which is in parentheses and may contain spaces
        fields = stat[stat.rfind(")") + 2:].split()
        return int(fields[3]) == sid
    return test


def _session_members(sid: int) -> list[int]:
    return _processes(_in_session(sid))


def _kill_all(members) -> None:
    """SIGKILL every process `members()` lists, looking again for one that a fork raced in."""
    for _ in range(3):
        pids = members()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (the sandbox leader started a new session)."""
    _kill_all(lambda: _session_members(sid))


def rlimits(limits: Limits) -> dict:
    """The config's limits as `harness.set_limits` takes them (for a cold start's preexec and for
    a warm sandbox's job alike)."""
    return {"memory_mb": limits.memory_mb, "cpu_time_s": limits.cpu_time_s,
            "max_file_mb": limits.max_file_mb, "max_processes": limits.max_processes}


def _limit_resources(limits: Limits):
    values = rlimits(limits)
    return lambda: harness.set_limits(values)


def require(mode: str) -> None:
    """Raise a UserError when `mode` cannot run here."""
    if mode not in SANDBOXES:
        raise UserError(f"--sandbox must be one of {', '.join(SANDBOXES)}, not {mode!r}")
    if mode == "bwrap" and shutil.which("bwrap") is None:
        raise UserError("bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. "
                        "Install it (Debian/Ubuntu: apt-get install bubblewrap), or pass "
                        "--sandbox none to grade without OS isolation on a machine with nothing to "
                        "protect.")


def bwrap_argv(argv: list[str], workdir: Path, device: str,
               env: dict[str, str] | None = None, binds: tuple[tuple[str, str], ...] = (),
               workdir_bind: str = "--bind") -> list[str]:
    """The bubblewrap command that runs `argv` (paths already as seen inside) in the sandbox,
    with exactly the variables of `env`. `binds` adds (host folder, inside) read-write binds, and
    `workdir_bind` says how the work folder appears (the zygote's own folder is read-only)."""
    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox",
           "--clearenv"]
    for key, value in (env or {}).items():
        cmd += ["--setenv", key, value]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")  # without root, namespaces need a user namespace
    # Mounts apply in order and a later one hides what is under it: the private /tmp comes first,
    # so an environment that itself lives under /tmp (a CI checkout) is bound on top of it.
    cmd += ["--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64", "/sbin", "/lib32", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"):
        if os.path.exists(name):
            cmd += ["--ro-bind", name, name]
    # the interpreter, its standard library and the environment's packages, read-only
    roots = sorted(r for r in harness.environment_roots() if not r.startswith("/usr/") and r != "/usr")
    made: set[str] = set()
    for root in roots:
        for parent in map(str, reversed(Path(root).parents[:-1])):  # outermost first, not "/"
            if parent not in made and not parent.startswith("/usr") and parent != "/tmp":
                cmd += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        cmd += ["--ro-bind", root, root]
    cmd += ["--proc", "/proc", "--dev", "/dev", workdir_bind, str(workdir), INSIDE]
    for host, inside in binds:
        cmd += ["--bind", host, inside]
    cmd += ["--chdir", INSIDE]
    if device == "cuda":  # GPU passthrough: the NVIDIA device nodes and what the driver reads
        for node in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(node), str(node)]
        for extra in ("/sys", "/usr/local/nvidia", "/etc/nvidia"):
            if os.path.exists(extra):
                cmd += ["--ro-bind", extra, extra]
    return cmd + argv


def sandbox_env(workdir: Path, threads: int, device: str, mode: str = "bwrap") -> dict[str, str]:
    """A minimal environment: nothing of the grader's own variables reaches student code."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": INSIDE if mode == "bwrap" else str(workdir),
        "TMPDIR": "/tmp" if mode == "bwrap" else str(workdir / "tmp"),
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
    elif os.environ.get("LD_LIBRARY_PATH"):  # where some GPU images keep the driver libraries
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def prepare_workdir(workdir: Path, uid: int | None) -> None:
    """Let the sandbox's uid (see `claim_uid`) write the work folder."""
    if uid is not None:
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, uid, uid)


def run_isolated(argv: list[str], workdir: Path, limits: Limits, timeout_s: float,
                 env: dict[str, str], log_path: Path, mode: str = "bwrap",
                 device: str = "cpu", pass_fds: tuple[int, ...] = ()) -> SandboxResult:
    """Run `argv` (paths as seen inside: use `INSIDE` for the work folder in bwrap mode)."""
    start = time.monotonic()
    if mode == "bwrap":
        argv = bwrap_argv(argv, workdir, device, env)
        env = {"PATH": env["PATH"]}  # for finding bwrap itself
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_limit_resources(limits), close_fds=True,
                                pass_fds=pass_fds)
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


# --- one uid per running sandbox -----------------------------------------------------------------

# Debian reserves 65000-65533 and never allocates them, so nothing else on the machine runs as one.
SANDBOX_UIDS = range(65533, 65533 - 64, -1)  # at most 64 sandboxes at once on one machine
_LOCKS = Path("/tmp/autograder-sandbox-uids")  # fixed, not $TMPDIR: every grader must see the same


def _processes_of(uid: int) -> list[int]:
    def runs_as(pid: str) -> bool:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1]) == uid
        return False
    return _processes(runs_as)


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as `uid` (only ever a sandbox uid)."""
    _kill_all(lambda: _processes_of(uid))


def _try_lock(uid: int) -> int | None:
    import fcntl

    fd = os.open(_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


@contextmanager
def claim_uid(mode: str):
    """The uid that one sandbox's code runs as, held for as long as the sandbox runs (None where
    no uid is dropped: `--sandbox none`, or a grader that is not root).

    Each running sandbox has its own uid, so a batch grading several submissions at once keeps them
    apart: RLIMIT_NPROC counts per uid (a fork storm in one cannot starve its neighbour of
    processes) and a process can signal only its own uid's. Whatever still runs as the uid when it
    is claimed (left by a grader that died mid-grading) is killed first, and again at release."""
    if mode != "bwrap" or os.geteuid() != 0:
        yield None
        return
    _LOCKS.mkdir(mode=0o700, exist_ok=True)
    while True:
        for uid in SANDBOX_UIDS:
            fd = _try_lock(uid)
            if fd is None:
                continue
            try:
                kill_uid(uid)
                yield uid
            finally:
                kill_uid(uid)
                os.close(fd)  # releases the lock
            return
        time.sleep(0.1)  # more than 64 sandboxes at once: wait for one to finish


def stray_processes() -> list[tuple[int, int]]:
    """(pid, uid) of processes running as a sandbox uid that no grading holds: leftovers."""
    if not _LOCKS.is_dir():
        return []
    found = []
    for uid in SANDBOX_UIDS:
        fd = _try_lock(uid)
        if fd is None:
            continue  # a grading holds it: its processes are its own business
        try:
            found += [(pid, uid) for pid in _processes_of(uid)]
        finally:
            os.close(fd)
    return found
