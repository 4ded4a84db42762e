"""grading_config.yaml: the one place for points, thresholds, seeds, epochs and limits.

The file is loaded into one pydantic model. A bad file raises `UserError` whose message lists each
problem as `path: message`, so the CLI can print it without a traceback.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from autograder.errors import UserError

CONFIG_NAME = "grading_config.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(Strict):
    """Resource limits on the sandboxed probe process tree."""

    startup_timeout_s: float = Field(60, gt=0, description="harness start, including `import torch`")
    probe_timeout_s: float = Field(30, gt=0, description="default wall-clock limit of one probe")
    submission_timeout_s: float = Field(300, gt=0, description="wall-clock limit of the whole probe run")
    memory_mb: int = Field(8192, gt=0, description="address-space limit per process (RLIMIT_AS)")
    cpu_time_s: int = Field(600, gt=0, description="CPU seconds per process (RLIMIT_CPU)")
    max_file_mb: int = Field(256, gt=0, description="largest file a probe may write (RLIMIT_FSIZE)")
    max_processes: int = Field(256, gt=0, description="RLIMIT_NPROC (ignored for root; bwrap adds a pid namespace)")
    max_output_mb: float = Field(64, gt=0, description="cap on the bytes read back from one probe")
    tmp_memory_mb: int = Field(512, gt=0, description="size of the bwrap sandbox's private /tmp, a "
                               "tmpfs whose pages are RAM outside RLIMIT_AS (the landlock and uid "
                               "tiers keep tmp inside the work folder instead)")
    max_written_mb: int = Field(1024, gt=0, description="per submission: bytes it may hold on disk and "
                                "in tmp at once (the work folder, tmp, files it deleted but keeps open)")
    max_files: int = Field(20000, gt=0, description="per submission: files and folders it may hold at once")
    threads: int = Field(1, ge=1, description="torch threads inside the sandbox (1 keeps fork safe and results exact)")


class TestSpec(Strict):
    points: float = Field(ge=0)
    group: str
    public: bool = Field(False, description="runs in a student's `check`; hidden tests never leave the instructor")
    reported: bool = Field(False, description="rests on what the student's process said about "
                           "itself (memory shared with an input, an input changed in place, grad "
                           "mode, the device a tensor lives on), which no shipped value carries and "
                           "a lying process could fake; together such checks are worth at most the "
                           "assignment's reported_cap")


class Threshold(Strict):
    """A number a measurement must reach (bound: lower) or stay under (bound: upper).

    `autograder calibrate` measures it over many seeds for the reference, the correct variants and
    the mutants, and flags it when a mutant passes or the reference comes within `margin` of it."""

    value: float
    bound: Literal["lower", "upper"] = Field("lower", description="lower: pass at or above value")
    margin: float = Field(0.0, ge=0, description="how far the reference must stay from value")
    calibration: str = Field(min_length=1, description="the evidence that justified the value")

    def passes(self, measured: float) -> bool:
        return measured >= self.value if self.bound == "lower" else measured <= self.value

    def distance(self, measured: float) -> float:
        """How far `measured` is on the passing side of the threshold (negative: failing)."""
        return measured - self.value if self.bound == "lower" else self.value - measured


class AssignmentConfig(Strict):
    title: str
    notebook: str
    seed: int = Field(description="model and data seed; the same submission gets the same score")
    secret_seed: int | None = Field(None, description="held-out data; only the judge knows it")
    probe_timeout_s: dict[str, float] = Field(default_factory=dict)
    tests: dict[str, TestSpec]
    reported_cap: float = Field(0.10, ge=0, le=1, description="the share of the assignment's points "
                                "its `reported: true` checks may be worth together")
    params: dict = Field(default_factory=dict)
    # the params validated by the assignment's own model (tests/hidden/<id>/params.py), set once by
    # parse_config; None when no model was found (then `GradingConfig.params` says what is missing)
    _typed: BaseModel | None = PrivateAttr(None)

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests.values())

    @property
    def reported_points(self) -> float:
        return sum(t.points for t in self.tests.values() if t.reported)

    @model_validator(mode="after")
    def _reported_within_cap(self):
        """What a submission could gain by lying about its own process is bounded by the config."""
        worth, total = self.reported_points, self.max_points
        if worth > self.reported_cap * total + 1e-9:
            raise ValueError(f"its reported checks are worth {worth:g} of {total:g} points "
                             f"({worth / total:.0%}), more than reported_cap ({self.reported_cap:.0%}): "
                             "lower their points, or raise reported_cap")
        return self


class GradingConfig(Strict):
    version: Literal[1]
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sandbox: Literal["auto", "bwrap", "landlock", "uid", "none"] = Field(
        "auto", description="how student code is isolated: auto takes the strongest tier whose "
                            "self-test passes here (bwrap, landlock, uid); none only by name")
    limits: Limits = Limits()
    assignments: dict[str, AssignmentConfig]

    def assignment(self, assignment_id: str) -> AssignmentConfig:
        try:
            return self.assignments[assignment_id]
        except KeyError:
            known = ", ".join(sorted(self.assignments)) or "none"
            raise UserError(f"unknown assignment {assignment_id!r} (known: {known})") from None

    def params(self, assignment_id: str):
        """The assignment's parameters as its typed model (validated once, when the config loaded)."""
        acfg = self.assignment(assignment_id)
        if acfg._typed is None and acfg.params:
            raise UserError(f"{assignment_id} has params in {CONFIG_NAME} but no params model: "
                            f"write tests/hidden/{assignment_id}/params.py with a pydantic model "
                            "`Params` (`autograder new` scaffolds one), or run `autograder release "
                            f"{assignment_id}` so that its public bundle carries it")
        return acfg._typed


def _format_errors(err: ValidationError, prefix: tuple = ()) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (*prefix, *e["loc"])) or "(top level)"
        lines.append(f"  - {path}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: object, source: str = CONFIG_NAME, roots=None) -> GradingConfig:
    """Validate a loaded config, each assignment's params by the model its folder defines
    (autograder/assignment.py), searched for under `roots` (default: the kit's root)."""
    from autograder.assignment import params_model

    try:
        cfg = GradingConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source} is invalid:\n{_format_errors(err)}") from None
    roots = list(dict.fromkeys(Path(r).resolve() for r in (roots or [repo_root()])))
    problems = []
    for aid, acfg in cfg.assignments.items():
        model = params_model(roots, aid)
        if model is None:
            continue  # no model here: GradingConfig.params says so if the params are asked for
        try:
            acfg._typed = model.model_validate(acfg.params)
        except ValidationError as err:
            problems.append(_format_errors(err, ("assignments", aid, "params")))
    if problems:
        raise UserError(f"{source} is invalid:\n" + "\n".join(problems))
    return cfg


def load_config(path: Path | None = None) -> GradingConfig:
    path = Path(path) if path else repo_root() / CONFIG_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    # the params models are looked for beside the config first (a course folder, a student's kit)
    return parse_config(data, str(path), [path.parent, repo_root()])


def repo_root() -> Path:
    """The kit's root: $AUTOGRADER_ROOT, else the nearest parent of cwd holding the config, else the
    checkout this package was installed from (editable install)."""
    env = os.environ.get("AUTOGRADER_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_NAME).is_file():
            return d
    return Path(__file__).resolve().parent.parent


def solution_path(root: Path, assignment_id: str, notebook: str) -> Path:
    return root / "solutions" / assignment_id / notebook


def release_path(root: Path, assignment_id: str, notebook: str) -> Path:
    """Where `autograder release` writes the student notebook (checked in, never hand-edited)."""
    return root / "assignments" / assignment_id / notebook
