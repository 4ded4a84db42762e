"""`autograder export otter ID`: an otter-assign master notebook of an assignment.

Built from the instructor notebook `solutions/<id>/<id>.ipynb` (nbgrader marks its answer cells by
`grade_id`) and the assignment's hidden checks in grading_config.yaml:

- a raw `# ASSIGNMENT CONFIG` cell (otter-grader 7);
- the notebook's cells in order, with nbgrader's `### BEGIN/END SOLUTION` turned into otter's
  `# BEGIN/END SOLUTION` and nbgrader's metadata and every output dropped;
- one otter question per test group of the config. Where an answer cell's grade_id names the group
  (03_network: `network`, `trainer`, `accuracy`), the question wraps that cell in a solution block;
  the other groups (03_network: `learning`) are questions at the end of the notebook;
- every other code cell (demos, plots, the quick-check cells) tagged `otter_ignore`, so that otter
  grades what the kit grades, the setup cells and the answers, and not the demos' training runs;
- per check of the group one hidden otter test cell worth the check's points in the config:
  `check(ID, CHECK, globals())` of `autograder.exports.otter_bridge`, which runs the kit's hidden
  check on the student's notebook namespace, in the student's process (see that module and the
  README for what that gives up).

Every test is hidden: a check needs the kit's judge, whose conftest holds what students must not
see (the held-out split's seed, the reference computations), so nothing is offered to a student's
`grader.check`. The notebook's own quick-check cells stay as they are.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import yaml

from autograder.config import CONFIG_NAME, load_config, repo_root, solution_path
from autograder.errors import UserError
from autograder.extract import SETUP_PREFIX

BRIDGE = "autograder.exports.otter_bridge"
IGNORE_TAG = "otter_ignore"  # otter's grading skips cells with this tag
_NBGRADER_MARK = re.compile(r"^(\s*)#{1,3}\s*(BEGIN|END) SOLUTION\s*$")
_HIDDEN_TESTS = re.compile(r"^\s*#{1,3}\s*(BEGIN|END) HIDDEN TESTS\s*$")


# the cells that tell students to run `autograder check`, and the one that runs it
CHECK_CELLS = {"checking-your-work", "before-you-submit", "run-check"}


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _raw(text: str):
    return nbformat.v4.new_raw_cell(text.rstrip("\n"))


def _yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")


def _otter_solution(source: str) -> str:
    """nbgrader's `### BEGIN SOLUTION` / `### END SOLUTION` as otter's `# BEGIN SOLUTION` /
    `# END SOLUTION` (indentation kept)."""
    lines = []
    for line in source.splitlines():
        m = _NBGRADER_MARK.match(line)
        lines.append(f"{m.group(1)}# {m.group(2)} SOLUTION" if m else line)
    return "\n".join(lines)


def _points(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def test_cell(assignment_id: str, check: str, points: float):
    """One hidden otter test: the kit's hidden check `check`, worth `points`."""
    config = _yaml({"hidden": True, "points": _points(points)})
    source = (f'""" # BEGIN TEST CONFIG\n{config}\n""" # END TEST CONFIG\n'
              f"from {BRIDGE} import check\n"
              f"check({json.dumps(assignment_id)}, {json.dumps(check)}, globals())")
    return nbformat.v4.new_code_cell(source)


def question_cells(assignment_id: str, group: str, checks: dict[str, float], answer=None) -> list:
    """An otter question for one test group: its answer cell (if any) and one test per check."""
    cells = [_raw("# BEGIN QUESTION\n" + _yaml({"name": group, "check_cell": False}))]
    if answer is not None:
        cells += [_raw("# BEGIN SOLUTION"), answer, _raw("# END SOLUTION")]
    else:
        names = "\n".join(f"- `{name}`" for name in checks)
        cells.append(nbformat.v4.new_markdown_cell(
            f"**Checks of `{group}`** (graded on your code above; hidden):\n\n{names}"))
    cells.append(_raw("# BEGIN TESTS"))
    cells += [test_cell(assignment_id, name, pts) for name, pts in checks.items()]
    cells += [_raw("# END TESTS"), _raw("# END QUESTION")]
    return cells


def build(assignment_id: str, solution: Path, tests: dict) -> nbformat.NotebookNode:
    """The master notebook. `tests` is the assignment's `tests` of grading_config.yaml
    ({check: TestSpec}); points come from there and nowhere else."""
    try:
        source = nbformat.read(solution, as_version=4)
    except FileNotFoundError:
        raise UserError(f"solution notebook not found: {solution}") from None
    except Exception as exc:  # json, validation and encoding errors have unrelated types
        raise UserError(f"{solution} is not a valid notebook: {str(exc).strip()[:200]}") from None

    groups: dict[str, dict[str, float]] = {}
    for name, spec in tests.items():
        groups.setdefault(spec.group, {})[name] = spec.points
    if not groups:
        raise UserError(f"assignment {assignment_id} has no checks in {CONFIG_NAME}: nothing to "
                        "export as otter tests")

    placed: set[str] = set()
    loose_answers = False
    cells = []
    for cell in source.cells:
        if cell.cell_type == "code":
            meta = _nbgrader(cell)
            if any(_HIDDEN_TESTS.match(line) for line in cell.source.splitlines()):
                continue  # an nbgrader hidden-test cell: the kit's checks replace it
            new = nbformat.v4.new_code_cell(_otter_solution(cell.source))
            gid = meta.get("grade_id")
            if meta.get("solution") and gid in groups and gid not in placed:
                placed.add(gid)
                cells += question_cells(assignment_id, gid, groups[gid], answer=new)
                continue
            if meta.get("solution"):
                loose_answers = True
            elif cell.get("id") in CHECK_CELLS:
                continue  # `check(...)` from the kit, which otter's students do not install
            elif not str(gid or "").startswith(SETUP_PREFIX):
                # demos, plots, quick checks: run by students, skipped when otter grades
                new.metadata["tags"] = [IGNORE_TAG]
            cells.append(new)
        elif cell.cell_type == "markdown":
            if cell.get("id") in CHECK_CELLS:
                continue  # it tells students to run `autograder check`, which otter's students lack
            cells.append(nbformat.v4.new_markdown_cell(cell.source))
        else:
            cells.append(nbformat.v4.new_raw_cell(cell.source))

    rest = [g for g in groups if g not in placed]
    if rest:
        cells.append(nbformat.v4.new_markdown_cell(
            "## Checks of the whole notebook\n\nThese checks use several of your answers together."))
        for group in rest:
            cells += question_cells(assignment_id, group, groups[group])

    config = {
        "name": assignment_id,
        "init_cell": False,        # every test is hidden: a student's grader.check has nothing to run
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": True,         # `otter assign` grades the solution with these tests
        "generate": {"pdf": False, "filtering": False},
        "tests": {"files": False, "ok_format": True},
    }
    if loose_answers:  # answer cells outside any question: strip their solutions too
        config["strip_solutions_from_all_cells"] = True
    header = _raw("# ASSIGNMENT CONFIG\n" + _yaml(config))

    nb = nbformat.v4.new_notebook()
    nb.cells = [header, *cells]
    nb.metadata = {"kernelspec": source.metadata.get("kernelspec", {
        "display_name": "Python 3", "language": "python", "name": "python3"}),
        "language_info": {"name": "python"},
        "autograder": {"assignment": assignment_id, "export": "otter"}}
    return nb


def main(*, assignment_id: str, out: Path | None, config_path: Path | None) -> Path:
    """Write `out`/<notebook> (default out/otter/<id>/) and return its path."""
    cfg = load_config(config_path)
    acfg = cfg.assignment(assignment_id)
    root = repo_root()
    solution = solution_path(root, assignment_id, acfg.notebook)
    hidden = root / "tests" / "hidden" / assignment_id
    if not (hidden / "probes.py").is_file():
        raise UserError(f"assignment {assignment_id} has no hidden suite at {hidden}")
    nb = build(assignment_id, solution, acfg.tests)
    out = Path(out) if out is not None else Path("out") / "otter" / assignment_id
    path = out / acfg.notebook
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return path
