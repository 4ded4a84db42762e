"""The kit in a real Docker container with Docker's DEFAULT security (as Gradescope and most CI
runners give): the plumbing of tests/containers.py, and the premise the container support rests on,
that such a container refuses to create namespaces, so bubblewrap can't start there."""
import csv
import io
import json
import os
import shutil
import socket
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

import containers
from kit import run_cli


@pytest.fixture(scope="module", autouse=True)
def docker_ready():
    reason = containers.ensure()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"containers unavailable in CI: {reason}")
        pytest.skip(reason)


def test_host_venv_torch_imports_in_the_container():
    proc = containers.python("import sys, torch; print(sys.executable, torch.__version__)",
                             network="none", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import torch
    assert proc.stdout.split() == [sys.executable, torch.__version__]


def test_the_kit_imports_from_the_bound_checkout():
    proc = containers.python("import autograder; print(autograder.__file__)",
                             binds=[containers.kit_bind()], network="none", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == str(containers.ROOT / "autograder" / "__init__.py")


def test_the_container_refuses_namespaces():
    # as root inside: Docker's default seccomp profile and capabilities (no CAP_SYS_ADMIN) deny
    # unshare(2) and clone(2) with namespace flags, so bubblewrap can't set up its sandbox
    proc = containers.run(["bwrap", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "true"],
                          network="none", timeout=60)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Creating new namespace failed: Operation not permitted" in proc.stderr, proc.stderr
    code = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True)\n"
            "for flag in (0x20000, 0x10000000, 0x20000000, 0x40000000):\n"  # NEWNS USER PID NET
            "    print(libc.unshare(flag), ctypes.get_errno())")
    proc = containers.python(code, network="none", timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["-1", "1"] * 4  # every one EPERM


def test_the_host_network_reaches_the_hosts_loopback():
    # what --network host means, and what a sandbox in such a container has to block itself
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=10); print('ok')"
        proc = containers.python(code, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
        proc = containers.python(code, network="none", timeout=60)
        assert proc.returncode != 0 and "Connection refused" in proc.stderr, proc.stdout + proc.stderr


def test_a_timed_out_container_is_removed():
    with pytest.raises(containers.subprocess.TimeoutExpired):
        containers.run(["sleep", "60"], network="none", timeout=2)
    left = containers.docker("ps", "-aq", "--filter", f"label={containers.LABEL}",
                             "--filter", f"name=autograder-test-{os.getpid()}-").stdout.split()
    assert left == []


# --- the Gradescope autograder in a default container ------------------------------------------
# The headline acceptance test of the sandbox tiers: the zip `autograder export gradescope` writes,
# unpacked (copied, not bound) into /autograder/source of a container with Docker's default
# security, where bubblewrap cannot start, grades with the landlock tier and keeps the kit secret.
# The kit comes from the zip only: the host's checkout is not in the container, just the venv
# (bound read-only at its own path, as AUTOGRADER_PYTHON).

ROOT = containers.ROOT
EXAMPLES = ROOT / "examples" / "03_network"
SOLUTION = ROOT / "solutions" / "03_network" / "03_network.ipynb"
STUDENTS = {"alice_correct.ipynb": 28, "bob_forgot_zero_grad.ipynb": 19, "mallory_cheats.ipynb": 0}
CONFIG = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
# the values the sandbox must never see: every assignment's held-out seed
SECRET_SEEDS = sorted({str(a["secret_seed"]) for a in CONFIG["assignments"].values() if "secret_seed" in a})
PYTHON = sys.executable  # the venv's interpreter; containers.run binds the venv at its own path
RESULTS_MARK = "@@RESULTS@@"

# run in the container after the gradings: every /stage/out/<name>/ as one JSON line on stdout
COLLECT = f"""
import json, os, sys
out = {{}}
for name in sorted(os.listdir("/stage/out")):
    d = os.path.join("/stage/out", name)
    out[name] = {{f: open(os.path.join(d, f), errors="replace").read() for f in os.listdir(d)}}
out["_source_mode"] = oct(os.stat("/autograder/source").st_mode & 0o7777)
out["_checkout_visible"] = os.path.exists({str(ROOT / "autograder")!r})
print({RESULTS_MARK!r} + json.dumps(out))
"""

# the loop: each submission alone in /autograder/submission, a fresh run_autograder each time
GRADE_SH = """set -u
mkdir -p /stage/out
for f in /stage/subs/*; do
    name=$(basename "$f")
    mkdir -p "/stage/out/$name"
    rm -rf /autograder/submission/* /autograder/results/*
    cp "$f" /autograder/submission/
    /autograder/source/run_autograder >"/stage/out/$name/stdout" 2>"/stage/out/$name/stderr"
    echo $? >"/stage/out/$name/rc"
    if [ -e /autograder/results/results.json ]; then
        cp /autograder/results/results.json "/stage/out/$name/results.json"
    fi
done
"$AUTOGRADER_PYTHON" /stage/collect.py
"""


@pytest.fixture(scope="module")
def unzipped(tmp_path_factory):
    """The Gradescope zip of 03_network, exported on the host once and unpacked as Gradescope does
    (the zip's mode bits kept: run_autograder is executable)."""
    folder = tmp_path_factory.mktemp("gradescope")
    zip_path = folder / "autograder.zip"
    proc = run_cli("export", "gradescope", "03_network", "--out", zip_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    source = folder / "source"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(source)
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(source / info.filename, mode)
    for d in [source, *(p for p in source.rglob("*") if p.is_dir())]:
        d.chmod(0o755)  # as unzip leaves them; run_autograder makes the tree root-only itself
    assert not (source / "kit" / "solutions").exists()
    return source


def _stage(tmp: Path, source: Path, submissions: dict[str, bytes], script: str) -> list:
    """Gradescope's /autograder (source/ a copy of the unpacked zip, submission/, results/) and
    /stage (the submissions, the script, the collector), as `copies` for containers.run."""
    home, stage = tmp / "autograder", tmp / "stage"
    shutil.copytree(source, home / "source", symlinks=True)
    for d in (home / "submission", home / "results", stage / "subs"):
        d.mkdir(parents=True)
    for name, data in submissions.items():
        (stage / "subs" / name).write_bytes(data)
    (stage / "grade.sh").write_text(script)
    (stage / "collect.py").write_text(COLLECT)
    for d in (home, home / "submission", home / "results"):
        d.chmod(0o755)  # world-traversable, as Gradescope's: what keeps the kit secret is the sandbox
    for d in (stage, stage / "subs"):
        d.chmod(0o700)  # the test's own staging, which Gradescope has not: the other submissions
    return [(home, "/autograder"), (stage, "/stage")]


def _collected(proc) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULTS_MARK)]
    assert len(lines) == 1, f"rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[0][len(RESULTS_MARK):])


def grade_in_container(tmp: Path, source: Path, submissions: dict[str, bytes], env=None,
                       timeout: float = 300) -> dict:
    """Grade each submission with the zip's own run_autograder in one default container; returns
    {name: {"rc", "stdout", "stderr", "results.json" (absent when none was written)}}."""
    copies = _stage(tmp, source, submissions, GRADE_SH)
    proc = containers.run(["bash", "/stage/grade.sh"], copies=copies, timeout=timeout,
                          env={"AUTOGRADER_PYTHON": PYTHON, **(env or {})})
    return _collected(proc)


def _failed(results: dict) -> dict[str, str]:
    return {t["extra_data"]["check"]: t["output"] for t in results["tests"] if t["status"] == "failed"}


def test_run_autograder_grades_the_examples_in_the_landlock_sandbox(unzipped, tmp_path):
    schema = json.loads((ROOT / "autograder/schemas/gradescope_results.schema.json").read_text())
    got = grade_in_container(tmp_path, unzipped, {n: (EXAMPLES / n).read_bytes() for n in STUDENTS})
    for name, expected in STUDENTS.items():
        one = got[name]
        shown = f"{name}: rc {one['rc'].strip()}\n{one['stdout']}\n{one['stderr'][-3000:]}"
        assert one["rc"].strip() == "0" and "results.json" in one, shown
        assert "from /autograder/source/kit" in one["stdout"], shown  # the zip's kit
        results = json.loads(one["results.json"])
        jsonschema.validate(results, schema)
        assert (results["score"], results["max_score"]) == (expected, 28), shown
        assert results["extra_data"]["sandbox"] == "landlock", results["extra_data"]
        assert "Graded in the landlock sandbox." in results["output"], results["output"]
        assert "landlock sandbox" in one["stdout"], shown
        if expected == 19:
            failed = _failed(results)
            assert failed and any("zero_grad" in text for text in failed.values()), failed
    assert got["_source_mode"] == "0o700"  # run_autograder made the kit root-only
    assert got["_checkout_visible"] is False  # the kit came from the zip alone


# --- a hostile submission --------------------------------------------------------------------------

# injected as the first statements of accuracy(): runs in the sandbox, reports in the exception
# (what the failed accuracy checks show, clipped to 400 characters)
HOSTILE = r'''
global _REPORT
try:
    _REPORT
except NameError:
    _REPORT = None
if _REPORT is None:
    import errno as _errno, fnmatch, os, socket, time

    def _why(exc):
        return _errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)

    # spelt backwards so that this file, wherever the grader put a copy, holds none of them
    markers = [m[::-1].encode() for m in __MARKERS_REVERSED__]
    roots = __ENV_ROOTS__
    public_names = ("conftest.py", "test_*.py", "*.ipynb")
    secret_names = ("grading_config.yaml", "key.yaml")
    report = {}
    # the network: the host's loopback (TCP) and an abstract unix socket, both listening
    try:
        socket.create_connection(("127.0.0.1", __PORT__), timeout=3).close()
        report["tcp"] = "CONNECTED"
    except OSError as exc:
        report["tcp"] = _why(exc)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(__UNIX_NAME__)
        s.close()
        report["unix"] = "CONNECTED"
    except OSError as exc:
        report["unix"] = _why(exc)
    # forge the results
    try:
        with open("/autograder/results/results.json", "w") as f:
            f.write('{"score": 1000.0, "output": "FORGED"}')
        report["res"] = "WROTE"
    except OSError as exc:
        report["res"] = _why(exc)
    # every process's command line and environment
    seen = cmdlines = environs = 0
    proc_hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        seen += 1
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if part == "cmdline":
                cmdlines += 1
            else:
                environs += 1
            if any(m in data for m in markers):
                proc_hits.append(f"{pid}/{part}")
    report["proc"] = f"{seen}/{cmdlines}/{environs}"
    # files: the kit where run_autograder put it, then a walk of everything else
    read = 0
    hits = []

    def secret(path, data):
        name = os.path.basename(path)
        if path.startswith("/autograder/source") or name in secret_names:
            return True
        if any(m in data for m in markers):
            return True
        return not any(path == r or path.startswith(r + "/") for r in roots)  # a public package's

    def consider(path):
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError:
            return 0
        if secret(path, data):
            hits.append(path)
        return 1

    for path in ("/autograder/source/run_autograder", "/autograder/source/setup.sh",
                 "/autograder/source/requirements.txt", "/autograder/source/kit/grading_config.yaml",
                 "/autograder/source/kit/autograder-kit.json",
                 "/autograder/source/kit/tests/hidden/conftest.py",
                 "/autograder/source/kit/tests/hidden/03_network/conftest.py",
                 "/autograder/source/kit/tests/hidden/03_network/probes.py",
                 "/autograder/source/kit/tests/hidden/03_network/test_accuracy.py",
                 "/autograder/source/kit/assignments/03_network/03_network.ipynb",
                 __CHECKOUT__ + "/grading_config.yaml", __CHECKOUT__ + "/tests/hidden/05_quiz/key.yaml"):
        read += consider(path)
    try:
        os.listdir("/autograder/source")
        report["ls"] = "LISTED"
    except OSError as exc:
        report["ls"] = _why(exc)
    # its budget counts this process's CPU time, not the clock's: a busy machine (the other pytest
    # worker grading beside it) stretches the walk's wall time, but must not cut it short
    deadline = time.process_time() + 12
    done = set()
    report["walk"] = "done"
    # the sandbox may deny listing "/" and /work: the folders it must read are walked as well
    for top in ("/autograder", "/work", "/root", "/tmp", "/", __CHECKOUT__, *roots, os.getcwd()):
        for folder, dirs, files in os.walk(top):
            if folder in done:
                dirs[:] = []
                continue
            done.add(folder)
            if folder == "/":
                dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
            for name in files:
                path = os.path.join(folder, name)
                if (name in secret_names or path.startswith("/autograder/source")
                        or any(fnmatch.fnmatch(name, p) for p in public_names)):
                    read += consider(path)
            if time.process_time() > deadline:
                report["walk"] = "cut"
                break
        if report["walk"] == "cut":
            break
    report["read"] = read
    report["sec"] = len(hits)
    report["psec"] = len(proc_hits)
    _REPORT = ("HOSTILE " + " ".join(f"{k}={v}" for k, v in report.items())
               + " hits=" + ",".join(hits[:3] + proc_hits[:3]) + " END")
raise RuntimeError(_REPORT)
'''


def _hostile_source(port: int, unix_name: str) -> str:
    from autograder.extract import extract

    ref = extract(SOLUTION, SOLUTION, "03_network").source
    code = HOSTILE
    for name, value in {"MARKERS_REVERSED": [m[::-1] for m in [*SECRET_SEEDS, "secret_seed"]],
                        "ENV_ROOTS": containers.environment_roots(),
                        "CHECKOUT": str(ROOT),  # the host's checkout: not in the container
                        "PORT": port, "UNIX_NAME": unix_name}.items():
        assert f"__{name}__" in code
        code = code.replace(f"__{name}__", repr(value))
    definition = "def accuracy(model, dataloader):\n"
    assert ref.count(definition) == 1
    return ref.replace(definition, definition + textwrap.indent(code.lstrip("\n"), "    "))


def _drain(listener: socket.socket) -> list:
    """Whatever connected to LISTENER (a connection waits in its backlog even unaccepted), then
    close it: a bounded loop, each accept waiting at most half a second."""
    arrived = []
    listener.settimeout(0.5)
    try:
        for _ in range(100):
            conn, _ = listener.accept()
            arrived.append(conn)
            conn.close()
    except OSError:
        pass
    finally:
        listener.close()
    return arrived


@pytest.mark.parametrize("tier", ["landlock", "uid"])
def test_a_hostile_submission_reads_no_secret_reaches_nothing_and_forges_nothing(unzipped, tmp_path,
                                                                                  tier):
    """In the landlock tier, and in the uid floor (Landlock refused here by the environment, as on
    an old kernel): there the kit is kept only by the permissions run_autograder gave it, and no
    socket at all can be made. The correct example still gets full marks in the floor."""
    from autograder.config import load_config

    names = list(load_config(ROOT / "grading_config.yaml").assignment("03_network").tests)
    accuracy_checks = {n for n in names if n.startswith("test_accuracy")}
    tcp = socket.socket()
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(5)
        unix_name = f"\0autograder-test-{uuid.uuid4().hex}"
        unix.bind(unix_name)
        unix.listen(5)
        source = _hostile_source(tcp.getsockname()[1], unix_name)
        submissions = {"hostile.py": source.encode()}
        if tier == "uid":
            submissions["alice_correct.ipynb"] = (EXAMPLES / "alice_correct.ipynb").read_bytes()
        got = grade_in_container(tmp_path, unzipped, submissions,
                                 env={"AUTOGRADER_SANDBOX_REFUSE": "landlock"} if tier == "uid" else {})
    finally:
        arrived = _drain(tcp) + _drain(unix)
    if tier == "uid":
        alice = json.loads(got["alice_correct.ipynb"]["results.json"])
        assert alice["score"] == 28 and alice["extra_data"]["sandbox"] == "uid", alice["output"]
    one = got["hostile.py"]
    shown = f"rc {one['rc'].strip()}\n{one['stdout']}\n{one['stderr'][-3000:]}"
    assert one["rc"].strip() == "0" and "results.json" in one, shown
    results = json.loads(one["results.json"])
    assert arrived == [], "a connection from the sandbox reached the host's loopback"
    # the grader's own results: its score, its checks, no forgery
    assert results["extra_data"]["sandbox"] == tier, results["extra_data"]
    assert "FORGED" not in one["results.json"] and len(results["tests"]) == len(names)
    failed = _failed(results)
    # the honest part is graded: it loses the accuracy checks, which its attack broke, and no other
    assert set(failed) == accuracy_checks, json.dumps(failed, indent=1) + shown
    assert results["score"] == 28 - sum(t["max_score"] for t in results["tests"]
                                        if t["extra_data"]["check"] in accuracy_checks), results["score"]
    reports = [text for text in failed.values() if "HOSTILE" in text]
    assert reports, failed
    report = reports[0]
    assert " END" in report, f"the report was cut: {report}"
    fields = dict(item.split("=", 1) for item in report.split("HOSTILE ", 1)[1].split(" END")[0].split())
    assert fields["tcp"] != "CONNECTED" and fields["unix"] != "CONNECTED", report
    if tier == "uid":  # no Landlock to scope abstract unix sockets: no socket at all
        assert fields["tcp"] == fields["unix"] == "EAFNOSUPPORT", report
    assert fields["res"] != "WROTE", report
    assert fields["ls"] != "LISTED", report  # /autograder/source can't even be listed
    assert fields["sec"] == "0" and fields["psec"] == "0" and fields["hits"] == "", report
    # it did look: the walk finished, read files (the venv's own tests) and saw processes
    assert fields["walk"] == "done" and int(fields["read"]) > 0, report
    assert int(fields["proc"].split("/")[1]) >= 1, report
    for seed in SECRET_SEEDS:
        assert seed not in json.dumps(results) and seed not in one["stdout"] + one["stderr"]


def test_no_sandbox_tier_is_a_misconfigured_autograder_not_a_zero(unzipped, tmp_path):
    # bubblewrap is refused by Docker itself; the environment refuses the other two
    got = grade_in_container(tmp_path, unzipped,
                             {"alice_correct.ipynb": (EXAMPLES / "alice_correct.ipynb").read_bytes()},
                             env={"AUTOGRADER_SANDBOX_REFUSE": "landlock,uid"})
    one = got["alice_correct.ipynb"]
    shown = f"rc {one['rc'].strip()}\n{one['stdout']}\n{one['stderr'][-3000:]}"
    assert one["rc"].strip() == "2", shown
    assert "AUTOGRADER MISCONFIGURED" in one["stderr"], shown
    assert "results.json" not in one, shown


BATCH_SH = """set -u
kit=/autograder/source/kit
export AUTOGRADER_ROOT=$kit PYTHONPATH=$kit
cd /
"$AUTOGRADER_PYTHON" -m autograder grade-batch /stage/subs --assignment 03_network --out /out \
    --workers 2 >/stage/batch.out 2>/stage/batch.err
echo $? >/stage/batch.rc
mkdir -p /stage/out/batch
cp /stage/batch.out /stage/batch.err /stage/batch.rc /stage/out/batch/
cp /out/gradebook.csv /stage/out/batch/ 2>/dev/null
"$AUTOGRADER_PYTHON" /stage/collect.py
"""


def test_grade_batch_grades_a_class_in_the_landlock_sandbox(unzipped, tmp_path):
    # the zip holds no solutions/, but grade-batch grades the reference solution first: copied in
    # for this test only
    copies = _stage(tmp_path, unzipped, {n: (EXAMPLES / n).read_bytes() for n in STUDENTS}, BATCH_SH)
    solutions = tmp_path / "autograder" / "source" / "kit" / "solutions" / "03_network"
    solutions.mkdir(parents=True)
    shutil.copy(SOLUTION, solutions / SOLUTION.name)
    proc = containers.run(["bash", "/stage/grade.sh"], copies=copies, timeout=400,
                          env={"AUTOGRADER_PYTHON": PYTHON})
    batch = _collected(proc)["batch"]
    shown = f"rc {batch['batch.rc'].strip()}\n{batch['batch.out'][-3000:]}\n{batch['batch.err'][-3000:]}"
    assert batch["batch.rc"].strip() == "0" and "gradebook.csv" in batch, shown
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(batch["gradebook.csv"]))}
    scores = {student: float(row["total"]) for student, row in rows.items()}
    assert scores == {Path(n).stem: float(s) for n, s in STUDENTS.items()}, (scores, shown)
    assert {row["sandbox"] for row in rows.values()} == {"landlock"}, rows
