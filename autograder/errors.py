"""The two kinds of error that are not a grade.

- `UserError`: a mistake of the person running the tool (bad path, unknown assignment, bad config).
  The CLI prints its message and exits 1, without a traceback.
- `GraderError`: the grading machinery itself failed (no sandbox tier can start here, the hidden
  suite does not run). Never the student's fault, so never a score: `grade` exits 2 and writes no
  results.json, a batch marks the row `error`, Gradescope shows `AUTOGRADER MISCONFIGURED`.

A broken *submission* is neither: it is graded, and its problems become test failures with reasons.
"""


class UserError(Exception):
    """A mistake of the person running the tool, reported as one clear message."""


class GraderError(Exception):
    """The kit cannot grade here (not the submission's fault): exit 2, never a score."""


class SandboxUnavailable(GraderError):
    """No sandbox can start here, or the one asked for cannot: what failed and how to fix it."""
