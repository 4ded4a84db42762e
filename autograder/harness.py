"""The probe harness: the only program that runs inside the sandbox.

It is copied into the sandbox's work folder and run as a script there, so it imports nothing of the
`autograder` package (the repository is not visible inside the sandbox). Layout of the work folder:

    harness.py  probes.py  submission.py  plan.json  inputs.safetensors  out/

The harness imports torch once (the expensive part), then forks one child per probe. A child imports
the student's module, runs one probe function from probes.py and writes `out/<probe>.json` (+
`out/<probe>.safetensors`). The parent enforces each probe's wall-clock timeout by killing the child's
process group, then forwards how the child ended and what it wrote to the *channel*: a file descriptor
onto a file outside the sandbox. Children close the channel as they start, and the parent makes itself
non-dumpable so they cannot reopen it through /proc or ptrace it; so a record on the channel is always
the parent's account of a finished child. A child that kills the parent only cuts the channel short.

Everything here still runs beside student code and is treated as untrusted: the trusted side validates
every byte it reads back and recomputes every outcome.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import traceback

OUT = "out"
SUBMISSION = "submission.py"


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


def _describe(exc: BaseException) -> dict:
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
    return {"kind": kind, "type": type(exc).__name__, "message": text[:2000], "line": line}


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


def _run_child(spec: dict, plan: dict, inputs: dict, probes) -> None:
    name = spec["name"]
    _seed(plan)
    result: dict = {"status": "error"}
    try:
        student = _import_student()
    except BaseException as exc:  # noqa: BLE001 - anything the student's import does is data
        result.update(stage="import", **_describe(exc))
        _write_json(f"{OUT}/{name}.json", result)
        return
    _seed(plan)  # the student's import may have drawn random numbers
    try:
        fn = getattr(probes, spec["function"])
        data, tensors = fn(student, spec["args"], inputs, plan["device"])
        if tensors:
            from safetensors.torch import save_file

            blob = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
            save_file(blob, f"{OUT}/{name}.safetensors.tmp")
            os.replace(f"{OUT}/{name}.safetensors.tmp", f"{OUT}/{name}.safetensors")
        result = {"status": "ok", "data": data}
    except BaseException as exc:  # noqa: BLE001
        result.update(stage="probe", **_describe(exc))
    _write_json(f"{OUT}/{name}.json", result)


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


def _wait(pid: int, timeout: float) -> tuple[bool, int]:
    """Wait for `pid` up to `timeout` seconds. Returns (finished, wait status)."""
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return True, status
            left = deadline - time.monotonic()
            if left <= 0:
                return False, 0
            if fd is not None:
                select.select([fd], [], [], left)
            else:
                time.sleep(min(0.01, left))
    finally:
        if fd is not None:
            os.close(fd)


def _run_probe(spec: dict, plan: dict, inputs: dict, probes) -> None:
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
            os.setpgid(0, 0)
            log = os.open(f"{OUT}/{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            _run_child(spec, plan, inputs, probes)
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
    finished, status = _wait(pid, spec["timeout_s"])
    record = {"seconds": round(time.monotonic() - start, 3)}
    if finished:
        record["status"] = "exited"
        if os.WIFSIGNALED(status):
            record["signal"] = os.WTERMSIG(status)
        else:
            record["exit_code"] = os.WEXITSTATUS(status)
    else:
        record["status"] = "timeout"
    try:  # whatever the child left behind (a timed-out child, or its own children)
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if not finished:
        os.waitpid(pid, 0)
    if channel is not None:
        _forward(channel, name, record, plan["max_output_bytes"])


def _warm_up() -> None:
    """Pay PyTorch's lazy first-use costs once, before forking, instead of once per probe.

    Building the first optimizer imports torch._dynamo (about 1.5 s). Everything here is CPU-only
    and single-threaded, so no thread pool or CUDA context exists at fork time.
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


def _drop_privileges(uid) -> None:
    """Started as root inside bwrap: become `uid` before any student code exists, so that
    RLIMIT_NPROC applies (the kernel exempts root) and nothing runs with root's rights."""
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def main(workdir: str) -> None:
    os.chdir(workdir)
    sys.path.insert(0, os.getcwd())
    with open("plan.json") as f:
        plan = json.load(f)
    _drop_privileges(plan.get("drop_to_uid"))
    _make_undumpable()
    os.makedirs(OUT, exist_ok=True)
    inputs, version = {}, None
    if plan.get("torch", True):
        import torch
        from safetensors.torch import load_file

        # One thread: fork is only safe before a thread pool exists, and results stay bit-exact.
        torch.set_num_threads(plan["threads"])
        _warm_up()
        if os.path.exists("inputs.safetensors"):
            inputs = load_file("inputs.safetensors")
        version = torch.__version__
    import probes

    # No CUDA call here: a CUDA context must not exist before fork; each child makes its own.
    _write_json(f"{OUT}/_ready.json", {"torch": version})
    for spec in plan["probes"]:
        _run_probe(spec, plan, inputs, probes)
    _write_json(f"{OUT}/_done.json", {"ok": True})


if __name__ == "__main__":
    main(sys.argv[1])
