"""Every other correct answer earns full marks through the class grader, not only in this process.

The alternatives of tests/answers.py's RIGHT table are handed in as students of a copy of the course:
student k answers every exercise with the solution, each changed by its k-th alternative where it has
one (so every alternative is in some notebook). `grade` runs them in the sandbox, with the hidden tests
compared outside the kernel and the models checked by the grader's verdicts, as it grades a class.
"""
import shutil

import nbformat
import pytest

from answers import RIGHT
from autograder.instructor import course, grading
from helpers import ASSIGNMENTS, ROOT, solved


def alternatives(assignment):
    """[{(solution cell, solution text): replacement}, ...]: one dict per student; student k takes the k-th
    distinct replacement of each solution text (the last one where a text has fewer)."""
    options = {}
    for cell, _, _, (right, replacement) in RIGHT.get(assignment, []):
        choices = options.setdefault((cell, right), [])
        if replacement not in choices:
            choices.append(replacement)
    count = max((len(choices) for choices in options.values()), default=0)
    return [{key: choices[min(k, len(choices) - 1)] for key, choices in options.items()} for k in range(count)]


# 15 whole notebooks graded, training included: 7 minutes on 2 cores, `make test-slow` (CI runs it after `make test`)
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.sandbox]
STUDENTS = [(a, k) for a in ASSIGNMENTS for k in range(len(alternatives(a)))]


@pytest.fixture(scope="module")
def graded_alternatives(tmp_path_factory):
    """A copy of the course in which the alternative students of every assignment were graded."""
    course_dir = tmp_path_factory.mktemp("alternatives")
    shutil.copytree(ROOT / "source", course_dir / "source", ignore=shutil.ignore_patterns("*.pt", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    graded = sorted({a for a, _ in STUDENTS})
    for assignment in graded:
        course.release(course_dir, assignment)
        (path,) = course.notebooks(course_dir / "source" / assignment)
        for k, changes in enumerate(alternatives(assignment)):
            target = course_dir / "submitted" / f"alternative-{k + 1}" / assignment
            shutil.copytree(course_dir / "release" / assignment, target)
            notebook = target / path.name
            nbformat.write(solved(nbformat.read(path, as_version=4), nbformat.read(notebook, as_version=4), changes),
                           notebook)
    grading.grade(course_dir, graded[::-1])
    return course_dir


@pytest.mark.parametrize("assignment, k", STUDENTS)
def test_every_alternative_earns_full_marks(graded_alternatives, assignment, k):
    s = course.scores(graded_alternatives, assignment, f"alternative-{k + 1}")
    assert s is not None, f"alternative-{k + 1} of {assignment} was not graded: see the grading output above"
    assert s["auto"] == s["auto_max"], (
        f"alternative-{k + 1} of {assignment} earned {s['auto']} of {s['auto_max']}; failed: {s['failed']}")
