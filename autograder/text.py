"""Student-controlled text, made safe for each place it is shown.

Anything a submission decides (notebook metadata, cell sources, exception messages, printed output,
file names and the ids made from them) is data. It is cleaned and capped once, where it enters a
result (`plain`, `cap_notes`), and escaped again for each output it reaches: rich markup on the
console (`console`), markdown and HTML in feedback and summaries (`markdown`), spreadsheet formulas
in CSV cells (`csv_cell`).
"""
from __future__ import annotations

import re

FIELD_CHARS = 4000   # one check's feedback, one reason: whatever the submission made it say
NOTE_CHARS = 300     # one note
MAX_NOTES = 20       # notes of one submission; beyond it they are counted, not listed

# CSI (colours, cursor moves), OSC (titles, hyperlinks: up to BEL or ST) and two-byte escapes
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# bidirectional controls reorder what a reader sees ("Trojan Source"); zero-width ones hide text
_INVISIBLE = dict.fromkeys(map(ord, "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c"
                                    "\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"), "?")


def plain(text, limit: int = FIELD_CHARS) -> str:
    """Printable text of at most `limit` characters (and a count of what was cut): no terminal
    escapes, no control characters but newlines and tabs, no bidi or zero-width characters."""
    text = _ANSI.sub("", str(text)).translate(_INVISIBLE)
    if len(text) > limit:
        text = text[:limit] + f" ... ({len(text) - limit:,} more characters)"
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def cap_notes(notes: list[str]) -> list[str]:
    """At most MAX_NOTES notes, each plain and short; the rest summarised in one line."""
    shown = [plain(n, NOTE_CHARS) for n in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        shown.append(f"... and {len(notes) - MAX_NOTES:,} more notes like these")
    return shown


def console(text) -> str:
    """For rich's console.print: plain, with rich's markup escaped (a `[/]` would crash it)."""
    from rich.markup import escape

    return escape(plain(text))


# emphasis, code, links, images, table cells; an underscore inside a word (`zero_grad`) is
# emphasis nowhere in CommonMark or GFM, so it stays as it is, readable in the raw file
_INLINE = re.compile(r"([\\`*\[\]|~]|(?<!\w)_|_(?!\w))")
_LINE_START = re.compile(r"^(\s*(?:\d+)?)([#+=-]|(?<=\d)[.)])", re.MULTILINE)  # headings, lists


def markdown(text, limit: int = FIELD_CHARS) -> str:
    """For markdown (feedback.md, summary.md, a job summary): plain, HTML's `& < >` as entities,
    inline markup (emphasis, code, links, images, table pipes) backslash-escaped, and what would
    start a heading, quote or list at a line's start escaped too, so a submission's text can make
    no section, link, image, tag or table cell of its own. Newlines are kept."""
    text = plain(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m[1] + "\\" + m[2], text)


def markdown_line(text, limit: int = FIELD_CHARS) -> str:
    """`markdown`, on one line (a table cell, a list item)."""
    return markdown(" ".join(str(text).split()), limit)


def csv_cell(text) -> str:
    """A CSV cell no spreadsheet runs as a formula: a leading `= + - @` (or tab, carriage return)
    gets a `'` before it, as OWASP advises."""
    text = plain(text, FIELD_CHARS).replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
