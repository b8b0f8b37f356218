"""The nbgrader course directory: its assignments, nbgrader's API on it, and its gradebook.

The repository root is an nbgrader course directory (source/, release/, nbgrader_config.py);
every function here takes the course directory so that tests can run the same steps on a copy.
"""
import functools
import os
import shutil
import sys
import warnings
from pathlib import Path

from nbgrader import api as nbgrader_api
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.instructor import markers

# nbgrader runs `alembic heads` in a subprocess (1.6 s) each time it creates a gradebook (a release
# into a new course, each grading run's template); the answer depends only on the installed
# nbgrader, so this process asks once.
nbgrader_api.get_alembic_version = functools.cache(nbgrader_api.get_alembic_version)

# nbgrader 0.9.6 builds a submission's notebook, grade and comment rows before it adds the submission to the
# database session, and SQLAlchemy 2 warns once per row kind ("Object of type <SubmittedNotebook> not in
# session"). The rows are added with the submission right after; the warnings only buried the grading's output.
warnings.filterwarnings("ignore", r"Object of type <\w+> not in session", SAWarning)


def assignments(course):
    """Assignment names in source/, in course order (01_..., 02_...)."""
    return sorted(p.name for p in (Path(course) / "source").iterdir() if p.is_dir())


def notebooks(folder):
    return sorted(Path(folder).glob("*.ipynb"))


def config(course, **settings):
    """The course's nbgrader_config.py, with `settings` ({"Section": {"trait": value}}) on top."""
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    loaded.merge(Config(settings))
    loaded.CourseDirectory.root = str(Path(course).resolve())
    return loaded


def api(course, **settings):
    """nbgrader's Python API on the course directory, configured as the command line would be."""
    scripts = str(Path(sys.executable).parent)      # nbgrader runs `alembic` by name to create a gradebook
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    loaded = config(course, **settings)
    return NbGraderAPI(coursedir=CourseDirectory(config=loaded), config=loaded)


def succeeded(result, what):
    """An NbGraderAPI result, or RuntimeError with nbgrader's log when it failed."""
    if not result["success"]:
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result


# 03's training loop (the course's own), handed to the assignments after 03 as a file released with them,
# course_loop.py: students who have not reached 03 never receive it, and a mistake in a student's 03 loop
# does not cost points a second time.
LOOP = Path(__file__).with_name("reference.py")
LOOP_AFTER_03 = ("04_dense_vs_cnn", "05_augmentation", "06_regularisation")


def release(course, assignment):
    """Generate the student version in release/ (and register the assignment in the gradebook), with the
    files handed out with it."""
    if assignment in LOOP_AFTER_03:
        shutil.copyfile(LOOP, Path(course) / "source" / assignment / "course_loop.py")
    succeeded(api(course).generate_assignment(assignment, force=True), f"generate_assignment {assignment}")


def autograde(course, assignment, *students):
    """Plain `nbgrader autograde` (no sandbox) of every submission of `assignment`, or of `students`."""
    nbgrader = api(course)
    for student in students or sorted(p.parent.name for p in (Path(course) / "submitted").glob(f"*/{assignment}")):
        succeeded(nbgrader.autograde(assignment, student), f"autograde {assignment} {student}")


def feedback(course, assignment):
    """nbgrader's HTML feedback for every graded student (the course's config hides hidden tests)."""
    succeeded(api(course).generate_feedback(assignment), f"generate_feedback {assignment}")


def is_answer(cell):
    """An autograded answer cell: one the student fills in."""
    return utils.is_solution(cell) and not utils.is_grade(cell)


def strip_markers(source):
    """A solution's source without its region markers: the code an instructor wrote."""
    return markers.without_marker_lines(source, markers.solution())


def db_url(course):
    """The gradebook's database URL: nbgrader_config.py's CourseDirectory.db_url, else nbgrader's default."""
    return CourseDirectory(config=config(course)).db_url


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

