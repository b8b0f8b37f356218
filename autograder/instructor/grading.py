"""Grade a whole class: parallel, resumable, with budgets, on local processes or a Dask cluster.

Workers (autograder/instructor/worker.py) execute submissions in scratch directories with their own copy
of the gradebook's assignment data. This process is the only writer of the real gradebook: for
each finished submission it runs `nbgrader autograde --no-execute` on the executed notebooks
(nbgrader's own scoring, so the scores equal a serial `nbgrader autograde`) and then applies
the verdicts that were computed outside the student's kernel.
"""
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from tqdm.auto import tqdm

from autograder.instructor import course, observations, sandbox, untrusted, worker
from autograder.instructor.export import cell_scores, write
from autograder.student import observe

STATE = "grading_state.json"


def default_workers():
    """One single-threaded training per core (measured faster than fewer, multi-threaded ones),
    and no more than memory allows at about 2 GiB per submission."""
    memory_slots = int(psutil.virtual_memory().available // 2**31)
    return max(1, min(os.cpu_count() or 1, memory_slots))


def submissions(course_dir, assignment):
    """{student: folder} for every submitted/<student>/<assignment>/."""
    root = Path(course_dir) / "submitted"
    found = sorted(root.glob(f"*/{assignment}")) if root.exists() else []
    return {p.parent.name: p for p in found if p.is_dir()}


def submitted_files(folder):
    """(the submission's files, None), or (None, the reason the grader refuses them)."""
    try:
        return untrusted.read_tree(folder, worker.LIMITS["submission_bytes"]), None
    except untrusted.Refused as refused:
        return None, f"the submission was refused: {refused}"


def digest(folder):
    files, refused = submitted_files(folder)
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


@contextlib.contextmanager
def exclusive(course_dir):
    """One `grade` at a time per course (they share the gradebook and the state file): a second
    one refuses, naming the process that holds the course."""
    with open(Path(course_dir) / ".grading.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise SystemExit(f"another `grade` (process {lock.read().strip() or '?'}) is grading this course: "
                             "wait for it to finish, then run this one again") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def load_state(course_dir):
    path = Path(course_dir) / STATE
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(course_dir, state):
    """Write atomically: an interrupted run never leaves a half-written state file."""
    path = Path(course_dir) / STATE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


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


def worker_config(course_dir):
    """The course's nbgrader settings as a config file for a worker, without the course's location
    or its database (a worker grades in its own scratch course)."""
    try:
        settings = json.loads(json.dumps(course.config(course_dir)))
    except TypeError as error:
        raise SystemExit(f"nbgrader_config.py holds a setting that is not plain data ({error}); workers "
                         "receive the course's settings as data: use strings, numbers, lists and dicts") from None
    settings["CourseDirectory"] = {key: value for key, value in settings["CourseDirectory"].items()
                                   if key not in ("root", "db_url")}
    return f"from traitlets.config import Config\nc.merge(Config({settings!r}))\n"


def make_jobs(course_dir, assignment, students, template, expectation, workers, budget_s, memory_gb):
    config = worker_config(course_dir)
    threads = max(1, (os.cpu_count() or 1) // workers)
    folders = submissions(course_dir, assignment)
    expected = [p.name for p in course.notebooks(Path(course_dir) / "source" / assignment)]
    jobs = []
    for student in students:
        files, refused = submitted_files(folders[student])
        jobs.append({"assignment": assignment, "student": student, "files": files, "refused": refused,
                     "notebooks": expected, "gradebook": template, "expected": expectation, "config": config,
                     "threads": threads, "budget_s": budget_s, "grace_s": 60, "memory_bytes": int(memory_gb * 2**30)})
    return jobs


def record(course_dir, result):
    """Write one finished submission into the real gradebook (this process is its only writer)."""
    course_dir = Path(course_dir).resolve()
    assignment, student = result["assignment"], result["student"]
    forget(course_dir, student, assignment, "feedback_directory")
    if not result["notebooks"]:
        forget(course_dir, student, assignment, "autograded_directory")
        record_zero(course_dir, assignment, student)
        return
    staging = course_dir / ".grading" / student / assignment
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, data in result["notebooks"].items():
        (staging / name).write_bytes(data)
    if result.get("timestamp"):
        (staging / "timestamp.txt").write_bytes(result["timestamp"])
    secret = course_dir / "submitted" / student / assignment / "submission_secret.txt"   # from nbgrader's exchange:
    if secret.is_file():                                                # release_feedback names the feedback with it
        shutil.copy(secret, staging)
    nbgrader = course.api(course_dir, CourseDirectory={"submitted_directory": str(course_dir / ".grading")},
                          Execute={"enabled": False}, ClearOutput={"enabled": False})     # --no-execute
    course.succeeded(nbgrader.autograde(assignment, student), f"autograde {assignment} {student}")
    shutil.rmtree(staging, ignore_errors=True)
    return apply_verdicts(course_dir, assignment, student, result["verdicts"], result["notebooks"])


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


@contextlib.contextmanager
def executor(workers, scheduler, stopping):
    """A standard executor and the task it runs per submission. On a Dask cluster: the cluster's
    executor, whose worker processes Dask replaces when they die (then KilledWorker). Locally:
    threads that each grade in a fresh process of their own."""
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler)
        except OSError as error:
            raise SystemExit(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        with client:
            pool = client.get_executor(pure=False)
            try:
                yield pool, worker.grade_submission
            finally:
                pool.shutdown(wait=False)
                if client.status == "connecting":       # the scheduler was lost: Dask's client, closed while it
                    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)    # retries, logs tracebacks
        return
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
        yield pool, functools.partial(isolated, stopping=stopping)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@functools.cache
def fresh_processes():
    """New processes forked from a server process that has imported the grader (Python, torch, nbgrader:
    4 s a process when spawned) and has run nothing else. The server starts at once, so that its imports
    overlap the checks before the first submission. (Asked for when grading starts: Windows has no
    forkserver, and the other commands need none.)"""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["autograder.instructor.worker"])
    multiprocessing.forkserver.ensure_running()
    return context


def isolated(job, stopping, attempts=2):
    """Grade one submission in a fresh process; if that process dies, once more in another. A
    submission that kills its process every time is recorded with the reason, not retried forever.
    Once `stopping` is set (Ctrl-C), no new process starts."""
    for _ in range(attempts):
        if stopping.is_set():
            raise KeyboardInterrupt("grading was interrupted")
        scratch = tempfile.mkdtemp(prefix="grade-")      # removed here too: a killed process cannot
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=fresh_processes()) as pool:
            started = time.monotonic()
            try:
                result = pool.submit(worker.grade_with, job | {"scratch": scratch}, dict(os.environ)).result()
            except concurrent.futures.process.BrokenProcessPool:
                continue
            finally:
                worker.remove(scratch)
            starting = time.monotonic() - started - result["seconds"]    # Python, torch and autograder imported
            return result | {"phases": {"a fresh grading process": starting, **result["phases"]}}
    return worker.failed(job, f"its grading process died {attempts} times")


def grade(course_dir, assignments, workers=None, regrade=False, budget_s=900, memory_gb=6.0,
          scheduler=None, log=print):
    """Grade every new or changed submission of the assignments (a name or a list) in one pool of
    workers, so that a long submission of one assignment never leaves a core idle; return the
    summary rows."""
    course_dir = Path(course_dir).resolve()
    names = list(dict.fromkeys([assignments] if isinstance(assignments, str) else assignments))
    if sandbox.available():
        raise SystemExit(sandbox.available())
    workers = workers or default_workers()
    if not scheduler:
        fresh_processes()
    with exclusive(course_dir):
        state, keys, jobs = load_state(course_dir), {}, []
        for name in names:
            keys[name], todo, template, expected = pending(course_dir, name, state, regrade)
            log(f"{name}: {len(keys[name])} submissions, {len(todo)} to grade "
                f"({workers} at a time{', on ' + scheduler if scheduler else ''})")
            jobs += make_jobs(course_dir, name, todo, template, expected, workers, budget_s, memory_gb)
        graded = run(course_dir, jobs, keys, state, workers, scheduler) if jobs else []
        rows = [row for name in names for row in summary(course_dir, name, keys[name], state[name])]
    log(format_summary(rows))
    if jobs:
        log(time_spent(graded))
    return rows


def time_spent(entries):
    """One line: the mean seconds per phase of the submissions just graded."""
    phases = [entry["phases"] for entry in entries if entry.get("phases")]
    if not phases:
        return "No submission was graded to the end."
    names = list(dict.fromkeys(name for p in phases for name in p))
    return (f"Where a submission's time went (mean of {len(phases)}): "
            + ", ".join(f"{name} {sum(p.get(name, 0) for p in phases) / len(phases):.1f} s" for name in names))


def pending(course_dir, assignment, state, regrade):
    """Check that the assignment can be graded; return each submission's state key (the submission
    and the assignment's tests), the students to grade, the workers' gradebook and the expected values."""
    template = template_gradebook(course_dir, assignment)
    check_released(course_dir, assignment, template)
    expected = expectations(course_dir, assignment)
    tests = tests_digest(course_dir, assignment, expected)
    keys = {s: f"{digest(f)} {tests}" for s, f in submissions(course_dir, assignment).items()}
    done = state.setdefault(assignment, {})
    todo = [s for s in keys if regrade or done.get(s, {}).get("hash") != keys[s]]
    return keys, todo, template, expected


def run(course_dir, jobs, keys, state, workers, scheduler):
    """Grade the jobs; return the state entries this run recorded."""
    stopping = threading.Event()
    with executor(workers, scheduler, stopping) as (pool, task):
        futures = {pool.submit(task, job): job for job in jobs if not job["refused"]}
        futures |= {refused(job): job for job in jobs if job["refused"]}
        try:
            return collect(course_dir, futures, keys, state)
        finally:
            stopping.set()
            for future in futures:
                future.cancel()


def refused(job):
    """A finished future holding the zero of a submission the grader refused to read."""
    future = concurrent.futures.Future()
    future.set_result(worker.failed(job, job["refused"]))
    return future


def outcome(future, job):
    """The future's result; any failure of the grading itself is the submission's zero, with the reason."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a failure must not stop the class or leave a student ungraded
        if type(error).__name__ == "KilledWorker":
            return worker.failed(job, "its Dask worker died every time it graded it")
        return worker.failed(job, f"the grader failed on it: {type(error).__name__}: {error}"[:300])


def collect(course_dir, futures, keys, state):
    """Record each submission as soon as it is graded (return their state entries): every submission
    gets a row, with the reason where it got zero."""
    recorded = []
    with tqdm(total=len(futures), desc="grading", unit="submission") as bar:
        for future in concurrent.futures.as_completed(futures):
            if future.cancelled():      # by Dask, which cancels every task when it loses the scheduler
                raise SystemExit(f"grading stopped: the Dask scheduler was lost, or it cancelled the grading. "
                                 f"The {len(recorded)} submissions graded in this run are recorded; run the "
                                 "same command again (with a scheduler) to grade the others.")
            result = outcome(future, futures[future])
            assignment, student = result["assignment"], result["student"]
            recording = time.monotonic()
            try:
                overruled = record(course_dir, result) or {}
            except Exception as error:  # noqa: BLE001 - nbgrader refused the graded notebook: a zero, with the reason
                result = worker.failed(result, f"its graded notebook could not be recorded: {type(error).__name__}: "
                                               f"{error}"[:300])
                overruled = record(course_dir, result) or {}
            phases = result.get("phases", {}) | {"recording": time.monotonic() - recording}
            state[assignment][student] = {
                "hash": keys[assignment][student], "seconds": result["seconds"],
                "phases": {name: round(t, 1) for name, t in phases.items()} if result["seconds"] else {},
                "problems": result["problems"] + [f"{cell}: {why}" for cell, why in overruled.items()]}
            recorded.append(state[assignment][student])
            save_state(course_dir, state)
            bar.set_postfix_str(f"{assignment} {student}")
            bar.update()
    return recorded


def summary(course_dir, assignment, students, done):
    rows = []
    for student in students:
        s = course.scores(course_dir, assignment, student)
        info = done.get(student, {})
        rows.append({"assignment": assignment, "student": student, "score": round(s["auto"], 2) if s else 0.0,
                     "max": s["auto_max"] if s else None, "seconds": info.get("seconds"),
                     "problems": "; ".join(info.get("problems", []))})
    return rows


def format_summary(rows):
    lines = [f"{'assignment':<18} {'student':<16} {'score':>6} {'max':>5} {'time':>7}  problems"]
    for r in rows:
        seconds = f"{r['seconds']:.0f} s" if r["seconds"] is not None else "-"
        maximum = f"{r['max']:g}" if r["max"] is not None else "-"
        lines.append(f"{r['assignment']:<18} {r['student']:<16} {r['score']:>6g} {maximum:>5} {seconds:>7}  "
                     f"{r['problems'][:120]}")
    return "\n".join(lines)


def export(course_dir, assignment, path):
    """grades CSV of one assignment (autograder/instructor/export.py): one row per student, a column per test cell."""
    with course.gradebook(course_dir) as gb:
        rows = cell_scores(gb, [assignment])
    if rows:
        write(rows, path)
    return rows
