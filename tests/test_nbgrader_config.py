"""The course's nbgrader configuration, on a tiny assignment that trains nothing.

A warning on stderr must not zero a correct test cell; a deleted grade cell is put back and
graded; a copied grade cell is graded once, with its original source.
"""
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import course
from conftest import ROOT

ANSWER = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
TEST = ('"""add adds (and a library warns on the way)."""\nimport warnings\n'
        'warnings.warn("a harmless library warning")\nassert add(2, 3) == 5')


def nbgrader_cell(source, **meta):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False,
                                 "grade": False, **meta}
    return cell


def tiny_assignment(folder):
    nb = new_notebook(cells=[
        nbgrader_cell(ANSWER, solution=True, grade_id="add"),
        nbgrader_cell(TEST, grade=True, locked=True, points=2, grade_id="test_add"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "tiny.ipynb")


def submit(course_dir, student, edit):
    """Submit the solution, changed by `edit(cells)`."""
    folder = course_dir / "submitted" / student / "tiny"
    folder.mkdir(parents=True)
    nb = nbformat.read(course_dir / "source" / "tiny" / "tiny.ipynb", as_version=4)
    nb.cells[0].source = course.strip_markers(nb.cells[0].source)
    edit(nb.cells)
    nbformat.write(nb, folder / "tiny.ipynb")


def delete_test(cells):
    del cells[1]


def copy_and_weaken_test(cells):
    copy = nbformat.from_dict(cells[1])
    copy.id = "copied-cell"
    cells.append(copy)
    cells[1].source = cells[2].source = "assert True"


def wrong_answer_and_copied_test(cells):
    cells[0].source = "def add(a, b):\n    return a - b"
    copy_and_weaken_test(cells)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("tiny_course")
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    tiny_assignment(course_dir / "source" / "tiny")
    course.release(course_dir, "tiny")
    submit(course_dir, "warns", lambda cells: None)
    submit(course_dir, "deleted", delete_test)
    submit(course_dir, "copied", copy_and_weaken_test)
    submit(course_dir, "copied_wrong", wrong_answer_and_copied_test)
    course.autograde(course_dir, "tiny")
    return course_dir


@pytest.mark.parametrize("student, points", [
    ("warns", 2),          # a warning on stderr does not cost the points
    ("deleted", 2),        # the deleted test cell is restored and passes
    ("copied", 2),         # the copied cell counts once
    ("copied_wrong", 0),   # ... and runs the original test, not the student's edit
])
def test_grade(graded, student, points):
    s = course.scores(graded, "tiny", student)
    assert (s["auto"], s["auto_max"]) == (points, 2), s
