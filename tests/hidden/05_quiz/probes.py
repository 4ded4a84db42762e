"""Probe of 05_quiz: what the student wrote in ANSWERS, shipped as it is. It holds no answers.

The executor ships the dict entry by entry with each key's and value's exact type (a numpy integer
stays a numpy integer, an object with a rigged __eq__ stays an object of its type and is never asked
anything); the judge, which alone holds the key, decides what each one means.

Each probe is a recipe, `name(r, args, device)` (autograder/recipe.py).
"""


def answers(r, args, device):
    with r.catch() as missing:  # an AttributeError where the notebook defines no ANSWERS
        r.ship("answers", r.student.ANSWERS)
    r.ship("missing", missing)
