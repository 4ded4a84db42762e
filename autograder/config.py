"""grading_config.yaml: the one place for points, thresholds, seeds, epochs and limits.

The file is loaded into one pydantic model. A bad file raises `UserError` whose message lists each
problem as `path: message`, so the CLI can print it without a traceback.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


# --- per-assignment parameters -----------------------------------------------------------------


class ReplayParams(Strict):
    n_samples: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(ge=0)
    atol: float = Field(gt=0)

    @model_validator(mode="after")
    def _whole_batches(self):
        # "mean batch loss" is only unambiguous when every batch has the same size.
        if self.n_samples % self.batch_size:
            raise ValueError("n_samples must be a multiple of batch_size")
        return self


class FitParams(Strict):
    sizes: list[int] = Field(min_length=2)
    activation: Literal["sigmoid", "tanh", "relu"]
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0)
    nesterov: bool = False
    batch_size: int = Field(gt=0)
    accuracy: Threshold
    loss_drop: Threshold


class GaussianParams(FitParams):
    n_per_class: int = Field(gt=0)
    test_fraction: float = Field(gt=0, lt=1)
    separation: float = Field(gt=0)


class DigitsParams(FitParams):
    test_fraction: float = Field(gt=0, lt=1)


class NetworkParams(Strict):
    """Numbers of assignment 03_network."""

    structure_sizes: list[list[int]]
    init_sizes: list[int] = Field(min_length=2, max_length=2)
    xavier_std_rel_tol: float = Field(gt=0)
    xavier_tail_min_fraction: float = Field(gt=0)
    forward_sizes: list[int] = Field(min_length=3)
    forward_batch: int = Field(gt=0)
    forward_atol: float = Field(gt=0)
    replay: ReplayParams
    accuracy_samples: int = Field(gt=0)
    gaussians: GaussianParams
    digits: DigitsParams


class CnnTrainParams(Strict):
    n_per_class: int = Field(gt=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)


class CnnParams(Strict):
    """Numbers of assignment 04_digits_cnn."""

    dataset_n_per_class: int = Field(gt=0)
    dataset_seeds: list[int] = Field(min_length=2, max_length=2)
    batch_sizes: list[int] = Field(min_length=1)
    parameter_bounds: list[int] = Field(min_length=2, max_length=2)
    probe_images_per_class: int = Field(gt=0)
    knn_reference_per_class: int = Field(gt=0)
    label_agreement: Threshold
    train: CnnTrainParams
    held_out_per_class: int = Field(gt=0)
    accuracy: Threshold


class RegressionShape(Strict):
    n_samples: int = Field(gt=0)
    n_features: int = Field(gt=0)


class DescentParams(Strict):
    lr: float = Field(gt=0)
    steps: int = Field(ge=2, description="at least 2, so that unreset gradients show")


class TensorsParams(Strict):
    """Numbers of assignment 01_tensors."""

    random_shape: list[int] = Field(min_length=1)
    ndim_shapes: list[list[int]] = Field(min_length=1)
    broadcast_shape: list[int] = Field(min_length=2, max_length=2, description="(m, n), m != n")
    index_shape: list[int] = Field(min_length=2, max_length=2, description="(rows, cols), rows != cols")
    marker: float = Field(description="written into the source after a bridge call")
    value_rtol: float = Field(gt=0)
    gradient_rtol: float = Field(gt=0)
    regression: RegressionShape
    descent: DescentParams
    descent_tolerance: Threshold

    @model_validator(mode="after")
    def _not_square(self):
        # a square table or matrix would hide a transposed answer
        if self.broadcast_shape[0] == self.broadcast_shape[1] or self.index_shape[0] == self.index_shape[1]:
            raise ValueError("broadcast_shape and index_shape must not be square")
        return self


class XorParams(Strict):
    restarts: int = Field(gt=0)
    steps: int = Field(gt=0)
    lr: float = Field(gt=0)
    grid_points: int = Field(ge=8)
    nonlinearity: Threshold
    solved: Threshold


class NeuronsParams(Strict):
    """Numbers of assignment 02_neurons."""

    softmax_atol: float = Field(gt=0)
    softmax_large_atol: float = Field(gt=0, description="for scores near ±1000, where float32 "
                                      "itself is only good to about 6e-5")
    one_hot_classes: list[int] = Field(min_length=2, max_length=2,
                                       description="[classes in the labels, a wider encoding]")
    ce_atol: float = Field(gt=0)
    leaky_slope: float = Field(gt=0, lt=1)
    perceptron_cases: int = Field(ge=4)
    perceptron_lrs: list[float] = Field(min_length=1)
    xor: XorParams


class QuizParams(Strict):
    """Settings of assignment 05_quiz (the answer key is not here: it stays in the hidden suite)."""

    show_explanations: bool = Field(False, description="say why each answer is right; for after the due date")


PARAMS_MODELS: dict[str, type[BaseModel]] = {
    "01_tensors": TensorsParams, "02_neurons": NeuronsParams, "03_network": NetworkParams,
    "04_digits_cnn": CnnParams, "05_quiz": QuizParams}


class AssignmentConfig(Strict):
    title: str
    notebook: str
    seed: int = Field(description="model and data seed; the same submission gets the same score")
    secret_seed: int | None = Field(None, description="held-out data; only the judge knows it")
    probe_timeout_s: dict[str, float] = Field(default_factory=dict)
    tests: dict[str, TestSpec]
    params: dict

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests.values())


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
        """The assignment's parameters as their typed model (validated at load time)."""
        model = PARAMS_MODELS.get(assignment_id)
        raw = self.assignment(assignment_id).params
        return model.model_validate(raw) if model else raw


def _format_errors(err: ValidationError, prefix: tuple = ()) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (*prefix, *e["loc"])) or "(top level)"
        lines.append(f"  - {path}: {e['msg']}")
    return "\n".join(lines)


def parse_config(data: object, source: str = CONFIG_NAME) -> GradingConfig:
    try:
        cfg = GradingConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source} is invalid:\n{_format_errors(err)}") from None
    problems = []
    for aid, model in PARAMS_MODELS.items():
        if aid in cfg.assignments:
            try:
                model.model_validate(cfg.assignments[aid].params)
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
    return parse_config(data, str(path))


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
