"""The kit's hidden checks as otter tests, run in the student's own process.

An otter test cell of `autograder export otter` is

    from autograder.exports.otter_bridge import check
    check("03_network", "test_default_activation_is_sigmoid", globals())

otter runs it in the student's notebook namespace after the notebook has run. `check` then

1. builds a module `submission` from that namespace (the student's `Network`, `trainer`, ...);
2. runs the kit's own hidden suite, tests/hidden/<id>, through `judge.run_judge` (the same pytest
   run `autograder grade` makes), with a judge context whose two stages differ: `extract` (there is
   no file, only the namespace) and `run_probes`, which runs each probe of the judge's plan here, in
   this process, instead of in the sandbox. Each probe's output goes through the same JSON and
   safetensors round trip and the same validation (`probe.read_outcome`) as a sandboxed one, so
   the hidden checks read the very Evidence they read under `autograder grade`;
3. passes when the named check passed, and raises AssertionError with the judge's message when not.

The whole suite runs once per state of the namespace; the other checks of the same run only read
its outcome.

What this gives up (the README says it too): the probes and the judge run beside the student's
code, in its process. Nothing is sandboxed, nothing is in another process: an object whose `==`
always agrees, a patched `torch.allclose`, or code that rewrites this module can fool the checks.
A probe's time limit is a SIGALRM in the main thread, which code that blocks signals escapes.

The kit is found through `autograder.config.repo_root()` ($AUTOGRADER_ROOT first); the config is
$AUTOGRADER_CONFIG, else the kit's grading_config.yaml.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import threading
import time
import types
from pathlib import Path

from autograder import executor
from autograder.config import CONFIG_NAME, repo_root

# the judge's result for the last namespace seen: (key, JudgeResult)
_LAST: list = []


class _ProbeTimeout(BaseException):
    """Raised in the student's code when a probe runs past its limit (a BaseException, so that a
    bare `except Exception` in the student's code does not swallow it)."""


def _state_key(assignment_id: str, namespace: dict) -> tuple:
    """What the suite's outcome depends on: every public name and the object it is bound to.
    otter hands each test a copy of the namespace, so the dict itself is not the key."""
    names = sorted(k for k in namespace if isinstance(k, str) and not k.startswith("_"))
    return (assignment_id, tuple((k, id(namespace[k])) for k in names))


@contextlib.contextmanager
def _alarm(seconds: float):
    """Raise _ProbeTimeout after `seconds`, where a signal can be delivered (the main thread)."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise _ProbeTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _kept_rng_and_threads(threads: int):
    """Seed as the harness does, and give the student's process its random state and thread
    count back afterwards."""
    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.set_num_threads(states[3])


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _pretended_cuda(recipe: dict):
    """The recipe's pretence about the GPU, for this probe only. The student's module was loaded
    long before, so a device it chose at import does not follow the pretence here (in the sandbox
    it does: each probe imports the module afresh)."""
    import torch

    saved = (torch.cuda.is_available, torch.cuda.device_count)
    try:
        executor.before_import(recipe)
        yield
    finally:
        torch.cuda.is_available, torch.cuda.device_count = saved


def _run_probe(student, spec, inputs: dict, device: str, seed: int):
    """One probe in this process, read back exactly as a sandboxed probe is."""
    from safetensors.torch import save

    from autograder import harness, probe

    _seed(seed)
    start = time.monotonic()
    blob = b""
    status = {"status": "exited", "exit_code": 0}
    try:
        with _alarm(spec.timeout_s), _pretended_cuda(spec.recipe):
            # the executor reads fresh copies of the judge's inputs: nothing reaches the plan
            data, tensors = executor.run(spec.recipe, student, inputs, device)
            if tensors:
                blob = save(tensors)
        result = {"status": "ok", "data": data}
    except _ProbeTimeout:
        status, result = {"status": "timeout"}, None
    except BaseException as exc:  # noqa: BLE001 - whatever the student's code raised is data
        if isinstance(exc, KeyboardInterrupt):
            raise
        result = {"status": "error", "stage": "probe", **harness.describe(exc)}
    status["seconds"] = round(time.monotonic() - start, 3)
    try:
        text = json.dumps(result) if result is not None else None
    except (TypeError, ValueError, RecursionError):
        text = json.dumps({"status": "invalid"})  # read back as "not in the expected form"
    record = probe.Record(status, text, blob)
    return probe.read_outcome(record, spec, "", _namespace_extraction(), "")


def _namespace_extraction():
    from autograder.extract import Extraction

    return Extraction("# the student's notebook namespace, graded in its own process (otter)\n")


def _in_process(student):
    """A stand-in for `probe.run_probes` that runs every probe here, on `student`."""
    from autograder.probe import ProbeRun

    def run_probes(extraction, plan, limits, device, seed, sandbox="none"):
        import torch

        start = time.monotonic()
        outcomes = {}
        sink = io.StringIO()  # the student's prints must not reach otter's doctest output
        with _kept_rng_and_threads(limits.threads), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            for spec in plan.probes:
                spec.timeout_s = spec.timeout_s or limits.probe_timeout_s
                outcomes[spec.name] = _run_probe(student, spec, plan.inputs, device, seed)
        return ProbeRun(outcomes, time.monotonic() - start, torch.__version__)

    return run_probes


def _module(namespace: dict) -> types.ModuleType:
    module = types.ModuleType("submission")
    module.__dict__.update({k: v for k, v in namespace.items() if k not in ("__name__", "__spec__")})
    return module


def judge_namespace(assignment_id: str, namespace: dict):
    """Run the assignment's whole hidden suite on `namespace`; the JudgeResult (cached per state
    of the namespace)."""
    key = _state_key(assignment_id, namespace)
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    from autograder import judge
    from autograder.config import load_config
    from autograder.errors import UserError

    root = repo_root()
    env_config = os.environ.get("AUTOGRADER_CONFIG")
    config_path = Path(env_config) if env_config else root / CONFIG_NAME
    hidden = root / "tests" / "hidden" / assignment_id
    if not (hidden / "probes.py").is_file() or not config_path.is_file():
        raise AssertionError(
            f"the kit's hidden suite for {assignment_id} was not found under {root} (no "
            f"tests/hidden/{assignment_id}/probes.py or {config_path.name}): install the kit in "
            "the grading environment and set AUTOGRADER_ROOT to its checkout")
    try:
        cfg = load_config(config_path)
        cfg.assignment(assignment_id)
    except UserError as exc:
        raise AssertionError(str(exc)) from None
    device = judge.resolve_device(cfg.device)
    student = _module(namespace)
    verdict = judge.run_judge(assignment_id, Path(f"<{assignment_id} notebook namespace>"),
                              device=device, config_path=config_path.resolve(), root=root,
                              sandbox_mode="none", cfg=cfg,
                              extract_with=lambda submission, release, aid: _namespace_extraction(),
                              probe_with=_in_process(student))
    _LAST[:] = [(key, verdict)]
    return verdict


def check(assignment_id: str, name: str, namespace: dict) -> None:
    """Pass when the kit's hidden check `name` passes on `namespace`; else raise AssertionError
    with the judge's feedback."""
    verdict = judge_namespace(assignment_id, namespace)
    outcome = verdict.outcomes.get(name)
    if outcome is None:
        why = "; ".join(verdict.errors) or "it is not in the hidden suite"
        raise AssertionError(f"the check {name} did not run: {why}")
    if not outcome.passed:
        raise AssertionError(f"{name}: {outcome.message}")
