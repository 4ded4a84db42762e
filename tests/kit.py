"""Helpers of the kit's own tests: run the CLI in a fresh process, as a user would."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd=ROOT, timeout=600, env=None):
    """Run `python -m autograder ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("AUTOGRADER_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def grade_many(paths, out: Path, assignment="03_network", extra=()):
    """Grade several submissions in one grader process; return {stem: results.json dict}."""
    proc = run_cli("grade", *paths, "--assignment", assignment, "--out", out, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if len(paths) == 1:
        return {Path(paths[0]).stem: json.loads((out / "results.json").read_text())}
    return {Path(p).stem: json.loads((out / Path(p).stem / "results.json").read_text()) for p in paths}




def patched_source(reference: str, entry: dict, name: str = "") -> str:
    """The reference with a manifest entry's textual edits applied.

    An entry has either `find`/`replace` (one edit) or `edits` (a list of them); each `find` must
    occur exactly once, so a manifest that no longer matches the reference fails loudly."""
    source = reference
    for edit in entry.get("edits", [entry]):
        assert source.count(edit["find"]) == 1, f"{name}: `find` must occur exactly once"
        source = source.replace(edit["find"], edit["replace"])
    return source


def patched_submissions(reference: str, manifest: dict, folder: Path) -> list[Path]:
    """Write one .py per manifest entry (see patched_source)."""
    paths = []
    for name, entry in manifest.items():
        path = folder / f"{name}.py"
        path.write_text(patched_source(reference, entry, name))
        paths.append(path)
    return paths


def load_module(path: Path, name: str):
    """A trusted file of the kit (a conftest, probes.py) as a module, for calibration scripts."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_from_source(source: str, name: str):
    """Trusted source (the reference, or the kit's own variants and mutants of it) as a module."""
    import types

    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def load_manifests(kind: str) -> dict[str, dict]:
    """tests/<kind>/<assignment>/<kind>.yaml for every assignment, e.g. kind="mutants"."""
    import yaml
    return {path.parent.name: yaml.safe_load(path.read_text())
            for path in sorted((ROOT / "tests" / kind).glob(f"*/{kind}.yaml"))}


def grade_manifests(manifests: dict, reference_sources: dict, tmp_path_factory, kind: str) -> dict:
    """Grade every manifest entry (one grader process per assignment): {aid: {name: results}}."""
    results = {}
    for aid, manifest in manifests.items():
        folder = tmp_path_factory.mktemp(f"{kind}-{aid}")
        paths = patched_submissions(reference_sources[aid], manifest, folder)
        results[aid] = grade_many(paths, folder / "out", assignment=aid)
    return results
