"""The command line: a thin layer over each command's `main(*, ...)`.

User errors print one line (or a `path: message` list) and exit 1; a broken kit exits 2. Neither
shows a traceback unless AUTOGRADER_DEBUG=1. A graded submission exits 0 whatever its score.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder import text
from autograder.errors import GraderError, UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Release and grade the PyTorch course's assignments.")
console = Console()
errors = Console(stderr=True)


@contextmanager
def _reported():
    try:
        yield
    except UserError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    except GraderError as exc:  # the machinery cannot grade here: never a score
        errors.print(f"[red]error of the grader, nothing graded:[/] {escape(str(exc))}",
                     highlight=False)
        raise typer.Exit(2) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - a kit bug: say so, without a wall of traceback
        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        errors.print(f"[red]internal error:[/] {type(exc).__name__}: {text.console(exc)}\n"
                     "This is a bug in the grader, not in the submission. Rerun with "
                     "AUTOGRADER_DEBUG=1 for the traceback.", highlight=False)
        raise typer.Exit(2) from None


ConfigOption = typer.Option(None, "--config", help="grading_config.yaml (default: the repo's)")


@app.command()
def release(assignments: Optional[list[str]] = typer.Argument(
                None, help="assignment ids, e.g. 03_network (default: every assignment in the config)"),
            config: Optional[Path] = ConfigOption):
    """Generate the student notebook of each ASSIGNMENT from its solution, with nbgrader."""
    from autograder import release as release_stage
    from autograder.config import load_config, repo_root

    from autograder.calibrate import warn_unsupported

    with _reported():
        cfg = load_config(config)
        root = repo_root()
        for aid in assignments or list(cfg.assignments):
            path = release_stage.main(assignment_id=aid, config=cfg, root=root)
            shown = path.relative_to(root) if path.is_relative_to(root) else path
            console.print(f"released {aid} -> {shown}")
            for line in release_stage.warnings(root, cfg, aid):
                errors.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False)
            warn_unsupported(errors, root, cfg, aid)


@app.command()
def new(assignment: str = typer.Argument(..., help="the new assignment's id, e.g. 06_convolutions"),
        title: Optional[str] = typer.Option(None, help="its title (default: from the id)"),
        config: Optional[Path] = ConfigOption):
    """Scaffold a new ASSIGNMENT that works at once: a solution notebook with one exercise, its
    params model, plan, probe and check, empty manifests, a config block; then release it."""
    from autograder import scaffold
    from autograder.config import repo_root

    with _reported():
        root = repo_root()
        written = scaffold.main(assignment_id=assignment, root=root, title=title, config_path=config)
        for path in written:
            shown = path.relative_to(root) if path.is_relative_to(root) else path
            console.print(f"  wrote {shown}")
        console.print(f"{assignment} is ready: `autograder grade solutions/{assignment}/"
                      f"{assignment}.ipynb` gives full marks, and README's \"Writing an "
                      "assignment\" goes on from here.", highlight=False)


@app.command()
def grade(submissions: list[Path] = typer.Argument(..., help="notebook(s) or .py file(s) to grade"),
          assignment: Optional[str] = typer.Option(None, help="assignment id (default: read from the notebook)"),
          out: Optional[Path] = typer.Option(None, help="folder for results.json (default: out/<name>)"),
          device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (default: the config's)"),
          sandbox: Optional[str] = typer.Option(
              None, help="auto (the strongest tier that works here), bwrap (namespaces), landlock "
                         "(Landlock + seccomp, for containers), uid (the floor), or none (process "
                         "limits only; unsafe for untrusted work). Default: the config's"),
          summary: Optional[Path] = typer.Option(
              None, help="also append a markdown score table per submission to this file "
                         "(e.g. \"$GITHUB_STEP_SUMMARY\" in GitHub Actions)"),
          config: Optional[Path] = ConfigOption):
    """Grade each submission: print a table of checks and points, write results.json."""
    from autograder import grade as grade_stage
    from autograder import judge, report
    from autograder import sandbox as sandbox_stage
    from autograder.calibrate import warn_unsupported
    from autograder.config import load_config, repo_root
    from autograder.sandbox import UNPROTECTED

    with _reported():
        cfg = load_config(config)
        mode = sandbox or cfg.sandbox
        if mode == "none":
            errors.print(f"[bold red]WARNING:[/] {UNPROTECTED}", highlight=False)
        else:  # chosen once by its self-test, said once; grade.main reuses the choice
            tier = sandbox_stage.select(mode, grade_stage.resolve_device(device or cfg.device),
                                        judge.secret_paths(repo_root(), config))
            errors.print(escape(tier.describe()), highlight=False)
        rows = []
        folders = _result_folders(submissions)
        warned: set[str] = set()
        for sub, folder in zip(submissions, folders):
            target = (out or Path("out")) / folder if len(submissions) > 1 else out
            with console.status(f"grading {text.console(sub.name)} ..."):
                result = grade_stage.main(submission=sub, assignment_id=assignment, out=target,
                                          device=device, config_path=config, sandbox=mode)
            report.print_table(console, result.score, f"{text.console(sub.name)} ({result.assignment_id})",
                               result.notes, result.failure)
            console.print(f"results: {text.console(result.results_path)}  ({result.seconds:.1f} s)\n",
                          highlight=False)
            if result.assignment_id not in warned:  # once per assignment, after its first table
                warned.add(result.assignment_id)
                warn_unsupported(errors, repo_root(), cfg, result.assignment_id)
            if summary:
                _append(summary, report.markdown_table(result.results,
                                                       f"{sub.name} ({result.assignment_id})"))
            rows.append(result)
        if len(rows) > 1:
            table = Table(title="scores", title_justify="left")
            table.add_column("submission")
            table.add_column("score", justify="right")
            table.add_column("failed checks", justify="right")
            table.add_column("seconds", justify="right")
            for r in rows:
                failed = sum(not t.passed for t in r.score.tests)
                table.add_row(text.console(r.submission.name), f"{r.score.total:g}/{r.score.max_total:g}",
                              str(failed), f"{r.seconds:.1f}")
            console.print(table)


def _result_folders(submissions: list[Path]) -> list[str]:
    """One results folder per submission, never one over another: the file's stem, or where two
    share it (`A/x.ipynb B/x.ipynb`), the stem after its folder's name (`A_x`, `B_x`), then a
    number where even that repeats (the same file given twice)."""
    from collections import Counter

    stems = Counter(p.stem for p in submissions)
    names = [p.stem if stems[p.stem] == 1 else f"{p.resolve().parent.name}_{p.stem}" for p in submissions]
    repeats, seen = Counter(names), Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if repeats[name] == 1 else f"{name}-{seen[name]}")
    return unique


def _append(path: Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


@app.command()
def check(notebook: Path = typer.Argument(..., help="your saved notebook, e.g. 03_network.ipynb"),
          assignment: Optional[str] = typer.Option(None, help="assignment id (default: read from the notebook)"),
          public: Optional[Path] = typer.Option(
              None, "--public", help="the assignment's public checks (default: "
                                     "assignments/<id>/public/ of the course folder)"),
          config: Optional[Path] = ConfigOption):
    """Check your notebook against the assignment's public checks before you submit: what passes,
    what fails and why, and the points at stake. Hidden checks run only when you are graded."""
    from autograder import check as check_stage

    import contextlib
    import time

    since = check_stage.process_seconds()
    started = time.monotonic() - since if since is not None else None
    with _reported():
        # a spinner only on a terminal: in a notebook's `!` cell or a log its frames pile up
        waiting = (console.status(f"checking {text.console(notebook.name)} ...")
                   if console.is_terminal and not console.is_jupyter else contextlib.nullcontext())
        with waiting:
            result = check_stage.main(notebook=notebook, assignment_id=assignment, bundle=public,
                                      config_path=config, started=started)
        check_stage.show(console, result, text.console(notebook.name))


@app.command("grade-batch")
def grade_batch(source: Path = typer.Argument(..., help="a folder of submissions (one file per student), "
                                                      "nbgrader's submitted/ folder, or a zip of either"),
                assignment: str = typer.Option(..., help="assignment id, e.g. 03_network"),
                out: Path = typer.Option(..., help="folder for the gradebook, the summary and each "
                                                   "student's results and feedback"),
                workers: Optional[int] = typer.Option(None, help="submissions graded at once "
                                                               "(default: one per core)"),
                scheduler: Optional[str] = typer.Option(
                    None, help="a Dask scheduler's address (tcp://host:8786): grade on that cluster"),
                force: bool = typer.Option(False, "--force", help="regrade students already graded "
                                                                  "with this grader"),
                nbgrader_db: Optional[str] = typer.Option(
                    None, "--nbgrader-db", help="also write the scores into this nbgrader gradebook "
                                                "(a gradebook.db path or a database URL): autograded, "
                                                "with lateness, and feedback for generate_feedback "
                                                "when SOURCE is the course folder"),
                add_students: bool = typer.Option(
                    False, "--add-students", help="with --nbgrader-db: add submitting students the "
                                                  "roster does not hold (otherwise an error)"),
                device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (default: the config's)"),
                sandbox: Optional[str] = typer.Option(
                    None, help="auto, bwrap, landlock, uid or none (default: the config's)"),
                config: Optional[Path] = ConfigOption):
    """Grade a whole class in parallel: a gradebook, Gradescope results, feedback per student and a
    class summary in OUT. Rerun to resume; Ctrl-C keeps every student already graded."""
    from autograder import batch

    with _reported():
        result = batch.main(source=source, assignment_id=assignment, out=out, workers=workers,
                            scheduler=scheduler, force=force, device=device, config_path=config,
                            sandbox=sandbox, nbgrader_db=nbgrader_db, add_students=add_students,
                            console=errors)
        table = Table(title=f"{assignment}: {len(result.outcomes)} students", title_justify="left")
        for name, justify in (("student", "left"), ("score", "right"), ("status", "left"),
                              ("failed checks", "right"), ("seconds", "right")):
            table.add_column(name, justify=justify)
        for o in result.outcomes:
            score = "-" if o.score is None else f"{o.score:g}/{o.max_score:g}"
            table.add_row(text.console(o.student), score, o.status, str(len(o.failed_checks)), f"{o.seconds:.1f}")
        console.print(table)
        console.print(text.console(f"gradebook: {result.out / 'gradebook.csv'}   summary: "
                                   f"{result.out / 'summary.md'}   feedback: {result.out / 'students'}"
                                   "/<id>/feedback.md"), highlight=False)
        console.print(f"{result.graded_now} graded now, {result.skipped} kept from before, "
                      f"{result.seconds:.1f} s with {result.workers} workers", highlight=False)


@app.command()
def calibrate(assignment: str = typer.Argument(..., help="assignment id, e.g. 03_network"),
              seeds: int = typer.Option(50, help="how many seeds (the first is the config's own)"),
              device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (default: the config's)"),
              workers: Optional[int] = typer.Option(None, help="worker processes (default: one per core); with fewer seeds than workers, a seed's subjects are shared out"),
              out: Optional[Path] = typer.Option(None, help="also write a PNG plot of the distributions"),
              record: Optional[Path] = typer.Option(
                  None, help="where to write the record (default: benchmarks/calibration/<id>.json)"),
              no_record: bool = typer.Option(False, "--no-record", help="write no record"),
              results: Optional[Path] = typer.Option(
                  None, help="keep every results.json, as DIR/seed<k>/<subject>/results.json"),
              sandbox: Optional[str] = typer.Option(
                  None, help="auto, bwrap, landlock, uid or none (default: the config's)"),
              config: Optional[Path] = ConfigOption):
    """Grade the reference, every correct variant and every mutant of ASSIGNMENT over many seeds;
    print each threshold's distribution and flag what does not separate. Exits 1 when it flags
    anything."""
    from autograder import calibrate as calibrate_stage

    with _reported():
        cal = calibrate_stage.main(assignment_id=assignment, seeds=seeds, device=device,
                                   workers=workers, config_path=config, record=record,
                                   write_record=not no_record, results=results, png=out,
                                   sandbox=sandbox, console=errors)
        if cal.flags:
            raise typer.Exit(1)


export_app = typer.Typer(no_args_is_help=True, help="Export an assignment for students or for "
                                                    "another grader (Gradescope, otter-grader, an "
                                                    "nbgrader course).")
app.add_typer(export_app, name="export")


@export_app.command("gradescope")
def export_gradescope(assignment: str = typer.Argument(..., help="assignment id, e.g. 03_network"),
                      out: Path = typer.Option(Path("autograder.zip"), help="the zip to write"),
                      sandbox: str = typer.Option(
                          "auto", help="the sandbox run_autograder uses: auto (the strongest tier "
                                       "that works in Gradescope's container: landlock there), "
                                       "bwrap, landlock, uid or none (see the README)"),
                      config: Optional[Path] = ConfigOption):
    """Build a Gradescope autograder zip: setup.sh, run_autograder, the hidden suite, the config and
    pinned requirements. run_autograder refuses to grade if what runs is not what was built."""
    from autograder.exports import gradescope

    with _reported():
        path = gradescope.main(assignment_id=assignment, out=out, config_path=config, sandbox=sandbox)
        console.print(f"wrote {path}: upload it as the assignment's autograder on Gradescope",
                      highlight=False)


@export_app.command("student")
def export_student(out: Path = typer.Option(..., help="folder for the student kit (must not exist, "
                                                     "or be empty)"),
                   assignments: Optional[list[str]] = typer.Argument(
                       None, help="assignment ids (default: every assignment in the config)"),
                   config: Optional[Path] = ConfigOption):
    """Build the kit students get: the package, the released notebooks, the public checks and a
    config of public checks only. Hidden checks, solutions and secrets stay out."""
    from autograder.exports import student

    with _reported():
        path = student.main(assignment_ids=assignments or None, out=out, config_path=config)
        console.print(f"wrote the student kit to {path}", highlight=False)


@export_app.command("otter")
def export_otter(assignment: str = typer.Argument(..., help="assignment id, e.g. 03_network"),
                 out: Optional[Path] = typer.Option(None, help="folder for the otter-assign master "
                                                              "notebook (default: out/otter/<id>)"),
                 config: Optional[Path] = ConfigOption):
    """Write an otter-assign master notebook of ASSIGNMENT, with the hidden checks as otter tests.
    Otter runs those tests in the student's own process: see the README for what that gives up."""
    from autograder.exports import otter

    with _reported():
        path = otter.main(assignment_id=assignment, out=out, config_path=config)
        console.print(f"wrote {path}", highlight=False)


@export_app.command("nbgrader")
def export_nbgrader(course: Path = typer.Option(..., help="the nbgrader course folder: each "
                                                         "assignment goes to COURSE/source/<id>/"),
                    assignments: Optional[list[str]] = typer.Argument(
                        None, help="assignment ids (default: every assignment in the config)"),
                    config: Optional[Path] = ConfigOption):
    """Write the nbgrader source of each assignment: the solution notebook with one autograded cell
    per test group, and the public checks, so that nbgrader's generate_assignment releases it and
    grade-batch --nbgrader-db grades it."""
    from autograder.exports import nbgrader

    with _reported():
        nbgrader.export(out=course, assignment_ids=assignments or None, config_path=config)
        ids = ", ".join(assignments) if assignments else "every assignment"
        console.print(text.console(f"wrote the nbgrader source of {ids} to {course / 'source'}: "
                                   "run `nbgrader generate_assignment ID` in the course folder"),
                      highlight=False)


def main() -> None:  # pragma: no cover - the console script and `python -m autograder`
    """Run the command, then leave without tearing the interpreter down.

    Once a command has returned, everything it writes is written and closed (results, gradebooks,
    logs: every file is written inside a `with`), so all that is left is Python's finalisation:
    freeing every module and object, about a second once torch is imported, on every command. The
    exit handlers still run (atexit: zygotes closed, temporary folders removed), non-daemon threads
    are waited for as Python would, and the standard streams are flushed; then os._exit."""
    import atexit
    import threading

    try:
        app(prog_name="autograder")
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, status 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
