"""The course's main job: release every assignment, grade three sample students with the class
grader, print the grade table.

The samples are the instructor's solution, a notebook with every other answer filled in, and the
untouched release: full marks, something in between, and zero. The partial student answers every
other question, and none whose answer trains a model, so that its grading stays short: from the second
on, in 05 and 06 from the first (PARTIAL).
"""
import shutil
from pathlib import Path

import nbformat

from autograder.instructor import course, export, grading

SAMPLE_STUDENTS = ("solution", "partial", "untouched")
# the partial student's answer cells, where not slice(1, None, 2): none that trains a model
PARTIAL = {"05_augmentation": slice(0, None, 2), "06_regularisation": slice(0, None, 2)}


def solved(source_nb, release_nb, which=slice(None)):
    """The release notebook with its answer cells (those the slice `which` picks, all by default)
    solved as in the source."""
    solutions = {c.metadata.nbgrader["grade_id"]: c.source
                 for c in source_nb.cells if course.is_answer(c)}
    answers = [c for c in release_nb.cells if course.is_answer(c)]
    for cell in answers[which]:
        cell.source = course.strip_markers(solutions[cell.metadata.nbgrader["grade_id"]])
    return release_nb


def write_samples(course_dir, assignment):
    """Submit the solution, a partly right and an untouched notebook as three students."""
    course_dir = Path(course_dir)
    for student in SAMPLE_STUDENTS:
        target = course_dir / "submitted" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(course_dir / "release" / assignment, target)
        for path in course.notebooks(target):
            source_nb = nbformat.read(course_dir / "source" / assignment / path.name, as_version=4)
            if student == "solution":
                nbformat.write(source_nb, path)
            elif student == "partial":
                which = PARTIAL.get(assignment, slice(1, None, 2))
                nbformat.write(solved(source_nb, nbformat.read(path, as_version=4), which), path)


def grade_rows(course_dir, students=SAMPLE_STUDENTS):
    rows = []
    for assignment in course.assignments(course_dir):
        for student in students:
            s = course.scores(course_dir, assignment, student)
            if s is not None:
                rows.append({"assignment": assignment, "student": student,
                             "autograded": round(s["auto"], 2), "max": s["auto_max"],
                             "manual_points_to_grade": s["manual_max"],
                             "failed_tests": " ".join(s["failed"])})
    return rows


def format_table(rows):
    header = f"{'assignment':<20} {'student':<10} {'autograded':>10} {'max':>6} {'manual':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['assignment']:<20} {r['student']:<10} {r['autograded']:>10g} "
                     f"{r['max']:>6g} {r['manual_points_to_grade']:>7g}")
    return "\n".join(lines)


def run(course_dir, log=print):
    """Release every assignment, grade the samples in the sandbox, in parallel; write grades.csv."""
    course_dir = Path(course_dir)
    for assignment in course.assignments(course_dir):
        log(f"release   {assignment}")
        course.release(course_dir, assignment)
        write_samples(course_dir, assignment)
    # One pool for the whole course, the long assignments first: no core waits for the last one.
    grading.grade(course_dir, course.assignments(course_dir)[::-1], regrade=True, log=log)
    rows = grade_rows(course_dir)
    export.write_table(export.table(rows, list(rows[0])), course_dir / "grades.csv")
    log(format_table(rows))
    log(f"Grades written to {course_dir / 'grades.csv'}; manual points are for nbgrader's formgrader.")
    return rows
