"""Where student code runs: a sandbox tier around a child process tree with limits.

Tiers, strongest first (`sandbox: auto` picks the first whose self-test passes here, see `select`):

- `bwrap`: a bubblewrap sandbox with new pid, network, ipc and uts namespaces (so no network at
  all, not even loopback to the host), an empty root holding only /usr, the Python installation and
  the virtual environment (all read-only), /etc/ld.so.cache, a private /tmp, a fresh /proc and a
  minimal /dev, and the work folder at /sandbox. Nothing else of the host exists in it: not the
  repository, not $HOME, not the config. Needs namespaces: a bare host or VM, as root or with
  unprivileged user namespaces.
- `landlock`: no namespaces (Docker, Gradescope, Kubernetes refuse them). The process drops to a
  uid of its own, sets no_new_privs, restricts itself with Landlock to reading the Python
  environment and system libraries and writing its work folder, and installs a seccomp filter with
  no network sockets (see confine.py). Needs Landlock (Linux >= 5.13) and libseccomp.
- `uid`: the floor for kernels without Landlock: the uid, no_new_privs and seccomp, with the kit's
  files readable by root only (the self-test refuses the tier where they are not).
- `none`: process limits only (files and network exposed). Only when asked for by name.

Started as root, every tier but `none` runs student code as a uid of its own (`claim_uid`: one per
running sandbox, from a range nothing else uses), so RLIMIT_NPROC applies (the kernel exempts root
from it) and sandboxes running side by side in a batch cannot starve or signal each other.

Around every tier: resource limits (address space, CPU time, file size, processes, no core files),
a minimal environment, a wall-clock timeout, and a kill of every process left in the session.
And per submission, a quota on what it holds on disk and in tmp (bytes, files): watched by the
harness every 50 ms (the harness's quota watch, which stops the probe and removes what it added) and from
here every 50 ms at twice the quota (QuotaWatch, for a submission that stops the harness).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from autograder import harness
from autograder.config import Limits
from autograder.errors import SandboxUnavailable, UserError

TIERS = ("bwrap", "landlock", "uid")   # strongest first: what `auto` tries, in this order
SANDBOXES = ("auto", *TIERS, "none")
CONFINED = ("landlock", "uid")         # tiers without namespaces: the process confines itself
INSIDE = "/sandbox"      # where the work folder appears inside the bwrap sandbox
UNPROTECTED = ("--sandbox none: student code can read this machine's files (the repository, hidden "
               "tests, solutions, config, $HOME) and use its network. Only process limits and "
               "timeouts apply. Use it on a machine with nothing to protect.")


@dataclass
class SandboxResult:
    returncode: int | None
    timed_out: bool
    seconds: float
    stopped: str = ""  # why the trusted side stopped it early (QuotaWatch), in a student's words


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


def _stat(pid) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which is in parentheses and may
    contain spaces): [0] the state, [3] the session id, [19] the start time."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2:].split()


def _in_session(sid: int):
    def test(pid: str) -> bool:
        return int(_stat(pid)[3]) == sid
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
            "max_file_mb": limits.max_file_mb, "max_processes": limits.max_processes,
            "tmp_memory_mb": limits.tmp_memory_mb, "max_files": limits.max_files}


def quota(limits: Limits, mode: str, uid: int | None) -> dict:
    """The submission's quota as the harness watches it (its quota watch): bytes and files, the
    bwrap sandbox's own /tmp mount (elsewhere tmp is inside the work folder), and whether every
    process of the harness's uid is the submission's (a uid or a pid namespace of its own), so
    that a probe over the quota can be stopped with all it started."""
    return {"max_written_mb": limits.max_written_mb, "max_files": limits.max_files,
            "tmp_mount": "/tmp" if mode == "bwrap" else None,
            "kill_all": mode == "bwrap" or (mode in TIERS and uid is not None)}


WATCH_S = 0.05  # how often the trusted side measures a running sandbox's work folder (QuotaWatch)
PROCS_EVERY = 5  # ... and, every 5th time (250 ms), the deleted open files of the sandbox's uid


class QuotaWatch:
    """The trusted side's backstop for the submission's quota, measured from outside while the
    sandbox runs. The harness stops a probe at the quota and removes what it
    added; a submission that stops or kills the harness first is stopped here, the whole sandbox,
    at twice the quota. While the harness still runs (where the sandbox has a uid of its own, so
    that its processes can be told), the backstop waits until four times the quota, so that the
    harness's own stop, which costs the submission one probe and not all of them, is never
    pre-empted by a look of this side that came first. Counts the work folder beyond what the
    trusted side wrote, and (with a uid) files its processes deleted but keep open. The bwrap
    sandbox's /tmp needs no watch from here: it is a tmpfs of fixed size.

    A watch that polls is not a kernel quota: what a submission writes between two looks is past
    it. The work folder is walked every WATCH_S (a fraction of a millisecond for a probe's few
    files), so the overshoot is the machine's write rate times the time a look takes to come and
    act, an interval or a few (README, "Per-submission quotas"). The scan of every process for deleted open files costs
    more (a read per process on the machine), so it runs every PROCS_EVERY-th look."""

    FACTOR = 2.0                  # a harness stopped or gone
    FACTOR_HARNESS_RUNNING = 4.0  # the harness is up and will stop the probe itself

    def __init__(self, work: Path, limits: Limits, uid: int | None):
        self.work, self.uid = work, uid
        self.quota = {"max_written_mb": limits.max_written_mb, "max_files": limits.max_files}
        self.base_bytes, self.base_entries, _ = harness.usage(str(work))
        self.looks, self.deleted = 0, 0
        self.harness: tuple[int, str] | None = None  # (pid, start time) of the uid's first process

    def check(self) -> str:
        """Why the sandbox must be stopped now ("" while it stays within its quota)."""
        stop = int(self.quota["max_files"] * self.FACTOR_HARNESS_RUNNING) + self.base_entries
        written, entries, _ = harness.usage(str(self.work), stop_entries=stop)
        written -= self.base_bytes
        if self.uid is not None and self.looks % PROCS_EVERY == 0:
            pids = _processes_of(self.uid)
            self.deleted = harness.open_deleted(pids)
            if self.harness is None and pids:
                self.harness = _oldest(pids)
        self.looks += 1
        entries -= self.base_entries
        why = harness.over_quota(written + self.deleted, entries, False, self.quota,
                                 factor=self.FACTOR)
        if why and self._harness_runs():
            why = harness.over_quota(written + self.deleted, entries, False, self.quota,
                                     factor=self.FACTOR_HARNESS_RUNNING)
        return why

    def _harness_runs(self) -> bool:
        """Whether the sandbox's harness (its uid's first process, seen by an earlier look) is
        still there and not stopped. Unknown (no uid, or not seen yet) counts as not running."""
        if self.harness is None:
            return False
        pid, started = self.harness
        try:
            fields = _stat(pid)
        except OSError:
            return False
        return fields[19] == started and fields[0] in "RSD"  # not T (stopped), t, Z, X


def _oldest(pids: list[int]) -> tuple[int, str] | None:
    """(pid, start time) of the process started first among `pids`: a sandbox's harness, which
    every other process of its uid descends from."""
    found = []
    for pid in pids:
        try:
            fields = _stat(pid)
            found.append((int(fields[19]), pid, fields[19]))
        except (OSError, IndexError, ValueError):
            continue
    if not found:
        return None
    _, pid, started = min(found)
    return pid, started


def _limit_resources(limits: Limits):
    values = rlimits(limits)
    return lambda: harness.set_limits(values)


def require(mode: str) -> None:
    """Raise a UserError when `mode` is not a sandbox's name, and SandboxUnavailable when bwrap is
    asked for by name and not installed (the other tiers are checked by their self-tests)."""
    if mode not in SANDBOXES:
        raise UserError(f"--sandbox must be one of {', '.join(SANDBOXES)}, not {mode!r}")
    if mode == "bwrap" and shutil.which("bwrap") is None:
        raise SandboxUnavailable(_BWRAP_MISSING)


_BWRAP_MISSING = ("bubblewrap (bwrap) is not installed, so student code cannot be sandboxed with "
                  "namespaces. Install it (Debian/Ubuntu: apt-get install bubblewrap), use "
                  "--sandbox auto to take the strongest tier that works here, or pass --sandbox none "
                  "to grade without OS isolation on a machine with nothing to protect.")


# --- choosing a tier: each one's self-test -------------------------------------------------------

@dataclass(frozen=True)
class Tier:
    """The sandbox a grading uses, and why each stronger tier was passed over."""
    name: str
    skipped: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        said = f"sandbox: {self.name}"
        if self.skipped:
            said += " (" + "; ".join(f"{t} unavailable: {why}" for t, why in self.skipped) + ")"
        return said


_SELECTED: dict[tuple, Tier] = {}
_TESTED: dict[tuple, str] = {}   # (tier, device, forbidden) -> "" when it works here, else why not
_select_lock = threading.Lock()


def select(mode: str, device: str = "cpu", forbidden: tuple[str, ...] = ()) -> Tier:
    """The tier to grade with: `mode` itself when it is a tier whose self-test passes, the
    strongest passing tier for `auto`, `none` when asked. Raises SandboxUnavailable with every
    tier's reason otherwise. `forbidden`: the kit's secret paths, which the self-test checks the
    sandbox cannot read. Each self-test runs once per process."""
    require(mode)
    if mode == "none":
        return Tier("none")
    key = (mode, device, forbidden)
    with _select_lock:
        if key in _SELECTED:
            return _SELECTED[key]
        skipped = []
        for tier in (TIERS if mode == "auto" else (mode,)):
            why = _self_test(tier, device, forbidden)
            if not why:
                chosen = Tier(tier, tuple(skipped))
                _SELECTED[key] = chosen
                return chosen
            skipped.append((tier, why))
    if mode == "auto":
        raise SandboxUnavailable(
            "no sandbox tier can run here, so student code cannot be graded safely: "
            + "; ".join(f"{t}: {why}" for t, why in skipped)
            + ". Fix one of these, or pass --sandbox none to grade without OS isolation on a "
              "machine with nothing to protect.")
    raise SandboxUnavailable(f"the {mode} sandbox cannot run here: {skipped[0][1]}. Use --sandbox "
                             "auto to take the strongest tier that works here.")


def _self_test(tier: str, device: str, forbidden: tuple[str, ...]) -> str:
    refused = {t.strip() for t in os.environ.get("AUTOGRADER_SANDBOX_REFUSE", "").split(",")}
    if tier in refused:  # how the kit's tests play a machine that lacks this tier
        return "refused by AUTOGRADER_SANDBOX_REFUSE"
    key = (tier, device, forbidden)
    if key not in _TESTED:
        try:
            _TESTED[key] = (_test_bwrap(device) if tier == "bwrap"
                            else _test_confined(tier, device, forbidden))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            _TESTED[key] = f"its self-test failed ({exc})"
    return _TESTED[key]


def _tail(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


def _test_bwrap(device: str) -> str:
    """Start bubblewrap with the sandbox's own namespaces and mounts, running nothing but `true`."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap runs on Linux only"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="autograder-selftest-") as work:
        argv = bwrap_argv([sys.executable, "-I", "-c", "pass"], Path(work), device,
                          {"PATH": "/usr/bin:/bin"})
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if proc.returncode != 0:
        said = _tail(proc.stderr.decode("utf-8", "replace")) or f"exit {proc.returncode}"
        return (f"bubblewrap cannot make its namespaces here ({said}); a container's default "
                "seccomp profile or missing CAP_SYS_ADMIN refuses them")
    return ""


def seccomp_available() -> bool:
    """Whether libseccomp and its binding load here (the bwrap tier adds the filter where they do;
    the landlock and uid tiers' self-tests require them)."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError, AttributeError, TypeError):
        return False
    return True


def _env_files() -> list[str]:
    """Files a sandboxed Python must be able to read: the interpreter, the standard library, and
    the packages the probes import."""
    import importlib.util

    found = [os.path.realpath(sys.executable), os.__file__]
    for name in ("torch", "safetensors", "numpy", "pyseccomp"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            found.append(spec.origin)
    return found


def confine_policy(tier: str, uid: int | None, work: Path, device: str) -> dict:
    """What confine.apply does to a landlock- or uid-tier sandbox: its uid, the folders it may read
    (system libraries, the Python environment, /proc and /sys), the one it may write (its work
    folder) and the device files it may use."""
    read = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache",
            "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/proc", "/sys",
            *harness.environment_roots()]
    devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
    if device == "cuda":  # GPU passthrough: the NVIDIA device nodes and what the driver reads
        devices += [str(p) for p in sorted(Path("/dev").glob("nvidia*"))]
        read += ["/usr/local/nvidia", "/etc/nvidia"]
    return {"tier": tier, "uid": uid, "read": read, "write": [str(work)], "devices": devices}


def _test_confined(tier: str, device: str, forbidden: tuple[str, ...]) -> str:
    """Confine a fresh Python process exactly as a submission's, then check from inside that the
    Python environment is readable, the kit's `forbidden` paths are not, and nothing can make a
    network socket (confine.py's self_test)."""
    if not sys.platform.startswith("linux"):
        return "it needs Linux"
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError, AttributeError, TypeError) as exc:
        return (f"libseccomp cannot be loaded ({type(exc).__name__}: {exc}); install libseccomp2 "
                "and the pyseccomp package")
    from autograder import confine

    if tier == "landlock" and confine.landlock_abi() < 1:
        return ("the kernel has no Landlock (it needs Linux 5.13 or later with landlock in its "
                "lsm= list), or a seccomp profile refuses it")
    if tier == "uid" and os.geteuid() != 0:
        return "it needs a grader running as root, to give the sandbox a uid of its own"
    with claim_uid(tier) as uid, tempfile.TemporaryDirectory(prefix="autograder-selftest-") as work:
        if uid is not None:
            os.chown(work, uid, uid)
        policy = {**confine_policy(tier, uid, Path(work), device),
                  "forbidden": list(forbidden), "must_read": _env_files(),
                  "outside": tempfile.gettempdir()}
        proc = subprocess.run([sys.executable, "-I", confine.__file__, "--self-test",
                               json.dumps(policy)], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                              cwd=work, start_new_session=True)
    try:
        said = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"its self-test did not answer ({_tail(proc.stderr.decode('utf-8', 'replace'))})"
    if not isinstance(said, dict) or not said.get("ok"):
        return str(said.get("problem") if isinstance(said, dict) else said)
    return ""


def bwrap_argv(argv: list[str], workdir: Path, device: str,
               env: dict[str, str] | None = None, binds: tuple[tuple[str, str], ...] = (),
               workdir_bind: str = "--bind", tmp_mb: int | None = None) -> list[str]:
    """The bubblewrap command that runs `argv` (paths already as seen inside) in the sandbox,
    with exactly the variables of `env`. `binds` adds (host folder, inside) read-write binds, and
    `workdir_bind` says how the work folder appears (the zygote's own folder is read-only).
    `tmp_mb` sizes the private /tmp: a tmpfs, so its pages are RAM that RLIMIT_AS does not count,
    and without a size a submission could hold gigabytes of the host's memory there."""
    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox",
           "--clearenv"]
    for key, value in (env or {}).items():
        cmd += ["--setenv", key, value]
    if os.geteuid() != 0:
        cmd.append("--unshare-user")  # without root, namespaces need a user namespace
    # Mounts apply in order and a later one hides what is under it: the private /tmp comes first,
    # so an environment that itself lives under /tmp (a CI checkout) is bound on top of it.
    if tmp_mb is None:  # the self-test and the zygote's own sandbox: the config's default
        tmp_mb = Limits.model_fields["tmp_memory_mb"].default
    cmd += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
            "--ro-bind", "/usr", "/usr"]
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


def discard(folder: Path) -> bool:
    """Remove a sandbox's folder, whatever tree a submission left in it (harness.remove_tree: no
    recursion, no link followed). A folder that cannot be removed is said on stderr and left, never
    raised: it must not fail this grading or the next. Returns whether it is gone."""
    try:
        harness.remove_tree(str(folder))
        return True
    except OSError as exc:
        print(f"autograder: could not remove {folder} ({exc}); it is left in place",
              file=sys.stderr)
        return False


def prepare_workdir(workdir: Path, uid: int | None) -> None:
    """Let the sandbox's uid (see `claim_uid`) write the work folder."""
    if uid is not None:
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, uid, uid)


def run_isolated(argv: list[str], workdir: Path, limits: Limits, timeout_s: float,
                 env: dict[str, str], log_path: Path, mode: str = "bwrap",
                 device: str = "cpu", pass_fds: tuple[int, ...] = (),
                 watch: QuotaWatch | None = None) -> SandboxResult:
    """Run `argv` (paths as seen inside: use `INSIDE` for the work folder in bwrap mode). In the
    landlock and uid tiers the harness confines itself (plan.json's `confine`), so it starts like
    `none` here. `watch` is asked every WATCH_S whether the sandbox must be stopped."""
    start = time.monotonic()
    if mode == "bwrap":
        argv = bwrap_argv(argv, workdir, device, env, tmp_mb=limits.tmp_memory_mb)
        env = {"PATH": env["PATH"]}  # for finding bwrap itself
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_limit_resources(limits), close_fds=True,
                                pass_fds=pass_fds)
        timed_out, stopped = False, ""
        deadline = start + timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    proc.wait(timeout=max(0.0, min(left, WATCH_S if watch else left)))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        timed_out = True
                        break
                    stopped = watch.check() if watch else ""
                    if stopped:
                        break
        finally:
            kill_session(proc.pid)
            proc.wait()
    return SandboxResult(None if timed_out or stopped else proc.returncode, timed_out,
                         time.monotonic() - start, stopped)


# --- one uid per running sandbox -----------------------------------------------------------------

_LOCKS = Path("/tmp/autograder-sandbox-uids")  # fixed, not $TMPDIR: every grader must see the same
_UID_SPAN = 64  # at most 64 sandboxes at once on one machine
# Where a machine's block of sandbox uids is drawn from. Graders in sibling containers share one
# kernel, and a container's sandbox uid is the host's same uid: with one fixed block, RLIMIT_NPROC
# (counted per uid, kernel-wide) would be shared by every container's sandboxes, and a grader on the
# host (which sees every container's processes) would kill theirs. So each machine, or container,
# draws a random block once: from a wide range far above distributions' allocations where its user
# namespace maps it, else from the block Debian reserves and never allocates (65000-65533; a
# user namespace that maps only 65536 uids, as rootless or remapped containers do, has it).
_WIDE_BASES = range(0x40000000, 0x70000000, _UID_SPAN)
_DEBIAN_BASES = range(65000, 65533 - _UID_SPAN + 2, _UID_SPAN)


def _mapped(first: int, last: int) -> bool:
    """Whether this user namespace maps every uid in [first, last]."""
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
    except OSError:
        return False
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            start, count = int(parts[0]), int(parts[2])
            if start <= first and last < start + count:
                return True
    return False


def sandbox_uids() -> range:
    """This machine's sandbox uids: a block of 64 drawn at random on first use and kept beside the
    uid locks, so that every grader on the machine (or in the container) uses the same block."""
    import random

    stored = _LOCKS / "uid-base"
    try:
        base = int(stored.read_text())
    except (OSError, ValueError):
        bases = _WIDE_BASES if _mapped(_WIDE_BASES[0], _WIDE_BASES[-1] + _UID_SPAN) else _DEBIAN_BASES
        base = random.SystemRandom().choice(bases)
        _LOCKS.mkdir(mode=0o700, exist_ok=True)
        tmp = _LOCKS / f"uid-base.{os.getpid()}"
        tmp.write_text(f"{base}\n")
        try:
            os.link(tmp, stored)  # atomic: the first grader's draw wins, later ones read it
        except FileExistsError:
            base = int(stored.read_text())
        finally:
            tmp.unlink()
    return range(base, base + _UID_SPAN)


def __getattr__(name: str):
    if name == "SANDBOX_UIDS":  # drawn on first use, not at import (see sandbox_uids)
        return sandbox_uids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


_KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl syscall's number (Python has no wrapper)
_KEYCTL_GET_PERSISTENT, _KEYCTL_CLEAR = 22, 7
_KEY_SPEC = {"process": -2, "user": -4, "user session": -5}


def clear_keyrings(uid: int) -> None:
    """Empty the kernel keyrings that outlive a process of `uid`: its user keyring, its user
    session keyring and its persistent keyring. A key that one submission adds there would be read
    by the next sandbox to run as the same uid (the seccomp filter refuses add_key and keyctl, but
    a tier may run without it, and a grader killed mid-grading leaves what it had). A forked child
    becomes the uid, since only the owner can name them; where keyctl is refused (Docker's default
    seccomp profile) or unknown for the machine, there is nothing a submission could have put."""
    import ctypes
    import platform

    number = _KEYCTL.get(platform.machine())
    if number is None:
        return
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    try:
        pid = os.fork()
    except OSError as exc:  # the machine is out of processes: say so, the grading goes on
        print(f"autograder: could not empty the keyrings of sandbox uid {uid}: {exc}",
              file=sys.stderr)
        return
    if pid == 0:  # pragma: no cover - the child only makes raw calls, then exits
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for spec in ("user", "user session"):
                syscall(number, _KEYCTL_CLEAR, _KEY_SPEC[spec])
            persistent = syscall(number, _KEYCTL_GET_PERSISTENT, -1, _KEY_SPEC["process"])
            if persistent > 0:
                syscall(number, _KEYCTL_CLEAR, persistent)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


@contextmanager
def claim_uid(mode: str):
    """The uid that one sandbox's code runs as, held for as long as the sandbox runs (None where
    no uid is dropped: `--sandbox none`, or a grader that is not root).

    Each running sandbox has its own uid, so a batch grading several submissions at once keeps them
    apart: RLIMIT_NPROC counts per uid (a fork storm in one cannot starve its neighbour of
    processes) and a process can signal only its own uid's. Whatever still runs as the uid when it
    is claimed (left by a grader that died mid-grading) is killed first, and again at release; the
    uid's kernel keyrings are emptied at both points too (clear_keyrings)."""
    if mode not in TIERS or os.geteuid() != 0:
        yield None
        return
    _LOCKS.mkdir(mode=0o700, exist_ok=True)
    uids = sandbox_uids()
    while True:
        for uid in uids:
            fd = _try_lock(uid)
            if fd is None:
                continue
            try:
                kill_uid(uid)
                clear_keyrings(uid)
                yield uid
            finally:
                kill_uid(uid)
                clear_keyrings(uid)
                os.close(fd)  # releases the lock
            return
        time.sleep(0.1)  # more than 64 sandboxes at once: wait for one to finish


def stray_processes() -> list[tuple[int, int]]:
    """(pid, uid) of processes running as a sandbox uid that no grading holds: leftovers."""
    if not _LOCKS.is_dir():
        return []
    found = []
    for uid in sandbox_uids():
        fd = _try_lock(uid)
        if fd is None:
            continue  # a grading holds it: its processes are its own business
        try:
            found += [(pid, uid) for pid in _processes_of(uid)]
        finally:
            os.close(fd)
    return found
