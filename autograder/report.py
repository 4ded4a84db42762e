"""Stage 5: results.json in Gradescope's schema, and the console table."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from autograder import text
from autograder.score import Score


def pretty_name(test_name: str) -> str:
    """test_trainer_matches_reference__catches_x[regression] -> 'trainer matches reference [regression]'."""
    base, _, param = test_name.partition("[")
    base = base.removeprefix("test_").split("__")[0].replace("_", " ")
    return f"{base} [{param}" if param else base


def likely_bug(test_name: str) -> str:
    base = test_name.split("[")[0]
    return base.split("__catches_", 1)[1].replace("_", " ") if "__catches_" in base else ""


def split_failed(failed: list[dict]) -> tuple[list[dict], list[dict]]:
    """A results.json's failed tests as (charged, not graded): the checks that say what to fix,
    and those that depend on one of them (judge.attribute), so that feedback names a cause once."""
    waiting = [t for t in failed if (t.get("extra_data") or {}).get("depends_on")]
    return [t for t in failed if t not in waiting], waiting


REPORTED = ("This check rests on what the process that ran your code said about itself (memory, "
            "devices, whether your inputs were left as they were), which the grader cannot "
            "recompute; such checks are worth few points.")


def results_dict(score: Score, *, execution_time: float, notes: list[str], failure: str | None,
                 assignment_id: str, submission: str, sandbox: str = "") -> dict:
    tests = []
    for i, t in enumerate(score.tests, 1):
        message = text.plain(t.message)  # may quote what the submission returned or printed
        output = ("Passed." + (f" {message}" if message else "")) if t.passed else message
        if not t.passed and likely_bug(t.name) and not t.depends_on:
            output += f"\n(This check is there to catch: {likely_bug(t.name)}.)"
        if t.doc:
            output += f"\n\nWhat is checked: {' '.join(t.doc.split())}"
        if t.reported:
            output += f"\n\n{REPORTED}"
        tests.append({"name": pretty_name(t.name), "number": str(i), "score": t.points,
                      "max_score": t.max_points, "status": "passed" if t.passed else "failed",
                      "output": output, "visibility": "visible",
                      "tags": [t.group] + (["reported"] if t.reported else []),
                      "extra_data": {"check": t.name, "reported": t.reported,
                                     **({"depends_on": t.depends_on} if t.depends_on else {})}})
    lines = [f"Assignment {assignment_id}: {score.total:g} / {score.max_total:g} points."]
    if failure:
        lines.append(f"Your submission could not be graded: {text.plain(failure, 1000)}")
    lines += [f"Note: {n}" for n in text.cap_notes(notes)]
    extra = {"assignment": assignment_id, "submission": text.plain(submission, 300)}
    if sandbox:
        lines.append(f"Graded in the {sandbox} sandbox.")
        extra["sandbox"] = sandbox
    return {"score": score.total, "max_score": score.max_total,
            "execution_time": round(execution_time, 2), "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": extra}


def write_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)


def _cell(value) -> str:
    """One markdown table cell: a single line, with nothing the submission said read as markup."""
    return text.markdown_line(value)


def markdown_table(results: dict, title: str) -> str:
    """A results.json (this kit's or any in Gradescope's schema) as a markdown score table: one row
    per check with its points and, when it failed, the reason. For GitHub's job summary."""
    lines = [f"### {_cell(title)}: {results.get('score', 0):g} / {results.get('max_score', 0):g}", "",
             "| | check | points | feedback |", "|---|---|---:|---|"]
    for t in results.get("tests", []):
        passed = t.get("status") == "passed"
        said = "" if passed else t.get("output", "").split("\n")[0]
        lines.append(f"| {'✅' if passed else '❌'} | {_cell(t.get('name', ''))} | "
                     f"{t.get('score', 0):g}/{t.get('max_score', 0):g} | {_cell(said)} |")
    lines.append(f"| | **total** | **{results.get('score', 0):g}/{results.get('max_score', 0):g}** | |")
    extra = [line for line in results.get("output", "").splitlines()[1:] if line.strip()]
    if extra:
        lines += [""] + [f"> {_cell(line)}" for line in extra]
    return "\n".join(lines) + "\n\n"


def print_table(console: Console, score: Score, title: str, notes: list[str],
                failure: str | None) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("check")
    table.add_column("points", justify="right")
    table.add_column("feedback", overflow="fold", max_width=70)
    for t in score.tests:
        mark = "[green]✓[/]" if t.passed else "[red]✗[/]"
        said = f"[dim]{text.console(t.message)}[/]" if t.passed else text.console(t.message)
        table.add_row(f"{mark} {text.console(pretty_name(t.name))}", f"{t.points:g}/{t.max_points:g}", said)
    table.add_section()
    table.add_row("[bold]total[/]", f"[bold]{score.total:g}/{score.max_total:g}[/]", "")
    console.print(table)
    if failure:
        console.print(f"[yellow]could not be graded:[/] {text.console(text.plain(failure, 1000))}")
    for n in text.cap_notes(notes):
        console.print(f"[yellow]note:[/] {text.console(n)}")
