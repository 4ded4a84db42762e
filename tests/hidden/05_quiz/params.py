"""Params: the types and bounds of the `params:` block of 05_quiz (autograder/assignment.py)."""
from pydantic import Field

from autograder.config import Strict


class Params(Strict):
    """Settings of assignment 05_quiz (the answer key is not here: it stays in the hidden suite)."""

    show_explanations: bool = Field(False, description="say why each answer is right; for after the due date")
