"""`autograder grade-batch INPUT --assignment ID --out DIR`: grade a whole class.

INPUT is a folder with one submission file per student (the student id is the file name without
its suffix), nbgrader's `submitted/<student>/<assignment>/` layout, or a zip of either.

Every submission goes through the same pipeline as `autograder grade` (extract, sandboxed probes,
judge, score, report), on a pool of worker processes: local by default, or a Dask cluster with
`--scheduler`. Both are driven through the same `concurrent.futures` interface, so the code path is
one. A worker keeps its judge warm (torch imported, the hidden suite's inputs built once); only the
sandbox is new per submission. Submissions travel to workers as bytes and results come back as
data, so a Dask worker needs the kit but no shared disk.

Before the class, the reference solution is graded on the same workers: if it does not score full
marks, the grader itself is broken here (wrong device, edited config) and nobody is graded. Its loss
curve is what each student's curve is drawn against.

DIR holds, written as each student finishes, so an interrupted batch loses nothing:

    gradebook.csv                 one row per student: total, a column per test group, status, duration
    summary.md, scores.png        the class: score histogram, most-failed checks, slowest submissions
    students/<id>/results.json    Gradescope's schema
    students/<id>/feedback.md     failed checks with their diagnosis, and loss.png beside it
    students/<id>/grading.json    what resuming reads: the submission's and the grader's fingerprints
    reference/...                 the reference solution, graded the same way

A rerun skips students whose submission and grader are unchanged (`force` regrades them).
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from autograder import fingerprint, report, text
from autograder.config import CONFIG_NAME, load_config, release_path, repo_root, solution_path
from autograder.errors import GraderError, UserError
from rich.markup import escape

SUFFIXES = (".ipynb", ".py")
STATUSES = ("graded", "failed", "timed out", "error")
REFERENCE = "reference"
MAX_ZIP_BYTES = 2 * 1024 ** 3       # everything a zip may unpack to
MAX_SUBMISSION_BYTES = 50 * 1024 ** 2  # one submission file (a notebook with big outputs, at most)
_SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]")


@dataclass
class Submission:
    student: str
    path: Path      # where it was found (inside a temporary folder for a zip)
    shown: str      # where it was found, as the user would name it
    problem: str = ""  # why it cannot be graded, found before grading (no notebook, two notebooks)
    nbgrader_id: str | None = None  # nbgrader's layout: the student's folder name, as nbgrader has it
    timestamp: str | None = None    # ... and the submission's timestamp.txt, as nbgrader wrote it


@dataclass
class Outcome:
    """One student's row: what the gradebook, the summary and resuming read."""
    student: str
    status: str                 # graded | failed | timed out | error
    score: float | None
    max_score: float
    groups: dict[str, float]
    seconds: float
    reason: str = ""
    failed_checks: list[str] = field(default_factory=list)
    submission: str = ""
    key: str = ""
    probe_seconds: float = 0.0  # the probes' own run time inside the sandbox (benchmarks subtract it)
    sandbox: str = ""           # the sandbox tier its code ran in

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# --- finding the submissions --------------------------------------------------------------------

def student_id(raw: str) -> str:
    """A student id that is safe as a folder name and a CSV cell."""
    clean = _SAFE_ID.sub("_", raw.strip()).strip(".")
    return clean or "_"


def _unzip(archive: Path, into: Path) -> Path:
    """Unpack `archive` safely: no absolute paths or `..`, no links, bounded size whatever the
    headers claim. A zip that cannot be unpacked as one class is a user error before anything is
    graded: two entries of the same name (which one to grade?), a file where a folder must be, an
    entry larger than its header says, or damaged data."""
    import zlib

    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{archive} is not a readable zip file ({exc})") from None
    with zf:
        total = 0
        seen: set[tuple[str, ...]] = set()
        for info in zf.infolist():
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or (info.external_attr >> 28) == 0o12:
                continue  # an absolute path, a climb out, or a symbolic link: never unpacked
            if "__MACOSX" in parts or not parts:
                continue
            if parts in seen and not info.is_dir():
                raise UserError(f"{archive} holds {name} twice, so which one to grade cannot be "
                                "told: remove one and zip it again")
            seen.add(parts)
            target = into / Path(*parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as dst:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        total += len(chunk)
                        if total > MAX_ZIP_BYTES:
                            raise UserError(f"{archive} unpacks to more than "
                                            f"{MAX_ZIP_BYTES >> 30} GiB")
                        dst.write(chunk)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise UserError(f"{archive} holds {name} where a file and a folder of the same "
                                "name clash: zip the class again") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                    ValueError) as exc:  # a size or CRC lie, damage, encryption, a method unknown
                raise UserError(f"{archive} could not be unpacked at {name} ({exc})") from None
            except OSError as exc:
                raise UserError(f"cannot unpack {archive} into {into}: {exc.strerror or exc}") from None
    # a zip of a folder holds that one folder: look inside it
    entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    while len(entries) == 1 and entries[0].is_dir() and entries[0].name != "submitted":
        into = entries[0]
        entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    return into


def _nbgrader_root(folder: Path, assignment_id: str) -> Path | None:
    """The `submitted` folder of nbgrader's layout, if `folder` is one or holds one."""
    for candidate in (folder / "submitted", folder):
        if candidate.is_dir() and any((d / assignment_id).is_dir() for d in candidate.iterdir()
                                      if d.is_dir()):
            return candidate
    return None


def _from_nbgrader(root: Path, assignment_id: str, notebook: str, shown_root: str) -> list[Submission]:
    found = []
    for student_dir in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        folder = student_dir / assignment_id
        if not folder.is_dir():
            continue  # this student did not submit this assignment
        sid = student_id(student_dir.name)
        shown = f"{shown_root}/{student_dir.name}/{assignment_id}"
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        named = [p for p in files if p.name == notebook]
        if named or len(files) == 1:
            chosen = (named or files)[0]
            sub = Submission(sid, chosen, f"{shown}/{chosen.name}")
        elif not files:
            sub = Submission(sid, folder, shown, f"no notebook was submitted in {shown}")
        else:
            sub = Submission(sid, folder, shown, f"{len(files)} notebooks in {shown} and none "
                             f"is named {notebook}: cannot tell which to grade")
        sub.nbgrader_id = student_dir.name
        stamp = folder / "timestamp.txt"  # written by nbgrader's submit, kept by its collect
        if stamp.is_file() and stamp.stat().st_size < 200:
            sub.timestamp = stamp.read_text(errors="replace").strip() or None
        found.append(sub)
    return found


def _from_folder(folder: Path, shown_root: str) -> tuple[list[Submission], list[str]]:
    found, ignored = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix in SUFFIXES:
            found.append(Submission(student_id(path.stem), path, f"{shown_root}/{path.name}"))
        else:
            ignored.append(path.name + ("/" if path.is_dir() else ""))
    return found, ignored


def discover(source: Path, assignment_id: str, notebook: str, scratch: Path) -> tuple[list[Submission], list[str]]:
    """Every submission in `source` (a folder or a zip), and the names of what was ignored."""
    source = Path(source)
    if not source.exists():
        raise UserError(f"{source} does not exist")
    shown_root = str(source)
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise UserError(f"{source} is a file: give a folder of submissions, nbgrader's "
                            "submitted/ folder, or a zip of either (one file: `autograder grade`)")
        folder = _unzip(source, scratch)
    else:
        folder = source
    try:
        nb_root = _nbgrader_root(folder, assignment_id)
        if nb_root is not None:
            found, ignored = _from_nbgrader(nb_root, assignment_id, notebook, shown_root), []
        else:
            found, ignored = _from_folder(folder, shown_root)
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror or exc}") from None
    if not found:
        raise UserError(f"no submissions in {source}: expected .ipynb or .py files, one per student, "
                        f"or nbgrader's submitted/<student>/{assignment_id}/ folders")
    seen: dict[str, Submission] = {}
    for sub in found:
        if sub.student in seen:
            raise UserError(f"two submissions for student {sub.student}: {seen[sub.student].shown} "
                            f"and {sub.shown} (an id keeps the ASCII letters, digits and . _ @ + - of a "
                            "name, so different names can give the same id); keep or rename one")
        seen[sub.student] = sub
    for sub in found:
        if not sub.problem and sub.path.stat().st_size > MAX_SUBMISSION_BYTES:
            sub.problem = (f"the submission is larger than {MAX_SUBMISSION_BYTES >> 20} MB; clear "
                           "the notebook's outputs and submit again")
    return found, ignored


# --- grading one submission: runs in a worker ---------------------------------------------------

@functools.lru_cache(maxsize=8)
def _worker_grader_key(assignment_id: str, config_text: str, notebook: str, device: str,
                       sandbox: str) -> str:
    """This worker's grader fingerprint (autograder/fingerprint.py), hashed once per worker rather
    than once per submission: the code a worker runs is what it imported when it started."""
    return fingerprint.grader(repo_root(), assignment_id, config_text, notebook, device, sandbox)


_one_at_a_time = threading.Lock()


def grade_job(job: dict) -> dict:
    """Grade one submission, given as bytes, and return plain data. Runs in a worker process (local
    or Dask), which keeps the judge warm between calls. Never raises: a kit failure is a result
    with status `error`, so one bad submission never stops the batch.

    A process grades one submission at a time: the judge (pytest) and the process's warm sandbox
    serve one grading at once, and a Dask worker may have several threads."""
    with _one_at_a_time:
        return _grade_job(job)


def _grade_job(job: dict) -> dict:
    start = time.monotonic()
    base = {"student": job["student"], "key": job["key"]}
    try:
        import torch

        from autograder import grade as grade_stage

        # One thread for the judge: workers already fill the cores, and OpenMP threads spinning
        # against another worker's made gradings take 5x as long at random.
        torch.set_num_threads(1)

        here = _worker_grader_key(job["assignment"], job["config_text"], job["notebook"],
                                  job["device"], job["sandbox"])
        if here != job["grader"]:
            return {**base, "status": "error", "seconds": time.monotonic() - start,
                    "reason": f"this worker's grader ({here}) differs from the batch's "
                              f"({job['grader']}): install the same kit and config on every worker"}
        with tempfile.TemporaryDirectory(prefix="autograder-batch-") as tmp:
            config_path = Path(tmp) / CONFIG_NAME
            config_path.write_text(job["config_text"])
            sub = Path(tmp) / "in" / job["filename"]
            sub.parent.mkdir()
            sub.write_bytes(job["data"])
            result = grade_stage.main(submission=sub, assignment_id=job["assignment"],
                                      out=Path(tmp) / "out", device=job["device"],
                                      config_path=config_path, sandbox=job["sandbox"])
    except GraderError as exc:  # the machinery failed here (the sandbox did not start): retried
        return {**base, "status": "error", "seconds": time.monotonic() - start, "retry": True,
                "sandbox": job["sandbox"], "reason": f"error of the grader, not a grade: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the batch goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {**base, "status": "error", "seconds": time.monotonic() - start,
                "reason": f"the grader failed on this submission ({type(exc).__name__}: {exc})"}
    status = "timed out" if result.timed_out else "failed" if result.failure else "graded"
    plot = None
    if job["student"] != REFERENCE:
        plot = loss_plot(result.curves, job.get("reference_curves") or {},
                         f"{job['student']}: training loss")
    return {**base, "status": status, "seconds": time.monotonic() - start, "plot": plot,
            "reason": result.failure or ("a check ran past its time limit" if result.timed_out else ""),
            "results": result.results, "curves": result.curves,
            "groups": {g: got for g, (got, _) in result.score.by_group().items()},
            "score": result.score.total, "max_score": result.score.max_total,
            "probe_seconds": round(result.probe_seconds, 3), "sandbox": result.sandbox,
            "failed_checks": [t.name for t in result.score.tests if not t.passed]}


def _ignore_interrupts() -> None:
    """Pool initializer: Ctrl-C is the batch's to handle; a worker is stopped by the batch."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from autograder import grade  # noqa: F401  (torch, pytest and the judge, once per worker)


# --- what a student reads -----------------------------------------------------------------------

def loss_plot(curves: dict[str, list[float]], reference: dict[str, list[float]], title: str) -> bytes | None:
    """The student's training loss curves against the reference's, as PNG bytes (None without
    curves, or without matplotlib)."""
    if not curves:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.4), squeeze=False)
    for ax, (label, values) in zip(axes[0], sorted(curves.items())):
        ref = reference.get(label)
        if ref:
            ax.plot(range(1, len(ref) + 1), ref, "o-", color="tab:green", label="reference solution")
        ax.plot(range(1, len(values) + 1), values, "o-", color="tab:blue", label="your code")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        finite = [v for v in values + (ref or []) if v == v and abs(v) != float("inf")]
        if finite and max(finite) > 0 and max(finite) / max(min(finite), 1e-12) > 100:
            ax.set_yscale("log")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def feedback_markdown(student: str, assignment_id: str, outcome: dict, plot: bool) -> str:
    """A page a student can act on: the score, each failed check with what was expected, what was
    seen and the likely bug, then what passed."""
    results = outcome.get("results") or {}
    md = text.markdown_line  # everything a submission can say is escaped: it makes no markup
    lines = [f"# {assignment_id}: feedback for {md(student)}", ""]
    if results:
        lines.append(f"**Score: {results['score']:g} / {results['max_score']:g}**")
    else:
        lines.append("**Not graded.**")
    if outcome.get("sandbox"):
        lines += ["", f"Graded in the `{outcome['sandbox']}` sandbox."]
    if outcome.get("reason"):
        lines += ["", f"> {md(outcome['reason'])}"]
    tests = results.get("tests", [])
    failed = [t for t in tests if t["status"] != "passed"]
    charged, waiting = report.split_failed(failed)
    if failed:
        lines += ["", "## What to fix", ""]
        for t in charged:
            body = text.markdown(t["output"]).replace("\n", "\n  ")
            lines.append(f"- **{md(t['name'])}** ({t['score']:g}/{t['max_score']:g}): {body}")
        if waiting:
            lines += ["", "Not graded until the checks above pass (they depend on them): "
                      + ", ".join(f"{md(t['name'])} ({t['score']:g}/{t['max_score']:g})"
                                  for t in waiting)]
    if plot:
        lines += ["", "## Training loss", "", "![your training loss against the reference "
                  "solution's](loss.png)"]
    passed = [t for t in tests if t["status"] == "passed"]
    if passed:
        lines += ["", "## Passed", ""]
        lines += [f"- {md(t['name'])} ({t['score']:g}/{t['max_score']:g})" for t in passed]
    return "\n".join(lines) + "\n"


# --- writing DIR --------------------------------------------------------------------------------

def _write(path: Path, data: bytes | str) -> None:
    """Atomic: a file in DIR is either the old one or the whole new one, whatever interrupts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def write_student(folder: Path, done: dict, assignment_id: str) -> Outcome:
    """Write one graded student's files; grading.json last, so a student counts as done only when
    everything else is on disk."""
    results = done.get("results")
    if results is not None:
        _write(folder / "results.json", json.dumps(results, indent=2) + "\n")
    png = done.get("plot")
    if png:
        _write(folder / "loss.png", png)
    elif (folder / "loss.png").exists():
        (folder / "loss.png").unlink()
    _write(folder / "feedback.md", feedback_markdown(done["student"], assignment_id, done, bool(png)))
    outcome = Outcome(done["student"], done["status"], done.get("score"), done.get("max_score", 0.0),
                      done.get("groups", {}), round(done["seconds"], 2), done.get("reason", ""),
                      done.get("failed_checks", []), done.get("submission", ""), done["key"],
                      done.get("probe_seconds", 0.0), done.get("sandbox", ""))
    _write(folder / "grading.json", json.dumps(outcome.to_dict(), indent=1) + "\n")
    return outcome


def read_outcome(folder: Path) -> Outcome | None:
    try:
        data = json.loads((folder / "grading.json").read_text())
        return Outcome(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_gradebook(path: Path, outcomes: list[Outcome], groups: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "total", "max_score", *groups, "status", "duration_s", "sandbox",
                     "reason"])
    for o in sorted(outcomes, key=lambda o: o.student):
        total = "" if o.score is None else f"{o.score:g}"
        cells = ["" if o.score is None else f"{o.groups.get(g, 0.0):g}" for g in groups]
        writer.writerow([text.csv_cell(o.student), total, f"{o.max_score:g}", *cells, o.status,
                         f"{o.seconds:.1f}", o.sandbox, text.csv_cell(" ".join(o.reason.split()))])
    _write(path, buf.getvalue())


def summarize(outcomes: list[Outcome], assignment_id: str, out: Path, max_score: float,
              seconds: float, workers: int) -> str:
    """summary.md (and scores.png): the class at a glance. Returns the markdown."""
    from collections import Counter

    from autograder.report import pretty_name

    counts = Counter(o.status for o in outcomes)
    scores = [o.score for o in outcomes if o.score is not None]
    # only submissions that ran: one that could not be read (or hit a kit error) "fails" every check
    failed = Counter(c for o in outcomes if o.status in ("graded", "timed out") for c in o.failed_checks)
    lines = [f"# {assignment_id}: class summary", "",
             f"{len(outcomes)} students: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]),
             f"in {seconds:.0f} s with {workers} workers." if seconds else ""]
    if scores:
        import statistics

        lines += ["", f"Scores out of {max_score:g}: mean {statistics.mean(scores):.1f}, median "
                  f"{statistics.median(scores):g}, min {min(scores):g}, max {max(scores):g}; "
                  f"{sum(s == max_score for s in scores)} full marks.", "", "![scores](scores.png)"]
    if failed:
        lines += ["", "## Most-failed checks", "", "| check | students |", "|---|---|"]
        lines += [f"| {pretty_name(c)} | {n} |" for c, n in failed.most_common(10)]
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:5]
    if slow:
        lines += ["", "## Slowest submissions", "", "| student | seconds | status |", "|---|---|---|"]
        lines += [f"| {text.markdown_line(o.student)} | {o.seconds:.1f} | {o.status} |" for o in slow]
    problems = [o for o in outcomes if o.status != "graded"]
    if problems:
        lines += ["", "## Not graded normally", ""]
        lines += [f"- {text.markdown_line(o.student)} ({o.status}): {text.markdown_line(o.reason, 1000)}"
                  for o in problems]
    page = "\n".join(lines) + "\n"
    _write(out / "summary.md", page)
    if scores:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 3.2))
            ax.hist(scores, bins=min(20, max(5, int(max_score) or 5)), range=(0, max_score or 1),
                    color="tab:blue", edgecolor="white")
            ax.set_xlabel(f"score (out of {max_score:g})")
            ax.set_ylabel("students")
            ax.set_title(f"{assignment_id}: {len(scores)} graded")
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90)
            plt.close(fig)
            _write(out / "scores.png", buf.getvalue())
        except ImportError:
            pass
    return page


# --- the batch ----------------------------------------------------------------------------------

@dataclass
class BatchResult:
    outcomes: list[Outcome]
    out: Path
    seconds: float
    graded_now: int
    skipped: int
    workers: int
    summary: str = ""
    interrupted: bool = False


class BatchAborted(UserError):
    """The grader is not fit to grade this class here (the reference solution loses points)."""


def _executor(scheduler: str | None, workers: int):
    """The pool the batch runs on, and how many submissions to keep in flight. Both kinds are
    `concurrent.futures` executors, so the rest of the batch is one code path."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UserError("--scheduler needs Dask: pip install 'autograder[dask]'") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        threads = sum(client.nthreads().values()) or 1
        return client.get_executor(pure=False), threads, client
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupts)
    return pool, workers, None


def _stop(pool, client) -> None:
    """Stop at once: running submissions are abandoned (their sandboxes die with their worker)."""
    if client is not None:
        pool.shutdown(wait=False)
        client.close()
        return
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        try:
            p.kill()
        except (OSError, AttributeError):
            pass
    for p in processes:
        try:
            p.join(5)
        except (OSError, AttributeError, AssertionError):
            pass


def main(*, source: Path, assignment_id: str, out: Path, workers: int | None = None,
         scheduler: str | None = None, force: bool = False, device: str | None = None,
         config_path: Path | None = None, sandbox: str | None = None,
         nbgrader_db: str | None = None, add_students: bool = False, console=None) -> BatchResult:
    """Grade every submission in `source` into `out`; see the module docstring."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from autograder import grade as grade_stage
    from autograder import judge
    from autograder.sandbox import select

    start = time.monotonic()
    console = console or Console(stderr=True)
    if add_students and not nbgrader_db:
        raise UserError("--add-students adds students to an nbgrader gradebook: give it with --nbgrader-db")
    root = repo_root()
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    cfg = load_config(config_path)
    acfg = cfg.assignment(assignment_id)
    if not release_path(root, assignment_id, acfg.notebook).exists():
        raise UserError(f"assignment {assignment_id} has no release yet: run "
                        f"`autograder release {assignment_id}`")
    if not solution_path(root, assignment_id, acfg.notebook).is_file():
        raise UserError(f"grade-batch grades the reference solution first, and "
                        f"{solution_path(root, assignment_id, acfg.notebook)} is missing (a "
                        "Gradescope zip or a student kit holds no solution): grade the class from "
                        "the instructor's checkout")
    from autograder.calibrate import warn_unsupported

    warn_unsupported(console, root, cfg, assignment_id)
    dev = grade_stage.resolve_device(device or cfg.device)
    # The tier is chosen here, once, by its self-test (SandboxUnavailable: exit 2, nobody graded),
    # and every worker grades with that very tier: the same guarantee for the whole class.
    tier = select(sandbox or cfg.sandbox, dev, judge.secret_paths(root, config_path))
    mode = tier.name
    if mode == "none":
        from autograder.sandbox import UNPROTECTED

        console.print(f"[bold red]WARNING:[/] {UNPROTECTED}", highlight=False)
    else:
        console.print(escape(tier.describe()), highlight=False)
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    out = Path(out)
    try:
        (out / "students").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write to {out}: {exc.strerror}") from None
    config_text = config_path.read_text()
    grader = fingerprint.grader(root, assignment_id, config_text, acfg.notebook, dev, mode)
    groups: dict[str, float] = {}
    for spec in acfg.tests.values():
        groups[spec.group] = groups.get(spec.group, 0.0) + spec.points
    max_score = sum(groups.values())
    common = {"assignment": assignment_id, "notebook": acfg.notebook, "config_text": config_text,
              "device": dev, "sandbox": mode, "grader": grader}

    with tempfile.TemporaryDirectory(prefix="autograder-batch-in-") as scratch:
        found, ignored = discover(Path(source), assignment_id, acfg.notebook, Path(scratch))
        if nbgrader_db:  # before anyone is graded: a student the course does not know is a mistake
            _check_roster(nbgrader_db, found, add_students, console)
        if ignored:
            shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
            console.print(f"ignored {len(ignored)} entries that are not .ipynb or .py files: "
                          f"{text.console(shown)}", highlight=False)
        outcomes: dict[str, Outcome] = {}
        todo: list[dict] = []
        skipped = 0
        for sub in found:
            folder = out / "students" / sub.student
            data = b"" if sub.problem else sub.path.read_bytes()
            key = hashlib.sha256(grader.encode() + b"\0" + sub.problem.encode() + data).hexdigest()[:16]
            previous = None if force else read_outcome(folder)
            if previous is not None and previous.key == key:
                outcomes[sub.student] = previous
                skipped += 1
            elif sub.problem:
                outcomes[sub.student] = _unreadable(folder, sub, key, acfg, assignment_id)
            else:
                todo.append({**common, "student": sub.student, "filename": sub.path.name,
                             "submission": sub.shown, "data": data, "key": key})
    if skipped:
        console.print(f"resuming: {skipped} of {len(found)} students already graded with this "
                      f"grader in {text.console(out)} (--force regrades them)", highlight=False)

    pool, slots, client = _executor(scheduler, workers or os.cpu_count() or 1) if todo else (None, 0, None)
    graded_now = 0
    interrupted = False
    try:
        if todo:
            reference = _reference(pool, common, root, out, acfg, assignment_id, force, console)
            for job in todo:
                job["reference_curves"] = reference
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn())
        counts = {s: 0 for s in STATUSES}

        def counted() -> str:
            return " · ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s] or s != "error")

        def finished(done: dict) -> None:
            nonlocal graded_now
            folder = out / "students" / done["student"]
            try:
                outcome = write_student(folder, done, assignment_id)
            except OSError as exc:  # a full disk, a folder in the way: this row says so, the batch goes on
                outcome = Outcome(done["student"], "error", None, done.get("max_score", 0.0), {},
                                  round(done["seconds"], 2), f"its results could not be written to "
                                  f"{folder} ({exc.strerror or exc}); rerun to grade it again",
                                  submission=done.get("submission", ""))
            outcomes[outcome.student] = outcome
            counts[outcome.status] += 1
            graded_now += 1
            try:
                write_gradebook(out / "gradebook.csv", list(outcomes.values()), list(groups))
            except OSError:
                pass  # written again at the end, where a failure is said
            if not console.is_terminal:  # a log gets a line per student instead of a live bar
                score = "-" if outcome.score is None else f"{outcome.score:g}/{outcome.max_score:g}"
                console.print(f"{text.console(outcome.student)}: {score} {outcome.status} "
                              f"({outcome.seconds:.1f} s)"
                              + (f": {text.console(text.plain(outcome.reason, 1000))}"
                                 if outcome.reason and outcome.status != "graded" else ""),
                              highlight=False, soft_wrap=True)

        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"grading {assignment_id}", total=len(todo), counts=counted())

            def advance(done: dict) -> None:
                finished(done)
                progress.update(task, advance=1, counts=counted())

            if todo:
                pool = _run(todo, pool, slots, client, common, cfg.limits, advance, workers, scheduler)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if pool is not None:
            _stop(pool, client)
    everyone = [outcomes[s.student] for s in found if s.student in outcomes]
    seconds = time.monotonic() - start
    try:
        write_gradebook(out / "gradebook.csv", everyone, list(groups))
        summary = summarize(everyone, assignment_id, out, max_score, seconds if graded_now else 0.0,
                            slots)
    except OSError as exc:
        raise UserError(f"cannot write the gradebook or summary in {out} ({exc.strerror or exc}); "
                        "every student written so far is kept in its folder, and the same command "
                        "resumes") from None
    if nbgrader_db and everyone:
        from autograder.exports import nbgrader

        course = _nbgrader_course(Path(source), assignment_id)
        n = nbgrader.write(nbgrader_db, assignment_id, acfg.notebook, everyone, groups,
                           {sub.student: sub for sub in found}, course, out, add_students)
        where = f"; feedback for `nbgrader generate_feedback` in {course / 'autograded'}" if course else ""
        console.print(f"nbgrader: {n} submissions written to {text.console(nbgrader_db)}"
                      + text.console(where), highlight=False)
    result = BatchResult(everyone, out, seconds, graded_now, skipped, slots, summary, interrupted)
    if interrupted:
        console.print(f"interrupted: {len(everyone)} of {len(found)} students are graded and kept in "
                      f"{text.console(out)}; the same command grades the rest", highlight=False)
        raise KeyboardInterrupt
    return result


def _nbgrader_course(source: Path, assignment_id: str) -> Path | None:
    """The nbgrader course folder (the one holding submitted/) that `source` is, or is inside of."""
    if not source.is_dir():
        return None  # a zip: its folders are gone after grading
    root = _nbgrader_root(source, assignment_id)
    return root.parent if root is not None and root.name == "submitted" else None


def _check_roster(db: str, found: list[Submission], add_students: bool, console) -> None:
    from autograder.exports import nbgrader

    unknown = nbgrader.unknown_students(db, [sub.nbgrader_id or sub.student for sub in found])
    if not unknown:
        return
    shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
    if not add_students:
        raise UserError(f"{len(unknown)} submitting student{'s are' if len(unknown) > 1 else ' is'} not "
                        f"on the roster of {db}: {shown}. Add them with `nbgrader db student add "
                        "ID`, or grade with --add-students to add them")
    console.print(f"nbgrader: adding {len(unknown)} students to the roster: {text.console(shown)}",
                  highlight=False)


def _unreadable(folder: Path, sub: Submission, key: str, acfg, assignment_id: str) -> Outcome:
    """A submission found unfit before grading (no notebook, two notebooks): 0 with the reason."""
    from autograder import report, score

    graded = score.score({}, acfg.tests)
    results = report.results_dict(graded, execution_time=0.0, notes=[], failure=sub.problem,
                                  assignment_id=assignment_id, submission=sub.shown)
    return write_student(folder, {"student": sub.student, "status": "failed", "score": 0.0,
                                  "max_score": graded.max_total, "reason": sub.problem,
                                  "groups": {g: 0.0 for g in graded.by_group()}, "seconds": 0.0,
                                  "results": results, "failed_checks": [t.name for t in graded.tests],
                                  "submission": sub.shown, "key": key}, assignment_id)


def _reference(pool, common: dict, root: Path, out: Path, acfg, assignment_id: str, force: bool,
               console) -> dict[str, list[float]]:
    """Grade the reference solution first (or read it back): it must score full marks here, and its
    loss curves are what each student's are drawn against."""
    path = solution_path(root, assignment_id, acfg.notebook)
    data = path.read_bytes()
    key = hashlib.sha256(common["grader"].encode() + b"\0" + data).hexdigest()[:16]
    folder = out / REFERENCE
    kept = None if force else read_outcome(folder)
    if kept is not None and kept.key == key and kept.score == kept.max_score:
        try:
            return json.loads((folder / "curves.json").read_text())
        except (OSError, ValueError):
            pass
    with console.status("grading the reference solution first (it must score full marks here) ..."):
        done = pool.submit(grade_job, {**common, "student": REFERENCE, "filename": path.name,
                                       "submission": str(path.relative_to(root)), "data": data,
                                       "key": key}).result()
    outcome = write_student(folder, done, assignment_id)
    _write(folder / "curves.json", json.dumps(done.get("curves") or {}) + "\n")
    if outcome.status == "error":  # the grader cannot grade here: an error of the grader, exit 2
        raise GraderError(f"the reference solution could not be graded here, so nobody was "
                          f"graded: {outcome.reason}")
    if outcome.status != "graded" or outcome.score != outcome.max_score:
        from autograder.report import pretty_name

        lost = ", ".join(pretty_name(c) for c in outcome.failed_checks[:5])
        raise BatchAborted(
            f"the reference solution scores {outcome.score if outcome.score is not None else 0:g}/"
            f"{outcome.max_score:g} with this grader here ({outcome.status}"
            + (f"; lost: {lost}" if lost else "") + (f"; {outcome.reason}" if outcome.reason else "")
            + f"), so grading the class would be unfair. See {folder}/feedback.md; check the "
            "config and the device, and run `pytest tests/hidden`.")
    return done.get("curves") or {}


def _run(todo: list[dict], pool, slots: int, client, common: dict, limits, advance, workers,
         scheduler) -> object:
    """Keep `slots` submissions in flight until all are done; returns the pool in use at the end.

    A local worker that dies (a crash in the judge, never in student code, which runs in the
    sandbox) breaks the pool: a new one takes over and the submissions that were in flight are
    graded again, up to 3 times. A grading that outlives every limit the sandbox enforces (the
    judge itself hung) is recorded as timed out and its worker replaced."""
    queue = list(reversed(todo))
    attempts: dict[str, int] = {}
    flying: dict[Future, tuple[dict, float]] = {}
    deadline = limits.submission_timeout_s + limits.startup_timeout_s + 120

    def fail(job: dict, status: str, reason: str, seconds: float) -> None:
        advance({"student": job["student"], "key": job["key"], "status": status, "reason": reason,
                 "seconds": seconds, "submission": job["submission"]})

    while queue or flying:
        while queue and len(flying) < slots:
            job = queue.pop()
            flying[pool.submit(grade_job, job)] = (job, time.monotonic())
        done, _ = wait(list(flying), timeout=5, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            job, began = flying.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                attempts[job["student"]] = attempts.get(job["student"], 0) + 1
                if attempts[job["student"]] >= 3:
                    fail(job, "error", "the grader's worker process died each time it graded this "
                         "submission", time.monotonic() - began)
                else:
                    queue.append(job)
                continue
            except Exception as exc:  # noqa: BLE001 - a Dask worker lost, a result that would not travel
                fail(job, "error", f"the grader failed on this submission ({type(exc).__name__}: "
                     f"{exc})", time.monotonic() - began)
                continue
            if result.get("retry"):  # an error of the grader, never a grade: try it again
                attempts[job["student"]] = attempts.get(job["student"], 0) + 1
                if attempts[job["student"]] < 3:
                    queue.append(job)
                    continue
            result["submission"] = job["submission"]
            advance(result)
        now = time.monotonic()
        hung = [f for f, (job, began) in flying.items() if now - began > deadline]
        if client is None and (broken or hung):
            for future in hung:
                job, began = flying.pop(future)
                fail(job, "timed out", f"grading did not finish within {deadline:g} s", now - began)
            for job, _ in flying.values():  # in flight on a pool that is about to go: grade again
                queue.append(job)
            flying.clear()
            _stop(pool, None)
            pool, _, _ = _executor(None, workers or slots)
    return pool
