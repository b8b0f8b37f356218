"""Writing graded submissions into the course's real gradebook. Only the instructor's grading
process does this, one submission at a time (SQLite takes one writer)."""
import json
import shutil
from pathlib import Path

from nbgrader.coursedir import CourseDirectory

from autograder.instructor import course


def record(course_dir, result):
    """Write one finished submission into the real gradebook (this process is its only writer)."""
    course_dir = Path(course_dir).resolve()
    assignment, student = result.assignment, result.student
    forget(course_dir, student, assignment, "feedback_directory")
    if not result.notebooks:
        forget(course_dir, student, assignment, "autograded_directory")
        record_zero(course_dir, assignment, student)
        return
    staging = course_dir / ".grading" / student / assignment
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, data in result.notebooks.items():
        (staging / name).write_bytes(data)
    if result.timestamp:
        (staging / "timestamp.txt").write_bytes(result.timestamp)
    secret = course_dir / "submitted" / student / assignment / "submission_secret.txt"   # from nbgrader's exchange:
    if secret.is_file():                                                # release_feedback names the feedback with it
        shutil.copy(secret, staging)
    nbgrader = course.api(course_dir, CourseDirectory={"submitted_directory": str(course_dir / ".grading")},
                          Execute={"enabled": False}, ClearOutput={"enabled": False})     # --no-execute
    course.succeeded(nbgrader.autograde(assignment, student), f"autograde {assignment} {student}")
    shutil.rmtree(staging, ignore_errors=True)
    return apply_verdicts(course_dir, assignment, student, result.verdicts, result.notebooks)


def forget(course_dir, student, assignment, *steps):
    """Remove what an earlier grading of this submission left in these nbgrader folders."""
    folders = CourseDirectory(config=course.config(course_dir))
    for step in steps:
        shutil.rmtree(folders.format_path(getattr(folders, step), student, assignment), ignore_errors=True)


def record_zero(course_dir, assignment, student):
    """A submission nbgrader could not grade still gets a gradebook entry: zero on every test."""
    with course.gradebook(course_dir) as gb:
        gb.update_or_create_student(student)
        for nb in gb.update_or_create_submission(assignment, student).notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "code":
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        gb.db.commit()


def apply_verdicts(course_dir, assignment, student, verdicts, notebooks):
    """A test cell keeps its points only if the grader's own verdict agrees. The reason of every failed
    verdict goes into the comment of the answer cell above the test, which the feedback and Formgrader
    show (the feedback shows no output of a test cell that ran after hidden tests); return {cell:
    reason} for the cells where the grader overruled the notebook."""
    failed = {cell: reason for cell, reason in verdicts.items() if reason}
    overruled = {}
    with course.gradebook(course_dir) as gb:
        for nb in gb.find_submission(assignment, student).notebooks:
            for grade in nb.grades:
                if grade.name in failed and grade.auto_score:
                    grade.auto_score = 0.0
                    overruled[grade.name] = failed[grade.name]
            for answer, reasons in answer_cells(notebooks.get(f"{nb.name}.ipynb"), failed, overruled).items():
                comment = gb.find_comment(answer, nb.name, assignment, student)
                comment.auto_comment = "\n\n".join(filter(None, [comment.auto_comment, *reasons]))
        gb.db.commit()
    return overruled


def answer_cells(notebook_bytes, failed, overruled):
    """{answer cell id: [reasons]}: each failed test's reason, under the answer cell above it."""
    if not notebook_bytes:
        return {}
    found, answer = {}, None
    for cell in json.loads(notebook_bytes)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            answer = meta.get("grade_id")
        elif meta.get("grade_id") in failed and answer:
            test = meta["grade_id"]
            verdict = f"**{test}: 0 points from the grader's own check**" if test in overruled else f"**{test} failed.**"
            found.setdefault(answer, []).append(f"{verdict} The grader's own check (run outside your notebook): "
                                                f"{failed[test]}")
    return found

