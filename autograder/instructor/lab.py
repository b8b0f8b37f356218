"""The course in JupyterLab, as the instructor sees it or as a student does: `python -m autograder lab`.

The instructor's view opens the course folder with every nbgrader panel (Formgrader, Create
Assignment). A student's view (`--student ID`) opens the student's own folder,
<course>/students/<ID>, with the Assignment List and Validate only. Both read the course's
nbgrader_config.py: its course id, its exchange and its cell timeout (so Validate does not cut a
training cell). Each view gets a Jupyter configuration folder of its own, <course>/.lab/<view>,
that this module writes; nothing in the user's own Jupyter settings changes.

nbgrader's Validate handler blocks the server while it runs; the views load the course's, which runs in
a thread (autograder/student/server.py, the server extension every account's server loads on the hub).
"""
import json
import os
import sys
from pathlib import Path

STUDENT_HIDDEN = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"]
NEWS = "@jupyterlab/apputils-extension:announcements"     # asks to fetch news from the internet


def folder(course_dir, student=None):
    """Where the view opens: the course, or the student's own folder."""
    return Path(course_dir).resolve() / "students" / student if student else Path(course_dir).resolve()


def write_config(course_dir, student=None):
    """<course>/.lab/<view>: the Jupyter configuration folder of the instructor's or a student's view."""
    course_dir = Path(course_dir).resolve()
    config = course_dir / ".lab" / (f"student-{student}" if student else "instructor")
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    extensions = {"nbgrader.server_extensions.validate_assignment": False, "autograder.student.server": True}
    if student:
        extensions["nbgrader.server_extensions.formgrader"] = False
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": extensions}}, indent=1))
    hidden = {name: True for name in STUDENT_HIDDEN} if student else {}
    hidden[NEWS] = True
    (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": hidden}, indent=1))
    lines = [f"load_subconfig({str(course_dir / 'nbgrader_config.py')!r})"]
    if student:   # its own id and its own record of what it submitted (fetch_feedback looks there)
        lines += [f"c.CourseDirectory.student_id = {student!r}", f"c.Exchange.cache = {str(config / 'cache')!r}"]
    (config / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    return config


def environment(course_dir, student=None):
    """os.environ with the view's Jupyter configuration folder."""
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(write_config(course_dir, student))}


def command(course_dir, student=None, extra=()):
    """The `jupyter lab` command line of a view, and the folder it runs in."""
    where = folder(course_dir, student)
    where.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={where}", *extra]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv, where


def run(course_dir, student=None, extra=()):
    """Open the view (until Ctrl+C)."""
    argv, where = command(course_dir, student, extra)
    os.chdir(where)
    os.execve(argv[0], argv, environment(course_dir, student))
