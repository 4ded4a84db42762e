"""Stage 2: run an assignment's probes on a submission in the sandbox and read back what they said.

The trusted side writes the work folder (student module, the harness and its executor, the plan with
each probe's recipe, and the input tensors the judge chose), runs the harness in the sandbox, and
reads the outputs back with size caps and strict parsing. Each probe ends as a `ProbeOutcome` with a
status and a reason a student can act on; nothing the sandbox wrote can raise in the grader.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save_file

from autograder import confine, executor, harness, zygote
from autograder.config import Limits
from autograder.errors import GraderError
from autograder.extract import Extraction
from autograder.sandbox import (CONFINED, INSIDE, QuotaWatch, claim_uid, confine_policy, discard,
                                prepare_workdir, quota, run_isolated, sandbox_env, seccomp_available)


class SandboxFailed(GraderError):
    """The sandbox did not start: no student code ran, so this is the grader's failure, never a
    score (the harness's ready record, sent before any student code, never arrived)."""

_SIGNALS = {9: "SIGKILL (killed: out of memory, or a process limit)", 11: "SIGSEGV (a crash)",
            6: "SIGABRT (aborted)", 24: "SIGXCPU (CPU time limit)", 25: "SIGXFSZ (file size limit)"}


@dataclass
class ProbeSpec:
    name: str
    function: str  # the recipe's function in the assignment's probes.py
    args: dict = field(default_factory=dict)
    timeout_s: float | None = None
    recipe: dict | None = None  # what the sandbox runs: set by assignment.make_plan (recipe.py)


@dataclass
class Plan:
    """What the judge chose: probes to run, their inputs, and what stays with the judge."""

    probes: list[ProbeSpec]
    inputs: dict[str, torch.Tensor]
    secrets: dict[str, Any] = field(default_factory=dict)
    # False where neither the student's module nor the probes need torch (a quiz): the sandbox then
    # skips `import torch` and its warm-up, which are most of its start-up time.
    uses_torch: bool = True


@dataclass
class ProbeOutcome:
    name: str
    status: str  # ok | error | timeout | crashed | quota | not_run | invalid
    reason: str = ""
    data: dict | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ProbeRun:
    outcomes: dict[str, ProbeOutcome]
    seconds: float
    torch_version: str | None = None
    note: str = ""
    timed_out: bool = False  # the whole submission ran past its limit (a probe's own: status timeout)
    sandbox: str = ""        # the tier the probes ran in

    def __getitem__(self, name: str) -> ProbeOutcome:
        return self.outcomes[name]


def _clean(text: str, limit: int = 400) -> str:
    """Student-controlled text, made safe to show: printable, one paragraph, bounded."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


MAX_JSON_DEPTH = 20


def _plain_json(obj, depth: int = 0) -> bool:
    """Only str-keyed dicts, lists, str, numbers, bools and None, at most MAX_JSON_DEPTH deep."""
    if depth > MAX_JSON_DEPTH:
        return False
    if isinstance(obj, float):
        return True  # NaN and inf are allowed here; the test that uses a number judges it
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain_json(v, depth + 1) for v in obj)
    return obj is None or isinstance(obj, (str, int, bool))


_NO_ATTRIBUTE = re.compile(r"module '(?:submission|__main__)' has no attribute '(\w+)'")
_NO_NAME = re.compile(r"name '(\w+)' is not defined")


def _error_reason(result: dict, extraction: Extraction) -> str:
    """One sentence a student can act on: what was raised, in which cell, and for the mistakes
    beginners make most (a stub left as it is, a renamed function, a helper outside the answer
    cells) what to do about it."""
    kind = result.get("kind")
    line = result.get("line") if isinstance(result.get("line"), int) else None
    where = extraction.where(line)
    at = f" at {where}" if where else ""
    message = _clean(result.get("message", ""))
    exc_type = _clean(result.get("type", "Exception"), 60)
    call = _clean(result.get("call", ""), 160) if isinstance(result.get("call"), str) else ""
    at += f", in the grader's call {call}" if call else ""
    said = f"{exc_type}{at}: {message}" if message else f"{exc_type}{at}"
    if result.get("stage") == "import":
        if kind == "exit":
            return f"your code stopped the program while it was being loaded{at}: {message}"
        return f"your code could not be loaded: {said}"
    if kind == "exit":
        return f"your code stopped the program{at}: {message}"
    if exc_type == "NotImplementedError" and not message:
        name = extraction.enclosing(line)
        what = f"`{name}` is" if name else "this part is"
        return (f"{what} not written yet: {where or 'its answer cell'} still raises "
                "NotImplementedError. Replace that line with your code")
    missing = _NO_ATTRIBUTE.fullmatch(message)
    if exc_type == "AttributeError" and missing:
        return (f"your notebook defines no `{missing.group(1)}`, which the grader calls: was it "
                "renamed, or its answer cell deleted?")
    unknown = _NO_NAME.fullmatch(message)
    if exc_type == "NameError" and unknown:
        return (f"your code raised NameError{at}: `{unknown.group(1)}` is not defined. Only the "
                "answer cells are graded: if it is defined in another cell of your notebook, move "
                "it into an answer cell")
    return f"your code raised {said}"


@dataclass
class Record:
    """The harness parent's account of one finished probe, as read from the channel."""
    status: object
    result: str | None
    tensors: bytes
    header: dict = field(default_factory=dict)


# What reading back one submission may cost the trusted side, whatever shape its output takes
# within the byte caps: json.loads of `[[],[],...]` makes one Python list per 3 bytes (a 30 MB file
# would cost 1.2 GB), and a safetensors header can name a tensor per 60 bytes. Counted before
# anything is parsed, so a bomb costs one scan of bytes already in memory.
MAX_JSON_VALUES = 200_000      # per probe's result: the bundled probes send at most 766
MAX_TENSORS = 1024             # per probe's safetensors blob: the bundled probes send at most 28
TOTAL_OUTPUT_FACTOR = 2        # one submission's probes together: twice max_output_mb


def _json_values(text: str) -> int:
    """An upper bound on the values a JSON text holds: each needs a separator or opens one."""
    return text.count(",") + text.count("[") + text.count("{") + text.count(":") + 1


def _safetensors_entries(blob: bytes) -> int:
    """How many tensors a safetensors blob names, from its header, without parsing it (an upper
    bound: each entry has one "dtype" key). -1 where the blob is not safetensors at all."""
    if len(blob) < 8:
        return -1
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        return -1
    return blob.count(b'"dtype"', 8, 8 + size)


def read_channel(path: Path, cap: int) -> dict[str, Record]:
    """Parse the channel file: per probe a JSON header line, then its tensor bytes. Reading stops at
    the first malformed record (a harness killed mid-write), and once the records together pass
    TOTAL_OUTPUT_FACTOR times `cap`; what came before stands."""
    records: dict[str, Record] = {}
    total = 0
    try:
        with open(path, "rb") as f:
            while total <= TOTAL_OUTPUT_FACTOR * cap:
                line = f.readline(2 * cap + 65536)
                if not line.endswith(b"\n"):
                    break
                header = json.loads(line)
                if not isinstance(header, dict) or not isinstance(header.get("name"), str):
                    break
                n = header.get("tensor_bytes")
                if not isinstance(n, int) or not 0 <= n <= cap:
                    break
                blob = f.read(n)
                if len(blob) != n:
                    break
                total += len(line) + n
                result = header.get("result")
                records[header["name"]] = Record(header.get("status"),
                                                  result if isinstance(result, str) else None, blob,
                                                  header)
    except (OSError, ValueError, RecursionError):
        pass
    return records


def read_outcome(record: Record | None, spec: ProbeSpec, log: str, extraction: Extraction,
                  harness_died: str) -> ProbeOutcome:
    name = spec.name
    if record is None:
        # No account from the harness: it was killed during or before this probe, so whatever an
        # orphaned child wrote afterwards is never read. Killing the harness never pays.
        return ProbeOutcome(name, "not_run", harness_died or "the probe did not run", log=log)
    status = record.status
    if record.result is not None and _json_values(record.result) > MAX_JSON_VALUES:
        return ProbeOutcome(name, "invalid", f"the probe's output holds more than {MAX_JSON_VALUES:,} "
                            "values, more than any answer needs", log=log)
    try:
        result = json.loads(record.result) if record.result is not None else None
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        return ProbeOutcome(name, "invalid", f"the probe's output could not be read ({_clean(exc)})",
                            log=log)
    if not isinstance(status, dict):
        status = {}
    seconds = status.get("seconds")
    seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    if status.get("status") == "quota":  # the harness stopped it and removed what it added
        why = status.get("reason")
        return ProbeOutcome(name, "quota", f"stopped: {_clean(why) if isinstance(why, str) else 'over the quota'}",
                            seconds=seconds, log=log)
    if status.get("status") == "timeout":
        return ProbeOutcome(name, "timeout", f"your code did not finish within {spec.timeout_s:g} s "
                            "(an infinite loop, or far too much work?)", seconds=seconds, log=log)
    if not isinstance(result, dict) or result.get("status") not in ("ok", "error"):
        if isinstance(status.get("signal"), int):
            sig = status["signal"]
            why = _SIGNALS.get(sig, f"signal {sig}")
            return ProbeOutcome(name, "crashed", f"the process running your code was killed by {why}",
                                seconds=seconds, log=log)
        code = status.get("exit_code")
        if result is None:
            return ProbeOutcome(name, "crashed", f"the process running your code exited (code "
                                f"{code}) before the check finished: does your code call "
                                "os._exit() or exit()?", seconds=seconds, log=log)
        return ProbeOutcome(name, "invalid", "the probe's output was not in the expected form",
                            seconds=seconds, log=log)
    if result["status"] == "error":
        return ProbeOutcome(name, "error", _error_reason(result, extraction), seconds=seconds, log=log)
    data = result.get("data")
    if not isinstance(data, dict) or not _plain_json(data):
        return ProbeOutcome(name, "invalid", "the probe's output was not in the expected form",
                            seconds=seconds, log=log)
    tensors: dict[str, torch.Tensor] = {}
    if record.tensors:
        entries = _safetensors_entries(record.tensors)
        if entries > MAX_TENSORS:
            return ProbeOutcome(name, "invalid", f"the probe's output names more than {MAX_TENSORS} "
                                "tensors, more than any answer needs", seconds=seconds, log=log)
        try:
            tensors = load(record.tensors)  # safetensors: a format with no code in it
        except Exception as exc:  # malformed bytes of any kind are a failed probe, not a crash
            return ProbeOutcome(name, "invalid", f"the probe's tensors could not be read "
                                f"({_clean(exc, 120)})", seconds=seconds, log=log)
    return ProbeOutcome(name, "ok", data=data, tensors=tensors, seconds=seconds, log=log)


def run_probes(extraction: Extraction, plan: Plan, limits: Limits, device: str, seed: int,
               sandbox: str = "bwrap") -> ProbeRun:
    """Run every probe of `plan` against the extracted module; never raises for student faults.

    In the warm sandbox where it can run (see zygote.py), else in a sandbox of its own."""
    if extraction.source is None:
        reason = extraction.failure or "the submission could not be read"
        return ProbeRun({p.name: ProbeOutcome(p.name, "not_run", reason) for p in plan.probes}, 0.0)
    for p in plan.probes:
        p.timeout_s = p.timeout_s or limits.probe_timeout_s
        if p.recipe is None:  # a plan not made by assignment.make_plan: the kit's own mistake
            raise ValueError(f"probe {p.name!r} has no recipe (build plans with assignment.make_plan)")
    if zygote.enabled(sandbox):
        warm = None
        try:
            # the judge's warm-up overlaps the zygote's start (seconds, the first time), and is
            # joined before _run_probes, whose uid claim forks
            with _judge_warmed(plan.uses_torch):
                warm = zygote.get(device, limits, sandbox, "export" if _exports(plan) else "")
            return _run_probes(extraction, plan, limits, device, seed, sandbox, warm)
        except zygote.Unavailable:
            pass  # said once on stderr; this submission starts cold, in a fresh work folder
        except SandboxFailed as exc:  # a warm job failed before any student code ran:
            warm.broken = str(exc)    # give the zygote up (zygote.get refuses it from now on,
            warm.close()              # saying why) and try this submission cold
    return _run_probes(extraction, plan, limits, device, seed, sandbox, None)


def _open_inside(work: Path, relative: str) -> int | None:
    """A descriptor on a plain file the sandbox wrote, found without following any link (the
    sandbox may have swapped a file or folder for a link to a host file, or for a FIFO that would
    block a read forever)."""
    import stat

    fds = []
    try:
        fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        fds.append(fd)
        parts = relative.split("/")
        for part in parts[:-1]:
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            fds.append(fd)
        found = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)
    if not stat.S_ISREG(os.fstat(found).st_mode):
        os.close(found)
        return None
    return found


def read_inside(work: Path, relative: str, cap: int) -> bytes | None:
    """The file's bytes, or None where it is missing, not a plain file, or over `cap` bytes."""
    fd = _open_inside(work, relative)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(cap + 1)
    return data if len(data) <= cap else None


def tail_inside(work: Path, relative: str, size: int) -> str:
    """The last `size` bytes of a file the sandbox wrote, as text ("" where unreadable)."""
    fd = _open_inside(work, relative)
    if fd is None:
        return ""
    with os.fdopen(fd, "rb") as f:
        f.seek(max(0, os.fstat(f.fileno()).st_size - size))
        return f.read(size).decode("utf-8", "replace")


def _exports(plan: Plan) -> bool:
    """Whether any probe's recipe turns a module into graphs (an `export` step, at any depth)."""
    def walk(node) -> bool:
        if isinstance(node, dict):
            return node.get("do") == "export" or any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return any(walk(p.recipe) for p in plan.probes)


def _warm_up_optimizers():
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    except Exception:  # noqa: BLE001 - only a head start: the judge pays the cost itself if this fails
        pass


@contextmanager
def _judge_warmed(uses_torch: bool):
    """While the warm sandbox starts, pay this process's first use of torch.optim on a thread of
    its own: its first optimizer imports torch._dynamo (about 1 s on a quiet machine, 2.6 s on a
    busy one), and the judge trains networks (02's XORNet, 04's CNN) and replays trainers with
    optimizers. The thread runs only while this (main) thread waits on the zygote's start (a
    Popen without preexec_fn, safe beside a thread), and is joined before anything forks: the uid
    claim forks to empty keyrings, and the cold path starts its sandbox with a preexec_fn. Where
    the judge never builds an optimizer (01) the thread costs nothing, since the zygote's start
    (it imports torch too) outlasts it. A process pays the import once: with its first torch
    plan, which is also when its zygote starts, unless a quiz came first (then once, unhidden)."""
    if not uses_torch or "torch._dynamo" in sys.modules:
        yield
        return
    thread = threading.Thread(target=_warm_up_optimizers, name="autograder-judge-warm-up",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _run_probes(extraction: Extraction, plan: Plan, limits: Limits, device: str, seed: int,
                sandbox: str, warm: zygote.Zygote | None) -> ProbeRun:
    work = Path(tempfile.mkdtemp(prefix="autograder-", dir=warm.jobs if warm else None))
    # The channel lives outside the work folder, so nothing inside the sandbox can name it.
    private = Path(tempfile.mkdtemp(prefix="autograder-channel-"))
    channel_path = private / "channel"
    channel = os.open(channel_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cap = int(limits.max_output_mb * 1024 * 1024)
    sandbox_done = ExitStack()
    try:
        uid = sandbox_done.enter_context(claim_uid(sandbox))
        (work / "tmp").mkdir()
        (work / "out").mkdir()
        (work / "submission.py").write_text(extraction.source)
        shutil.copy(executor.__file__, work / "executor.py")
        shutil.copy(harness.__file__, work / "harness.py")
        policy = confine_policy(sandbox, uid, work, device) if sandbox in CONFINED else None
        seccomp = sandbox == "bwrap" and seccomp_available()  # the other tiers: in the policy
        if (policy is not None or seccomp) and warm is None:
            shutil.copy(confine.__file__, work / "confine.py")
        if plan.inputs:
            save_file({k: v.contiguous() for k, v in plan.inputs.items()},
                      str(work / "inputs.safetensors"))
        (work / "plan.json").write_text(json.dumps({
            "seed": seed, "device": device, "threads": limits.threads, "torch": plan.uses_torch,
            "drop_to_uid": uid, "confine": policy if warm is None else None,
            "seccomp": seccomp, "quota": quota(limits, sandbox, uid),
            "channel_fd": channel, "max_output_bytes": cap,
            "probes": [{"name": p.name, "recipe": p.recipe, "timeout_s": p.timeout_s}
                       for p in plan.probes]}))
        budget = min(limits.submission_timeout_s,
                     limits.startup_timeout_s + sum(p.timeout_s for p in plan.probes) + 5)
        prepare_workdir(work, uid)
        watch = QuotaWatch(work, limits, uid)
        if warm is not None:
            result = warm.run(work, uid, limits, channel, budget, policy, watch, seccomp)
        else:
            inside = INSIDE if sandbox == "bwrap" else str(work)
            result = run_isolated([sys.executable, "-I", f"{inside}/harness.py", inside], work,
                                  limits, budget, sandbox_env(work, limits.threads, device, sandbox),
                                  work / "harness.log", mode=sandbox, device=device,
                                  pass_fds=(channel,), watch=watch)
        sandbox_done.close()  # the uid's processes are killed and the uid is free for the next
        os.close(channel)
        channel = None
        records = read_channel(channel_path, cap)
        ready = records.pop(harness.READY, None)
        if ready is None:
            # The harness says it is up on the channel before any student code exists, and nothing
            # but the harness parent can write there: without that record, no student code ran.
            tail = _clean(tail_inside(work, "harness.log", 2000), 300)
            why = (f"it did not start within {budget:g} s" if result.timed_out
                   else f"it exited with code {result.returncode}")
            raise SandboxFailed(f"the {sandbox} sandbox could not start the grading process ({why}"
                                + (f": {tail}" if tail else "") + "); no student code ran. Check "
                                "the sandbox on this machine (`autograder grade` prints the tier "
                                "it chose), or the limits in grading_config.yaml")
        died = ""
        if result.stopped:
            died = f"not run: the submission was stopped: {result.stopped}"
        elif result.timed_out:
            died = f"not run: the whole submission ran past its {budget:g} s limit"
        elif channel_path.stat().st_size > TOTAL_OUTPUT_FACTOR * cap:
            died = (f"not run: the outputs of the checks before it passed "
                    f"{TOTAL_OUTPUT_FACTOR * limits.max_output_mb:g} MB together")
        elif result.returncode not in (0, None):
            died = "not run: the process running your code was killed before this check " \
                   "(did your code kill its parent process or exhaust memory?)"
        outcomes = {}
        for p in plan.probes:
            log = tail_inside(work, f"out/{p.name}.log", 4000)
            outcomes[p.name] = read_outcome(records.get(p.name), p, log, extraction, died)
        reported = ready.header.get("torch")
        version = _clean(reported, 40) if isinstance(reported, str) else None
        return ProbeRun(outcomes, result.seconds, version, timed_out=result.timed_out,
                        sandbox=sandbox)
    finally:
        sandbox_done.close()
        if channel is not None:
            os.close(channel)
        discard(work)
        discard(private)
