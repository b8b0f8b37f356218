"""What passes between the parts of class grading: a job per submission, its result, and what the
course's grading_state.json keeps of it. A job and a result are plain data that a Dask worker on
another machine can receive and send back (the rules travel as their configured object)."""
from dataclasses import dataclass, field

from autograder.instructor.rules import GradingRules


@dataclass
class Job:
    """One submission to grade, with everything a worker needs: no shared files."""
    assignment: str
    student: str
    files: dict | None              # {relative path: bytes}; None when the grader refused them
    refused: str | None             # why the submission was refused, if it was
    notebooks: list                 # the assignment's notebook names
    gradebook: bytes                # a gradebook holding only this assignment's cells
    expected: dict                  # source/<assignment>/expected.json
    settings: dict                  # the course's nbgrader settings, as data
    rules: GradingRules
    threads: int                    # threads the kernel may use
    scratch: str | None = None      # the folder to grade in (made by the worker when None)


@dataclass
class Result:
    """What grading one submission gave: executed notebooks, the grader's verdicts, problems, time."""
    assignment: str
    student: str
    notebooks: dict = field(default_factory=dict)   # {name: executed notebook bytes}; empty: a zero
    timestamp: bytes | None = None
    verdicts: dict = field(default_factory=dict)    # {test cell: None if passed, else the reason}
    problems: list = field(default_factory=list)    # readable reasons, for the instructor and the student
    seconds: float | None = None
    phases: dict = field(default_factory=dict)      # {where the time went: seconds}


@dataclass
class Entry:
    """What grading_state.json keeps of a graded submission: graded again only when `hash` changes."""
    hash: str                       # the digests of the submission and of the assignment's tests
    seconds: float | None = None
    phases: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


def failed(job, reason):
    """The result of a submission that could not be graded: zero, with the reason."""
    return Result(job.assignment, job.student, problems=[reason])
