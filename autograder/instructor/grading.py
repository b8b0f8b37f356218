"""Grade a whole class: parallel, resumable, with budgets, on local processes or a Dask cluster.

Workers (autograder/instructor/worker.py) execute submissions in scratch directories with their own copy
of the gradebook's assignment data. This process is the only writer of the real gradebook: for
each finished submission it runs `nbgrader autograde --no-execute` on the executed notebooks
(nbgrader's own scoring, so the scores equal a serial `nbgrader autograde`) and then applies
the verdicts that were computed outside the student's kernel (autograder/instructor/recording.py).
Every rule it grades by is in autograder/instructor/rules.py.
"""
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import json
import os
import threading
import time
from pathlib import Path

from tqdm.auto import tqdm

from autograder.instructor import course, executors, jobs, recording, rules as grading_rules, sandbox
from autograder.instructor.export import cell_scores, write
from autograder.instructor.records import Entry, failed


STATE = "grading_state.json"


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
    """{assignment: {student: Entry}} of what earlier runs graded."""
    path = Path(course_dir) / STATE
    found = json.loads(path.read_text()) if path.exists() else {}
    return {name: {student: Entry(**entry) for student, entry in graded.items()} for name, graded in found.items()}


def save_state(course_dir, state):
    """Write atomically: an interrupted run never leaves a half-written state file."""
    path = Path(course_dir) / STATE
    tmp = path.with_suffix(".tmp")
    data = {name: {student: dataclasses.asdict(entry) for student, entry in graded.items()}
            for name, graded in state.items()}
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def grade(course_dir, assignments, regrade=False, scheduler=None, log=print, **overrides):
    """Grade every new or changed submission of the assignments (a name or a list) in one pool of
    workers, so that a long submission of one assignment never leaves a core idle; return the
    summary rows. `overrides` (budget_s=..., workers=..., memory_gb=...) go over the course's
    GradingRules."""
    course_dir = Path(course_dir).resolve()
    names = list(dict.fromkeys([assignments] if isinstance(assignments, str) else assignments))
    if sandbox.available():
        raise SystemExit(sandbox.available())
    rules = grading_rules.load(course_dir, **overrides)
    workers = rules.workers or executors.default_workers(rules)
    if not scheduler:
        executors.fresh_processes()
    with exclusive(course_dir):
        state, keys, todo_jobs = load_state(course_dir), {}, []
        for name in names:
            keys[name], todo, template, expected = jobs.pending(course_dir, name, state, regrade, rules)
            log(f"{name}: {len(keys[name])} submissions, {len(todo)} to grade "
                f"({workers} at a time{', on ' + scheduler if scheduler else ''})")
            todo_jobs += jobs.make_jobs(course_dir, name, todo, template, expected, rules, workers)
        graded = run(course_dir, todo_jobs, keys, state, workers, scheduler) if todo_jobs else []
        rows = [row for name in names for row in summary(course_dir, name, keys[name], state[name])]
    log(format_summary(rows))
    if todo_jobs:
        log(time_spent(graded))
    return rows


def time_spent(entries):
    """One line: the mean seconds per phase of the submissions just graded."""
    phases = [entry.phases for entry in entries if entry.phases]
    if not phases:
        return "No submission was graded to the end."
    names = list(dict.fromkeys(name for p in phases for name in p))
    return (f"Where a submission's time went (mean of {len(phases)}): "
            + ", ".join(f"{name} {sum(p.get(name, 0) for p in phases) / len(phases):.1f} s" for name in names))


def run(course_dir, todo, keys, state, workers, scheduler):
    """Grade the jobs; return the state entries this run recorded."""
    stopping = threading.Event()
    with executors.executor(workers, scheduler, stopping) as (pool, task):
        futures = {pool.submit(task, job): job for job in todo if not job.refused}
        futures |= {refused(job): job for job in todo if job.refused}
        try:
            return collect(course_dir, futures, keys, state)
        finally:
            stopping.set()
            for future in futures:
                future.cancel()


def refused(job):
    """A finished future holding the zero of a submission the grader refused to read."""
    future = concurrent.futures.Future()
    future.set_result(failed(job, job.refused))
    return future


def outcome(future, job):
    """The future's result; any failure of the grading itself is the submission's zero, with the reason."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a failure must not stop the class or leave a student ungraded
        if type(error).__name__ == "KilledWorker":
            return failed(job, "its Dask worker died every time it graded it")
        return failed(job, f"the grader failed on it: {type(error).__name__}: {error}"[:300])


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
            assignment, student = result.assignment, result.student
            started = time.monotonic()
            result, overruled = record(course_dir, result)
            phases = result.phases | {"recording": time.monotonic() - started}
            state[assignment][student] = Entry(
                keys[assignment][student], result.seconds,
                {name: round(t, 1) for name, t in phases.items()} if result.seconds else {},
                result.problems + [f"{cell}: {why}" for cell, why in overruled.items()])
            recorded.append(state[assignment][student])
            save_state(course_dir, state)
            bar.set_postfix_str(f"{assignment} {student}")
            bar.update()
    return recorded


def record(course_dir, result):
    """Write a result into the gradebook; return it as recorded and {cell: why the grader overruled it}.
    A graded notebook nbgrader refuses is recorded as a zero with the reason; if even that fails, the
    reason stays in the state file and the summary."""
    try:
        return result, recording.record(course_dir, result) or {}
    except Exception as error:  # noqa: BLE001 - whatever nbgrader refused, the student gets a row with the reason
        result = failed(result, f"its graded notebook could not be recorded: {type(error).__name__}: {error}"[:300])
    try:
        return result, recording.record(course_dir, result) or {}
    except Exception as error:  # noqa: BLE001
        result.problems.append(f"its zero could not be recorded either: {type(error).__name__}: {error}"[:300])
        return result, {}


def summary(course_dir, assignment, students, done):
    rows = []
    for student in students:
        s = course.scores(course_dir, assignment, student)
        info = done.get(student) or Entry("")
        rows.append({"assignment": assignment, "student": student, "score": round(s["auto"], 2) if s else 0.0,
                     "max": s["auto_max"] if s else None, "seconds": info.seconds,
                     "problems": "; ".join(info.problems)})
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

