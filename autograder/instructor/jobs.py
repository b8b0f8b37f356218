"""What there is to grade: the submissions, what each one's grade depends on, and a job per
submission (autograder/instructor/records.py) that carries everything its worker needs."""
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.instructor import course, observations, untrusted
from autograder.instructor.records import Job
from autograder.student import observe


def submissions(course_dir, assignment):
    """{student: folder} for every submitted/<student>/<assignment>/."""
    root = Path(course_dir) / "submitted"
    found = sorted(root.glob(f"*/{assignment}")) if root.exists() else []
    return {p.parent.name: p for p in found if p.is_dir()}


def submitted_files(folder, rules):
    """(the submission's files, None), or (None, the reason the grader refuses them)."""
    try:
        return untrusted.read_tree(folder, rules.submission_mb * 2**20), None
    except untrusted.Refused as refused:
        return None, f"the submission was refused: {refused}"


def digest(folder, rules):
    files, refused = submitted_files(folder, rules)
    h = hashlib.sha256((refused or "").encode())
    for rel, data in (files or {}).items():
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def tests_digest(course_dir, assignment, expected):
    """What a grade depends on besides the submission: the assignment's test and locked cells
    (source and points) and the expected values. A change to either regrades the class."""
    h = hashlib.sha256(json.dumps(expected["cells"], sort_keys=True).encode())
    for path in course.notebooks(Path(course_dir) / "source" / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("locked"):
                h.update(json.dumps([path.name, meta.get("grade_id"), meta.get("points"), cell.source]).encode())
    return h.hexdigest()


def template_gradebook(course_dir, assignment):
    """A fresh SQLite gradebook holding only the assignment's cells, for workers to sanitize against
    (never the course's own database, whatever nbgrader_config.py names)."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(Path(course_dir) / "source" / assignment, Path(tmp) / "source" / assignment)
        shutil.copy(Path(course_dir) / "nbgrader_config.py", tmp)
        nbgrader = course.api(tmp, CourseDirectory={"db_url": f"sqlite:///{tmp}/gradebook.db"})
        course.succeeded(nbgrader.generate_assignment(assignment, force=True), f"generate_assignment {assignment}")
        return (Path(tmp) / "gradebook.db").read_bytes()


def cells(db_url, assignment):
    """{(notebook, cell): (points, source checksum)} of an assignment as a gradebook holds it."""
    with Gradebook(db_url) as gb:
        found = {}
        for nb in gb.find_assignment(assignment).notebooks:
            for cell in nb.source_cells:
                found[nb.name, cell.name] = (None, cell.checksum)
            for cell in nb.grade_cells:
                found[nb.name, cell.name] = (cell.max_score, found.get((nb.name, cell.name), (0, None))[1])
        return found


def check_released(course_dir, assignment, template):
    """Refuse to grade when source/ no longer matches what was released into the gradebook: the
    students' notebooks and the tests they are graded by would differ."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "gradebook.db").write_bytes(template)
        today = cells(f"sqlite:///{tmp}/gradebook.db", assignment)
    try:
        released = cells(course.db_url(course_dir), assignment)
    except MissingEntry:
        raise SystemExit(f"{assignment} is not in the gradebook: release it first "
                         f"(`python -m autograder release {assignment}`)") from None
    changed = sorted(f"{nb}/{cell}" for nb, cell in today.keys() | released.keys()
                     if today.get((nb, cell)) != released.get((nb, cell)))
    if changed:
        raise SystemExit(f"source/{assignment} changed since it was released, in {', '.join(changed[:8])}: "
                         f"release it again (`make release`, which also re-runs the solution; tell the students) "
                         "or put source/ back as released")


def expectations(course_dir, assignment):
    """source/<assignment>/expected.json, checked to be as new as the instructor's notebook."""
    expected = observations.current(Path(course_dir) / "source" / assignment)
    if not expected:
        raise SystemExit(f"source/{assignment}/{observe.EXPECTED} is missing or older than the notebook: "
                         f"run `python -m autograder expect {assignment}` (it runs the solution once)")
    return expected


def nbgrader_settings(course_dir):
    """The course's nbgrader settings as data for a worker, without the course's location or its
    database (a worker grades in its own scratch course)."""
    try:
        settings = json.loads(json.dumps(course.config(course_dir)))
    except TypeError as error:
        raise SystemExit(f"nbgrader_config.py holds a setting that is not plain data ({error}); workers "
                         "receive the course's settings as data: use strings, numbers, lists and dicts") from None
    settings["CourseDirectory"] = {key: value for key, value in settings["CourseDirectory"].items()
                                   if key not in ("root", "db_url")}
    settings.pop("GradingRules", None)      # they travel as the job's rules
    return settings


def make_jobs(course_dir, assignment, students, template, expectation, rules, workers):
    settings = nbgrader_settings(course_dir)
    threads = max(1, (os.cpu_count() or 1) // workers)
    folders = submissions(course_dir, assignment)
    notebooks = [p.name for p in course.notebooks(Path(course_dir) / "source" / assignment)]
    jobs = []
    for student in students:
        files, refused = submitted_files(folders[student], rules)
        jobs.append(Job(assignment, student, files, refused, notebooks, template, expectation, settings, rules, threads))
    return jobs


def pending(course_dir, assignment, state, regrade, rules):
    """Check that the assignment can be graded; return each submission's state key (the submission
    and the assignment's tests), the students to grade, the workers' gradebook and the expected values."""
    template = template_gradebook(course_dir, assignment)
    check_released(course_dir, assignment, template)
    expected = expectations(course_dir, assignment)
    tests = tests_digest(course_dir, assignment, expected)
    keys = {s: f"{digest(f, rules)} {tests}" for s, f in submissions(course_dir, assignment).items()}
    done = state.setdefault(assignment, {})
    todo = [s for s in keys if regrade or s not in done or done[s].hash != keys[s]]
    return keys, todo, template, expected

