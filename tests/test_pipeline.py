"""Every assignment in source/: its release is what nbgrader makes, hides what it must, and grades right.

(The source notebooks run once, in the demo's grading: test_solutions.py holds that run to nbval's rules.)
"""
import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.instructor import course, demo, notebooks, verdicts
from autograder.instructor import observations
from autograder.student import observe
from helpers import ASSIGNMENTS, ROOT


def release_notebooks(assignment):
    return course.notebooks(ROOT / "release" / assignment)


HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def secret_lines(folder):
    """Lines of solution code and hidden tests in folder's notebooks that a student must never see.
    Short lines, and lines that also stand outside those blocks (a shared import), are not secret."""
    secret, public = set(), set()
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for block in SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source):
                secret |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
            rest = HIDDEN.sub("", SOLUTION.sub("", cell.source))
            public |= {line.strip() for line in rest.splitlines()}
    return secret - public


def test_there_are_assignments():
    assert ASSIGNMENTS, "source/ holds no assignment"


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates_today(graded_course, assignment):
    committed = {p.name: nbformat.read(p, as_version=4) for p in release_notebooks(assignment)}
    generated = {p.name: nbformat.read(p, as_version=4)
                 for p in course.notebooks(graded_course / "release" / assignment)}
    assert committed.keys() == generated.keys(), "release/ and source/ hold different notebooks"
    for name in committed:
        assert committed[name] == generated[name], (
            f"release/{assignment}/{name} is stale: run `make release` and commit the result")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(assignment):
    secrets = secret_lines(ROOT / "source" / assignment)
    assert secrets, "the source notebook has no solution or hidden test to hide"
    for path in release_notebooks(assignment):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        for cell in nbformat.read(path, as_version=4).cells:
            leaked = {line.strip() for line in cell.source.splitlines()} & secrets
            assert not leaked, f"{path.name} shows solution or hidden-test lines: {sorted(leaked)[:3]}"


@pytest.mark.parametrize("path", [*(ROOT / "release").glob("*/*.ipynb"), *(ROOT / "source").glob("*/*.ipynb"),
                                  *(ROOT / "notebooks").glob("*.ipynb")], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_widget_state_and_no_stray_outputs(path):
    """Students get clean notebooks: no stored widget state (progress bars) anywhere, no outputs in
    release/, and elsewhere outputs only where nbval compares them."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path} stores widget state: `python -m autograder record {path}` drops it"
    stray = [i for i, c in enumerate(nb.cells) if c.get("outputs")
             and (path.parts[-3] == "release" or "nbval-check-output" not in c.metadata.get("tags", []))]
    assert not stray, f"{path} has stored outputs in cells {stray}"


ANSI = re.compile(r"\x1b\[[0-9;]*m")     # the colours of IPython's tracebacks


def failing_line(cell):
    """The line of a test cell at which its error was raised (its own frame in the traceback), or None
    if it passed."""
    for output in cell.outputs:
        if output.output_type == "error":
            traceback = ANSI.sub("", "\n".join(output.traceback))
            found = re.search(r"Cell In\[\d+\], line (\d+)", traceback)
            assert found, f"no line of the cell in its traceback: {traceback[:500]}"
            return int(found.group(1))
    return None


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_fails_every_visible_test(graded_course, assignment):
    """What Validate tells a student who changed nothing: every test fails, in its visible part. The
    demo's graded untouched notebook is that release run with the hidden tests put back, so each test
    cell must have failed before its hidden part began (the browser test presses Validate on 03 itself)."""
    for path in course.notebooks(graded_course / "autograded" / "untouched" / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                lines = cell.source.splitlines()
                hidden = next((n for n, line in enumerate(lines, 1) if "### BEGIN HIDDEN TESTS" in line), len(lines) + 1)
                line = failing_line(cell)
                assert line is not None and line < hidden, (
                    f"{path.name}: {cell.metadata.nbgrader['grade_id']} passes its visible checks in the untouched "
                    f"release ({'no error' if line is None else f'its error comes at line {line}, in the hidden tests'})")


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded_course, assignment):
    s = course.scores(graded_course, assignment, "solution")
    assert s["auto_max"] > 0
    assert s["auto"] == s["auto_max"], f"the solution failed {s['failed']}"


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_gets_zero(graded_course, assignment):
    s = course.scores(graded_course, assignment, "untouched")
    assert s["auto"] == 0, f"an empty submission passed {s['passed']}"


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_partial_submission_gets_partial_marks(graded_course, assignment):
    s = course.scores(graded_course, assignment, "partial")
    assert 0 < s["auto"] < s["auto_max"], s


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_demo_writes_the_grade_table(graded_course):
    import csv

    rows = list(csv.DictReader(open(graded_course / "grades.csv")))
    graded = {(r["assignment"], r["student"]) for r in rows}
    assert graded == {(a, s) for a in ASSIGNMENTS for s in demo.SAMPLE_STUDENTS}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_is_checked_outside_the_kernel(assignment):
    """expected.json is as new as the notebook, and every test cell has checks the grader runs
    itself (hidden observations, or a model verdict): none is scored on the kernel's word alone."""
    expected = observations.current(ROOT / "source" / assignment)
    assert expected, f"source/{assignment}/expected.json is stale: run `python -m autograder expect {assignment}`"
    outside = set(expected["cells"]) | set(verdicts.VERDICTS.get(assignment, ([], None))[0])
    for path in course.notebooks(ROOT / "source" / assignment):
        tests = {c.metadata.nbgrader["grade_id"] for c in nbformat.read(path, as_version=4).cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
        assert tests and tests <= outside, f"test cells without a check outside the kernel: {sorted(tests - outside)}"


def test_the_live_lecture_has_a_students_copy_in_sync_and_free_of_answers():
    """The lecture's regions that the class writes live are blanks in notebooks/students/, made by
    nbgrader's ClearSolutions from today's lecture (`python -m autograder release` writes it)."""
    lectures = notebooks.live_lectures(ROOT)
    assert lectures, "no lecture in notebooks/ has a live-coding region (### BEGIN SOLUTION)"
    secrets = secret_lines(ROOT / "notebooks")
    for lecture, copy in lectures.items():
        assert copy.is_file(), f"{copy} is missing: run `python -m autograder release`"
        assert nbformat.read(copy, as_version=4) == notebooks.blank_copy(lecture), (
            f"{copy} is stale: run `python -m autograder release` and commit it")
        text = copy.read_text()
        leaked = sorted(line for line in secrets if line in text)
        assert not leaked and "### BEGIN SOLUTION" not in text, f"the students' copy shows answers: {leaked[:3]}"
        assert text.count(notebooks.BLANK) == lecture.read_text().count("### BEGIN SOLUTION")


def test_every_lecture_has_a_students_copy_without_outputs():
    """Students get every lecture without its outputs (notebooks/students/, written by `python -m autograder
    release`): the instructor's copy of 01_building_a_cnn shows every shape that assignment 02 asks students
    to predict."""
    lectures = notebooks.lectures(ROOT)
    assert set(notebooks.live_lectures(ROOT)) < set(lectures), "no lecture without live coding in notebooks/"
    for lecture, copy in lectures.items():
        assert copy.is_file(), f"{copy} is missing: run `python -m autograder release`"
        students = nbformat.read(copy, as_version=4)
        assert students == notebooks.blank_copy(lecture), (
            f"{copy} is stale: run `python -m autograder release` and commit it")
        shown = [i for i, c in enumerate(students.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not shown, f"{copy} shows outputs in cells {shown}"
        assert [c.source for c in students.cells if c.cell_type == "markdown"] == [
            c.source for c in nbformat.read(lecture, as_version=4).cells if c.cell_type == "markdown"]


VALUED = {"check_accuracy", "accuracy", "evaluate"}       # the course's checks that return a number


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_test_cell_ends_in_a_value(assignment):
    """nbgrader takes a number that a test cell displays as its partial credit: a check that returns the
    accuracy, left as the cell's last line, scored 0.987 of 3 points. A cell's last statement must
    display nothing."""
    for path in course.notebooks(ROOT / "source" / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                last = ast.parse(cell.source).body[-1]
                call = last.value if isinstance(last, ast.Expr) else None
                name = getattr(getattr(call, "func", None), "id", None) or getattr(getattr(call, "func", None), "attr", None)
                assert not isinstance(last, ast.Expr) or (call is not None and isinstance(call, ast.Call)
                                                          and name not in VALUED), (
                    f"{cell.metadata.nbgrader['grade_id']} ends in {ast.unparse(last)[:80]!r}, whose value nbgrader "
                    "would take as the score: assign it")


def yes_or_no(value):
    """True for an answer made only of booleans: one a student can guess without solving anything."""
    if isinstance(value, list):
        return all(yes_or_no(v) for v in value)
    return isinstance(value, bool)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_guessing_every_yes_or_no_answer_earns_no_cell(assignment, tmp_path):
    """A kernel can write the grader's records file itself (silencing its errors, as in test_attacks.py),
    and it can guess every check whose answer is yes or no. Each test cell must still have a check it
    cannot guess: a value on the hidden test's own inputs, or the grader's own measurement."""
    expected = observations.current(ROOT / "source" / assignment)
    guesses = [{"key": key, "value": value} for checks in expected["cells"].values()
               for key, value in checks.items() if yes_or_no(value)]
    (tmp_path / observe.RECORDS).write_text("".join(json.dumps(g) + "\n" for g in guesses))
    tests = [c.metadata.nbgrader["grade_id"] for path in course.notebooks(ROOT / "source" / assignment)
             for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    earned = [cell for cell, reason in verdicts.decide(assignment, expected, tmp_path, tests).items() if not reason]
    assert not earned, f"guessed yes/no answers alone pass {earned}"


def test_expected_json_goes_stale_when_code_changes_not_prose(tmp_path):
    folder = tmp_path / "02_layer_tracing"
    shutil.copytree(ROOT / "source" / folder.name, folder)
    path = course.notebooks(folder)[0]
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if c.cell_type == "markdown").source += "\n\nA clearer sentence."
    nbformat.write(nb, path)
    assert observations.current(folder), "a prose edit made expected.json stale"
    next(c for c in nb.cells if c.cell_type == "code").source += "\nx = 1"
    nbformat.write(nb, path)
    assert observations.current(folder) is None, "a code edit left expected.json current"
