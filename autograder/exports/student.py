"""`autograder export student [ID...] --out DIR`: the kit a course gives its students.

    autograder/                 the package (it holds no secrets: the checks live in the bundles)
    pyproject.toml              so that `pip install .` gives students the `autograder` command
    grading_config.yaml         the exported assignments only, their public checks only, no secret seed
    assignments/<id>/           the released notebook and its public checks (public/)
    autograder-student.json     what this is: kit version and assignments (the student workflow
                                template looks for it)
    .github/workflows/student-autograde.yml   the GitHub Classroom workflow template, when present
    README.md                   how to install and run `autograder check`

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

Your assignments are the notebooks under `assignments/`. Each has a few *public checks*: some of
the grader's own checks, which you can run on your own machine before you submit.

```bash
python3 -m venv .venv && .venv/bin/pip install .     # once (it brings PyTorch)
.venv/bin/autograder check assignments/03_network/03_network.ipynb
```

Save the notebook first. From a notebook cell, `!autograder check 03_network.ipynb` does the same
(with the notebook's folder as the current directory and the kit installed in the notebook's
Python). `check` prints each public check with its points: what passes, and for what fails, what it
expected and what it saw. It needs no GPU and takes seconds. The other checks, for most of the
points, run only when your notebook is graded.
"""


def public_config(raw: dict, ids: list[str]) -> dict:
    """The config with only `ids`, each with only its public checks and without its secret seed."""
    data = {k: v for k, v in raw.items() if k != "assignments"}
    data["assignments"] = {}
    for aid in ids:
        a = dict(raw["assignments"][aid])
        a.pop("secret_seed", None)
        a["tests"] = {n: t for n, t in a["tests"].items() if isinstance(t, dict) and t.get("public")}
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
    except OSError as exc:
        raise UserError(f"cannot write the student kit to {out}: {exc.strerror}") from None
    return out
