"""The course through nbgrader's exchange, as instructor and students use it, with the real commands.

release_assignment -> each student's fetch_assignment -> their work -> submit -> collect ->
`python -m autograder grade` -> feedback -> release_feedback -> each student's fetch_feedback.
The students' commands run with the configuration of their JupyterLab view (autograder/instructor/lab.py),
so the Assignment List and Validate in the browser use the same exchange and course id.
"""
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.instructor import course, demo, grading, lab
from conftest import ROOT

ASSIGNMENT = "02_layer_tracing"
NOTEBOOK = "layer_tracing.ipynb"
STUDENTS = {"alice": "solves it", "bob": "hands it in untouched"}


def nbgrader(course_dir, *args, students=(None,)):
    """Run an nbgrader command as the instructor (in the course), or as each of `students` at once (each
    in their folder), as a class does."""
    running = {student: subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=lab.folder(course_dir, student),
                                         env=lab.environment(course_dir, student), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
               for student in students}
    errors = {student: process.communicate(timeout=120)[1] for student, process in running.items()}
    failed = [f"nbgrader {' '.join(args)} as {student or 'instructor'} failed:\n{errors[student][-2000:]}"
              for student, process in running.items() if process.returncode != 0]
    assert not failed, "\n".join(failed)


def solve(path):
    """Alice's work: each answer cell as in the instructor's solution."""
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    nbformat.write(demo.solved(source, nbformat.read(path, as_version=4)), path)


def run_exchange(course_dir):
    """Assignment 02 through the exchange into course_dir, graded: course_dir, {student: summary row}.
    (The fixture `exchanged` in conftest.py, shared with test_browser.py.)"""
    shutil.copytree(ROOT / "source" / ASSIGNMENT, course_dir / "source" / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    course.release(course_dir, ASSIGNMENT)
    nbgrader(course_dir, "release_assignment", ASSIGNMENT)
    for student in STUDENTS:
        lab.folder(course_dir, student).mkdir(parents=True)
    nbgrader(course_dir, "fetch_assignment", ASSIGNMENT, students=STUDENTS)
    solve(lab.folder(course_dir, "alice") / ASSIGNMENT / NOTEBOOK)
    nbgrader(course_dir, "submit", ASSIGNMENT, students=STUDENTS)
    nbgrader(course_dir, "collect", ASSIGNMENT)
    rows = grading.grade(course_dir, ASSIGNMENT, budget_s=300, log=lambda message: None)
    course.feedback(course_dir, ASSIGNMENT)
    nbgrader(course_dir, "release_feedback", ASSIGNMENT)
    nbgrader(course_dir, "fetch_feedback", ASSIGNMENT, students=STUDENTS)
    return course_dir, {row["student"]: row for row in rows}


def test_each_submission_arrives_under_its_students_name_and_is_graded(exchanged):
    _, rows = exchanged
    assert set(rows) == set(STUDENTS)
    assert rows["alice"]["score"] == rows["alice"]["max"] > 0, rows["alice"]
    assert rows["bob"]["score"] == 0, rows["bob"]


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_fetches_their_own_feedback(exchanged, student):
    course_dir, rows = exchanged
    fetched = sorted((lab.folder(course_dir, student) / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOK[:-6]}.html"))
    assert len(fetched) == 1, f"{student} fetched {len(fetched)} feedback files"
    html = fetched[0].read_text()
    row = rows[student]
    total = row["max"] + course.scores(course_dir, ASSIGNMENT, student)["manual_max"]    # written answers, not yet graded
    assert f"Score: {row['score']:g} / {total:g}" in html.replace(".0 ", " ").replace(".0<", "<"), html[:2000]
    assert "BEGIN HIDDEN TESTS" not in html
