"""Stage 0 (instructor): make the student release of an assignment with nbgrader's own preprocessors.

The pipeline is nbgrader's `generate_assignment` list, minus the steps that need an nbgrader course
database (SaveCells) or course-level configuration (IncludeHeaderFooter, InstantiateTests). Solution
regions become stubs, outputs are cleared, read-only cells are locked and checksummed, and hidden
test regions are removed. The release is deterministic, so a test can tell when it is stale.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ClearSolutions, ComputeChecksums, LockCells)

from autograder import public
from autograder.config import GradingConfig, load_config, release_path, repo_root, solution_path
from autograder.errors import UserError


class ClearSolutionsWithStubs(ClearSolutions):
    """nbgrader's ClearSolutions, with a per-cell stub: a solution cell whose metadata holds
    `autograder.stub` gets that text instead of `raise NotImplementedError()`. The quiz uses it so
    that its release is the blank `ANSWERS = {1: None, ...}` a student fills in, with no line to
    delete first."""

    def _replace_solution_region(self, cell, language):
        meta = cell.metadata.get("autograder", {})
        stub = meta.get("stub") if isinstance(meta, dict) else None
        if not isinstance(stub, str) or cell.cell_type != "code":
            return super()._replace_solution_region(cell, language)
        default, self.code_stub = self.code_stub, {**self.code_stub, language: stub}
        try:
            return super()._replace_solution_region(cell, language)
        finally:
            self.code_stub = default


RELEASE_PIPELINE = [LockCells, ClearSolutionsWithStubs, ClearOutput, CheckCellMetadata,
                    ComputeChecksums, ClearHiddenTests, ClearMarkScheme, ComputeChecksums,
                    CheckCellMetadata]


def render_release(source: Path) -> str:
    """The release notebook of solution notebook `source`, as the text that is checked in."""
    try:
        nb = nbformat.read(source, as_version=4)
    except FileNotFoundError:
        raise UserError(f"solution notebook not found: {source}") from None
    except Exception as exc:  # nbformat raises several unrelated types for a broken file
        raise UserError(f"{source} is not a readable notebook: {exc}") from None
    resources: dict = {}
    try:
        for step in RELEASE_PIPELINE:
            nb, resources = step().preprocess(nb, resources)
    except Exception as exc:  # nbgrader reports metadata problems as plain exceptions
        raise UserError(f"nbgrader could not release {source}: {exc}") from None
    return nbformat.writes(nb) + "\n"


def main(*, assignment_id: str, config: GradingConfig | None = None, root: Path | None = None,
         out_dir: Path | None = None) -> Path:
    """Write assignments/<id>/<notebook> (or `out_dir`/<notebook>), with the public checks beside it
    in public/ (see autograder/public.py), and return the notebook's path."""
    root = root or repo_root()
    cfg = config or load_config(root / "grading_config.yaml")
    notebook = cfg.assignment(assignment_id).notebook
    text = render_release(solution_path(root, assignment_id, notebook))
    target = (out_dir / notebook) if out_dir else release_path(root, assignment_id, notebook)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    public.write(root, cfg, assignment_id, target.parent / "public",
                 released=nbformat.reads(text, as_version=4))
    return target


def warnings(root: Path, cfg: GradingConfig, assignment_id: str) -> list[str]:
    """What the release's instructor should hear about its config block (nothing stops the
    release): time limits named for probes the plan does not have (a typo keeps the default)."""
    from autograder import assignment

    plan = assignment.make_plan(root, cfg, assignment_id, "cpu")
    unknown = assignment.unknown_timeouts(cfg, assignment_id, plan)
    if not unknown:
        return []
    names = ", ".join(sorted(spec.name for spec in plan.probes))
    return [f"{assignment_id}: probe_timeout_s names {', '.join(unknown)}, which "
            f"{'is not a probe' if len(unknown) == 1 else 'are not probes'} of its plan "
            f"(the probes: {names}); those limits are not applied"]
