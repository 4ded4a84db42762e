"""The report: feedback on passing checks, and student text shown literally on the console."""
import io

from rich.console import Console

from autograder.config import TestSpec
from autograder.report import print_table, results_dict
from autograder.score import score

SPECS = {"test_a__catches_x": TestSpec(points=1, group="g"), "test_b": TestSpec(points=2, group="g")}


def test_passing_feedback_follows_passed():
    graded = score({"test_a__catches_x": (True, "'yes' was read as True.", ""),
                    "test_b": (True, "", "")}, SPECS)
    outputs = [t["output"] for t in results_dict(graded, execution_time=1.0, notes=[], failure=None,
                                                 assignment_id="x", submission="s")["tests"]]
    assert outputs == ["Passed. 'yes' was read as True.", "Passed."]


def test_console_shows_markup_in_messages_literally():
    graded = score({"test_a__catches_x": (False, "your code raised [red]Boom[/red]", "")}, SPECS)
    buffer = io.StringIO()
    print_table(Console(file=buffer, width=200), graded, "title", ["note [bold]x[/bold]"], "[i]why[/i]")
    text = buffer.getvalue()
    assert "[red]Boom[/red]" in text and "note [bold]x[/bold]" in text and "[i]why[/i]" in text


def test_a_check_not_graded_names_its_cause_once_in_what_to_fix():
    """The check charged with a cause says what to fix; the checks depending on it are listed after
    it, by name, without repeating the cause (results.json marks them `depends_on`)."""
    from autograder.batch import feedback_markdown

    specs = {**SPECS, "test_c": TestSpec(points=1, group="g")}
    graded = score({"test_a__catches_x": (False, "forward fails in self.fc1", ""),
                    "test_b": (False, 'Not graded: this depends on "a", which fails', "", "test_a__catches_x"),
                    "test_c": (True, "", "")}, specs)
    results = results_dict(graded, execution_time=1.0, notes=[], failure=None, assignment_id="x",
                           submission="s")
    tests = {t["extra_data"]["check"]: t for t in results["tests"]}
    assert tests["test_b"]["extra_data"]["depends_on"] == "test_a__catches_x"
    assert "This check is there to catch" not in tests["test_b"]["output"]
    page = feedback_markdown("ada", "x", {"results": results}, plot=False)
    fix = page.split("## What to fix")[1].split("## Passed")[0]
    assert "forward fails in self.fc1" in fix and fix.count("**") == 2  # one check charged
    assert "Not graded until the checks above pass (they depend on them): b (0/2)" in fix
