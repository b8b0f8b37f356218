"""Grade a whole class: parallel, resumable, with budgets, on local processes or a Dask cluster.

Workers (autograder/worker.py) execute submissions in scratch directories with their own copy
of the gradebook's assignment data. This process is the only writer of the real gradebook: for
each finished submission it runs `nbgrader autograde --no-execute` on the executed notebooks
(nbgrader's own scoring, so the scores equal a serial `nbgrader autograde`) and then applies
the verdicts that were computed outside the student's kernel.
"""
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil
from tqdm.auto import tqdm

from autograder import course, observe, redact, sandbox, worker

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


def digest(folder):
    h = hashlib.sha256()
    for rel, data in worker.read_tree(folder).items():
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


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
    """A fresh SQLite gradebook holding only the assignment's cells, for workers to sanitize against."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(Path(course_dir) / "source" / assignment, Path(tmp) / "source" / assignment)
        shutil.copy(Path(course_dir) / "nbgrader_config.py", tmp)
        course.nbgrader(tmp, "generate_assignment", assignment, "--force")
        return (Path(tmp) / "gradebook.db").read_bytes()


def expectations(course_dir, assignment):
    """source/<assignment>/expected.json, checked to be as new as the instructor's notebook."""
    expected = observe.current(Path(course_dir) / "source" / assignment)
    if not expected:
        raise SystemExit(f"source/{assignment}/{observe.EXPECTED} is missing or older than the notebook: "
                         f"run `python -m autograder expect {assignment}` (it runs the solution once)")
    return expected


def make_jobs(course_dir, assignment, students, workers, budget_s, memory_gb):
    template = template_gradebook(course_dir, assignment)
    expectation = expectations(course_dir, assignment)
    config = (Path(course_dir) / "nbgrader_config.py").read_text()
    threads = max(1, (os.cpu_count() or 1) // workers)
    folders = submissions(course_dir, assignment)
    expected = [p.name for p in course.notebooks(Path(course_dir) / "source" / assignment)]
    return [{"assignment": assignment, "student": s, "files": worker.read_tree(folders[s]), "notebooks": expected,
             "gradebook": template, "expected": expectation, "config": config, "threads": threads, "budget_s": budget_s,
             "grace_s": 60, "memory_bytes": int(memory_gb * 2**30)} for s in students]


def record(course_dir, result, secrets=()):
    """Write one finished submission, its outputs scrubbed of `secrets`, into the real gradebook
    (this process is its only writer)."""
    course_dir = Path(course_dir)
    assignment, student = result["assignment"], result["student"]
    if not result["notebooks"]:
        record_zero(course_dir, assignment, student)
        return
    staging = course_dir / ".grading" / student / assignment
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, data in result["notebooks"].items():
        (staging / name).write_bytes(redact.notebook(data, secrets))
    if result.get("timestamp"):
        (staging / "timestamp.txt").write_bytes(result["timestamp"])
    course.nbgrader(course_dir, "autograde", assignment, f"--student={student}", "--force", "--no-execute",
                    f"--CourseDirectory.submitted_directory={course_dir / '.grading'}")
    shutil.rmtree(staging, ignore_errors=True)
    return apply_verdicts(course_dir, assignment, student, result["verdicts"], result["notebooks"])


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
    """A test cell keeps its points only if the grader's own verdict agrees. Where they disagree, the
    reason goes into the comment of the answer cell above the test, which the feedback and
    Formgrader show; return {cell: reason} for those cells."""
    failed = {cell: reason for cell, reason in verdicts.items() if reason}
    overruled = {}
    with course.gradebook(course_dir) as gb:
        for nb in gb.find_submission(assignment, student).notebooks:
            for grade in nb.grades:
                if grade.name in failed and grade.auto_score:
                    grade.auto_score = 0.0
                    overruled[grade.name] = failed[grade.name]
            for answer, reasons in answer_cells(notebooks.get(f"{nb.name}.ipynb"), overruled).items():
                comment = gb.find_comment(answer, nb.name, assignment, student)
                comment.auto_comment = "\n\n".join(filter(None, [comment.auto_comment, *reasons]))
        gb.db.commit()
    return overruled


def answer_cells(notebook_bytes, failed):
    """{answer cell id: [reasons]}: each failed test's reason, under the answer cell above it."""
    if not notebook_bytes:
        return {}
    found, answer = {}, None
    for cell in json.loads(notebook_bytes)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            answer = meta.get("grade_id")
        elif meta.get("grade_id") in failed and answer:
            found.setdefault(answer, []).append(
                f"**{meta['grade_id']}: 0 points from the grader's own check** (run outside your "
                f"notebook): {failed[meta['grade_id']]}")
    return found


def executor(workers, scheduler):
    """A Dask client for a scheduler address, else threads that each grade in a process of their own."""
    if scheduler:
        from distributed import Client

        return Client(scheduler)
    return concurrent.futures.ThreadPoolExecutor(workers)


def start(pool, job, stopping):
    if hasattr(pool, "gather"):     # Dask replaces a dead worker and retries its task (then KilledWorker)
        return pool.submit(worker.grade_submission, job, pure=False)
    return pool.submit(isolated, job, stopping)


def completed(pool, futures):
    if hasattr(pool, "gather"):          # a Dask client
        from distributed import as_completed

        return as_completed(futures)
    return concurrent.futures.as_completed(futures)


def isolated(job, stopping, attempts=2):
    """Grade one submission in a fresh process; if that process dies, once more in another. A
    submission that kills its process every time is recorded with the reason, not retried forever.
    Once `stopping` is set (Ctrl-C), no new process starts."""
    for _ in range(attempts):
        if stopping.is_set():
            raise KeyboardInterrupt("grading was interrupted")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                return pool.submit(worker.grade_submission, job).result()
            except concurrent.futures.process.BrokenProcessPool:
                continue
    return worker.failed(job, f"its grading process died {attempts} times")


def grade(course_dir, assignment, workers=None, regrade=False, budget_s=900, memory_gb=6.0,
          scheduler=None, log=print):
    """Grade every new or changed submission of `assignment`; return the summary rows."""
    course_dir = Path(course_dir)
    if sandbox.available():
        raise SystemExit(sandbox.available())
    workers = workers or default_workers()
    state = load_state(course_dir)
    done = state.setdefault(assignment, {})
    folders = submissions(course_dir, assignment)
    hashes = {s: digest(f) for s, f in folders.items()}
    todo = [s for s in folders if regrade or done.get(s, {}).get("hash") != hashes[s]]
    log(f"{assignment}: {len(folders)} submissions, {len(todo)} to grade "
        f"({workers} at a time{', on ' + scheduler if scheduler else ''})")
    if todo:
        run(course_dir, assignment, todo, hashes, state, workers, budget_s, memory_gb, scheduler)
    rows = summary(course_dir, assignment, folders, done)
    log(format_summary(rows))
    return rows


def run(course_dir, assignment, todo, hashes, state, workers, budget_s, memory_gb, scheduler):
    jobs = make_jobs(course_dir, assignment, todo, workers, budget_s, memory_gb)
    secrets = redact.secrets(Path(course_dir) / "source" / assignment, jobs[0]["expected"])
    pool = executor(workers, scheduler)
    stopping = threading.Event()
    futures = {start(pool, job, stopping): job for job in jobs}
    try:
        with tqdm(total=len(futures), desc=f"grading {assignment}", unit="submission") as bar:
            for future in completed(pool, list(futures)):
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - a failure must not stop the class
                    if type(error).__name__ != "KilledWorker":
                        bar.write(f"grading {futures[future]['student']} failed ({type(error).__name__}: {error}); "
                                  "it stays ungraded and is retried on the next run")
                        bar.update()
                        continue
                    result = worker.failed(futures[future], "its Dask worker died every time it graded it")
                overruled = record(course_dir, result, secrets) or {}
                state[assignment][result["student"]] = {
                    "hash": hashes[result["student"]], "seconds": result["seconds"],
                    "problems": result["problems"] + [f"{cell}: {why}" for cell, why in overruled.items()]}
                save_state(course_dir, state)
                bar.set_postfix_str(result["student"])
                bar.update()
    finally:
        stopping.set()
        for future in futures:
            future.cancel()
        if hasattr(pool, "close"):
            pool.close()
        else:
            pool.shutdown(wait=True, cancel_futures=True)


def summary(course_dir, assignment, folders, done):
    rows = []
    for student in folders:
        s = course.scores(course_dir, assignment, student)
        info = done.get(student, {})
        rows.append({"student": student, "score": round(s["auto"], 2) if s else 0.0,
                     "max": s["auto_max"] if s else None, "seconds": info.get("seconds"),
                     "problems": "; ".join(info.get("problems", []))})
    return rows


def format_summary(rows):
    lines = [f"{'student':<16} {'score':>6} {'max':>5} {'time':>7}  problems"]
    for r in rows:
        seconds = f"{r['seconds']:.0f} s" if r["seconds"] is not None else "-"
        maximum = f"{r['max']:g}" if r["max"] is not None else "-"
        lines.append(f"{r['student']:<16} {r['score']:>6g} {maximum:>5} {seconds:>7}  {r['problems'][:120]}")
    return "\n".join(lines)


def export(course_dir, assignment, path):
    """CSV: one row per student, one column per autograded test cell, then the totals."""
    rows = []
    with course.gradebook(course_dir) as gb:
        for submission in gb.assignment_submissions(assignment):
            grades = [g for nb in submission.notebooks for g in nb.grades]
            row = {"student": submission.student.id}
            row |= {g.name: g.score for g in grades if g.cell.cell_type == "code"}
            row["autograded"] = sum(g.score for g in grades if g.cell.cell_type == "code")
            row["autograded_max"] = sum(g.max_score for g in grades if g.cell.cell_type == "code")
            row["manual"] = sum(g.score for g in grades if g.cell.cell_type != "code")
            row["total"] = submission.score
            row["max"] = submission.max_score
            rows.append(row)
    rows.sort(key=lambda r: r["student"])
    if rows:
        course.write_csv(rows, path)
    return rows
