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
