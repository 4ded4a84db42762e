"""Student-controlled text is data: escaped for every output it reaches and capped in size.

A class is graded through the real CLI, without a terminal (as CI and cron run it), with a notebook
whose metadata claims an assignment made of rich markup, markdown sections, HTML, terminal escapes
and bidi controls, 4.5 MB of it; a notebook with 100,000 ignored `%` lines; a student whose id is a
spreadsheet formula; and an honest student, who must keep the exact score."""
import csv
import json
import shutil

import nbformat
import pytest

from autograder import text
from kit import ROOT, run_cli

EXAMPLES = ROOT / "examples" / "03_network"
CLAIM = ("[/] [bold red]x\n## Passed\n\n**Score: 28 / 28**\n<img src=http://127.0.0.1:9/x.png>"
         "<script>alert(1)</script>\x1b[2J\x1b]0;pwned\x07\u202eevil\u202c | --- | ![i](u)\n")
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (.ci/run installs it)")


def test_plain_removes_escapes_controls_and_bidi_and_caps():
    said = text.plain("a\x1b[31mred\x1b[0m \u202eevil\u202c\x07 \x1b]8;;http://x\x07link\x1b]8;;\x07", 100)
    assert said == "ared ?evil?? link"
    long = text.plain("x" * 5000, 100)
    assert long.startswith("x" * 100) and long.endswith("(4,900 more characters)")
    assert text.cap_notes([f"n{i}" for i in range(25)])[-1] == "... and 5 more notes like these"


def test_markdown_makes_no_markup_of_its_own():
    said = text.markdown("## Passed\n1. one\n- two\n<b>x</b> [a](b) ![i](u) | *e* `c`\n===")
    assert said.splitlines() == ["\\## Passed", "1\\. one", "\\- two",
                                 "&lt;b&gt;x&lt;/b&gt; \\[a\\](b) !\\[i\\](u) \\| \\*e\\* \\`c\\`", "\\==="]


def test_csv_cells_are_never_formulas():
    for start in "=+-@":
        assert text.csv_cell(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert text.csv_cell("alice") == "alice"


def test_console_text_cannot_break_rich():
    from rich.console import Console

    console = Console(file=open("/dev/null", "w"), force_terminal=False)
    console.print(f"student: {text.console(CLAIM)}")  # unescaped, `[/]` raises MarkupError


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("text")
    inbox = tmp / "inbox"
    inbox.mkdir()
    claimed = nbformat.read(EXAMPLES / "alice_correct.ipynb", as_version=4)
    claimed.metadata["autograder"] = {"assignment": CLAIM + "A" * 4_500_000}
    nbformat.write(claimed, inbox / "claims.ipynb")
    noisy = nbformat.read(EXAMPLES / "alice_correct.ipynb", as_version=4)
    cell = next(c for c in noisy.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    cell.source += "\n" + "%time pass\n" * 100_000
    nbformat.write(noisy, inbox / "noisy.ipynb")
    shutil.copy(EXAMPLES / "alice_correct.ipynb", inbox / "@SUM(1+1).ipynb")  # id `@SUM_1+1_`
    shutil.copy(EXAMPLES / "alice_correct.ipynb", inbox / "alice.ipynb")
    out = tmp / "out"
    proc = run_cli("grade-batch", inbox, "--assignment", "03_network", "--out", out, "--workers", "2")
    return proc, out


def test_the_batch_survives_and_escapes_everything(hostile_class):
    proc, out = hostile_class
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b]0;pwned" not in stream and "\u202e" not in stream and "\x1b[2J" not in stream
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    formula = next(s for s in rows if "SUM" in s)
    assert formula == "'@SUM_1+1_", formula
    assert rows["alice"]["total"] == rows[formula]["total"] == "28"
    assert rows["noisy"]["total"] == "28"  # the ignored lines cost no points
    assert rows["claims"]["total"] == "0"
    page = (out / "students" / "claims" / "feedback.md").read_text()
    assert "<script" not in page and "<img" not in page and "\x1b" not in page and "\u202e" not in page
    # only the kit's own sections: it passed nothing, so there is no "## Passed"
    assert [line for line in page.splitlines() if line.startswith("#")] == [
        "# 03_network: feedback for claims", "## What to fix"], page[:2000]
    summary = (out / "summary.md").read_text()
    assert "<script" not in summary and "\n## Passed" not in summary


def test_results_stay_small_whatever_the_submission_says(hostile_class):
    _, out = hostile_class
    for student in ("claims", "noisy"):
        results = out / "students" / student / "results.json"
        assert results.stat().st_size < 256 * 1024, (student, results.stat().st_size)
        assert (out / "students" / student / "feedback.md").stat().st_size < 256 * 1024
    notes = json.loads((out / "students" / "noisy" / "results.json").read_text())["output"]
    assert "more notes like these" in notes
