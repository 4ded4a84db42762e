"""An nbgrader course graded by the kit: a source nbgrader can release, and grades, lateness and
feedback written where nbgrader looks for them.

`autograder export nbgrader ID... --course DIR` writes, per assignment,

    DIR/source/<id>/<id>.ipynb        the solution notebook, plus one autograded-test cell per test
                                      group of the config (`autograder-<group>`, worth the group's
                                      points), so that nbgrader's own gradebook holds exactly the
                                      cells the kit scores and `generate_assignment --force` still
                                      works after grading
    DIR/source/<id>/public/           the public checks, with a config of their own: nbgrader copies
                                      the folder into the release, so a student who fetches the
                                      assignment through the exchange can run `autograder check`

Each grade cell's test is hidden (`### BEGIN HIDDEN TESTS`): the student sees a comment saying the
kit grades that part; nbgrader's own `autograde`, should anyone run it, scores it 0 rather than
giving away points. `grade-batch --nbgrader-db` then (`write`):

- checks the course's roster before grading anyone (an unknown student is a user error, or added
  with --add-students);
- writes each group's score as an autograded grade (`needs_manual_grade` false), the submission's
  timestamp from nbgrader's `timestamp.txt`, and the late penalty nbgrader's own plugin computes
  from the course's `nbgrader_config.py` and the assignment's due date;
- writes `autograded/<student>/<id>/<id>.ipynb`: the submission with its outputs cleared, a summary
  cell on top (the score, the notes, the loss plot) and, in each grade cell, that group's checks
  and what failed; with nbgrader's `timestamp.txt` and `submission_secret.txt` beside it, so that
  `nbgrader generate_feedback` renders it and `release_feedback` returns it through the exchange.

Nothing the student wrote reaches a markdown cell: the kit's words go into stream outputs, which
nbconvert escapes.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from autograder import public, report, text
from autograder.config import CONFIG_NAME, load_config, repo_root, solution_path
from autograder.errors import UserError

GRADE_ID = "autograder-{group}"
HIDDEN = ('raise NotImplementedError("this part is graded by the course\'s autograder '
          '(autograder grade-batch), not by nbgrader autograde")')
CHECK_CELL = "run-check"  # the notebooks' closing cell (tests/test_release.py)


def groups(acfg) -> dict[str, float]:
    """Each test group of the assignment and its points, in the config's order."""
    found: dict[str, float] = {}
    for spec in acfg.tests.values():
        found[spec.group] = found.get(spec.group, 0.0) + spec.points
    return found


def grade_cell(group: str, points: float):
    import nbformat

    cell = nbformat.v4.new_code_cell(
        f"# Graded by the course's autograder: the checks of {group!r}, {points:g} points.\n"
        f"### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS")
    cell.id = GRADE_ID.format(group=group)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": GRADE_ID.format(group=group),
                                 "locked": True, "points": points, "schema_version": 3,
                                 "solution": False, "task": False}
    return cell


def source_notebook(root: Path, cfg, assignment_id: str):
    """The solution notebook with the kit's grade cells, before its closing check cell."""
    import nbformat

    acfg = cfg.assignment(assignment_id)
    nb = nbformat.read(solution_path(root, assignment_id, acfg.notebook), as_version=4)
    at = len(nb.cells) - 1 if nb.cells and nb.cells[-1].get("id") == CHECK_CELL else len(nb.cells)
    nb.cells[at:at] = [grade_cell(g, p) for g, p in groups(acfg).items()]
    return nb


def export(*, out: Path, assignment_ids: list[str] | None = None,
           config_path: Path | None = None) -> Path:
    """Write each assignment's nbgrader source (see the module docstring) under `out`/source/."""
    import nbformat
    import yaml

    from autograder.exports.student import public_config

    root = repo_root()
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    cfg = load_config(config_path)
    ids = assignment_ids or list(cfg.assignments)
    for aid in ids:
        cfg.assignment(aid)  # an unknown id is one clear error, before anything is written
    raw = yaml.safe_load(config_path.read_text())
    out = Path(out)
    for aid in ids:
        acfg = cfg.assignment(aid)
        folder = out / "source" / aid
        notebook = source_notebook(root, cfg, aid)
        files = public.build(root, cfg, aid)
        try:
            if folder.exists():
                shutil.rmtree(folder)
            (folder / "public").mkdir(parents=True)
            nbformat.write(notebook, folder / acfg.notebook)
            for name, data in files.items():
                (folder / "public" / name).write_bytes(data)
            (folder / "public" / CONFIG_NAME).write_text(
                f"# The public checks of {aid}, for `autograder check` beside a notebook fetched "
                "through\n# nbgrader's exchange (made by `autograder export nbgrader`). No secret "
                "is in it.\n" + yaml.safe_dump(public_config(raw, [aid]), sort_keys=False))
        except OSError as exc:
            raise UserError(f"cannot write {folder} ({exc.strerror or exc})") from None
    return out


# --- grade-batch --nbgrader-db ------------------------------------------------------------------

def _url(db: str) -> str:
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


@contextlib.contextmanager
def gradebook(db: str):
    """nbgrader's Gradebook, quietly: a new gradebook asks the `alembic` command for its schema
    version (found beside this Python even when the environment is not activated), and SQLAlchemy's
    warnings about nbgrader's own models are not the user's business."""
    from nbgrader.api import Gradebook

    path_before = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path_before])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Gradebook(_url(db)) as gb:
                yield gb
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - nbgrader's and SQLAlchemy's errors, a locked file
        raise UserError(f"cannot use the nbgrader gradebook {db} ({type(exc).__name__}: {exc})") from None
    finally:
        os.environ["PATH"] = path_before


def unknown_students(db: str, students: list[str]) -> list[str]:
    """The students (nbgrader ids) that the gradebook's roster does not hold."""
    with gradebook(db) as gb:
        known = {s.id for s in gb.students}
    return sorted(set(students) - known)


def _late_penalty_plugin(course: Path | None):
    """nbgrader's late-submission plugin, configured by the course's nbgrader_config.py (by
    default it assigns no penalty)."""
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if course is not None and (course / "nbgrader_config.py").is_file():
        try:  # the instructor's own course configuration, as nbgrader itself loads it
            config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        except Exception as exc:  # noqa: BLE001 - a broken config file is the user's to fix
            raise UserError(f"cannot read {course / 'nbgrader_config.py'} ({type(exc).__name__}: "
                            f"{exc})") from None
    pp = AssignLatePenalties(config=config)
    pp.init_plugin()
    return pp.plugin_inst


def write(db: str, assignment_id: str, notebook: str, outcomes, group_points: dict[str, float],
          submissions: dict, course: Path | None, out: Path, add_students: bool = False) -> int:
    """Every graded outcome into the gradebook at `db` (see the module docstring); with `course`
    (the folder that holds nbgrader's submitted/), the autograded notebooks too. `submissions`:
    student -> batch.Submission. Returns how many submissions were written."""
    from nbgrader.api import MissingEntry

    nb_name = Path(notebook).stem
    plugin = _late_penalty_plugin(course)
    written = 0
    with gradebook(db) as gb:
        gb.update_or_create_assignment(assignment_id)
        try:
            gb.find_notebook(nb_name, assignment_id)
        except MissingEntry:
            gb.add_notebook(nb_name, assignment_id)
        for group, points in group_points.items():
            gb.update_or_create_grade_cell(GRADE_ID.format(group=group), nb_name, assignment_id,
                                           max_score=points, cell_type="code")
        for o in outcomes:
            if o.score is None:
                continue  # a grader error: nothing to record
            sub = submissions.get(o.student)
            nb_id = getattr(sub, "nbgrader_id", None) or o.student
            try:
                gb.find_student(nb_id)
            except MissingEntry:
                if not add_students:  # checked before grading; the roster changed since
                    continue
                gb.add_student(nb_id)
            stamp = _timestamp(getattr(sub, "timestamp", None))
            submission = gb.update_or_create_submission(
                assignment_id, nb_id, **({"timestamp": stamp} if stamp else {}))
            for group in group_points:
                grade = gb.find_grade(GRADE_ID.format(group=group), nb_name, assignment_id, nb_id)
                grade.auto_score = o.groups.get(group, 0.0)
                grade.needs_manual_grade = False
            notebook_row = gb.find_submission_notebook(nb_name, assignment_id, nb_id)
            notebook_row.late_submission_penalty = None
            gb.db.commit()  # the scores first: the notebook's score is what the penalty is of
            if submission.total_seconds_late > 0:
                penalty = plugin.late_submission_penalty(nb_id, notebook_row.score,
                                                         submission.total_seconds_late)
                if penalty is not None:
                    notebook_row.late_submission_penalty = min(max(penalty, 0), notebook_row.score)
            gb.db.commit()
            if course is not None and sub is not None:
                _autograded(course, assignment_id, notebook, nb_id, sub, out / "students" / o.student)
            written += 1
    return written


def _timestamp(raw: str | None):
    """nbgrader's timestamp.txt as a UTC datetime (None where there is none, or it is garbled: the
    submission is then taken as on time, as nbgrader's own autograde does without one)."""
    from nbgrader.utils import parse_utc

    if not raw:
        return None
    try:
        return parse_utc(raw)
    except (ValueError, OverflowError, TypeError):
        return None


def _stream(lines: list[str]) -> dict:
    import nbformat

    return nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n")


def _autograded(course: Path, assignment_id: str, notebook: str, nb_id: str, sub, results_dir: Path):
    """nbgrader's autograded/<student>/<id>/: the submission as `generate_feedback` reads it, with
    the kit's results in it, and the submission's other small files (timestamp, secret)."""
    import nbformat

    results = json.loads((results_dir / "results.json").read_text())
    try:
        nb = nbformat.read(sub.path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable submission: feedback on a page of its own
        nb = nbformat.v4.new_notebook()
    by_group: dict[str, list[dict]] = {}
    for t in results.get("tests", []):
        by_group.setdefault((t.get("tags") or ["?"])[0], []).append(t)
    present = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        group = gid.removeprefix("autograder-") if gid.startswith("autograder-") else None
        if group is not None and cell.cell_type == "code":
            present.add(group)
            cell.outputs = [_stream(_group_lines(group, by_group.get(group, [])))]
    for group in by_group:  # a notebook from the kit's own release has no grade cells: add them
        if group not in present:
            points = sum(t.get("max_score", 0) for t in by_group[group])
            cell = grade_cell(group, points)
            cell.outputs = [_stream(_group_lines(group, by_group[group]))]
            nb.cells.append(cell)
    nb.cells.insert(0, _summary(results, results_dir / "loss.png"))
    target = course / "autograded" / nb_id / assignment_id
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target / notebook)
    folder = Path(sub.path).parent
    for name in ("timestamp.txt", "submission_secret.txt"):
        if (folder / name).is_file() and (folder / name).stat().st_size < 4096:
            shutil.copyfile(folder / name, target / name)


def _group_lines(group: str, tests: list[dict]) -> list[str]:
    got = sum(t.get("score", 0) for t in tests)
    top = sum(t.get("max_score", 0) for t in tests)
    lines = [f"{group}: {got:g} / {top:g} points, graded by the course's autograder", ""]
    for t in tests:
        mark = "passed" if t.get("status") == "passed" else "FAILED"
        lines.append(f"[{mark}] {t.get('name', '')}: {t.get('score', 0):g} / {t.get('max_score', 0):g}")
        if t.get("status") != "passed":
            said = t.get("output", "").split("\n\nWhat is checked:")[0]
            lines += ["    " + line for line in text.plain(said, 4000).splitlines()]
    return lines


def _summary(results: dict, plot: Path):
    """A code cell (no student text reaches markdown) with the summary as its output, and the
    loss plot as an image output where there is one."""
    import nbformat

    cell = nbformat.v4.new_code_cell("# Feedback from the course's autograder")
    cell.metadata["autograder"] = {"feedback": True}
    lines = text.plain(results.get("output", ""), 8000).splitlines()
    failed = [t for t in results.get("tests", []) if t.get("status") != "passed"]
    charged, waiting = report.split_failed(failed)
    if failed:
        lines += ["", "What to fix (each check's details are in its group's cell below):"]
        lines += [f"- {t.get('name', '')} ({t.get('score', 0):g}/{t.get('max_score', 0):g}): "
                  + text.plain(t.get("output", "").split("\n")[0], 600) for t in charged]
        if waiting:
            lines.append("Not graded until those pass (they depend on them): " + ", ".join(
                f"{t.get('name', '')} ({t.get('score', 0):g}/{t.get('max_score', 0):g})"
                for t in waiting))
    cell.outputs = [_stream(lines)]
    if plot.is_file():
        said = "the training loss per epoch: your code against the reference solution"
        cell.outputs.append(nbformat.v4.new_output(
            "display_data", data={"image/png": base64.b64encode(plot.read_bytes()).decode(),
                                  "text/plain": said},
            metadata={"image/png": {"alt": said}}))
    return cell
