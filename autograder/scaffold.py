"""`autograder new ID`: a new assignment that works at once, as the folders the package discovers.

It writes, and touches nothing else (never a file of the package):

    solutions/<id>/<id>.ipynb         the solution notebook: a setup cell, one exercise (`double`)
                                      with its nbgrader metadata, and the closing check cell
    tests/hidden/<id>/params.py       the params model (`Params`) of the config block below
    tests/hidden/<id>/conftest.py     make_plan: one probe, on an input the judge draws
    tests/hidden/<id>/probes.py       the probe: calls the student's `double` and returns its output
    tests/hidden/<id>/test_<id>.py    one check, public, that recomputes the answer itself
    tests/mutants/<id>/mutants.yaml   empty manifests: the known-wrong and known-right submissions
    tests/variants/<id>/variants.yaml    that calibrate and tests/test_mutants.py grade
    grading_config.yaml               one block under `assignments:`, appended as text (the
                                      file's comments and order are kept)

and then releases it (`assignments/<id>/`). Grading the solution gives full marks and grading the
release gives 0, so the instructor starts from a working assignment and changes it one step at a
time; README's "Writing an assignment" walks through those steps.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat

from autograder.config import CONFIG_NAME, load_config, release_path, solution_path
from autograder.errors import UserError

ID_PATTERN = re.compile(r"^[0-9]{2}_[a-z][a-z0-9_]*$")


def _notebook(aid: str, title: str) -> nbformat.NotebookNode:
    def code(source: str, grade_id: str | None = None, solution: bool = False):
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": not solution,
                                         "schema_version": 3, "solution": solution, "task": False}
        return cell

    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["autograder"] = {"assignment": aid}
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        md(f"# {aid} · {title}\n\nWrite your answers in the cells that say `YOUR CODE HERE`. Save the "
           "notebook, then run the last cell: it runs the grader's public checks on your machine."),
        code("import torch", "setup_imports"),
        md("## 1. Doubling a tensor\n\nWrite `double(x)`: return a new tensor holding twice the "
           "entries of the tensor `x`, with its shape and dtype. Leave `x` as it was."),
        code('def double(x):\n    """A new tensor, 2 * x."""\n    ### BEGIN SOLUTION\n'
             "    return 2 * x\n    ### END SOLUTION", "double", solution=True),
        code("print(double(torch.tensor([1.0, -2.0, 3.5])))  # tensor([ 2., -4.,  7.])"),
        md("## Before you submit\n\nSave the notebook (Ctrl+S), then run this cell. It checks the "
           "notebook as saved on disk, as the grader will read it."),
        code(f'from autograder.check import check\n\ncheck("{aid}.ipynb")'),
    ]
    return nb


PARAMS = '''"""The params model of {aid}: what its `params:` block in grading_config.yaml must hold.

Validated once, when the config loads; the checks read it as the `p` fixture. It ships in the
public bundle, so it holds types and bounds, no secret.
"""
from pydantic import Field

from autograder.config import Strict


class Params(Strict):
    size: int = Field(gt=0, description="length of the tensor double() is probed with")
'''

CONFTEST = '''"""The judge's side of {aid}: the inputs it chooses (make_plan) and, as the assignment grows,
its own reference computations. Trusted code: it never reaches the sandbox or a student.
"""
import torch

from autograder.config import GradingConfig
from autograder.probe import Plan, ProbeSpec

AID = "{aid}"


def make_plan(cfg: GradingConfig, device: str) -> Plan:
    """The probes to run, and the inputs they read. Each probe's time limit comes from the
    config's `probe_timeout_s` (the framework applies it)."""
    a = cfg.assignment(AID)
    p = cfg.params(AID)
    g = torch.Generator().manual_seed(a.seed)
    inputs = {{"double.x": torch.randn(p.size, generator=g)}}
    return Plan([ProbeSpec("double", "double")], inputs)
'''

PROBES = '''"""Probes of {aid}. They run in the sandbox, next to the student's code, and hold no secrets (a
student may read this file). Each is `name(student, args, inputs, device) -> (json_dict,
tensor_dict)`: it calls the student's code on the judge's inputs and returns what came out, raw; the
judge decides.
"""
import torch


def double(student, args, inputs, device):
    x = inputs["double.x"].clone()
    out = student.double(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"double returned a {{type(out).__name__}}, not a tensor")
    # the input after the call too: the judge compares its bytes with what it sent
    return {{}}, {{"out": out.detach(), "x_after": x}}
'''

TEST = '''"""The checks of {aid}. Each reads what the probes returned (`probe`), recomputes the answer from
the inputs the judge chose (`plan`), and fails with a message the student reads. The config's
`tests:` block gives each one its points; `public: true` ships it to students' `check`.
"""
import torch

from autograder.evidence import check


def test_double_returns_twice_its_input__catches_a_wrong_factor(probe, plan):
    """double(x) returns a new tensor, 2 * x, and leaves x as it was."""
    x = plan.inputs["double.x"]
    ev = probe("double", "double(x)")
    out = ev.tensor("out", tuple(x.shape), dtype=None, what="its result")
    check(torch.equal(ev.tensor("x_after", tuple(x.shape)), x), "double(x) changed x: return a "
          "new tensor and leave the input alone")
    check(torch.allclose(out.double(), 2 * x.double()), "double(x) is not 2 * x")
'''

MANIFEST = '''# {kind} of {aid}: {what}. Each entry is the reference solution
# with textual edits (`find` must occur exactly once), graded through the real pipeline. See
# README, "Writing an assignment", and tests/{kind}/03_network/{kind}.yaml for examples.
{{}}
'''


def config_block(aid: str, title: str, seed: int) -> str:
    return (f"\n  {aid}:\n    title: {json.dumps(title)}\n"
            f"    notebook: {aid}.ipynb\n    seed: {seed}\n"
            "    params:\n      size: 6\n"
            "    tests:\n"
            "      test_double_returns_twice_its_input__catches_a_wrong_factor: "
            "{points: 1, group: basics, public: true}\n")


def main(*, assignment_id: str, root: Path, title: str | None = None,
         config_path: Path | None = None) -> list[Path]:
    """Write the new assignment's files and release it; return the files written."""
    from autograder import release

    aid = assignment_id
    if not ID_PATTERN.match(aid):
        raise UserError(f"{aid!r} is not an assignment id: use two digits, an underscore and a "
                        "lower-case name, e.g. 06_convolutions")
    root = Path(root)
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    cfg = load_config(config_path)
    if aid in cfg.assignments:
        raise UserError(f"{aid} is already in {config_path.name}")
    hidden = root / "tests" / "hidden" / aid
    files = {
        solution_path(root, aid, f"{aid}.ipynb"): None,
        hidden / "params.py": PARAMS.format(aid=aid),
        hidden / "conftest.py": CONFTEST.format(aid=aid),
        hidden / "probes.py": PROBES.format(aid=aid),
        hidden / f"test_{aid}.py": TEST.format(aid=aid),
        root / "tests" / "mutants" / aid / "mutants.yaml": MANIFEST.format(
            kind="mutants", aid=aid, what="known-wrong submissions; `fails` lists exactly the "
            "checks each must lose, `message` a phrase of the first one's feedback"),
        root / "tests" / "variants" / aid / "variants.yaml": MANIFEST.format(
            kind="variants", aid=aid, what="known-right submissions written differently; each "
            "must get full marks"),
    }
    taken = [p for p in [*files, release_path(root, aid, f"{aid}.ipynb")] if p.exists()]
    if taken:
        raise UserError(f"{aid} already has files here: {', '.join(str(p.relative_to(root)) for p in taken)}; "
                        "remove them or choose another id")
    text = config_path.read_text()
    if not re.search(r"^assignments:[ \t]*$", text, re.M) or \
            re.search(r"^assignments:[ \t]*$(?:.|\n)*^[A-Za-z_]", text, re.M):
        raise UserError(f"{config_path.name} must end with its `assignments:` section for `new` to "
                        "append one; add the block by hand (see README, \"Writing an assignment\")")
    seed = 1000 * int(aid[:2]) + int(aid[:2])
    title = title or aid[3:].replace("_", " ").capitalize()
    made = {path.parent for path in files} | {release_path(root, aid, f"{aid}.ipynb").parent}
    folders = sorted(p for p in made if not p.exists())
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                nbformat.write(_notebook(aid, title), path)
            else:
                path.write_text(content)
        config_path.write_text(text.rstrip("\n") + "\n" + config_block(aid, title, seed))
        cfg = load_config(config_path)
        released = release.main(assignment_id=aid, config=cfg, root=root)
    except BaseException:  # leave the kit as it was: no half-made assignment
        config_path.write_text(text)
        for path in files:
            path.unlink(missing_ok=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return [*files, config_path, released]
