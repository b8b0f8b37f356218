"""The nbgrader course directory: release assignments, make sample submissions, autograde, report.

The repository root is an nbgrader course directory (source/, release/, nbgrader_config.py);
every function here takes the course directory so that tests can run the same steps on a copy.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from traitlets.config.loader import PyFileConfigLoader

SAMPLE_STUDENTS = ("solution", "partial", "untouched")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def assignments(course):
    """Assignment names in source/, in course order (01_..., 02_...)."""
    return sorted(p.name for p in (Path(course) / "source").iterdir() if p.is_dir())


def stale_expectations(course):
    """Assignments whose source/<assignment>/expected.json is missing or older than the notebook."""
    from autograder import observe

    return [name for name in assignments(course) if not observe.current(Path(course) / "source" / name)]


def notebooks(folder):
    return sorted(Path(folder).glob("*.ipynb"))


def nbgrader(course, *args):
    """Run one nbgrader command in the course directory; raise with its output if it fails."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # nbgrader calls `alembic` by name: put this environment's scripts first on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run(cmd, cwd=course, capture_output=True, text=True,
                          env={**os.environ, "PATH": path})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{done.stdout}\n{done.stderr}")
    return done


def release(course, assignment):
    """Generate the student version in release/ (and register the assignment in the gradebook)."""
    nbgrader(course, "generate_assignment", assignment, "--force")


def is_answer(cell):
    """An autograded answer cell: one the student fills in."""
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("solution", False) and not meta.get("grade", False)


def strip_markers(source):
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in SOLUTION_MARKERS)


def partly_solved(source_nb, release_nb):
    """The release notebook with every other answer cell (1st, 3rd, ...) solved."""
    solutions = {c.metadata.nbgrader["grade_id"]: c.source
                 for c in source_nb.cells if is_answer(c)}
    answers = [c for c in release_nb.cells if is_answer(c)]
    for cell in answers[::2]:
        cell.source = strip_markers(solutions[cell.metadata.nbgrader["grade_id"]])
    return release_nb


def write_samples(course, assignment):
    """Submit the solution, a partly right and an untouched notebook as three students."""
    course = Path(course)
    for student in SAMPLE_STUDENTS:
        target = course / "submitted" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(course / "release" / assignment, target)
        for path in notebooks(target):
            source_nb = nbformat.read(course / "source" / assignment / path.name, as_version=4)
            if student == "solution":
                nbformat.write(source_nb, path)
            elif student == "partial":
                nbformat.write(partly_solved(source_nb, nbformat.read(path, as_version=4)), path)


def autograde(course, assignment, *students):
    """Autograde every submission of `assignment` (or only `students`) with nbgrader."""
    only = [f"--student={s}" for s in students]
    nbgrader(course, "autograde", assignment, "--force", *only)


def db_url(course):
    """The gradebook's database URL: nbgrader_config.py's CourseDirectory.db_url, else nbgrader's default."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return config.CourseDirectory.get("db_url") or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def gradebook(course):
    return Gradebook(db_url(course))


def scores(course, assignment, student):
    """Autograded points, their maximum, and the maximum of the manually graded ones."""
    with gradebook(course) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        result = {"auto": 0.0, "auto_max": 0.0, "manual_max": 0.0, "passed": [], "failed": []}
        for nb in submission.notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "code":
                    result["auto"] += grade.auto_score or 0.0
                    result["auto_max"] += grade.max_score
                    full = (grade.auto_score or 0.0) >= grade.max_score
                    result["passed" if full else "failed"].append(grade.name)
                else:
                    result["manual_max"] += grade.max_score
        return result


def grade_rows(course, students=SAMPLE_STUDENTS):
    rows = []
    for assignment in assignments(course):
        for student in students:
            s = scores(course, assignment, student)
            if s is not None:
                rows.append({"assignment": assignment, "student": student,
                             "autograded": round(s["auto"], 2), "max": s["auto_max"],
                             "manual_points_to_grade": s["manual_max"],
                             "failed_tests": " ".join(s["failed"])})
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def format_table(rows):
    header = f"{'assignment':<20} {'student':<10} {'autograded':>10} {'max':>6} {'manual':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['assignment']:<20} {r['student']:<10} {r['autograded']:>10g} "
                     f"{r['max']:>6g} {r['manual_points_to_grade']:>7g}")
    return "\n".join(lines)


def run_demo(course, log=print):
    """The course's main job: release every assignment, grade the sample submissions, report."""
    course = Path(course)
    for assignment in assignments(course):
        log(f"release   {assignment}")
        release(course, assignment)
        write_samples(course, assignment)
        log(f"autograde {assignment} ({', '.join(SAMPLE_STUDENTS)})")
        autograde(course, assignment)
    rows = grade_rows(course)
    write_csv(rows, course / "grades.csv")
    log(format_table(rows))
    log(f"Grades written to {course / 'grades.csv'}; manual points are for nbgrader's formgrader.")
    return rows
