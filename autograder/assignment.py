"""An assignment is a folder: what the package finds in `tests/hidden/<id>/`, and nothing else.

The package holds no list of assignments. Everything one assignment needs lives beside its suite,
and the framework discovers it by these names:

    tests/hidden/<id>/params.py     `Params`, the pydantic model of the assignment's `params:` block
                                    in grading_config.yaml (validated once, when the config loads)
    tests/hidden/<id>/conftest.py   `make_plan(cfg, device) -> Plan`: the probes to run and the
                                    inputs the judge chooses (and any `secrets` it keeps)
    tests/hidden/<id>/probes.py     the probes' recipes: what the sandbox calls in the student's module
                                    and ships back (autograder/recipe.py); it never enters the sandbox
    tests/hidden/<id>/test_*.py     the checks (the judge), named by the config's `tests:` block
    tests/hidden/<id>/selfcheck.py  optional: zero-point hints that ship to students' `check`
    tests/mutants/<id>/, tests/variants/<id>/   known-wrong and known-right submissions

A student's copy of the kit has no hidden suite; `autograder release` puts `params.py` in the public
bundle (`assignments/<id>/public/`), and the params model is found there instead.

The framework, not the conftest, applies each probe's `probe_timeout_s` from the config and builds
each probe's recipe from probes.py, so a plan only names its probes.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from autograder.errors import UserError

PARAMS_FILE, PLAN_FILE, PROBES_FILE = "params.py", "conftest.py", "probes.py"
PARAMS_CLASS = "Params"

_MODULES: dict[tuple[str, int, int], types.ModuleType] = {}


def hidden_dir(root: Path, assignment_id: str) -> Path:
    return Path(root) / "tests" / "hidden" / assignment_id


def load_module(path: Path, name: str) -> types.ModuleType:
    """A kit file as a module of this (trusted) process, loaded once per version of the file.

    Registered in sys.modules under `name` while it runs, so that pydantic and dataclasses can
    resolve the module's own annotations."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _MODULES:
        return _MODULES[key]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(name, None)
        raise
    _MODULES[key] = module
    return module


def params_file(roots, assignment_id: str) -> Path | None:
    """Where the assignment's params model is: its hidden suite, else its public bundle (a
    student's kit), else beside the config (a public bundle that carries its own config, fetched
    through nbgrader's exchange), under the first root that has one."""
    for root in roots:
        for candidate in (hidden_dir(root, assignment_id) / PARAMS_FILE,
                          Path(root) / "assignments" / assignment_id / "public" / PARAMS_FILE,
                          Path(root) / PARAMS_FILE):
            if candidate.is_file():
                return candidate
    return None


def params_model(roots, assignment_id: str):
    """The `Params` class of the assignment, or None when no params.py is found under `roots`.
    A params.py that cannot be loaded, or holds no `Params` model, is a UserError naming the file."""
    from pydantic import BaseModel

    path = params_file(roots, assignment_id)
    if path is None:
        return None
    try:
        module = load_module(path, f"autograder_params_{assignment_id}")
    except Exception as exc:  # noqa: BLE001 - the instructor's file: say what is wrong with it
        raise UserError(f"{path} cannot be loaded: {type(exc).__name__}: {exc}") from None
    model = getattr(module, PARAMS_CLASS, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise UserError(f"{path} must define `{PARAMS_CLASS}`, a pydantic model of the "
                        f"assignment's params (subclass autograder.config.Strict)")
    return model


def plan_module(root: Path, assignment_id: str) -> types.ModuleType:
    path = hidden_dir(root, assignment_id) / PLAN_FILE
    if not path.is_file():
        raise UserError(f"{assignment_id} has no hidden suite here ({path} is missing)")
    return load_module(path, f"autograder_plan_{assignment_id}")


def probes_module(root: Path, assignment_id: str) -> types.ModuleType:
    """The assignment's probes.py, as a module of this (trusted) process."""
    return load_module(hidden_dir(root, assignment_id) / PROBES_FILE, f"autograder_probes_{assignment_id}")


def make_plan(root: Path, cfg, assignment_id: str, device: str):
    """The assignment's plan, as its conftest's `make_plan` chooses it, with each probe's time
    limit taken from the config's `probe_timeout_s` (a limit the plan set itself is kept) and its
    recipe built from probes.py."""
    from autograder import recipe

    module = plan_module(root, assignment_id)
    maker = getattr(module, "make_plan", None)
    if not callable(maker):
        raise UserError(f"{hidden_dir(root, assignment_id) / PLAN_FILE} must define "
                        "make_plan(cfg, device) -> Plan")
    plan = maker(cfg, device)
    timeouts = cfg.assignment(assignment_id).probe_timeout_s
    probes = probes_module(root, assignment_id)
    for spec in plan.probes:
        if spec.timeout_s is None:
            spec.timeout_s = timeouts.get(spec.name)
        if spec.recipe is None:
            spec.recipe = recipe.build(probes, spec.function, spec.args, device)
    return plan


def unknown_timeouts(cfg, assignment_id: str, plan) -> list[str]:
    """Names under `probe_timeout_s` that are not probes of the plan (a typo keeps the default)."""
    names = {spec.name for spec in plan.probes}
    return sorted(set(cfg.assignment(assignment_id).probe_timeout_s) - names)
