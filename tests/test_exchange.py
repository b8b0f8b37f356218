"""The course through nbgrader's exchange, as instructor and students use it, with the real commands.

release_assignment -> each student's fetch_assignment -> their work -> submit -> collect ->
`python -m autograder grade` -> feedback -> release_feedback -> each student's fetch_feedback.
The students' commands run with the configuration of their JupyterLab view (autograder/instructor/lab.py),
so the Assignment List and Validate in the browser use the same exchange and course id. The run itself
is helpers.run_exchange, shared through the conftest fixture `exchanged` with test_browser.py.
"""
import pytest

from autograder.instructor import course, lab
from helpers import EXCHANGE_STUDENTS as STUDENTS, EXCHANGED as ASSIGNMENT, EXCHANGED_NOTEBOOK as NOTEBOOK

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]


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
