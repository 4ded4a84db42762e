"""The single exception type for user errors (bad path, unknown assignment, bad config).

The CLI prints its message and exits non-zero, without a traceback. A broken *submission* is never a
user error: it is graded, and its problems become test failures with reasons.
"""


class UserError(Exception):
    """A mistake of the person running the tool, reported as one clear message."""
