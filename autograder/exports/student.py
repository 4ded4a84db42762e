"""`autograder export student [ID...] --out DIR`: the kit a course gives its students.

    autograder/                 the package (it holds no secrets: the checks live in the bundles)
    pyproject.toml              so that `pip install .` gives students the `autograder` command
    grading_config.yaml         the exported assignments only, their public checks only, no secret seed
    assignments/<id>/           the released notebook and its public checks (public/)
    autograder-student.json     what this is: kit version and assignments (the student workflow
                                template looks for it)
    .github/workflows/student-autograde.yml   the GitHub Classroom workflow template, when present
    README.md                   how to install, open the notebooks and run `autograder check`
    .gitignore                  keeps the venv and build files out of the student's repository

Never copied: tests/ (the hidden suites, the quiz's key, mutants), solutions/, benchmarks/.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from autograder import __version__, public
from autograder.config import CONFIG_NAME, load_config, parse_config, release_path, repo_root
from autograder.errors import UserError

MARKER = "autograder-student.json"
WORKFLOW = Path(".github") / "workflows" / "student-autograde.yml"

README = """# {title}

Your assignments are the notebooks under `assignments/`. Each has *public checks*: some of the
grader's own checks, which you run on your own machine before you submit.

## Install (once)

You need Python 3.10 or newer (the kit is tested on 3.11) and about 1.5 GB of disk. The commands
are for Linux, where the kit is tested. On Windows, use WSL 2 (Ubuntu): open its terminal and follow
them there. On macOS the same commands should work (PyTorch's macOS build is CPU-only already), but
the kit is not tested there: if `check` fails, the notebooks still run, and your work is graded on
the course's machines. From this folder:

```bash
python3 -m venv .venv
.venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu   # PyTorch for the CPU
.venv/bin/pip install . jupyterlab
```

The second line gets PyTorch's CPU build (about 200 MB to download). Without it, `pip` takes the
default build, which brings about 4 GB of CUDA libraries that a laptop without an NVIDIA GPU never
uses; nothing in these assignments needs a GPU. The third line installs the `autograder` command,
what the notebooks import (matplotlib among them) and JupyterLab.

## Work on a notebook

```bash
.venv/bin/jupyter lab assignments/
```

opens JupyterLab in your browser. Open `03_network/03_network.ipynb` (say), fill in the cells marked
*YOUR CODE HERE*, and run the check cells under each. Only those answer cells are graded: a helper
you define in any other cell is not seen by the grader, so keep it in an answer cell.

## Check before you submit

Save the notebook (Ctrl+S), then run its last cell, *Before you submit*, or in a terminal:

```bash
.venv/bin/autograder check assignments/03_network/03_network.ipynb
```

`check` reads the notebook as saved on disk, as the grader will. It prints each public check with
its points, what passes, and for what fails, what it expected and what it saw; then self-checks
(no points) that run your own code on small problems; and the names the grader calls that your
notebook does not define. It needs no GPU and takes seconds. The other checks, for most of the
points, run only when your notebook is graded: a clean `check` is a good sign, not a guarantee.
Only `assignments/<id>/<id>.ipynb` is graded: a copy such as `03_network-Copy1.ipynb` is not.

## Keeping your work in git

`.gitignore` keeps the environment (`.venv/`, several thousand files) and build files out of git,
so `git add .` stages your notebooks and nothing heavy.
"""

GITIGNORE = """# The environment and build files stay out of git: commit your notebooks.
.venv/
venv/
build/
*.egg-info/
__pycache__/
.ipynb_checkpoints/
"""


def public_config(raw: dict, ids: list[str]) -> dict:
    """The config with only `ids`, each with only its public checks and without its secret seed.
    Its reported checks are not capped (reported_cap 1): the cap is a share of all of an
    assignment's points, most of which a student's config does not list, and it grades nothing."""
    data = {k: v for k, v in raw.items() if k != "assignments"}
    data["assignments"] = {}
    for aid in ids:
        a = dict(raw["assignments"][aid])
        a.pop("secret_seed", None)
        a["tests"] = {n: t for n, t in a["tests"].items() if isinstance(t, dict) and t.get("public")}
        a["reported_cap"] = 1.0
        data["assignments"][aid] = a
    return data


def main(*, out: Path, assignment_ids: list[str] | None = None, config_path: Path | None = None) -> Path:
    root = repo_root()
    config_path = Path(config_path) if config_path else root / CONFIG_NAME
    cfg = load_config(config_path)
    ids = assignment_ids or list(cfg.assignments)
    for aid in ids:
        acfg = cfg.assignment(aid)  # a UserError names the known ids
        if not release_path(root, aid, acfg.notebook).is_file():
            raise UserError(f"{aid} has no release yet: run `autograder release {aid}`")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder: choose a new one")
    raw = yaml.safe_load(config_path.read_text())
    student_cfg = public_config(raw, ids)
    parse_config(student_cfg, "the student config")  # what students get must load
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(root / "autograder", out / "autograder",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(root / "pyproject.toml", out / "pyproject.toml")
        (out / CONFIG_NAME).write_text(
            "# The students' config: public checks only (made by `autograder export student`).\n"
            + yaml.safe_dump(student_cfg, sort_keys=False, allow_unicode=True))
        for aid in ids:
            acfg = cfg.assignment(aid)
            target = out / "assignments" / aid
            target.mkdir(parents=True)
            shutil.copy2(release_path(root, aid, acfg.notebook), target / acfg.notebook)
            bundle = public.folder(root, aid)
            if bundle.is_dir():
                shutil.copytree(bundle, target / "public")
        if (root / WORKFLOW).is_file():
            (out / WORKFLOW).parent.mkdir(parents=True)
            shutil.copy2(root / WORKFLOW, out / WORKFLOW)
        (out / MARKER).write_text(json.dumps({"kit_version": __version__, "assignments": ids},
                                             indent=2) + "\n")
        titles = ", ".join(cfg.assignment(a).title for a in ids)
        (out / "README.md").write_text(README.format(title=f"Assignments: {titles}"))
        (out / ".gitignore").write_text(GITIGNORE)
    except OSError as exc:
        raise UserError(f"cannot write the student kit to {out}: {exc.strerror}") from None
    return out
