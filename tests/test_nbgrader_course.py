"""A real nbgrader course, graded by the kit end to end: a roster of four and a due date; the kit's
source released by nbgrader's own generate_assignment; submissions collected in nbgrader's layout
(one late, one from a student not on the roster); grade-batch --nbgrader-db; then nbgrader's own
export, generate_feedback, release_feedback and generate_assignment --force."""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kit import ROOT, run_cli

NBGRADER = [sys.executable, "-m", "nbgrader"]
DUE = "2026-12-01 12:00:00 UTC"
ON_TIME, LATE = "2026-12-01 11:00:00.000000 UTC", "2026-12-01 13:30:00.000000 UTC"  # 90 min late
ZERO_GRAD = "            optimizer.zero_grad()\n"


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    """nbgrader's own command, as an instructor runs it in the course folder (with the venv's
    commands on PATH: a new gradebook runs `alembic`)."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}
    proc = subprocess.run([*NBGRADER, *args], cwd=course, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _answers(source: Path) -> dict[str, str]:
    """The source notebook's answers, without their solution markers."""
    nb = json.loads(source.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "",
                                                          "".join(c["source"]))
            for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}


def _submit(course: Path, student: str, aid: str, stamp: str, fill) -> None:
    """What `nbgrader collect` leaves: the notebook a student filled from nbgrader's release, with
    its timestamp and submission secret."""
    release = course / "release" / aid / f"{aid}.ipynb"
    nb = json.loads(release.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = fill(gid, "".join(cell["source"]))
    folder = course / "submitted" / student / aid
    folder.mkdir(parents=True)
    (folder / f"{aid}.ipynb").write_text(json.dumps(nb))
    (folder / "timestamp.txt").write_text(stamp)
    (folder / "submission_secret.txt").write_text(secrets.token_hex(16))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbgrader")
    course, exchange = tmp / "course", tmp / "exchange"
    course.mkdir()
    exchange.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'intro'\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "c.LateSubmissionPlugin.penalty_method = 'zero'\n")
    for student in ("alice", "bob", "carol", "dave"):
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "db", "assignment", "add", "03_network", f"--duedate={DUE}")
    nbgrader(course, "db", "assignment", "add", "05_quiz")
    proc = run_cli("export", "nbgrader", "03_network", "05_quiz", "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for aid in ("03_network", "05_quiz"):
        nbgrader(course, "generate_assignment", aid)

    answers = _answers(course / "source" / "03_network" / "03_network.ipynb")
    right = lambda gid, text: answers[gid]  # noqa: E731
    _submit(course, "alice", "03_network", ON_TIME, right)
    _submit(course, "bob", "03_network", ON_TIME, lambda gid, text: answers[gid].replace(ZERO_GRAD, ""))
    _submit(course, "carol", "03_network", LATE, right)
    _submit(course, "zoe", "03_network", ON_TIME, right)  # not on the roster
    # the quiz as a student answers nbgrader's release: each None replaced, nbgrader's stub left
    key = dict(re.findall(r"\n    (\d+): (True|False),",
                          _answers(course / "source" / "05_quiz" / "05_quiz.ipynb")["answers"]))
    _submit(course, "alice", "05_quiz", ON_TIME, lambda gid, text: re.sub(
        r"(\d+): None,", lambda m: f"{m.group(1)}: {key[m.group(1)]},", text))

    db = course / "gradebook.db"
    refused = run_cli("grade-batch", course, "--assignment", "03_network", "--out", tmp / "out",
                      "--nbgrader-db", db, timeout=900)
    graded = run_cli("grade-batch", course, "--assignment", "03_network", "--out", tmp / "out",
                     "--nbgrader-db", db, "--add-students", timeout=900)
    assert graded.returncode == 0, graded.stdout + graded.stderr[-3000:]
    quiz = run_cli("grade-batch", course, "--assignment", "05_quiz", "--out", tmp / "quiz",
                   "--nbgrader-db", db, timeout=900)
    assert quiz.returncode == 0, quiz.stdout + quiz.stderr[-3000:]
    nbgrader(course, "export")
    nbgrader(course, "generate_feedback", "03_network")
    nbgrader(course, "release_feedback", "03_network")
    return {"course": course, "exchange": exchange, "tmp": tmp, "refused": refused,
            "graded": graded, "db": db}


def test_a_student_not_on_the_roster_is_a_clear_error_unless_added(course):
    refused = course["refused"]
    assert refused.returncode == 1 and "zoe" in refused.stderr and "--add-students" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "adding 1 students to the roster: zoe" in course["graded"].stderr


def test_grades_are_autograded_with_lateness(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['db']}") as gb:
        rows = {s.student_id: s for s in gb.assignment_submissions("03_network")}
        assert not any(s.needs_manual_grade for s in rows.values())
        assert not any(g.needs_manual_grade for s in rows.values() for n in s.notebooks for g in n.grades)
        assert rows["alice"].score == rows["carol"].score == rows["zoe"].score == 28
        assert rows["bob"].score == 19
        assert rows["carol"].total_seconds_late == 90 * 60 and rows["alice"].total_seconds_late == 0
    exported = (course["course"] / "grades.csv").read_text().splitlines()
    header, *lines = [line.split(",") for line in exported]
    table = {(r[header.index("assignment")], r[header.index("student_id")]): dict(zip(header, r))
             for r in lines}
    carol, alice = table[("03_network", "carol")], table[("03_network", "alice")]
    # the course's late-submission plugin ("zero") took the late student's points, nbgrader's way
    assert float(carol["raw_score"]) == 28 and float(carol["late_submission_penalty"]) == 28
    assert float(carol["score"]) == 0 and float(alice["score"]) == 28
    assert float(table[("03_network", "dave")]["score"]) == 0  # on the roster, submitted nothing
    assert float(table[("05_quiz", "alice")]["score"]) == 20  # nbgrader's own release of the quiz
    assert "SAWarning" not in course["graded"].stderr


def test_feedback_goes_out_through_nbgraders_exchange(course):
    feedback = course["course"] / "feedback"
    bob = (feedback / "bob" / "03_network" / "03_network.html").read_text()
    assert "Feedback from the course" in bob and "optimizer.zero_grad()" in bob
    assert "Score: 19.0 / 28.0" in bob and "data:image/png;base64" in bob  # the loss plot
    released = list((course["exchange"] / "intro" / "feedback").glob("*.html"))
    assert len(released) == 4  # alice, bob, carol, zoe


def test_the_release_can_be_generated_again_after_grading(course):
    proc = nbgrader(course["course"], "generate_assignment", "03_network", "--force")
    assert (course["course"] / "release" / "03_network" / "03_network.ipynb").is_file(), proc.stderr
    assert (course["course"] / "release" / "03_network" / "public" / "plan.json").is_file()


def test_a_student_can_check_a_notebook_fetched_through_the_exchange(course, tmp_path):
    """nbgrader copies public/ into the release, with a config of its own: check runs there."""
    fetched = tmp_path / "03_network"
    shutil.copytree(course["course"] / "release" / "03_network", fetched)
    shutil.copy(course["course"] / "submitted" / "bob" / "03_network" / "03_network.ipynb", fetched)
    proc = run_cli("check", fetched / "03_network.ipynb", cwd=tmp_path,
                   env={"AUTOGRADER_ROOT": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "public checks: 6/6 points" in proc.stdout and "zero_grad" in proc.stdout


def test_the_feedback_page_renders_in_a_browser(course, tmp_path):
    """Headless Chromium opens bob's feedback page: the diagnosis is in the rendered page, and its
    screenshot is a real picture."""
    # Debian's chromium (.ci/run installs it); GitHub's Ubuntu runners have Google Chrome
    browser = next(filter(None, map(shutil.which, ("chromium", "google-chrome"))), None)
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    page = (course["course"] / "feedback" / "bob" / "03_network" / "03_network.html").as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600"]
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert "What to fix" in dom.stdout and "optimizer.zero_grad()" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "feedback.png"
    subprocess.run([*flags, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text, code and the plot, not a blank page
