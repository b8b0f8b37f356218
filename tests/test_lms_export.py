"""Canvas and Moodle grade exports, from a real nbgrader gradebook, read back as each LMS reads them.

The gradebook: two assignments of one notebook each, with two autograded test cells (2 and 3 points)
and one manually graded answer (5 points); three students, one of whom never submitted the second
assignment; one manual grade, given as Formgrader gives it (Grade.manual_score).
"""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.instructor import cli

ASSIGNMENTS = ["01_mnist_basics", "03_mnist_cnn"]
STUDENTS = {"ada": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"},
            "bob": {}, "cyd": {"first_name": "Cyd", "last_name": "Charisse"}}
# (student, assignment): (test_a, test_b, manual answer or None); cyd never submitted 03_mnist_cnn.
SCORES = {("ada", "01_mnist_basics"): (2, 3, None), ("bob", "01_mnist_basics"): (0, 1.5, None),
          ("cyd", "01_mnist_basics"): (2, 0, None), ("ada", "03_mnist_cnn"): (2, 1.5, 4),
          ("bob", "03_mnist_cnn"): (0, 3, None)}
EXPECTED = {("ada", "01_mnist_basics"): 5.0, ("bob", "01_mnist_basics"): 1.5,
            ("cyd", "01_mnist_basics"): 2.0, ("ada", "03_mnist_cnn"): 7.5,
            ("bob", "03_mnist_cnn"): 3.0, ("cyd", "03_mnist_cnn"): None}
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# nbgrader's add_submission builds its rows before adding them to the session: harmless SQLAlchemy warnings.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def build_gradebook(db_url):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(sys.executable).parent), prepend=os.pathsep)  # nbgrader runs `alembic`
        with Gradebook(db_url) as gb:
            fill(gb)


def fill(gb):
    for student, names in STUDENTS.items():
        gb.add_student(student, **names)
    for assignment in ASSIGNMENTS:
        gb.add_assignment(assignment)
        gb.add_notebook("mnist", assignment)
        gb.add_grade_cell("test_a", "mnist", assignment, max_score=2, cell_type="code")
        gb.add_grade_cell("test_b", "mnist", assignment, max_score=3, cell_type="code")
        gb.add_grade_cell("answer", "mnist", assignment, max_score=5, cell_type="markdown")
    for (student, assignment), (a, b, manual) in SCORES.items():
        gb.add_submission(assignment, student)
        gb.find_grade("test_a", "mnist", assignment, student).auto_score = a
        gb.find_grade("test_b", "mnist", assignment, student).auto_score = b
        gb.find_grade("answer", "mnist", assignment, student).manual_score = manual
    gb.db.commit()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The course directory, after the nbgrader exporters and our command line wrote their files."""
    course = tmp_path_factory.mktemp("lms")
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    build_gradebook(db_url)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.db_url = {db_url!r}\n")
    commands = [[sys.executable, "-m", "nbgrader", "export", f"--exporter=autograder.instructor.export.{lms}Grades",
                 f"--to=by-nbgrader-{lms.lower()}.csv"] for lms in ("Canvas", "Moodle")]
    commands.append([sys.executable, "-m", "autograder", "--course", str(course),
                     "export", "all", "--format", "canvas"])
    runs = [subprocess.Popen(c, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for c in commands]
    cli.main(["--course", str(course), "export", "03_mnist_cnn", "--format", "moodle"])
    for command, run in zip(commands, runs):
        output = run.communicate()[0]
        assert run.returncode == 0, f"{command}\n{output}"
    return course


def read_canvas(path):
    """The file as Canvas's gradebook importer reads it: the header's student columns, the
    "Points Possible" row, then students matched by SIS Login ID (we give Canvas no ID)."""
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[:5] == CANVAS_STUDENT_COLUMNS, header
    assignments = header[5:]
    assert rows[0][0] == "Points Possible" and rows[0][1:5] == [""] * 4, rows[0]
    possible = dict(zip(assignments, map(float, rows[0][5:])))
    students = {row[3]: row for row in rows[1:]}
    assert len(students) == len(rows) - 1, "a SIS Login ID twice"
    assert all(row[1] == row[2] == "" for row in rows[1:]), "a Canvas ID or SIS User ID we cannot know"
    grades = {(login, a): float(cell) if cell else None
              for login, row in students.items() for a, cell in zip(assignments, row[5:])}
    return assignments, possible, {login: row[0] for login, row in students.items()}, grades


def read_moodle(path):
    """The file as Moodle's CSV grade import reads it with Map from "Username" to username: grade
    columns parse as numbers with '.' decimals, an empty cell is no grade."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    grades = {}
    for row in rows:
        for column, cell in row.items():
            if column not in ("Username", "First name", "Last name", "Email address"):
                grades[row["Username"], column] = float(cell) if cell != "" else None
    return list(rows[0]), {row["Username"]: row for row in rows}, grades


def test_canvas_has_every_student_and_assignment_with_manual_points(exported):
    assignments, possible, names, grades = read_canvas(exported / "by-nbgrader-canvas.csv")
    assert assignments == ASSIGNMENTS
    assert possible == {a: 10.0 for a in ASSIGNMENTS}, "points possible: 2 + 3 autograded + 5 manual"
    assert names == {"ada": "Lovelace, Ada", "bob": "bob", "cyd": "Charisse, Cyd"}
    assert grades == EXPECTED, "points are autograded + manual; a student who never submitted is empty"


def test_canvas_from_our_command_line_is_the_same_file(exported):
    ours = (exported / "canvas-all.csv").read_text()
    assert ours == (exported / "by-nbgrader-canvas.csv").read_text()


def test_moodle_has_a_username_and_a_number_per_assignment(exported):
    header, students, grades = read_moodle(exported / "by-nbgrader-moodle.csv")
    assert header == ["Username", "First name", "Last name", "Email address"] + ASSIGNMENTS
    assert set(students) == set(STUDENTS)
    assert students["ada"]["Email address"] == "ada@example.org" and students["bob"]["First name"] == ""
    assert grades == EXPECTED


def test_moodle_for_one_assignment_from_our_command_line(exported):
    header, students, grades = read_moodle(exported / "moodle-03_mnist_cnn.csv")
    assert header[4:] == ["03_mnist_cnn"]
    assert grades == {key: value for key, value in EXPECTED.items() if key[1] == "03_mnist_cnn"}
