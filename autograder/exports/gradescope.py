"""`autograder export gradescope ID --out autograder.zip`: a Gradescope autograder for one assignment.

The zip (Gradescope unpacks it into /autograder/source):

    setup.sh            Gradescope runs it once, building the image: bubblewrap and libseccomp,
                        the pinned Python packages (CPU torch), and the kit made readable by root
                        only
    run_autograder      Gradescope runs it per submission: grades /autograder/submission into
                        /autograder/results/results.json through the kit's own pipeline (sandboxed
                        probes, the hidden suite as judge)
    requirements.txt    the kit's dependencies, pinned to the versions this kit was tested with
    kit/                the kit's code, grading_config.yaml, the hidden suite and the release of
                        this assignment; nothing else (no solutions, no other assignment)
    kit/autograder-kit.json   what was built: kit version, the grader's fingerprint, the pins

At every run, before grading, `run` checks that what runs is what was built: the kit version,
the grader fingerprint (kit code, hidden suite, release, config) and every pinned package's
installed version. Any difference stops the run with a message naming it and exit status 2, and
no results.json, so Gradescope shows the autograder as failed rather than a wrong score. So does
an error of the grader: no sandbox tier can start in the container, or the sandbox fails before
any student code runs (`AUTOGRADER MISCONFIGURED: ...`). A student never gets a 0 for either.

Gradescope grades in a Docker container, where the namespaces bubblewrap needs are refused, so the
zip's default sandbox is `auto`: there it takes the `landlock` tier (Landlock, seccomp, a uid of its
own; see autograder/confine.py), or the `uid` floor on a kernel without Landlock, which relies on
the kit being readable by root only: `run` makes it so before grading, as setup.sh did.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import shutil
import stat
import sys
import time
import zipfile
from pathlib import Path

from autograder import __version__
from autograder.config import CONFIG_NAME, load_config, release_path, repo_root
from autograder.errors import UserError

MANIFEST = "autograder-kit.json"
# the kit's own dependencies (pyproject's [project.dependencies]) that grading imports
REQUIREMENTS = ["torch", "numpy", "nbformat", "nbgrader", "typer", "pydantic", "rich", "safetensors",
                "pyyaml", "pytest", "scikit-learn", "jsonschema", "packaging", "pyseccomp"]
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # Gradescope has no GPU: skip CUDA's gigabytes

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (as root, Ubuntu).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap libseccomp2 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
# exact versions: run_autograder refuses to grade if any of them differs at run time
/autograder/venv/bin/pip install -q --extra-index-url {TORCH_INDEX} -r /autograder/source/requirements.txt
# the sandbox's uid must not read the hidden suite, the config's secret seeds or the quiz's key
chmod -R go-rwx /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades /autograder/submission into
# /autograder/results/results.json with the kit in source/kit (sandboxed probes, hidden suite as judge).
# AUTOGRADER_HOME and AUTOGRADER_PYTHON exist for the kit's own test, which fakes /autograder.
set -uo pipefail
home="${AUTOGRADER_HOME:-/autograder}"
python="${AUTOGRADER_PYTHON:-$home/venv/bin/python}"
export AUTOGRADER_ROOT="$home/source/kit"
export PYTHONPATH="$AUTOGRADER_ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m autograder.exports.gradescope --run "$home"
"""


def _kit_files(root: Path, aid: str, notebook: str) -> list[Path]:
    files = [root / "pyproject.toml", root / CONFIG_NAME, release_path(root, aid, notebook),
             root / "tests" / "hidden" / "conftest.py"]
    files += sorted((root / "tests" / "hidden" / aid).rglob("*"))
    files += sorted((root / "autograder").rglob("*"))
    return [f for f in files if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"]


def pins() -> dict[str, str]:
    """The installed version of each of the kit's direct dependencies: what this kit was built and
    tested with. Their own dependencies are left to pip: pinning the whole environment would pin
    the CUDA packages of a GPU build of torch, which a CPU-only Gradescope image must not fetch."""
    from packaging.version import Version

    found = {}
    for name in REQUIREMENTS:
        try:  # the public version: a local label (+cpu, +cu130) names a build, not a release
            found[name] = Version(importlib.metadata.version(name)).public
        except importlib.metadata.PackageNotFoundError:
            raise UserError(f"{name} is not installed here, so its version cannot be pinned: "
                            f"run `make setup` first") from None
    return found


def fingerprint(kit: Path, aid: str, notebook: str, config_text: str) -> str:
    from autograder import fingerprint
    return fingerprint.grader(kit, aid, config_text, notebook, "cpu", "bwrap")


def _zip_add(z: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def main(*, assignment_id: str, out: Path | None = None, config_path: Path | None = None,
         sandbox: str = "bwrap") -> Path:
    """Write the autograder zip for `assignment_id` and return its path."""
    from autograder.sandbox import SANDBOXES

    if sandbox not in SANDBOXES:
        raise UserError(f"--sandbox must be one of {', '.join(SANDBOXES)}, not {sandbox!r}")
    root = repo_root()
    cfg = load_config(config_path)
    acfg = cfg.assignment(assignment_id)
    if not release_path(root, assignment_id, acfg.notebook).is_file():
        raise UserError(f"{assignment_id} has no release yet: run `autograder release {assignment_id}`")
    out = Path(out) if out else Path("autograder.zip")
    if out.suffix != ".zip":
        raise UserError(f"--out must name a .zip file, not {out}")
    config_text = (Path(config_path) if config_path else root / CONFIG_NAME).read_text()
    versions = pins()
    manifest = {"kit_version": __version__, "assignment": assignment_id, "notebook": acfg.notebook,
                "sandbox": sandbox, "grader": fingerprint(root, assignment_id, acfg.notebook, config_text),
                "pins": versions}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        _zip_add(z, "setup.sh", SETUP_SH.encode(), executable=True)
        _zip_add(z, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _zip_add(z, "requirements.txt", ("# pinned by `autograder export gradescope`: the versions the "
                                         "kit was tested with\n" + "".join(
                                             f"{n}=={v}\n" for n, v in versions.items())).encode())
        for f in _kit_files(root, assignment_id, acfg.notebook):
            data = config_text.encode() if f == root / CONFIG_NAME else f.read_bytes()
            _zip_add(z, f"kit/{f.relative_to(root).as_posix()}", data)
        _zip_add(z, f"kit/{MANIFEST}", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(buf.getvalue())
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    return out


# --- at grading time, inside Gradescope's container --------------------------------------------

class Mismatch(Exception):
    """What runs is not what was built: grading would give wrong scores."""


def verify(kit: Path) -> dict:
    """The manifest, after checking the kit version, the grader fingerprint and every pin."""
    from packaging.specifiers import SpecifierSet

    import autograder

    manifest = json.loads((kit / MANIFEST).read_text())
    problems = []
    if manifest["kit_version"] != autograder.__version__:
        problems.append(f"the zip was built by autograder {manifest['kit_version']}, but autograder "
                        f"{autograder.__version__} (from {Path(autograder.__file__).parent}) is running")
    config_text = (kit / CONFIG_NAME).read_text()
    now = fingerprint(kit, manifest["assignment"], manifest["notebook"], config_text)
    if now != manifest["grader"]:
        problems.append(f"the kit's files (code, hidden suite, release or config) differ from what "
                        f"was exported (fingerprint {now}, built {manifest['grader']})")
    for name, version in manifest["pins"].items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = "not installed"
        if have == "not installed" or not SpecifierSet(f"=={version}").contains(have, prereleases=True):
            problems.append(f"{name} {have} is installed, but the kit was exported with {name}=={version}")
    if problems:
        raise Mismatch("; ".join(problems))
    return manifest


def pick_submission(folder: Path, notebook: str) -> tuple[Path | None, str]:
    """The file to grade in Gradescope's submission folder, or None and why not."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
             and ".ipynb_checkpoints" not in p.parts and p.suffix in (".ipynb", ".py")]
    named = [p for p in files if p.name == notebook]
    if len(named) == 1:
        return named[0], ""
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks and len(files) == 1:
        return files[0], ""
    if not files:
        return None, f"no notebook was submitted: upload {notebook}"
    return None, (f"{len(files)} notebooks or .py files were submitted and none is named {notebook}: "
                  f"upload just {notebook}")


def _failed_results(message: str, seconds: float) -> dict:
    return {"score": 0.0, "execution_time": round(seconds, 2), "output": message,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def protect(source: Path) -> None:
    """Make the kit readable by root only (as setup.sh did when the image was built), so that a
    sandbox running as another uid cannot read it even without Landlock (the `uid` tier)."""
    if os.geteuid() != 0:
        return
    for folder, dirs, files in os.walk(source):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.lstat(path).st_mode
                os.chmod(path, stat.S_IMODE(mode) & 0o700)
    os.chmod(source, stat.S_IMODE(os.stat(source).st_mode) & 0o700)


def run(home: Path) -> int:
    """Grade Gradescope's submission; 0 when results.json is written, 2 when the kit is wrong or
    cannot grade here (then no results.json: Gradescope shows a failed autograder, not a 0)."""
    from autograder import grade, report
    from autograder.errors import GraderError

    start = time.monotonic()
    kit = home / "source" / "kit"
    results = home / "results" / "results.json"
    try:
        manifest = verify(kit)
    except Mismatch as exc:
        print(f"AUTOGRADER MISCONFIGURED, nothing graded: {exc}. Rebuild the zip with "
              "`autograder export gradescope` from the kit you grade with, and upload it again.",
              file=sys.stderr)
        return 2
    print(f"autograder {manifest['kit_version']} from {kit}, grader {manifest['grader']}, "
          f"assignment {manifest['assignment']}")
    try:
        protect(home / "source")
    except OSError as exc:  # a read-only image: the sandbox's self-test judges what that leaves
        print(f"could not make {home / 'source'} readable by root only: {exc}", file=sys.stderr)
    chosen, why = pick_submission(home / "submission", manifest["notebook"])
    if chosen is None:
        report.write_results(results, _failed_results(f"Not graded: {why}.", time.monotonic() - start))
        return 0
    with_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "autograder-gradescope"
    shutil.rmtree(with_tmp, ignore_errors=True)
    try:
        graded = grade.main(submission=chosen, assignment_id=manifest["assignment"], out=with_tmp,
                            device="cpu", config_path=kit / CONFIG_NAME, sandbox=manifest["sandbox"])
    except (UserError, GraderError) as exc:
        print(f"AUTOGRADER MISCONFIGURED, nothing graded: {exc}", file=sys.stderr)
        return 2
    report.write_results(results, graded.results)
    print(f"graded {chosen.name}: {graded.score.total:g}/{graded.score.max_total:g} in "
          f"{graded.seconds:.1f} s, {graded.sandbox} sandbox")
    return 0


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.exports.gradescope",
                                     description="Gradescope's run_autograder entry point.")
    parser.add_argument("--run", type=Path, required=True, metavar="HOME",
                        help="Gradescope's folder (/autograder)")
    args = parser.parse_args(argv)
    return run(args.run)


if __name__ == "__main__":
    sys.exit(_main())
