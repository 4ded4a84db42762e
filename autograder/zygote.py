"""A warm sandbox: one bubblewrap sandbox per grading process that has imported torch once, and
forks a fresh, isolated process tree for each submission (the trusted side; the sandbox side is
`zygote()` in harness.py).

Why: a cold sandbox pays bwrap, Python, `import torch` and PyTorch's first-use costs (about 2.5 s
here) for every submission, more than the probes of a whole assignment take. Forking a process
that has already paid them costs milliseconds.

Why it is safe. A cold start gives each submission a fresh process tree, filesystem view, uid and
namespaces. The warm start gives each submission the same, built by the zygote's child before any
file of the submission is read:

- *Memory.* The zygote never reads a submission, runs student code, or holds a secret: it imports
  torch, runs a fixed warm-up on constant inputs, and waits. Each job is a fork of that same
  pristine image; what a job writes to its memory is copy-on-write and dies with it. So no job can
  see another's data or leave anything for the next, and every job starts from identical state (a
  cold start's state, up to address layout: the fork shares the zygote's, which gives a student
  nothing but knowledge of their own sandbox).
- *Processes.* Each job gets a new pid namespace whose init is the job's own (when the harness
  ends, the kernel kills everything left in it) and its own claimed uid (`claim_uid`), whose
  processes are killed at release as in a cold start. The zygote runs as root outside that pid
  namespace: job code can neither see nor signal nor ptrace it (another uid, and no capabilities:
  the job drops to its uid before anything of the submission is read, and setuid clears them).
- *Files.* A new mount namespace per job: the job's own work folder over /sandbox, the folder of
  all jobs unmounted, a fresh tmpfs on /tmp (mode 1777, sized `tmp_memory_mb`, `nr_inodes` from
  `max_files`, as a cold sandbox's bwrap `--size` /tmp), a 1 MiB root-owned /dev/shm, and a fresh
  /proc. Everything else is the same read-only view a cold sandbox has.
- *System calls.* Once the job's harness is its uid, it installs the same seccomp filter as a cold
  bwrap sandbox (confine.py, loaded by the zygote at start: libseccomp is found by ldconfig, which
  the job can no longer run).
- *IPC and network.* A new IPC namespace (SysV shared memory, semaphores, message queues, POSIX
  queues) and a new network namespace (no interfaces, no abstract unix sockets of another job).
- *Limits.* The same rlimits as a cold start, set in the job's harness before it drops its uid.
- *The control socket* is closed in the job's child at once; the channel (the only descriptor a
  job keeps) goes to the harness parent alone, exactly as in a cold start.

tests/test_sandbox.py runs a submission that leaves something behind in each of these places and a
second one in the same zygote that looks for it; tests/adversarial runs every attack both ways.

The landlock and uid tiers (no namespaces: inside Docker, Gradescope, Kubernetes) keep the same
warm start without bubblewrap: the zygote is a plain root process that imports torch and waits, and
each job is a fork that confines *itself* (confine.py: its own uid, no_new_privs, Landlock, seccomp)
before it reads anything of the submission. Why that is as safe as a fresh process: a fresh
process would be started by the same root parent and apply the same restrictions at its start;
the fork differs only in what it inherits, and it inherits nothing of value. Its memory is the
zygote's pristine image (no submission, no secret: the zygote never reads either). Its descriptors
are closed but the channel and /dev/null, before confining. Its credentials, capabilities,
Landlock domain and seccomp filter are set by the job itself and can never be lifted (Landlock and
seccomp are inherited by every child and are irreversible; after setuid to a non-root uid with
no_new_privs nothing regains root). The zygote runs no thread (torch is single-threaded here), so
the fork holds no lock another thread held. What the tier lacks against bwrap is the namespaces:
no private pid view (a submission can list other processes in /proc), no private /tmp (it gets a
tmp inside its work folder), no mount view (paths outside are visible by name, unreadable).

`AUTOGRADER_SANDBOX_START=cold` turns the zygote off (a fresh sandbox per submission). It is used
only where it can be built: as root (the zygote drops each job to a sandbox uid); elsewhere every
submission starts cold.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder import harness
from autograder.config import Limits
from autograder import confine
from autograder.sandbox import (INSIDE, TIERS, WATCH_S, QuotaWatch, SandboxResult, bwrap_argv,
                                discard, kill_session, kill_uid, rlimits, sandbox_env)

BROKEN_JOB = 125        # the job's namespaces could not be built: the zygote, not the submission
_KILL_GRACE_S = 10.0    # after a timeout, how long the job's tree may take to be reaped


_PREFIX = "autograder-zygote-"


def _sweep() -> None:
    """Remove the folders of zygotes whose grading process is gone (one killed, or ended without
    running its exit handlers, as pool workers may)."""
    try:
        found = list(Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"))
    except OSError:
        return
    for folder in found:
        try:
            pid = int(folder.name[len(_PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ValueError:
            continue  # not named by this code
        except ProcessLookupError:
            discard(folder)  # a failure is said and left: never fatal for this grading
        except OSError:
            continue  # alive, as another user


class Unavailable(Exception):
    """The zygote cannot start or serve here; the caller starts this submission cold."""


def enabled(mode: str) -> bool:
    return (mode in TIERS and os.geteuid() == 0
            and os.environ.get("AUTOGRADER_SANDBOX_START", "warm") != "cold")


class Zygote:
    def __init__(self, device: str, threads: int, startup_timeout_s: float, tier: str = "bwrap",
                 warm: str = ""):
        self.device, self.threads, self.tier = device, threads, tier
        self.broken: str | None = None  # why no job can run here at all (then never restarted)
        _sweep()
        self.root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.jobs = self.root / "jobs"
        boot = self.root / "boot"
        self.jobs.mkdir()
        boot.mkdir()
        shutil.copy(harness.__file__, boot / "harness.py")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        shutil.copy(confine.__file__, boot / "confine.py")  # every tier's seccomp filter
        if tier == "bwrap":
            env = sandbox_env(boot, threads, device, "bwrap")
            argv = bwrap_argv([sys.executable, "-I", f"{INSIDE}/harness.py", "--zygote",
                               str(theirs.fileno()), str(threads), tier, warm], boot, device, env,
                              binds=((str(self.jobs), "/jobs"),), workdir_bind="--ro-bind")
            popen_env = {"PATH": env["PATH"]}
        else:  # no namespaces: a plain root process; each job confines itself (confine.py)
            # a job's uid must reach its own folder, and list nothing on the way
            for folder in (self.root, self.jobs):
                folder.chmod(0o711)
            popen_env = sandbox_env(boot, threads, device, tier)
            argv = [sys.executable, "-I", str(boot / "harness.py"), "--zygote",
                    str(theirs.fileno()), str(threads), tier, warm]
        self.log_path = self.root / "zygote.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=popen_env, stdin=subprocess.DEVNULL, cwd=boot,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, close_fds=True,
                                         pass_fds=(theirs.fileno(),))
        theirs.close()
        try:
            hello = self._receive(time.monotonic() + startup_timeout_s)
        except Unavailable:
            self.close()
            raise
        if not hello.get("ready"):
            self.close()
            raise Unavailable(f"the warm sandbox could not start: {hello.get('error', '?')}")
        self.torch_version = hello.get("torch")

    def _receive(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except OSError as exc:
            raise Unavailable(f"the warm sandbox stopped answering ({exc})") from None
        if not data:
            tail = self.log_path.read_bytes()[-600:].decode("utf-8", "replace").strip()
            raise Unavailable(f"the warm sandbox exited ({tail or 'no output'})")
        try:
            message = json.loads(data)
        except ValueError:
            raise Unavailable("the warm sandbox said something unreadable") from None
        if not isinstance(message, dict):
            raise Unavailable("the warm sandbox said something unreadable")
        return message

    def run(self, work: Path, uid: int, limits: Limits, channel: int, timeout_s: float,
            policy: dict | None = None, watch: QuotaWatch | None = None,
            seccomp: bool = False) -> SandboxResult:
        """Run the harness on `work` (a folder under self.jobs) as `uid`, like `run_isolated`;
        `policy` is how a landlock- or uid-tier job confines itself (sandbox.confine_policy),
        `seccomp` whether a bwrap-tier job installs the seccomp filter, and `watch` is asked every
        WATCH_S whether the job must be stopped."""
        start = time.monotonic()
        job = {"name": work.name, "uid": uid, "limits": rlimits(limits), "seccomp": seccomp}
        if self.tier != "bwrap":
            job.update(work=str(work), policy=policy)
        try:
            socket.send_fds(self.sock, [json.dumps(job).encode()], [channel])
        except OSError as exc:
            self.close()
            raise Unavailable(f"the warm sandbox is gone ({exc})") from None
        timed_out, stopped = False, ""
        deadline = start + timeout_s
        try:
            try:
                while True:
                    step = min(deadline, time.monotonic() + WATCH_S) if watch else deadline
                    try:
                        done = self._receive(step)
                        break
                    except TimeoutError:
                        if time.monotonic() >= deadline:
                            raise
                        stopped = watch.check()
                        if stopped:
                            raise
            except TimeoutError:
                timed_out = not stopped
                kill_uid(uid)  # the harness and all it started; the job's init then ends too
                done = self._receive(time.monotonic() + _KILL_GRACE_S)
        except (TimeoutError, Unavailable):
            self.close()
            if timed_out or stopped:  # the job was over its time or quota anyway
                return SandboxResult(None, timed_out, time.monotonic() - start, stopped)
            raise Unavailable("the warm sandbox stopped during a job") from None
        if done.get("done") != work.name or not isinstance(done.get("returncode"), int):
            self.close()
            raise Unavailable(f"the warm sandbox failed a job: {done.get('error', done)}")
        if done["returncode"] == BROKEN_JOB:
            self.broken = ("the warm sandbox could not build a job's namespaces ("
                           + self.log_path.read_bytes()[-600:].decode("utf-8", "replace").strip() + ")")
            self.close()
            raise Unavailable(self.broken)
        return SandboxResult(None if timed_out or stopped else done["returncode"], timed_out,
                             time.monotonic() - start, stopped)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.sock.fileno() != -1

    def close(self) -> None:
        try:
            self.sock.close()  # the zygote reads the end of its socket and exits
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        finally:
            kill_session(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            discard(self.root)


_zygotes: dict[tuple, Zygote] = {}
_failed: dict[tuple, str] = {}
_lock = threading.Lock()


def get(device: str, limits: Limits, tier: str = "bwrap", warm: str = "") -> Zygote:
    """This process's zygote of `tier` for `device` and the limits' thread count, started on first
    use. Raises Unavailable (once said on stderr, then remembered) where it cannot start.

    `warm` "export" asks a zygote started now to pay torch.export's first use before its first job
    (harness._warm_up); a zygote already running serves the plan as it is, only that slower."""
    key = (device, limits.threads, tier)
    with _lock:
        if key in _failed:
            raise Unavailable(_failed[key])
        zygote = _zygotes.get(key)
        if zygote is not None and not zygote.alive:
            zygote.close()
            del _zygotes[key]
            if zygote.broken:
                _failed[key] = zygote.broken
                _say(zygote.broken)
                raise Unavailable(zygote.broken)
            zygote = None
        if zygote is None:
            try:
                zygote = Zygote(device, limits.threads, limits.startup_timeout_s, tier, warm)
            except (Unavailable, OSError) as exc:
                _failed[key] = str(exc)
                _say(str(exc))
                raise Unavailable(str(exc)) from None
            _zygotes[key] = zygote
        return zygote


def _say(problem: str) -> None:
    print(f"autograder: {problem}; every submission starts its own sandbox instead (slower, as "
          "safe)", file=sys.stderr)


@atexit.register
def close_all() -> None:
    with _lock:
        for zygote in _zygotes.values():
            try:
                zygote.close()
            except Exception:  # noqa: BLE001 - at exit, best effort
                pass
        _zygotes.clear()
