"""Exports of an assignment for other graders and for students.

`autograder export student|gradescope|otter ID`. Nothing here runs while a submission is graded,
so these modules are left out of the grader's fingerprint (`autograder/fingerprint.py`): editing an
exporter does not regrade a class.
"""
