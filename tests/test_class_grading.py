"""Grading a class with `python -m autograder grade`: parallel, resumable, and unharmed by bad submissions.

A tiny assignment that trains nothing keeps these tests to seconds per submission; the real
assignment 03 is graded end to end in test_unforgeable.py. The same submissions prove the rules
of nbgrader_config.py: a warning on stderr costs nothing ("good"), a deleted test cell is put
back, a copied one counts once, and an edited one runs its original source.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from autograder.instructor import course, grading, jobs, notebooks, processes, worker
from autograder.instructor.rules import GradingRules
from helpers import edit, submit, tiny_course, tiny_solved

RULES = GradingRules()


def forged_stamps(base):
    """The solved notebook with execution timestamps nbclient never wrote, on cells it does not run (a
    markdown cell, an empty code cell): the grader's timing must not trip over them."""
    nb = nbformat.from_dict(base)
    stamps = {"iopub.execute_input": "yesterday", "shell.execute_reply": "today"}
    nb.cells[:0] = [new_markdown_cell("I worked hard", metadata={"execution": stamps}),
                    new_code_cell("", metadata={"execution": stamps})]
    return nbformat.writes(nb)


# student -> (notebook text or None for no notebook, extra files, expected score, expected problem)
SUBMISSIONS = {
    "good": (lambda b: edit(b), {}, 5, ""),
    "syntax_error": (lambda b: edit(b, {0: "def add(a, b)\n    return a + b"}), {}, 3, "add: SyntaxError"),
    "raises": (lambda b: edit(b, {2: "def mul(a, b):\n    return a * b\nraise ValueError('oops')"}), {}, 5, "mul: ValueError"),
    "infinite_loop": (lambda b: edit(b, {2: "while True:\n    pass"}), {}, 2, "time budget"),
    "memory_bomb": (lambda b: edit(b, {2: "hog = []\nwhile True:\n    hog.append(bytearray(2**28))"}), {}, 2, "memory cap"),
    "capped_kernel": (lambda b: edit(b, {0: "import resource\nhard = resource.getrlimit(resource.RLIMIT_DATA)[1]\n"
                                         "resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))   # a student raising the cap\n"
                                         "limit = resource.getrlimit(resource.RLIMIT_DATA)\n"
                                         "assert limit == (2 * 2**30,) * 2, limit   # --memory-gb 2\n"
                                         "def add(a, b):\n    return a + b"}), {}, 5, ""),
    "deleted_test": (lambda b: edit(b, {0: "def add(a, b):\n    return a - b"}, delete=1), {}, 3, ""),
    "copied_test": (lambda b: edit(b, {0: "def add(a, b):\n    return 0"}, duplicate=1), {}, 3, ""),
    "edited_test": (lambda b: edit(b, {0: "def add(a, b):\n    return 0", 1: "assert True"}), {}, 3, ""),
    "not_json": (lambda b: "{this is not a notebook", {}, 0, "could not grade"),
    "no_notebook": (None, {"notes.txt": b"I forgot"}, 0, "missing notebook: tiny.ipynb"),
    "extra_files": (lambda b: edit(b), {"data.bin": b"\0" * 1000, "sub/x.py": b"print(1)"}, 5, ""),
    "huge_output": (lambda b: edit(b, insert=(1, "for i in range(200_000):\n    print('spam' * 10)")), {}, 5, ""),
    "kernel_dies": (lambda b: edit(b, insert=(2, "import os\nos.kill(os.getpid(), 9)")), {}, 0, "kernel died"),
    "slow": (lambda b: edit(b, insert=(0, "import time\ntime.sleep(2)")), {}, 5, ""),
    "forged_stamps": (forged_stamps, {}, 5, ""),
}


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("class")
    base = tiny_course(course_dir)
    for student, (notebook, extras, _, _) in SUBMISSIONS.items():
        submit(course_dir, student, extras | ({"tiny.ipynb": notebook(base).encode()} if notebook else {}))
    return course_dir


@pytest.fixture(scope="module")
def graded(class_course):
    before = {s: jobs.digest(f, RULES) for s, f in jobs.submissions(class_course, "tiny").items()}
    # Three workers on two cores: these submissions mostly wait (kernel starts, a sleep, the 10 s loop);
    # with four, the memory bomb took 6.4 s of its 10 s budget in CI.
    rows = grading.grade(class_course, "tiny", workers=3, budget_s=10, memory_gb=2)   # the others take 1-4 s
    return class_course, {r["student"]: r for r in rows}, before


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("student", SUBMISSIONS)
def test_each_submission_gets_its_score_and_a_reason(graded, student):
    _, rows, _ = graded
    _, _, score, problem = SUBMISSIONS[student]
    assert rows[student]["score"] == score, rows[student]
    if problem:
        assert problem in rows[student]["problems"], rows[student]
    elif student != "huge_output":
        assert rows[student]["problems"] == "", rows[student]


@pytest.mark.slow
@pytest.mark.sandbox
def test_where_each_submissions_time_went_is_recorded(graded):
    course_dir, _, _ = graded
    state = json.loads((course_dir / grading.STATE).read_text())["tiny"]
    slow, good = state["slow"]["phases"], state["good"]["phases"]
    assert set(slow) == {"a fresh grading process", "the grader's data", "nbgrader and the kernel, besides the cells",
                         "the student's cells", "test cells", "the grader's verdicts", "recording"}
    assert slow["the student's cells"] >= 2 > good["the student's cells"], (slow, good)
    assert slow["test cells"] < 2 and min(slow.values()) >= 0, slow
    inside = sum(t for name, t in slow.items() if name not in ("a fresh grading process", "recording"))
    assert inside == pytest.approx(state["slow"]["seconds"], abs=1), (inside, state["slow"]["seconds"])


@pytest.mark.slow
@pytest.mark.sandbox
def test_student_code_changed_no_other_submission(graded):
    course_dir, _, before = graded
    after = {s: jobs.digest(f, RULES) for s, f in jobs.submissions(course_dir, "tiny").items()}
    assert after == before


@pytest.mark.slow
@pytest.mark.sandbox
def test_scores_equal_a_serial_nbgrader_autograde(graded, tmp_path):
    course_dir, rows, _ = graded
    serial = tmp_path / "serial"
    shutil.copytree(course_dir, serial, ignore=shutil.ignore_patterns("gradebook.db", "autograded", "grading_state.json"))
    quick = ["good", "syntax_error", "raises", "deleted_test", "copied_test", "edited_test", "extra_files", "huge_output"]
    for student in set(SUBMISSIONS) - set(quick):
        shutil.rmtree(serial / "submitted" / student)
    course.release(serial, "tiny")
    course.autograde(serial, "tiny")
    for student in quick:
        assert course.scores(serial, "tiny", student)["auto"] == rows[student]["score"], student


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_rerun_grades_only_what_changed(graded):
    course_dir, _, _ = graded
    (course_dir / "submitted" / "syntax_error" / "tiny" / "tiny.ipynb").write_text(edit(tiny_solved(course_dir)))
    messages = []
    rows = {r["student"]: r for r in grading.grade(course_dir, "tiny", workers=1, budget_s=20, log=messages.append)}
    assert "1 to grade" in messages[0], messages[0]
    assert rows["syntax_error"]["score"] == 5 and rows["good"]["score"] == 5


@pytest.mark.slow
@pytest.mark.sandbox
def test_export_has_a_column_per_test_cell(graded, tmp_path):
    course_dir, rows, _ = graded
    exported = {r["student"]: r for r in grading.export(course_dir, "tiny", tmp_path / "grades.csv")}
    assert exported["good"]["test_add"] == 2 and exported["good"]["test_mul"] == 3
    assert exported["infinite_loop"]["autograded"] == 2
    assert exported["not_json"]["autograded"] == 0 and exported["not_json"]["test_add"] == 0
    header = (tmp_path / "grades.csv").read_text().splitlines()[0]
    assert header.startswith("student,assignment,test_add,test_mul,autograded")


@pytest.mark.slow
@pytest.mark.sandbox
def test_feedback_shows_scores_and_messages_but_no_hidden_test(graded):
    course_dir, _, _ = graded
    course.feedback(course_dir, "tiny")
    html = (course_dir / "feedback" / "copied_test" / "tiny" / "tiny.html").read_text()
    assert "add(-1, 1)" not in html and "mul(0, 7)" not in html, "a hidden test leaked into the feedback"
    assert "hidden tests ran here" in html
    assert "this test failed" in html and "AssertionError" not in html, "a message from after the hidden tests"


@pytest.mark.slow
@pytest.mark.sandbox
def test_grading_on_a_dask_cluster_gives_the_same_scores(graded, tmp_path):
    from distributed import LocalCluster

    course_dir, rows, _ = graded
    copy = tmp_path / "dask_course"
    shutil.copytree(course_dir, copy, ignore=shutil.ignore_patterns("gradebook.db", "autograded", "grading_state.json"))
    for student in set(SUBMISSIONS) - {"good", "raises", "copied_test"}:
        shutil.rmtree(copy / "submitted" / student)
    course.release(copy, "tiny")
    # A LocalCluster's nannies live in this process and set OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_
    # and more in os.environ (Dask's nanny.pre-spawn-environ): every later notebook kernel of this test
    # session would inherit them and train three times slower. Put the environment back afterwards.
    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            dask_rows = {r["student"]: r for r in grading.grade(copy, "tiny", scheduler=cluster.scheduler_address,
                                                                budget_s=30, log=lambda m: None)}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for student in ("good", "raises", "copied_test"):
        assert dask_rows[student]["score"] == rows[student]["score"], student


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_command_line_grades_and_exports(graded):
    course_dir, _, _ = graded
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir), "export", "tiny"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = (course_dir / "grades-tiny.csv").read_text()
    plugin = [sys.executable, "-m", "nbgrader", "export", "--exporter=autograder.instructor.export.CellScores",
              "--assignment=tiny", "--to=by-nbgrader.csv"]
    done = subprocess.run(plugin, cwd=course_dir, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (course_dir / "by-nbgrader.csv").read_text() == ours, "nbgrader export and ours differ"
    state = json.loads((course_dir / grading.STATE).read_text())
    assert set(state["tiny"]) == set(SUBMISSIONS)


def processes_of(run):
    """The processes of one grading run: those that inherited GRADING_RUN=run (the command, its
    workers, nbgrader) and all their descendants (the kernels, which get a clean environment).
    Processes that exit or turn zombie while being looked at are skipped, not errors."""
    found = {}
    for process in psutil.process_iter():
        if safely(process.environ, {}).get("GRADING_RUN") == run:
            found[process.pid] = process
            found |= {child.pid: child for child in safely(lambda: process.children(recursive=True), [])}
    return list(found.values())


def still_running(processes, seconds=3):
    """Those of the processes still running `seconds` later. A zombie has exited and runs nothing:
    after its parent died it waits for the machine's init to reap it, which may take longer."""
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    return [p for p in alive if safely(p.status, psutil.STATUS_ZOMBIE) != psutil.STATUS_ZOMBIE]


def safely(read, default):
    """read(), or default if the process vanished, is a zombie or is not ours to read."""
    try:
        return read()
    except psutil.Error:
        return default


class Starts(threading.Thread):
    """Counts the times grading started for the given students, by the scratch folders the workers
    make (a sandboxed kernel cannot tell anyone outside that it started)."""

    def __init__(self, students):
        super().__init__(daemon=True)
        self.students, self.seen, self.running = students, set(), True

    def run(self):
        while self.running:
            for student in self.students:
                self.seen |= set(Path(tempfile.gettempdir()).glob(f"grade-*/submitted/{student}"))
            time.sleep(0.1)

    def __len__(self):
        return len(self.seen)


def start_slow_class(tmp_path):
    """Three submissions that sleep 2 s each (time enough to interrupt one: a start is seen within 0.2 s),
    graded one at a time by the command; returns once the first is recorded and the second has started."""
    base = tiny_course(tmp_path)
    students = [f"{tmp_path.parent.name}-{tmp_path.name}-s{i}" for i in (1, 2, 3)]     # unique to this run
    for student in students:
        submit(tmp_path, student, {"tiny.ipynb": edit(base, insert=(0, "import time\ntime.sleep(2)")).encode()})
    command = [sys.executable, "-m", "autograder", "--course", str(tmp_path), "grade", "tiny", "--workers", "1"]
    starts = Starts(students)
    starts.start()
    proc = subprocess.Popen(command, env=os.environ | {"GRADING_RUN": str(tmp_path)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not (grading.load_state(tmp_path).get("tiny") and len(starts) == 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(starts) == 2, "the first grade was not recorded and the second did not start in 3 minutes"
    return proc, starts, students


@pytest.mark.slow
@pytest.mark.sandbox
def test_ctrl_c_keeps_the_grades_and_a_rerun_finishes(tmp_path):
    """Ctrl-C while a submission is grading: the command stops it, starts no other, leaves no
    process behind, and keeps every grade it had recorded; the next run grades only the others."""
    proc, starts, students = start_slow_class(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)          # what a terminal does: every process of the command gets it
    proc.wait(timeout=60)
    alive = still_running(processes_of(str(tmp_path)))
    assert not alive, f"still running after the interruption: {alive}"
    time.sleep(1)
    starts.running = False
    assert len(starts) == 2, "a submission started grading after the interruption"

    assert set(grading.load_state(tmp_path)["tiny"]) == {students[0]}
    assert course.scores(tmp_path, "tiny", students[0])["auto"] == 5
    messages = []
    rows = grading.grade(tmp_path, "tiny", workers=2, budget_s=60, log=messages.append)
    assert "2 to grade" in messages[0], messages[0]
    assert [r["score"] for r in rows] == [5, 5, 5], rows


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_killed_grading_process_is_replaced(tmp_path):
    """The process grading s2 is killed: its nbgrader and kernel end within a second (killed as their
    parent dies, and their scratch folder removed), s2 is graded again in a new process, and the
    class finishes with nothing left running."""
    proc, starts, students = start_slow_class(tmp_path)
    (server,) = [p for p in psutil.Process(proc.pid).children() if "forkserver" in " ".join(safely(p.cmdline, []))]
    deadline = time.monotonic() + 60
    while not (started := [q for p in server.children() for q in processes.descendants(p.pid)]):
        assert time.monotonic() < deadline, "the grading process started no nbgrader in a minute"
        time.sleep(0.05)
    for process in server.children():       # the grading process only: its nbgrader and kernel must follow it
        safely(process.kill, None)
    alive = still_running(started, seconds=1)      # the submission sleeps 2 s in its kernel
    assert not alive, f"still running 1 s after their grading process was killed: {alive}"
    assert proc.wait(timeout=120) == 0
    alive = still_running(processes_of(str(tmp_path)))
    assert not alive, f"still running after the run: {alive}"
    starts.running = False
    assert len(starts) == 4, "s2 should have started twice, s1 and s3 once"
    assert not [p for p in starts.seen if p.exists()], "a killed process's scratch folder was left behind"
    assert [course.scores(tmp_path, "tiny", s)["auto"] for s in students] == [5, 5, 5]


@pytest.mark.sandbox
def test_a_second_grade_on_the_same_course_refuses(tmp_path):
    base = tiny_course(tmp_path)
    submit(tmp_path, "good", {"tiny.ipynb": edit(base).encode()})
    with grading.exclusive(tmp_path):
        with pytest.raises(SystemExit, match=r"another `grade` \(process \d+\) is grading this course"):
            grading.grade(tmp_path, "tiny", workers=1, budget_s=20)
    assert grading.load_state(tmp_path) == {}, "the refused run graded something"


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_changed_test_is_refused_until_released_then_regrades(tmp_path):
    """Editing a test in source/ after the release: grading refuses (the students' notebooks and
    the gradebook would disagree); once released again, every submission is graded again."""
    base = tiny_course(tmp_path)
    submit(tmp_path, "good", {"tiny.ipynb": edit(base).encode()})
    grading.grade(tmp_path, "tiny", workers=1, budget_s=20, log=lambda m: None)
    path = tmp_path / "source" / "tiny" / "tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].metadata.nbgrader["points"] = 4
    nbformat.write(nb, path)
    with pytest.raises(SystemExit, match="tiny/test_mul"):
        grading.grade(tmp_path, "tiny", workers=1, budget_s=20)
    course.release(tmp_path, "tiny")
    notebooks.expect(tmp_path / "source" / "tiny")
    messages = []
    rows = grading.grade(tmp_path, "tiny", workers=1, budget_s=20, log=messages.append)
    assert "1 to grade" in messages[0], messages[0]
    assert rows[0]["score"] == 6 and rows[0]["max"] == 6, rows


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_regrade_leaves_nothing_stale(tmp_path):
    """A submission graded and given feedback, then replaced by one that cannot be graded: its
    old graded notebook and feedback are gone, so nobody reads an old run as the new one."""
    base = tiny_course(tmp_path)
    submit(tmp_path, "good", {"tiny.ipynb": edit(base).encode()})
    grading.grade(tmp_path, "tiny", workers=1, budget_s=20, log=lambda m: None)
    course.feedback(tmp_path, "tiny")
    assert (tmp_path / "feedback" / "good" / "tiny").exists()
    submit(tmp_path, "good", {"tiny.ipynb": b"{not a notebook"})
    rows = grading.grade(tmp_path, "tiny", workers=1, budget_s=20, log=lambda m: None)
    assert rows[0]["score"] == 0, rows
    assert not (tmp_path / "autograded" / "good" / "tiny").exists(), "the old graded notebook is still there"
    assert not (tmp_path / "feedback" / "good" / "tiny").exists(), "the old feedback is still there"


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_course_database_elsewhere_stays_with_the_instructor(tmp_path):
    """nbgrader_config.py names a database outside the course: grades go there, and no worker is
    told where it is (each grades against its own scratch copy)."""
    real = tmp_path / "instructor" / "gradebook.sqlite"
    real.parent.mkdir()
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    base = tiny_course(course_dir, config=f'\nc.CourseDirectory.db_url = "sqlite:///{real}"\n')
    submit(course_dir, "good", {"tiny.ipynb": edit(base).encode()})
    rows = grading.grade(course_dir, "tiny", workers=1, budget_s=20, log=lambda m: None)
    assert rows[0]["score"] == 5 and course.scores(course_dir, "tiny", "good")["auto"] == 5, rows
    assert not (course_dir / "gradebook.db").exists()
    expected = jobs.expectations(course_dir, "tiny")
    (job,) = jobs.make_jobs(course_dir, "tiny", ["good"], jobs.template_gradebook(course_dir, "tiny"),
                            expected, RULES, 1)
    (tmp_path / "scratch").mkdir()
    _, config, _ = worker.prepare(job, tmp_path / "scratch")
    assert config.CourseDirectory.db_url == f"sqlite:///{tmp_path / 'scratch' / 'gradebook.db'}"
    assert str(real) not in json.dumps(job.settings), "the worker was told where the course's database is"


def test_a_submission_enters_the_gradebook_with_its_grades_and_no_warning(tmp_path):
    """SQLAlchemy 2 warned for each submission nbgrader 0.9.6 added (its rows are built before the
    submission joins the session), in every grading's output. Checked in a fresh process, as the
    commands run (pytest resets warning filters around each test); the rows are all kept."""
    tiny_course(tmp_path)
    add = ("import sys\nfrom autograder.instructor import course\n"
           "with course.gradebook(sys.argv[1]) as gb:\n"
           "    gb.update_or_create_student('s1')\n    gb.update_or_create_submission('tiny', 's1')")
    run = subprocess.run([sys.executable, "-W", "error::Warning", "-c", add, str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-600:]
    with course.gradebook(tmp_path) as gb:
        assert {g.name for nb in gb.find_submission("tiny", "s1").notebooks for g in nb.grades} >= {"test_mul"}


def test_a_new_gradebook_asks_alembic_once_per_process(tmp_path, monkeypatch):
    """nbgrader starts `alembic heads` (1.6 s) for each gradebook it creates: a release into a new
    course and every grading run's template. The course asks once per process."""
    from nbgrader import api as nbgrader_api

    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    started, real = [], nbgrader_api.sp.check_output
    monkeypatch.setattr(nbgrader_api.sp, "check_output", lambda *a, **k: started.append(a) or real(*a, **k))
    for name in ("first", "second", "third"):
        with nbgrader_api.Gradebook(f"sqlite:///{tmp_path / name}.db") as gb:
            assert gb.db.execute(nbgrader_api.text("SELECT version_num FROM alembic_version")).scalar()
    assert len(started) <= 1, f"alembic ran {len(started)} times"
