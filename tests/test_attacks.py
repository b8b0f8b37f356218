"""Attacks on class grading, each a real submission graded by `python -m autograder grade`'s code.

Each attack cell sets WORKED to True only if the attack succeeded, and the submission's `add`
is right only if WORKED: a sandboxed run scores 3 of 5 (mul only) where an unprotected run
scores 5. Attacks that would stop grading instead (killing the worker, a fork bomb, filling the
disk) must cost only their author: every other student keeps exactly the score of "good".
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from autograder.instructor import course, grading, jobs, sandbox
from autograder.instructor.rules import GradingRules
from autograder.student import data
from helpers import FORGERIES, ROOT, TINY_TESTS, edit, submit, tiny_course

ORACLE = "def add(a, b):\n    return a + b if WORKED else 0"

ATTACKS = {
    # Find the course: the gradebook (hidden tests), other submissions, the instructor's notebooks.
    "spy": """import os, pathlib, autograder
places = [pathlib.Path.cwd(), *pathlib.Path.cwd().parents, pathlib.Path(os.environ.get("PWD", "/"))]
places += [pathlib.Path(f"/proc/{pid}/cwd") for pid in os.listdir("/proc") if pid.isdigit()]
places.append(pathlib.Path(autograder.__file__).resolve().parents[1])
found = []
for place in places:
    try:
        found += list(place.glob("gradebook.db")) + list(place.glob("source/*/*.ipynb"))
        found += list(place.glob("submitted/*/tiny/*.ipynb"))
    except OSError:
        pass
WORKED = bool(found)""",
    # Reach a service on the grading machine (a Dask scheduler, a database, the internet): PORT is the
    # port of a listening socket the test opens.
    "network": """import socket
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    WORKED = True
except OSError:
    WORKED = False""",
    # Read the grader's environment (tokens, paths, the grading run's settings).
    "environment": 'import os\nWORKED = "COURSE_SECRET" in os.environ',
    # Write into the course: the autograder package, the gradebook, other students' submissions.
    "tamper": """import pathlib, autograder
WORKED = False
package = pathlib.Path(autograder.__file__).resolve().parent
targets = list(package.glob("*.py"))
for folder in pathlib.Path.cwd().parents:
    targets += list(folder.glob("gradebook.db")) + list(folder.glob("submitted/*/tiny/tiny.ipynb"))
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("# tampered")
        WORKED = True
    except OSError:
        pass""",
    # Change the course's data, which the grader's verdicts read too: MNIST and the kept validation split.
    "poison_data": """import os, pathlib
WORKED = False
folder = pathlib.Path(os.environ.get("MNIST_DATA_DIR", "/nonexistent"))
for path in [folder / "validation-split-0.npz", *folder.glob("validation-split-*.npz"), *folder.glob("MNIST/raw/*")]:
    try:
        with open(path, "ab") as f:
            f.write(b"poison")
        WORKED = True
    except OSError:
        pass""",
    # Kill the grading worker (the kernel's parent chain): a broken pool would grade nobody.
    "kill_worker": """import os, signal
WORKED = False
pid = os.getppid()
for _ in range(2):             # nbgrader, then the worker
    try:
        with open(f"/proc/{pid}/stat") as f:
            parent = int(f.read().rsplit(")", 1)[1].split()[1])
        os.kill(pid, signal.SIGKILL)
        WORKED = pid > 1
    except (OSError, ValueError):
        break
    pid = parent""",
}
# Spy on the hidden tests as they run (an IPython hook sees every cell's source) and print them, as
# they are, reversed and in base64, so that they reach the feedback. No text filter catches every
# encoding: the feedback keeps no output of a cell that ran once hidden tests had entered the kernel.
LEAK = """import base64

def show(info):
    print(info.raw_cell, info.raw_cell[::-1], base64.b64encode(info.raw_cell.encode()).decode())

get_ipython().events.register("pre_run_cell", show)"""
# The same, written into the output of this first cell through a display id: nbclient rewrites earlier outputs
# that share it, and the first cell ran before any hidden test (found by a review that attacked this grader).
LEAK_BACKWARDS = """import base64
from IPython.display import display
handle = display({"text/plain": "placeholder"}, raw=True, display_id="leak")
seen = []

def show(info):
    seen.append(info.raw_cell)
    handle.update({"text/plain": "\\n".join(seen) + base64.b64encode("".join(seen).encode()).decode()}, raw=True)

get_ipython().events.register("pre_run_cell", show)"""
# A student cell holding the hidden-test marker thousands of times: feedback must not search it with a pattern.
MARKERS = "# ### BEGIN HIDDEN TESTS\n" * 16_000 + "x = 1"
# Attacks on the machine: the sandbox's limits stop them and the author gets zero with the reason.
FLOODS = {
    "fork_bomb": ("import os, time\nfor _ in range(400):\n    if os.fork() == 0:\n        time.sleep(30)\n"
                  "        os._exit(0)\ntime.sleep(30)", "stopped: "),   # the process or the memory cap
    "disk_filler": ("import time\nwith open('filler.bin', 'wb') as f:\n    for _ in range(80):\n"
                    "        f.write(bytes(8 * 2**20))\n        f.flush()\n        time.sleep(0.05)\ntime.sleep(30)",
                    "MiB written"),
}


def digest_tree(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*.py"))}


def data_files():
    """MNIST's files and the kept validation split, which the grader reads."""
    root = data.mnist_root()
    return {p: p.read_bytes() for p in sorted([*root.glob("validation-split-*.npz"), *data.raw_dir(root).glob("*")])}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("attacks")
    base = tiny_course(course_dir)
    submit(course_dir, "good", {"tiny.ipynb": edit(base).encode()})
    listener = socket.create_server(("127.0.0.1", 0))       # a service of the grading machine
    port = str(listener.getsockname()[1])
    for student, attack in ATTACKS.items():
        submit(course_dir, student, {"tiny.ipynb": edit(base, {0: ORACLE}, insert=(0, attack.replace("PORT", port))).encode()})
    submit(course_dir, "leak", {"tiny.ipynb": edit(base, insert=(0, LEAK)).encode()})
    submit(course_dir, "leak_backwards", {"tiny.ipynb": edit(base, insert=(0, LEAK_BACKWARDS)).encode()})
    submit(course_dir, "markers", {"tiny.ipynb": edit(base, insert=(0, MARKERS)).encode()})
    untouched = (course_dir / "release" / "tiny" / "tiny.ipynb").read_text()
    for student, forgery in FORGERIES.items():
        submit(course_dir, student, {"tiny.ipynb": edit(json.loads(untouched), insert=(0, forgery)).encode()})
    for student, (flood, _) in FLOODS.items():
        submit(course_dir, student, {"tiny.ipynb": edit(base, insert=(0, flood)).encode()})
    package = digest_tree(ROOT / "autograder") | data_files()
    before = {s: jobs.digest(f, GradingRules()) for s, f in jobs.submissions(course_dir, "tiny").items()}
    os.environ["COURSE_SECRET"] = "a token of the instructor's"
    try:
        rows = grading.grade(course_dir, "tiny", workers=4, budget_s=60, memory_gb=4)     # mostly waiting: 4 on 2 cores
    finally:
        del os.environ["COURSE_SECRET"]
        listener.close()
    return course_dir, {r["student"]: r for r in rows}, before, package


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("student", ATTACKS)
def test_the_attack_fails_and_its_author_gets_only_the_honest_part(attacked, student):
    _, rows, _, _ = attacked
    assert rows[student]["score"] == 3, rows[student]


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("student", FORGERIES)
def test_a_silenced_error_earns_nothing(attacked, student):
    _, rows, _, _ = attacked
    assert rows[student]["score"] == 0, rows[student]


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("student", FLOODS)
def test_a_flood_is_stopped_and_costs_only_its_author(attacked, student):
    _, rows, _, _ = attacked
    assert rows[student]["score"] == 0, rows[student]
    assert FLOODS[student][1] in rows[student]["problems"], rows[student]


@pytest.mark.slow
@pytest.mark.sandbox
def test_hidden_tests_printed_by_the_kernel_reach_no_feedback_in_any_encoding(attacked):
    course_dir, rows, _, _ = attacked
    assert rows["leak"]["score"] == 5 and rows["leak_backwards"]["score"] == 5, rows
    graded = (course_dir / "autograded" / "leak" / "tiny" / "tiny.ipynb").read_text()
    hidden = "mul by zero"
    encodings = [hidden, hidden[::-1], base64.b64encode(TINY_TESTS["test_mul"].encode()).decode()[:40]]
    assert all(e in graded for e in encodings), "the hook printed nothing: the attack did not run"
    started = time.monotonic()
    course.feedback(course_dir, "tiny")
    assert time.monotonic() - started < 30, "feedback took long (the student with 16,000 markers?)"
    for student, own in (("leak", "pre_run_cell"), ("leak_backwards", "pre_run_cell"), ("markers", "BEGIN HIDDEN TESTS")):
        html = (course_dir / "feedback" / student / "tiny" / "tiny.html").read_text()
        assert own in html, f"the feedback lost {student}'s own code"
        leaked = [e for e in encodings + ["add with a negative number"] if e in html]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked}"


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_honest_student_is_graded_as_if_alone(attacked):
    _, rows, _, _ = attacked
    assert rows["good"]["score"] == 5 and rows["good"]["problems"] == "", rows["good"]


@pytest.mark.slow
@pytest.mark.sandbox
def test_nothing_outside_the_scratch_folder_changed(attacked):
    course_dir, _, before, package = attacked
    assert digest_tree(ROOT / "autograder") | data_files() == package, "student code wrote into the autograder or the data"
    after = {s: jobs.digest(f, GradingRules()) for s, f in jobs.submissions(course_dir, "tiny").items()}
    assert after == before, "student code changed a submission"


def test_the_sandbox_launcher_starts_without_torch():
    """jupyter_client runs `python -m autograder.instructor.sandbox` before every kernel it starts: had it found
    MNIST itself (importing torchvision), each submission would wait 2 s longer for its kernel."""
    code = ("import sys; from autograder.instructor import sandbox; sandbox.bwrap_args({'tmp_bytes': 1, 'env': {}}, [], '/tmp'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'numpy'}))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]", imported


@pytest.mark.sandbox
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_a_sandboxed_kernel_gets_the_gpu_settings_and_no_other_variable(monkeypatch):
    """Which GPU and where its driver is (CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH) reach the kernel, so a
    grading run on GPU 1 stays on GPU 1; the grader's other variables do not."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64")
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    args = sandbox.bwrap_args({"tmp_bytes": 2**24, "env": {"OMP_NUM_THREADS": "1"}}, [], "/tmp")
    printed = subprocess.run(args + ["env"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in printed.splitlines())
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG", "MPLCONFIGDIR", "PYTHONPATH", "OMP_NUM_THREADS",
                        "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "PWD"}, env    # PWD: set by bwrap's --chdir


@pytest.mark.sandbox
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_a_sandboxed_kernel_imports_the_package_it_is_given():
    """The kernel imports the grader's own copy of the student wing, bound read-only, even where the
    environment's install of `autograder` (this checkout's editable one) points elsewhere; the instructor's
    wing (the grader, the answers) is not there to import."""
    args = sandbox.bwrap_args({"tmp_bytes": 2**24, "env": {}}, [], "/tmp")
    code = ("import autograder.student.checks as c; print(c.__file__)\n"
            "try:\n    import autograder.instructor\nexcept ImportError:\n    print('no instructor')")
    printed = subprocess.run(args + [sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.split() == [f"{sandbox.LIBRARY}/autograder/student/checks.py", "no", "instructor"], printed
