"""The probe harness: the only program that runs inside the sandbox.

It is copied into the sandbox's work folder and run as a script there, so it imports nothing of the
`autograder` package (the repository is not visible inside the sandbox). Layout of the work folder:

    harness.py  executor.py  submission.py  plan.json  inputs.safetensors  out/

The harness imports torch once (the expensive part), then forks one child per probe. A child imports
the student's module, follows the probe's recipe from plan.json with executor.py (which calls the
student's code and ships the values that came back, nothing else) and writes `out/<probe>.json` (+
`out/<probe>.safetensors`). No assignment's own code enters the sandbox. The parent enforces each
probe's wall-clock timeout by killing the child's process group, then forwards how the child ended
and what it wrote to the *channel*: a file descriptor onto a file outside the sandbox. Children
close the channel as they start, and the parent makes itself non-dumpable so they cannot reopen it
through /proc or ptrace it; so a record on the channel is always the parent's account of a finished
child. A child that kills the parent only cuts the channel short.

Everything here still runs beside student code and is treated as untrusted: the trusted side validates
every byte it reads back and recomputes every outcome.
"""
from __future__ import annotations

import json
import os
import resource  # at the top: set_limits also runs as a preexec_fn, where importing is unsafe
import select
import signal
import sys
import time
import traceback

OUT = "out"
SUBMISSION = "submission.py"
READY = "_ready"  # the channel's first record: the sandbox is up, and no student code has run yet


def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _student_line(tb) -> int | None:
    """Line of the innermost traceback frame inside the student's module."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if os.path.basename(frame.f_code.co_filename) == SUBMISSION:
            line = lineno
    return line


def describe(exc: BaseException) -> dict:
    try:
        text = str(exc)
    except BaseException:  # a hostile __str__
        text = "<message unavailable>"
    if isinstance(exc, SystemExit):
        kind = "exit"
        text = f"sys.exit({exc.code!r}) was called"
    elif isinstance(exc, KeyboardInterrupt):
        kind = "exit"
        text = "KeyboardInterrupt was raised"
    else:
        kind = "exception"
    line = _student_line(exc.__traceback__)
    if isinstance(exc, SyntaxError) and os.path.basename(exc.filename or "") == SUBMISSION:
        line = exc.lineno  # compile errors have no frame in the student's file
        text = exc.msg or text
    try:
        call = getattr(exc, "autograder_call", None)  # the executor's step that raised it
    except BaseException:  # noqa: BLE001 - a hostile __getattr__
        call = None
    return {"kind": kind, "type": type(exc).__name__, "message": text[:2000], "line": line,
            **({"call": call[:160]} if isinstance(call, str) else {})}


def _import_student():
    import importlib.util

    spec = importlib.util.spec_from_file_location("submission", os.path.abspath(SUBMISSION))
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _seed(plan: dict) -> None:
    import random

    seed = plan["seed"]
    random.seed(seed)
    if plan.get("torch", True):
        import numpy as np
        import torch

        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)


def _run_child(spec: dict, plan: dict, inputs: dict, executor) -> None:
    """The probe's child: import the student's module, follow the probe's recipe (executor.py),
    and write the values it shipped (JSON, and tensors through safetensors)."""
    name = spec["name"]
    _seed(plan)
    result: dict = {"status": "error"}
    try:
        executor.before_import(spec["recipe"])
        student = _import_student()
    except BaseException as exc:  # noqa: BLE001 - anything the student's import does is data
        result.update(stage="import", **describe(exc))
        _write_json(f"{OUT}/{name}.json", result)
        return
    _seed(plan)  # the student's import may have drawn random numbers
    try:
        data, tensors = executor.run(spec["recipe"], student, inputs, plan["device"])
        if tensors:
            from safetensors.torch import save_file

            save_file(tensors, f"{OUT}/{name}.safetensors.tmp")
            os.replace(f"{OUT}/{name}.safetensors.tmp", f"{OUT}/{name}.safetensors")
        result = {"status": "ok", "data": data}
    except BaseException as exc:  # noqa: BLE001
        result.update(stage="probe", **describe(exc))
    _write_json(f"{OUT}/{name}.json", result)


def remove_tree(path: str) -> None:
    """Delete `path` and everything under it, however deep, without following a link.

    `shutil.rmtree` recurses once per level, so a submission's tree a few thousand folders deep
    raises RecursionError (which `ignore_errors` does not catch) and is left behind, on disk and
    in the way of the next grading. This walks with directory descriptors instead: no recursion,
    no path-length limit, at most two descriptors open. A folder of another filesystem (a mount
    point: the warm bwrap job binds a Python environment that lives under /tmp back into its fresh
    /tmp) is never entered. What cannot be removed is skipped, and an OSError then names it once
    the rest is gone. Used by the trusted side too."""
    import stat

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(path, flags)
    names: list[str] = []          # the folders entered below `path`, outermost first
    stuck: set[tuple[int, int]] = set()
    try:
        while True:
            try:
                os.fchmod(fd, 0o700)  # a folder its owner made unwritable (matters only without root)
            except OSError:
                pass
            child = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        key = (entry.stat(follow_symlinks=False).st_dev, entry.inode())
                    except OSError:
                        continue  # gone meanwhile
                    if key in stuck:
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if key[0] != info.st_dev:
                                stuck.add(key)  # a mount point: not ours to empty
                                continue
                            child = entry.name
                            break
                        os.unlink(entry.name, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                    except OSError:
                        stuck.add(key)
            if child is not None:
                try:
                    inner = os.open(child, flags, dir_fd=fd)
                except OSError:
                    stuck.add(key)
                    continue
                os.close(fd)
                fd = inner
                names.append(child)
                continue
            if not names:
                break
            here = os.fstat(fd)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            name = names.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                stuck.add((here.st_dev, here.st_ino))
    finally:
        os.close(fd)
    os.rmdir(path)  # raises where something inside could not be removed


MAX_DEPTH = 100  # folders nested deeper than this are a quota breach: no honest probe makes them


def usage(path: str, stop_entries: int | None = None) -> tuple[int, int, bool]:
    """(bytes allocated, files and folders, too deep) under `path`, not counting `path` itself.

    Counts blocks actually allocated (a sparse file costs what it holds), each inode once (hard
    links), and follows no link. Walks with one descriptor per level, so a folder renamed during
    the walk cannot lead it elsewhere; stops descending below MAX_DEPTH levels (and says so), and
    stops counting once `stop_entries` is passed: a million files cost one bounded walk."""
    import stat

    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        top = os.open(path, flags)
    except OSError:
        return 0, 0, False
    total = entries = 0
    deep = False
    linked: set[tuple[int, int]] = set()
    stack = [(top, None)]  # (descriptor, its subfolders still to visit; None until listed)
    try:
        while stack:
            fd, todo = stack[-1]
            if todo is None:
                todo = []
                try:
                    with os.scandir(fd) as listing:
                        for entry in listing:
                            try:
                                info = entry.stat(follow_symlinks=False)
                            except OSError:
                                continue  # gone meanwhile
                            entries += 1
                            if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                                key = (info.st_dev, info.st_ino)
                                if key in linked:
                                    continue
                                linked.add(key)
                            total += info.st_blocks * 512
                            if stat.S_ISDIR(info.st_mode):
                                todo.append(entry.name)
                            if stop_entries is not None and entries > stop_entries:
                                return total, entries, deep
                except OSError:
                    pass
                stack[-1] = (fd, todo)
            if todo and len(stack) > MAX_DEPTH:
                deep = True
                todo = []
            if not todo:
                os.close(stack.pop()[0])
                continue
            try:
                stack.append((os.open(todo.pop(), flags, dir_fd=fd), None))
            except OSError:
                continue
    finally:
        for fd, _ in stack:
            os.close(fd)
    return total, entries, deep


def open_deleted(pids) -> int:
    """Bytes held by files that processes `pids` keep open after deleting them (a memfd too):
    invisible to a walk, and still taking disk or RAM. Processes it may not look into are
    skipped."""
    import stat

    total, seen = 0, set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            link = f"/proc/{pid}/fd/{fd}"
            try:
                if not os.readlink(link).endswith(" (deleted)"):
                    continue
                info = os.stat(link)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if stat.S_ISREG(info.st_mode) and key not in seen:
                seen.add(key)
                total += info.st_blocks * 512
    return total


def mount_usage(path: str) -> tuple[int, int]:
    """(bytes, inodes) in use on the filesystem at `path`: the bwrap sandbox's own /tmp."""
    try:
        info = os.statvfs(path)
    except OSError:
        return 0, 0
    return (info.f_blocks - info.f_bfree) * info.f_frsize, max(0, info.f_files - info.f_ffree)


def over_quota(written: int, files: int, deep: bool, quota: dict, factor: float = 1.0) -> str:
    """Why usage breaks the submission's quota ("" where it does not), in a student's words.
    `factor` scales the quota: the trusted side's backstop allows twice what the harness does."""
    mb = 1024 * 1024
    limit_bytes = quota["max_written_mb"] * mb * factor
    limit_files = quota["max_files"] * factor
    if written > limit_bytes:
        return (f"your code wrote more than {_size(limit_bytes)} to disk and tmp (the limit for a "
                f"submission; it held {_size(written)})")
    if files > limit_files:
        return f"your code made more than {int(limit_files)} files and folders (the limit for a submission)"
    if deep:
        return f"your code made folders nested more than {MAX_DEPTH} deep"
    return ""


def _size(n: float) -> str:
    gib = 1024 ** 3
    return f"{n / gib:g} GiB" if n >= gib and n % (gib // 16) == 0 else f"{n / 1024 ** 2:.0f} MiB"


def _read_regular(path: str, cap: int) -> bytes | None:
    """A child's output file, if it is a plain file within `cap` bytes (never a FIFO or a link)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        chunks, left = [], cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= cap else None
    finally:
        os.close(fd)


def _forward(channel: int, name: str, record: dict, cap: int) -> None:
    """Append one probe's record to the channel: a JSON header line, then the tensor bytes."""
    result = _read_regular(f"{OUT}/{name}.json", cap)
    tensors = _read_regular(f"{OUT}/{name}.safetensors", cap) or b""
    header = {"name": name, "status": record, "tensor_bytes": len(tensors),
              "result": result.decode("utf-8", "replace") if result is not None else None}
    _send_record(channel, header, tensors)


def _send_record(channel: int, header: dict, tensors: bytes = b"") -> None:
    payload = json.dumps(header).encode() + b"\n" + tensors
    view = memoryview(payload)
    while view:
        view = view[os.write(channel, view):]


def _make_undumpable() -> None:
    """PR_SET_DUMPABLE 0: processes of the same uid can no longer open /proc/<pid>/fd/* or
    ptrace this one."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


WATCH_S = 0.05  # how often the harness measures a running probe's writes against the quota


def _wait(pid: int, timeout: float, watch=None) -> tuple[bool, int, str]:
    """Wait for `pid` up to `timeout` seconds, calling `watch()` every WATCH_S. Returns (finished,
    wait status, why it was stopped early: `watch`'s answer, "" when it never objected)."""
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return True, status, ""
            if watch is not None:
                breach = watch()
                if breach:
                    return False, 0, breach
            left = deadline - time.monotonic()
            if left <= 0:
                return False, 0, ""
            if fd is not None:
                select.select([fd], [], [], min(left, WATCH_S))
            else:
                time.sleep(min(0.01, left))
    finally:
        if fd is not None:
            os.close(fd)


class _Quota:
    """The submission's quota, watched from the harness parent while each probe runs.

    What counts: everything in the work folder (the landlock and uid tiers' tmp is inside it) and
    the bwrap sandbox's own /tmp mount, beyond what the trusted side put there, plus files that the
    submission's processes deleted but keep open. A probe over the quota is killed, with everything
    it started, and what it added is removed, so the probes after it run as if it had not.

    The trusted side watches too (sandbox.QuotaWatch), at twice the quota, for a submission that
    kills this process first."""

    def __init__(self, plan: dict):
        self.quota = plan["quota"]
        self.tmp_mount = self.quota.get("tmp_mount")
        self.kill_all = bool(self.quota.get("kill_all"))
        self.names = set(os.listdir("."))  # what the trusted side wrote
        self.base_bytes, self.base_entries, _ = usage(".")
        self.base_tmp = mount_usage(self.tmp_mount) if self.tmp_mount else (0, 0)
        self.pid = None

    def _pids(self) -> list[int]:
        """The submission's processes: every one this uid has (a uid or a pid namespace of its
        own), else the probe's process group."""
        me, found = os.getpid(), []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                if self.kill_all:
                    if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                        continue
                elif os.getpgid(int(entry)) != self.pid:
                    continue
            except OSError:
                continue
            found.append(int(entry))
        return found

    def check(self) -> str:
        limit = self.quota["max_files"] + self.base_entries
        written, entries, deep = usage(".", stop_entries=limit)
        written -= self.base_bytes
        entries -= self.base_entries
        if self.tmp_mount:
            tmp_bytes, tmp_inodes = mount_usage(self.tmp_mount)
            written += tmp_bytes - self.base_tmp[0]
            entries += tmp_inodes - self.base_tmp[1]
        if self.pid is not None:
            written += open_deleted(self._pids())
        return over_quota(written, entries, deep, self.quota)

    def stop(self, pid: int) -> None:
        """Kill the probe's process `pid` and everything the submission started."""
        try:
            if self.kill_all:
                os.kill(-1, signal.SIGKILL)  # every process of this uid or pid namespace but this one
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    def roll_back(self, name: str, done: list[str]) -> None:
        """Remove what the probe `name` added: new files of the work folder, everything in tmp,
        and its outputs (its log is cut short: part of a flood may be printing)."""
        def remove(path):
            try:
                remove_tree(path)
            except OSError:
                pass
        for entry in os.listdir("."):
            if entry not in self.names:
                remove(entry)
        keep = {f"{READY}.json"} | {f"{n}{suffix}" for n in done for suffix in (".json", ".safetensors", ".log")}
        for entry in os.listdir(OUT):
            if entry not in keep and entry != f"{name}.log":
                remove(os.path.join(OUT, entry))
        try:
            if os.path.getsize(f"{OUT}/{name}.log") > 65536:
                os.truncate(f"{OUT}/{name}.log", 0)
        except OSError:
            pass
        tmp = self.tmp_mount or "tmp"
        try:
            for entry in os.listdir(tmp):
                remove(os.path.join(tmp, entry))
        except OSError:
            pass


def _make_dumpable() -> None:
    """The probe child undoes _make_undumpable (it holds no channel), so the harness parent can
    see which deleted files it keeps open (_Quota.check)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_probe(spec: dict, plan: dict, inputs: dict, executor, quota: _Quota | None = None,
               done: list[str] = ()) -> str:
    """Run one probe in a child and forward its record. Returns why the submission's quota is
    still broken after it ("" normally): then no further probe can run."""
    name = spec["name"]
    for suffix in (".json", ".safetensors", ".log"):
        try:
            os.remove(f"{OUT}/{name}{suffix}")
        except FileNotFoundError:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    channel = plan.get("channel_fd")
    pid = os.fork()
    if pid == 0:  # child: its own process group, so a timeout kills everything it started
        try:
            if channel is not None:
                os.close(channel)  # before any student code: the channel is the parent's alone
            _make_dumpable()
            os.setpgid(0, 0)
            log = os.open(f"{OUT}/{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            _run_child(spec, plan, inputs, executor)
        except BaseException:  # noqa: BLE001
            pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(0)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it, or already exited
    if quota is not None:
        quota.pid = pid
    finished, status, breach = _wait(pid, spec["timeout_s"], quota.check if quota else None)
    record = {"seconds": round(time.monotonic() - start, 3)}
    if finished:
        record["status"] = "exited"
        if os.WIFSIGNALED(status):
            record["signal"] = os.WTERMSIG(status)
        else:
            record["exit_code"] = os.WEXITSTATUS(status)
    else:
        record["status"] = "timeout"
    # whatever the child left behind (a timed-out child, its own children, a process it detached)
    if quota is not None:
        quota.stop(pid)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    if not finished:
        os.waitpid(pid, 0)
    if quota is not None:
        breach = breach or quota.check()  # a probe that wrote fast and ended before a look
        quota.pid = None
        if breach:
            record = {**record, "status": "quota", "reason": breach}
            quota.roll_back(name, done)
    if channel is not None:
        _forward(channel, name, record, plan["max_output_bytes"])
    return quota.check() if quota is not None and breach else ""


def _warm_up(export: bool = False) -> None:
    """Pay PyTorch's lazy first-use costs once, before forking, instead of once per probe.

    Building the first optimizer imports torch._dynamo (about 1.5 s). With `export` (a plan that
    turns modules into graphs), the first torch.export too: about 0.45 s of set-up that every job
    forked from here would otherwise pay again. Everything here is CPU-only and single-threaded,
    so no thread pool or CUDA context exists at fork time.
    """
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 2))
    for opt in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True),
                torch.optim.Adam(model.parameters())):
        for X, y in DataLoader(TensorDataset(torch.randn(4, 2), torch.tensor([0, 1, 0, 1])),
                               batch_size=2):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
    if export:  # the same call as executor._export, on a throwaway module
        try:
            batch = torch.export.Dim("batch", min=2, max=4096)
            torch.export.export(nn.Linear(2, 1), (torch.zeros(4, 2),), dynamic_shapes=({0: batch},))
        except Exception:  # noqa: BLE001 - only a head start: each job's own export then pays it
            pass


def _drop_privileges(uid) -> None:
    """Started as root inside bwrap: become `uid` before any student code exists, so that
    RLIMIT_NPROC applies (the kernel exempts root) and nothing runs with root's rights."""
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _filter_syscalls() -> None:
    """The bwrap tier's seccomp filter, once the process is its uid: the same one the landlock tier
    installs (confine.py: no preallocation, no ptrace, no mount or namespace calls, no SysV IPC).
    Unix sockets stay allowed: the network namespace already keeps them inside the sandbox."""
    import confine

    confine.no_new_privs()
    confine.seccomp_filter(unix_sockets=True)


def _prepare(threads: int, uses_torch: bool, export: bool = False) -> str | None:
    """The expensive, submission-independent start: import torch and pay its first-use costs
    (`export`: torch.export's too, see _warm_up). Returns the torch version (None when the plan
    needs no torch)."""
    if not uses_torch:
        return None
    import torch
    from safetensors.torch import load_file  # noqa: F401  (imported here, used by _serve)

    # One thread: fork is only safe before a thread pool exists, and results stay bit-exact.
    torch.set_num_threads(threads)
    _warm_up(export)
    return torch.__version__


def _serve(plan: dict, version: str | None) -> None:
    """Run one submission's probes, in the work folder (the current directory), as its uid."""
    _make_undumpable()
    os.makedirs(OUT, exist_ok=True)
    inputs = {}
    if plan.get("torch", True) and os.path.exists("inputs.safetensors"):
        from safetensors.torch import load_file

        inputs = load_file("inputs.safetensors")
    import executor

    # No CUDA call here: a CUDA context must not exist before fork; each child makes its own.
    _write_json(f"{OUT}/_ready.json", {"torch": version})
    channel = plan.get("channel_fd")
    if channel is not None:  # the parent's word that the sandbox started, before any student code
        _send_record(channel, {"name": READY, "torch": version, "tensor_bytes": 0, "result": None})
    quota = _Quota(plan) if plan.get("quota") else None
    done: list[str] = []
    for i, spec in enumerate(plan["probes"]):
        stuck = _run_probe(spec, plan, inputs, executor, quota, done)
        done.append(spec["name"])
        if stuck:  # what it added could not all be removed: nothing after it can run fairly
            for later in plan["probes"][i + 1:] if channel is not None else ():
                _send_record(channel, {"name": later["name"], "tensor_bytes": 0, "result": None,
                                       "status": {"status": "quota", "seconds": 0, "reason": stuck}})
            break
    _write_json(f"{OUT}/_done.json", {"ok": True})


def main(workdir: str) -> None:
    """A cold start: one sandbox, one submission."""
    os.chdir(workdir)
    sys.path.insert(0, os.getcwd())
    with open("plan.json") as f:
        plan = json.load(f)
    if plan.get("confine"):  # the landlock and uid tiers: no namespaces, so confine this process
        import confine

        confine.apply(plan["confine"])
    else:
        if plan.get("seccomp"):
            import pyseccomp  # noqa: F401 - found by ldconfig, which needs the start's root
        _drop_privileges(plan.get("drop_to_uid"))
        if plan.get("seccomp"):
            _filter_syscalls()
    version = _prepare(plan["threads"], plan.get("torch", True))
    _serve(plan, version)


# --- the zygote: a warm sandbox that forks one fresh, isolated tree per submission -----------------
#
# Started once per grading process (see autograder/zygote.py for the trusted side and the safety
# argument). It runs as root inside bubblewrap with the namespaces' capabilities, imports torch, and
# then waits on its control socket. It never reads a submission and never runs student code: per job
# it forks a child that builds fresh namespaces and drops to the job's uid before any file of the job
# is read, so every submission starts from the same pristine image and nothing of one reaches the
# next.

_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWNET, _CLONE_NEWPID = 0x20000, 0x08000000, 0x40000000, 0x20000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      flags, data and data.encode()), f"mount {target}")


def environment_roots() -> list[str]:
    """The interpreter's and the environment's folders: what the sandbox binds read-only."""
    roots = {os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(roots)


def _die_with_parent(libc) -> None:
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_limits(limits: dict) -> None:
    """Address space, CPU time, file size and process limits, and no core files (the trusted side
    also applies them, through this function, before a cold sandbox starts)."""
    mb = 1024 * 1024
    for name, value in (("RLIMIT_AS", limits["memory_mb"] * mb), ("RLIMIT_CPU", limits["cpu_time_s"]),
                        ("RLIMIT_FSIZE", limits["max_file_mb"] * mb),
                        ("RLIMIT_NPROC", limits["max_processes"]), ("RLIMIT_CORE", 0)):
        value = int(value)
        resource.setrlimit(getattr(resource, name), (value, value))


def _close_fds(keep: set[int]) -> None:
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already closed


def _exit_code(status: int) -> int:
    """A wait status as one exit code: the code itself, or 128 + the signal that killed it."""
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _job(job: dict, channel: int, version: str | None) -> None:
    """Child of the zygote: build the submission's world, then run its probes. Never returns."""
    code = 1
    try:
        libc = _libc()
        _die_with_parent(libc)
        # New mount, IPC and network namespaces for this child; a new pid namespace for its children.
        _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWNET | _CLONE_NEWPID), "unshare")
        _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
        # A Python environment that lives under /tmp (a checkout in /tmp) would vanish under the
        # fresh tmpfs: hold it by a descriptor, then bind it back, read-only, as bubblewrap did.
        kept = [(root, os.open(root, os.O_PATH | os.O_DIRECTORY)) for root in environment_roots()
                if root.startswith(("/tmp/", "/dev/shm/"))]
        # A fresh, sized /tmp the job's uid may write, as a cold sandbox has (its pages are RAM
        # outside RLIMIT_AS, so the size is the cap); /dev/shm empty and root's, as bubblewrap's.
        tmp_mb = int(job["limits"]["tmp_memory_mb"])  # sandbox.rlimits
        inodes = int(job["limits"]["max_files"]) + 16  # the harness counts them against the quota too
        _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV,
               f"mode=1777,size={tmp_mb}m,nr_inodes={inodes}")
        _mount(libc, "tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for root, fd in kept:
            os.makedirs(root, mode=0o755, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", root, None, _MS_BIND | _MS_REC)
            _mount(libc, None, root, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
            os.close(fd)
        # The job's own folder over /sandbox; the folder of all jobs then vanishes from view.
        _mount(libc, f"/jobs/{job['name']}", "/sandbox", None, _MS_BIND | _MS_REC)
        _check(libc.umount2(b"/jobs", _MNT_DETACH), "umount /jobs")
        init = os.fork()
        if init == 0:
            _job_init(libc, job, channel, version)  # never returns
        os.close(channel)
        _, status = os.waitpid(init, 0)
        code = _exit_code(status)
    except BaseException as exc:  # noqa: BLE001 - said on the zygote's log, then a failed job
        try:
            os.write(2, f"zygote job {job.get('name')}: {exc!r}\n".encode())
        except OSError:
            pass
        code = 125
    finally:
        os._exit(code)


def _job_init(libc, job: dict, channel: int, version: str | None) -> None:
    """Pid 1 of the submission's pid namespace: when it exits, every process in it is killed."""
    code = 1
    try:
        _die_with_parent(libc)
        _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        harness = os.fork()
        if harness == 0:
            _job_harness(job, channel, version)  # never returns
        os.close(channel)
        while True:  # reap orphans too, until the harness itself ends
            pid, status = os.waitpid(-1, 0)
            if pid == harness:
                code = _exit_code(status)
                break
    except BaseException:  # noqa: BLE001
        code = 125
    finally:
        os._exit(code)


def _as_job(body) -> None:
    """Run `body` as a zygote job's harness: whatever it raises goes to harness.log, and the
    process then exits (1 on failure). Never returns."""
    code = 0
    try:
        body()
    except BaseException:  # noqa: BLE001 - whatever happened is on harness.log
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _job_stdio(channel: int) -> None:
    """stdin from /dev/null, stdout and stderr onto harness.log in the work folder (the current
    directory, fresh from the trusted side: no student code has run in it yet), and no other
    descriptor but the channel."""
    log = os.open("harness.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _close_fds({0, 1, 2, channel})


def _serve_job(work: str, channel: int, version: str | None) -> None:
    """Run the probes of the job in `work` (the current directory) as a cold start would."""
    import importlib

    importlib.invalidate_caches()  # the work folder is another one than when the zygote started
    sys.argv = [os.path.join(work, "harness.py"), work]
    sys.path.insert(0, work)
    with open("plan.json") as f:
        plan = json.load(f)
    plan["channel_fd"] = channel
    _serve(plan, version if plan.get("torch", True) else None)


def _job_harness(job: dict, channel: int, version: str | None) -> None:
    """The submission's harness, as a cold start would run it, minus `import torch`."""
    def body():
        os.setsid()
        set_limits(job["limits"])
        os.chdir("/sandbox")
        _job_stdio(channel)
        uid = job.get("uid")
        if not isinstance(uid, int) or uid <= 0:
            raise ValueError("a zygote job must name the uid its code runs as")
        _drop_privileges(uid)
        if job.get("seccomp"):
            _filter_syscalls()
        _serve_job("/sandbox", channel, version)
    _as_job(body)


def _job_confined(job: dict, channel: int, version: str | None) -> None:
    """Child of a zygote of the landlock or uid tier (no namespaces): confine this very process
    (uid, no_new_privs, Landlock, seccomp: see confine.py) before anything of the submission is
    read, then run its probes in its work folder. Never returns."""
    def body():
        _die_with_parent(_libc())
        os.setsid()
        set_limits(job["limits"])
        work = job["work"]
        os.chdir(work)
        _job_stdio(channel)
        import confine
        import tempfile

        confine.apply(job["policy"])  # refuses a policy that would leave the job root
        # as a cold start of this tier has them (sandbox_env): home and tmp inside the work folder
        os.environ.update(HOME=work, TMPDIR=os.path.join(work, "tmp"))
        tempfile.tempdir = None  # the zygote may have looked its tmp up already
        _serve_job(work, channel, version)
    _as_job(body)


def _send(control, message: dict) -> None:
    control.send(json.dumps(message).encode())


def zygote(control_fd: int, threads: int, tier: str = "bwrap", warm: str = "") -> None:
    """Serve jobs from the control socket until it closes: {"name", "uid", "limits"} (bwrap: the
    job builds its own namespaces) or {"name", "work", "policy", "limits"} (landlock, uid: the job
    confines itself), with the channel's descriptor attached; answer {"done": name, "returncode":
    code} when the job ends. `warm` "export": pay torch.export's first use before any job.

    When the socket closes it leaves with os._exit: no job is running then (each is waited for
    before the next message is read), nothing here holds buffered output, and tearing down the
    interpreter with torch imported takes about half a second that the grader would wait for."""
    import socket

    control = socket.socket(fileno=control_fd)
    run_job = _job if tier == "bwrap" else _job_confined
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        try:
            import confine  # noqa: F401 - with libseccomp, loaded once for every job
            import pyseccomp  # noqa: F401
        except ImportError:
            if tier != "bwrap":
                raise  # the bwrap tier runs without the filter where libseccomp is missing
        version = _prepare(threads, True, export=warm == "export")
        _send(control, {"ready": True, "torch": version})
    except BaseException as exc:  # noqa: BLE001
        _send(control, {"ready": False, "error": repr(exc)[:2000]})
        return
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 65536, 1)
        except OSError:
            message, fds = b"", []
        if not message:  # the grader closed the socket (or died): done
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        start = time.monotonic()
        try:
            job = json.loads(message)
            if len(fds) != 1:
                raise ValueError("a job comes with exactly one channel descriptor")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                control.close()
                run_job(job, fds[0], version)  # never returns
            for fd in fds:
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            code = _exit_code(status)
            rc = -(code - 128) if code > 128 else code
            _send(control, {"done": job["name"], "returncode": rc,
                            "seconds": round(time.monotonic() - start, 3)})
        except (ValueError, KeyError, TypeError, OSError) as exc:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                _send(control, {"done": None, "error": repr(exc)[:2000]})
            except OSError:
                return


if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6])
    else:
        main(sys.argv[1])
