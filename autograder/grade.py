"""Grade one submission: the pipeline, stage by stage.

    extract -> probe (sandbox) -> judge (pytest, trusted) -> score (pure) -> report

`extract` and `probe` run inside the judge's session (see judge.submission_run), so that
`pytest tests/hidden` and `autograder grade` share one code path.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder import extract, judge, probe, report, score  # noqa: F401  (the stages, in order)
from autograder import sandbox as sandbox_stage
from autograder.config import CONFIG_NAME, GradingConfig, load_config, release_path, repo_root
from autograder import errors
from autograder.errors import UserError

PIPELINE = ["extract", "probe", "judge", "score", "report"]
DEVICES = ("auto", "cpu", "cuda")


# The kit itself is broken, or cannot grade here (a hidden suite that does not run, no sandbox):
# never the student's fault, so never a score. Defined in errors.py; kept here for callers.
GraderError = errors.GraderError


@dataclass
class GradeResult:
    submission: Path
    assignment_id: str
    score: score.Score
    results: dict
    results_path: Path
    notes: list[str]
    failure: str | None
    seconds: float
    # what checks measured against the config's thresholds, {check: {threshold path: value}}; for
    # `autograder calibrate`, and kept out of results.json
    measures: dict[str, dict[str, float]] = field(default_factory=dict)
    # training loss curves the judge saw, {label: per-epoch losses}, for the feedback plot
    curves: dict[str, list[float]] = field(default_factory=dict)
    timed_out: bool = False    # a probe, or the whole submission, ran past its time limit
    probe_seconds: float = 0.0  # the probes' own run time, inside the sandbox
    sandbox: str = ""           # the sandbox tier the student's code ran in


def infer_assignment(submission: Path, cfg: GradingConfig) -> str:
    from autograder.extract import MAX_SUBMISSION_BYTES, read_notebook

    try:  # no parse before the size check: a huge notebook is graded (and fails) once an id is known
        small = submission.stat().st_size <= MAX_SUBMISSION_BYTES
    except OSError:
        small = False
    if submission.suffix == ".ipynb" and small:
        try:
            nb, _ = read_notebook(submission)
            meta = nb.metadata.get("autograder", {}) if nb is not None else {}
            claimed = meta.get("assignment") if isinstance(meta, dict) else None
            if claimed in cfg.assignments:
                return claimed
        except Exception:  # unreadable notebooks are graded (and fail) once an id is known
            pass
    for aid in cfg.assignments:
        if submission.stem.startswith(aid):
            return aid
    if len(cfg.assignments) == 1:
        return next(iter(cfg.assignments))
    raise UserError(f"cannot tell which assignment {submission.name} is: pass --assignment "
                    f"(one of {', '.join(cfg.assignments)})")


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA device here")
    return judge.resolve_device(device)


def main(*, submission: Path, assignment_id: str | None = None, out: Path | None = None,
         device: str | None = None, config_path: Path | None = None,
         sandbox: str | None = None) -> GradeResult:
    """Grade `submission` and write `out`/results.json. Raises UserError for the caller's
    mistakes; a broken submission is graded (and fails with reasons), never raised."""
    start = time.monotonic()
    config_path = Path(config_path) if config_path else repo_root() / CONFIG_NAME
    cfg = load_config(config_path)
    root = repo_root()
    submission = Path(submission)
    if not submission.exists():
        raise UserError(f"submission not found: {submission}")
    if submission.is_dir():
        raise UserError(f"{submission} is a folder: give one submission file per student")
    aid = assignment_id or infer_assignment(submission, cfg)
    acfg = cfg.assignment(aid)
    if not release_path(root, aid, acfg.notebook).exists():
        raise UserError(f"assignment {aid} has no release yet: run `autograder release {aid}`")
    if not (root / "tests" / "hidden" / aid).is_dir():
        raise UserError(f"the hidden suite of {aid} is not in {root} (a student kit has only the "
                        f"public checks: run `autograder check` instead)")
    dev = resolve_device(device or cfg.device)
    # the tier, chosen once per process by its self-test (SandboxUnavailable: exit 2, no score)
    tier = sandbox_stage.select(sandbox or cfg.sandbox, dev, judge.secret_paths(root, config_path))
    with tempfile.TemporaryDirectory(prefix="autograder-submission-") as private:
        # grade a private copy: nothing that lies beside the submission can be picked up
        copy = Path(private) / submission.name
        try:
            shutil.copyfile(submission, copy)
        except OSError as exc:
            raise UserError(f"cannot read {submission}: {exc.strerror}") from None
        verdict = judge.run_judge(aid, copy, device=dev, config_path=config_path.resolve(),
                                  root=root, sandbox_mode=tier.name, cfg=cfg)
    if verdict.grader_error is not None:
        raise verdict.grader_error
    if verdict.errors or aid not in verdict.runs:
        raise GraderError("; ".join(verdict.errors) or "the hidden suite did not run")
    run = verdict.runs[aid]
    outcomes = {n: (o.passed, o.message, o.doc, o.depends_on) for n, o in verdict.outcomes.items()}
    graded = score.score(outcomes, acfg.tests)
    notes, failure = run.extraction.notes + run.notes, run.extraction.failure
    seconds = time.monotonic() - start
    results = report.results_dict(graded, execution_time=seconds, notes=notes, failure=failure,
                                  assignment_id=aid, submission=submission.name,
                                  sandbox=tier.name)
    out = Path(out) if out else Path("out") / submission.stem
    results_path = out / "results.json"
    try:
        report.write_results(results_path, results)
    except OSError as exc:
        raise UserError(f"cannot write {results_path}: {exc.strerror}") from None
    measures = {n: o.measures for n, o in verdict.outcomes.items() if o.measures}
    probes = run.probes.outcomes.values()
    timed_out = run.probes.timed_out or any(o.status == "timeout" for o in probes)
    return GradeResult(submission, aid, graded, results, results_path, notes, failure, seconds,
                       measures, verdict.curves, timed_out, sum(o.seconds for o in probes),
                       tier.name)
