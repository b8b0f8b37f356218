"""What several test modules share: the course's paths, the one way of filling a notebook with the solution,
running a notebook's cells in this process, the tiny assignment of the class-grading tests, and the
exchange's run. Test modules import from here (and from answers.py), never from each other."""
import ast
import atexit
import functools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder.instructor import course, grading, hub, lab, notebooks, worker
from autograder.student.data import ENV_VAR

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.assignments(ROOT)


def solved(source_nb, notebook=None, changes=None):
    """`notebook` (a release notebook; the source itself by default) with every cell the student writes in,
    code and prose, as the source answers it, without the solution markers. `changes`
    {(grade_id, solution text): replacement} first replace part of those answers."""
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for (grade_id, right), replacement in (changes or {}).items():
        assert right in answers[grade_id], f"{grade_id}: {right[:60]!r} is not in the solution (or two changes overlap)"
        answers[grade_id] = answers[grade_id].replace(right, replacement)
    filled = nbformat.from_dict(notebook if notebook is not None else source_nb)
    for cell in filled.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = course.strip_markers(answers[cell.metadata.nbgrader["grade_id"]])
    return filled


# Running a notebook's cells in this process (test_hidden_checks.py, test_student_wing.py)

# cells that train a model: the in-process tests skip them
TRAINING = ("fit(", "= train(", "train_with(", "small_budget(", "train_budget(", "small_run(")
ANSWER = "<answer>"      # the file name the student's cells run under: tracebacks tell their frames apart


def parts(source):
    """(visible part, hidden part) of a test cell's source."""
    visible, rest = source.split("### BEGIN HIDDEN TESTS")
    return visible, rest.split("### END HIDDEN TESTS")[0]


def outcome(namespace, source, filename="<cell>"):
    """None if the source runs in the namespace, else the exception it raised."""
    try:
        exec(compile(source, filename, "exec"), namespace)
        return None
    except Exception as error:  # noqa: BLE001 - the outcome is what is tested
        return error
    finally:
        plt.close("all")


def prepare(namespace, source):
    """Run every statement of the visible part that can run (the hidden part uses its names),
    whatever the others raise."""
    for statement in ast.parse(source).body:
        outcome(namespace, ast.unparse(statement))


# The tiny assignment: two answers, two test cells with hidden parts, nothing trained (test_class_grading.py,
# test_attacks.py, test_boundary.py)

TINY_ANSWERS = {
    "add": "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
    "mul": "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
}
TINY_TESTS = {
    "test_add": ('"""add adds (and a library warns on stderr on the way, which must not cost the points)."""\n'
                 'import warnings\nfrom autograder.student.observe import observe\n'
                 'warnings.warn("a harmless library warning")\nassert add(2, 3) == 5\n'
                 '### BEGIN HIDDEN TESTS\nobserve("add with a negative number", add(-1, 1))\n### END HIDDEN TESTS'),
    "test_mul": ('"""mul multiplies."""\nfrom autograder.student.observe import observe\nassert mul(2, 3) == 6\n'
                 '### BEGIN HIDDEN TESTS\nobserve("mul by zero", mul(0, 7))\n### END HIDDEN TESTS'),
}


def nbgrader_cell(source, **meta):
    c = new_code_cell(source)
    c.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, "grade": False, **meta}
    return c


def tiny_source(folder):
    nb = new_notebook(cells=[
        nbgrader_cell(TINY_ANSWERS["add"], solution=True, grade_id="add"),
        nbgrader_cell(TINY_TESTS["test_add"], grade=True, locked=True, points=2, grade_id="test_add"),
        nbgrader_cell(TINY_ANSWERS["mul"], solution=True, grade_id="mul"),
        nbgrader_cell(TINY_TESTS["test_mul"], grade=True, locked=True, points=3, grade_id="test_mul"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "tiny.ipynb")


def tiny_solved(course_dir):
    """The tiny assignment's solution, as a student hands it in."""
    return solved(nbformat.read(course_dir / "source" / "tiny" / "tiny.ipynb", as_version=4))


def tiny_course(course_dir, config=""):
    """The tiny assignment, released in course_dir (with `config` added to nbgrader_config.py);
    returns its solved notebook. With the course's own config, a copy of one release made once per
    session (a release and its expected.json take 2 s, mostly the kernel that records the solution)."""
    if config:
        release_tiny(course_dir, config)
    else:
        shutil.copytree(released_tiny(), course_dir, dirs_exist_ok=True)
    return tiny_solved(course_dir)


def release_tiny(course_dir, config=""):
    (course_dir / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() + config)
    tiny_source(course_dir / "source" / "tiny")
    course.release(course_dir, "tiny")
    notebooks.expect(course_dir / "source" / "tiny")


@functools.cache
def released_tiny():
    """A course with the tiny assignment released, in a folder removed when the session ends."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-course-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    release_tiny(folder)
    return folder


def edit(base, source_of_cell=None, insert=None, delete=None, duplicate=None):
    """The solved notebook `base`, changed: cell sources replaced, a cell inserted, deleted or duplicated."""
    nb = nbformat.from_dict(base)
    for index, source in (source_of_cell or {}).items():
        nb.cells[index].source = source
    if duplicate is not None:
        copy = nbformat.from_dict(nb.cells[duplicate])
        copy.id = "a-copy"
        nb.cells.insert(duplicate + 1, copy)
    if delete is not None:
        del nb.cells[delete]
    if insert:
        index, source = insert
        nb.cells.insert(index, new_code_cell(source))
    return nbformat.writes(nb)


def submit(course_dir, student, files):
    worker.write_tree(course_dir / "submitted" / student / "tiny", files)


# Full marks for nothing: a first cell that silences every error, so that nbgrader sees no failing test
# (test_attacks.py; test_unforgeable.py hands one in with assignment 03).
FORGERIES = {
    "silenced_shell": """ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
_run_cell_async = ip.run_cell_async

async def run_cell_async(*args, **kwargs):
    result = await _run_cell_async(*args, **kwargs)
    result.error_in_exec = None
    return result

ip.run_cell_async = run_cell_async""",
    "class_patch": """from IPython.core.interactiveshell import InteractiveShell
_original = InteractiveShell.run_cell_async

async def run_cell_async(self, *args, **kwargs):
    result = await _original(self, *args, **kwargs)
    result.error_in_exec = None
    return result

InteractiveShell.run_cell_async = run_cell_async
InteractiveShell.showtraceback = lambda self, *args, **kwargs: None""",
}


# Assignment 02 through nbgrader's exchange (test_exchange.py; the conftest fixture `exchanged`, which
# test_browser.py's Formgrader test shares)

EXCHANGED = "02_layer_tracing"
EXCHANGED_NOTEBOOK = "layer_tracing.ipynb"
EXCHANGE_STUDENTS = {"alice": "solves it", "bob": "hands it in untouched"}


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


def run_exchange(course_dir):
    """Assignment 02 through the exchange into course_dir, graded: course_dir, {student: summary row}.
    release_assignment, each student's fetch_assignment, alice's work, submit, collect, `grade`,
    feedback, release_feedback, each student's fetch_feedback."""
    shutil.copytree(ROOT / "source" / EXCHANGED, course_dir / "source" / EXCHANGED)
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    course.release(course_dir, EXCHANGED)
    nbgrader(course_dir, "release_assignment", EXCHANGED)
    for student in EXCHANGE_STUDENTS:
        lab.folder(course_dir, student).mkdir(parents=True)
    nbgrader(course_dir, "fetch_assignment", EXCHANGED, students=EXCHANGE_STUDENTS)
    alices = lab.folder(course_dir, "alice") / EXCHANGED / EXCHANGED_NOTEBOOK
    source = nbformat.read(ROOT / "source" / EXCHANGED / EXCHANGED_NOTEBOOK, as_version=4)
    nbformat.write(solved(source, nbformat.read(alices, as_version=4)), alices)
    nbgrader(course_dir, "submit", EXCHANGED, students=EXCHANGE_STUDENTS)
    nbgrader(course_dir, "collect", EXCHANGED)
    rows = grading.grade(course_dir, EXCHANGED, budget_s=300, log=lambda message: None)
    course.feedback(course_dir, EXCHANGED)
    nbgrader(course_dir, "release_feedback", EXCHANGED)
    nbgrader(course_dir, "fetch_feedback", EXCHANGED, students=EXCHANGE_STUDENTS)
    return course_dir, {row["student"]: row for row in rows}


# The hub (tests/test_hub_exchange.py, tests/test_hub.py): its accounts, run as root.

INSTRUCTOR, STUDENTS = "instr", ("alice", "bob")
ASSIGNMENT, NOTEBOOK = "01_data_analysis", "data_analysis"
DEFAULT_ROOT = Path("/srv/nbgrader/exchange-default")
CLASSES = ("ReleaseAssignment", "FetchAssignment", "Submit", "Collect", "ReleaseFeedback", "FetchFeedback", "List")


def home(user):
    return Path(pwd.getpwnam(user).pw_dir)


def course_dir():
    return home(INSTRUCTOR) / "mnist-course"


def as_user(user, *argv, cwd=None, check=True):
    """Run argv as `user` with a clean login-like environment (the venv first on PATH)."""
    env = ["env", "-i", f"HOME={home(user)}", f"USER={user}", f"PATH={hub.VENV}/bin:/usr/bin:/bin",
           f"{ENV_VAR}={hub.DATA}", "LANG=C.UTF-8"]
    done = subprocess.run(["runuser", "-u", user, "--", *env, *argv], cwd=cwd or home(user),
                          capture_output=True, text=True, timeout=300)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(argv)} as {user} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def exchange_flags(kind):
    """nbgrader's command-line settings for the exchange `kind`: the hub's (its venv's etc/jupyter) or nbgrader's default."""
    if kind == "hardened":
        return []
    return [f"--Exchange.root={DEFAULT_ROOT}"] + [
        f"--ExchangeFactory.{''.join('_' + ch.lower() if ch.isupper() else ch for ch in name).lstrip('_')}="
        f"nbgrader.exchange.default.Exchange{name}" for name in CLASSES]


def reset(kind):
    """An empty exchange of `kind`, and students' homes without the assignment or its cache."""
    if kind == "hardened":
        for folder in ("inbound", "outbound", "feedback"):
            shutil.rmtree(hub.EXCHANGE / hub.course_id() / folder, ignore_errors=True)
        hub.exchange(INSTRUCTOR, [])
    else:
        shutil.rmtree(DEFAULT_ROOT, ignore_errors=True)
        DEFAULT_ROOT.mkdir(parents=True)
        os.chmod(DEFAULT_ROOT, 0o1777)
    for user in STUDENTS:
        for folder in (ASSIGNMENT, "forgery", "links"):
            shutil.rmtree(home(user) / folder, ignore_errors=True)
        shutil.rmtree(home(user) / ".local/share/jupyter/nbgrader_cache", ignore_errors=True)
    for folder in ("submitted", "feedback"):
        shutil.rmtree(course_dir() / folder, ignore_errors=True)
