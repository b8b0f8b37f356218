"""The instructor notebooks in source/ run clean: checked as nbval checks, on the demo's one run.

The suite executes each solution once, as the demo's "solution" student under the class grader
(conftest.graded_course). Here that executed copy is held to nbval's rules (--nbval-lax): no
cell raises, and every cell tagged nbval-check-output prints what the committed notebook shows.
The lecture notebooks in notebooks/ run under nbval itself.
"""
import nbformat
import pytest

from autograder.instructor import course
from autograder.instructor.notebooks import CHECKED
from helpers import ASSIGNMENTS, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]     # the demo's graded course
SOLUTIONS = [(a, p.name) for a in ASSIGNMENTS for p in course.notebooks(ROOT / "source" / a)]


def printed(cell):
    """{stream name: text} of a cell's outputs, streams joined as nbval joins them."""
    streams = {}
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            streams[output.name] = streams.get(output.name, "") + output.text
    return streams


def executed(course_dir, assignment, name):
    path = course_dir / "autograded" / "solution" / assignment / name
    assert path.exists(), f"the solution of {assignment} was not graded: see the demo's output above"
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("assignment, name", SOLUTIONS)
def test_no_cell_raises(graded_course, assignment, name):
    for index, cell in enumerate(executed(graded_course, assignment, name).cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", (
                f"source/{assignment}/{name}, cell {index}, raised {output.ename}: {output.evalue}\n"
                f"{cell.source[:400]}")


@pytest.mark.parametrize("assignment, name", SOLUTIONS)
def test_checked_outputs_are_as_committed(graded_course, assignment, name):
    committed = nbformat.read(ROOT / "source" / assignment / name, as_version=4).cells
    ran = executed(graded_course, assignment, name).cells
    assert len(committed) == len(ran), "the graded copy has other cells than source/"
    for index, (want, got) in enumerate(zip(committed, ran)):
        if CHECKED in want.metadata.get("tags", []):
            assert printed(got) == printed(want), (
                f"source/{assignment}/{name}, cell {index}, printed something else than the committed output "
                f"(if the change is right: `python -m autograder record source/{assignment}/{name}`)")
