"""Stage 1 (trusted): turn a submission into one module source, without running any of it.

A notebook contributes only its solution cells, matched by nbgrader `grade_id`; setup cells always
come from the trusted release, so a student cannot change the imports the probes rely on. Missing,
duplicated and altered cells become notes for the feedback. A `.py` submission is the module as is.
Anything that cannot be read becomes `failure`: the submission is still graded (every test fails
with that reason) rather than crashing the grader.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.text import plain

MAX_SUBMISSION_BYTES = 5 * 1024 * 1024
SETUP_PREFIX = "setup"


@dataclass
class Extraction:
    source: str | None
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    # (first line, last line, label) of each piece of the module, to name cells in error messages
    line_map: list[tuple[int, int, str]] = field(default_factory=list)

    def where(self, line: int | None) -> str:
        if line is None:
            return ""
        for first, last, label in self.line_map:
            if first <= line <= last:
                return f"line {line - first + 1} of {label}"
        return f"line {line}"

    def enclosing(self, line: int | None) -> str | None:
        """The function or class (as `Class.method`) whose code holds `line` of the module."""
        if line is None or self.source is None:
            return None
        try:
            tree = ast.parse(self.source)
        except (SyntaxError, ValueError):
            return None
        path: list[str] = []
        nodes = tree.body
        while True:
            inside = [n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.lineno <= line <= (n.end_lineno or n.lineno)]
            if not inside:
                return ".".join(path) or None
            path.append(inside[0].name)
            nodes = inside[0].body


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _comment_magics(source: str, label: str, notes: list[str]) -> str:
    lines = []
    for line in source.splitlines():
        if line.lstrip().startswith(("%", "!")):
            notes.append(f"{label}: the notebook command `{line.strip()[:60]}` was ignored")
            line = line.replace(line.lstrip(), "# " + line.lstrip(), 1)
        lines.append(line)
    return "\n".join(lines)


NBGRADER_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def _without_leftover_stub(source: str, label: str, notes: list[str]) -> str:
    """An answer cell without the line `raise NotImplementedError()` that nbgrader's own release puts
    at the top level of a cell whose answer is not inside a function (the quiz's `ANSWERS = {...}`),
    where the student's answer is there beside it. Inside a function the stub stays: there it is
    the sign of an answer not yet written. A cell that is nothing but the stub keeps it too."""
    lines = source.splitlines()
    marked = [i for i in range(1, len(lines))
              if lines[i - 1].rstrip() == NBGRADER_STUB[0] and lines[i].rstrip() == NBGRADER_STUB[1]]
    if not marked:
        return source
    try:
        rest = ast.parse("\n".join(line for i, line in enumerate(lines) if i not in marked)).body
    except (SyntaxError, ValueError):
        return source
    if not rest:
        return source
    notes.append(f"{label} still holds the line `raise NotImplementedError()` of nbgrader's release "
                 "after your answer; it was ignored here, but delete it so that the cell runs in "
                 "your notebook too")
    # `pass` in its place keeps every line where it was, for the line numbers of messages
    return "\n".join("pass" if i in marked else line for i, line in enumerate(lines))


def headings(nb) -> dict[str, str]:
    """grade_id -> the heading a student sees above that cell (the nearest markdown heading before
    it, without `#` and backticks). Jupyter never shows a grade_id; messages name cells by this."""
    found, last = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip().startswith("#"):
                    last = re.sub(r"\s+", " ", line.strip().lstrip("#").replace("`", "")).strip() or last
        gid = _nbgrader(cell).get("grade_id")
        if isinstance(gid, str) and last:
            found[gid] = last
    return found


def cell_label(gid: str, heading: str | None, kind: str = "answer cell") -> str:
    return f"the {kind} under “{heading}”" if heading else f"the {kind} `{gid}`"


def defined_names(source: str) -> set[str] | None:
    """The names a module defines at its top level (def, class, assignments, imports, for/with
    targets); None when it does not parse (the syntax error is reported when it is loaded)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            return  # what a body assigns is local to it
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in tree.body:
        visit(statement)
    return names


def called_names(source: str) -> set[str]:
    """What a released answer cell offers the grader: the functions and classes it defines and the
    names it assigns at its top level (the quiz's ANSWERS). Not its imports: a student may import
    otherwise, and the grader calls nothing it imports."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


class _Builder:
    def __init__(self):
        self.parts: list[str] = []
        self.line_map: list[tuple[int, int, str]] = []
        self.line = 1

    def add(self, source: str, label: str) -> None:
        text = source.rstrip("\n") + "\n\n"
        n = text.count("\n")
        self.line_map.append((self.line, self.line + n - 1, label))
        self.parts.append(text)
        self.line += n

    def source(self) -> str:
        return "".join(self.parts)


class Node(dict):
    """A notebook's JSON object with attribute access (`nb.cells`, `cell.source`), as nbformat's
    NotebookNode gives it."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _node(value):
    if isinstance(value, dict):
        return Node({k: _node(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_node(v) for v in value]
    return value


def _plain_v4(data) -> bool:
    """A notebook as Jupyter writes it today: format 4, and cells whose shape extraction relies on."""
    return (isinstance(data, dict) and data.get("nbformat") == 4 and isinstance(data.get("cells"), list)
            and isinstance(data.get("metadata", {}), dict)
            and all(isinstance(c, dict) and isinstance(c.get("cell_type"), str)
                    and isinstance(c.get("metadata", {}), dict)
                    and (isinstance(c.get("source"), str) or isinstance(c.get("source"), list)
                         and all(isinstance(line, str) for line in c["source"]))
                    for c in data["cells"]))


def read_notebook(path: Path):
    """The notebook as (node, None), or (None, reason) for any failure.

    A format-4 notebook is read as plain JSON: importing nbformat costs about 2 s (its schema
    validator pulls in jsonschema's format checkers), which every `check` paid before any work.
    Anything else (an old format 3 file, cells of an odd shape) goes through nbformat, which upgrades
    or rejects it as Jupyter would."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return None, f"the file is not a valid Jupyter notebook ({first})"
    if _plain_v4(data):
        data.setdefault("metadata", {})
        for cell in data["cells"]:
            cell.setdefault("metadata", {})
            if isinstance(cell["source"], list):
                cell["source"] = "".join(cell["source"])
        return _node(data), None
    try:
        import nbformat

        return nbformat.read(path, as_version=4), None
    except Exception as exc:  # json, validation and encoding errors have unrelated types
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return None, f"the file is not a valid Jupyter notebook ({first})"


def extract(submission: Path, release: Path, assignment_id: str) -> Extraction:
    submission = Path(submission)
    try:
        size = submission.stat().st_size
    except OSError as exc:
        return Extraction(None, failure=f"the submission could not be read ({exc.strerror})")
    if size > MAX_SUBMISSION_BYTES:
        return Extraction(None, failure=f"the submission is {size // 1024} KiB, over the "
                                        f"{MAX_SUBMISSION_BYTES // 1024} KiB limit")
    if submission.suffix == ".py":
        try:
            text = submission.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return Extraction(None, failure="the .py submission is not UTF-8 text")
        b = _Builder()
        b.add(text, submission.name)
        released, _ = read_notebook(release) if Path(release).suffix == ".ipynb" else (None, None)
        notes = []
        if released is not None:  # the names the release's answer cells define are still called
            heads = headings(released)
            expected = {gid: (cell_label(gid, heads.get(gid)), called_names(c.source))
                        for c in released.cells for gid in [_nbgrader(c).get("grade_id")]
                        if c.cell_type == "code" and _nbgrader(c).get("solution") and isinstance(gid, str)}
            notes = _missing_names(b.source(), expected, [])
        return Extraction(b.source(), notes=notes, line_map=b.line_map)
    if submission.suffix != ".ipynb":
        return Extraction(None, failure=f"`{submission.name}` is neither a notebook (.ipynb) "
                                        "nor a Python file (.py)")
    nb, problem = read_notebook(submission)
    if nb is None:
        return Extraction(None, failure=problem)
    released, problem = read_notebook(release)
    if released is None:  # a trusted file: this is the instructor's problem, not the student's
        raise RuntimeError(f"release notebook {release}: {problem}")

    claimed = nb.metadata.get("autograder", {}).get("assignment") if isinstance(
        nb.metadata.get("autograder"), dict) else None
    if claimed and claimed != assignment_id:
        return Extraction(None, failure=f"this notebook says it is assignment "
                                        f"`{plain(claimed, 80)}`, not `{assignment_id}`")

    student: dict[str, list] = {}
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if isinstance(gid, str):
            student.setdefault(gid, []).append(cell)

    notes: list[str] = []
    b = _Builder()
    heads = headings(released)
    solution_ids = [_nbgrader(c).get("grade_id") for c in released.cells
                    if _nbgrader(c).get("solution") and c.cell_type == "code"]
    if solution_ids and not any(g in student for g in solution_ids):
        return Extraction(None, failure=f"none of the answer cells of `{assignment_id}` "
                                        "were found: is this the right notebook?")
    expected: dict[str, tuple[str, set[str]]] = {}  # answer cell -> (label, the names it defines)
    absent: list[str] = []
    for cell in released.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or not gid:
            continue
        theirs = student.get(gid, [])
        label = cell_label(gid, heads.get(gid), "answer cell" if meta.get("solution") else "read-only cell")
        if meta.get("solution"):
            expected[gid] = (label, called_names(cell.source))
            if not theirs:
                absent.append(gid)
            if len(theirs) > 1:
                notes.append(f"{label} appears {len(theirs)} times; all copies were run "
                             "in notebook order, as Jupyter would")
            for i, c in enumerate(theirs):
                part = label + (f" (copy {i + 1})" if len(theirs) > 1 else "")
                b.add(_without_leftover_stub(_comment_magics(c.source, part, notes), part, notes),
                      part)
        elif meta.get("locked"):
            if any(c.source.strip() != cell.source.strip() for c in theirs):
                notes.append(f"{label} was edited; the released version was used")
            if gid.startswith(SETUP_PREFIX):
                b.add(cell.source, f"{label} (from the release)")
    notes += _missing_names(b.source(), expected, absent)
    return Extraction(b.source(), notes=notes, line_map=b.line_map)


def _missing_names(source: str, expected: dict[str, tuple[str, set[str]]], absent: list[str]) -> list[str]:
    """What to say about answer cells that are gone and names the grader calls that the notebook
    no longer defines (renamed, deleted, or moved into a cell that is not graded)."""
    have = defined_names(source)
    notes = []
    for gid, (label, names) in expected.items():
        missing = sorted(names - have) if have is not None else []
        if gid in absent:
            if names and have is not None and not missing:
                notes.append(f"{label} is not in the notebook, but what it defines "
                             f"({', '.join(f'`{n}`' for n in sorted(names))}) is in another answer "
                             "cell and was graded there")
            else:
                notes.append(f"{label} is missing from the notebook; its code was not graded")
                continue
        if missing:  # an absent cell got here only with nothing missing
            shown = ", ".join(f"`{n}`" for n in missing)
            notes.append(f"the grader calls {shown}, which your notebook does not define: it "
                         f"belongs in {label}. Was it renamed or deleted? Every check that uses it "
                         "fails until it is back under that name")
    return notes


def setup_source(notebook: Path) -> str:
    """The provided (setup) cells of a trusted notebook, for the judge to run the same helpers
    students were given (e.g. 04's digit generator) without touching any submission."""
    nb, problem = read_notebook(notebook)
    if nb is None:
        raise RuntimeError(f"{notebook}: {problem}")
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "code"
                       and str(_nbgrader(c).get("grade_id", "")).startswith(SETUP_PREFIX))
