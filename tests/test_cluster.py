"""Grading on a real Dask cluster, started as docs/cluster.md tells an instructor to: `dask scheduler`
and two `dask worker` processes, each worker as a grading machine would be:

- its own network namespace (as root, with `ip netns`; a veth link to this machine is its only way
  out), so it reaches the scheduler over TCP like another machine;
- its own /tmp (bubblewrap), which is also its working folder and Dask's --local-directory: the
  course (under this machine's /tmp) is not there, nor any other worker's files;
- a clean environment: the Python environment, the package, MNIST, nothing of the course.

It shares the rest of the file system (read-write: /usr, the venv, MNIST) and the kernel with this
machine; docs/cluster.md says so. The grading itself runs in the sandbox, as on one machine.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.instructor import course, grading, jobs, watchdog
from autograder.student import data
from helpers import ROOT
from helpers import edit, submit, tiny_course

pytestmark = pytest.mark.cluster
BIN = Path(sys.executable).parent
NAMESPACES = os.geteuid() == 0 and shutil.which("ip") is not None
SLOW = "import time\ntime.sleep(4)"
CLASS = {   # student -> (cells replaced, cell inserted); their scores come from local grading
    "good": ({}, None),
    "syntax_error": ({0: "def add(a, b)\n    return a + b"}, None),
    "raises": ({2: "def mul(a, b):\n    return a * b\nraise ValueError('oops')"}, None),
    "deleted_test": ({0: "def add(a, b):\n    return a - b"}, None),
    "slow_1": ({}, (0, SLOW)),
    "slow_2": ({}, (0, SLOW)),
    "slow_3": ({}, (0, SLOW)),
}

if not shutil.which("bwrap"):
    pytest.skip("no bubblewrap (the workers' private /tmp and the sandbox need it)", allow_module_level=True)


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Cluster:
    """A scheduler and `workers` workers, each a separate process group; closed with close()."""

    started = 0

    def __init__(self, workers=2):
        Cluster.started += 1
        tag, first = os.getpid() % 200 + 20, Cluster.started * 10
        self.net = [f"10.{tag}.{first + i}" for i in range(workers)] if NAMESPACES else []
        self.names = [f"ag{os.getpid() % 10**5}c{first + i}" for i in range(workers)]
        host = f"{self.net[0]}.1" if NAMESPACES else "127.0.0.1"
        for i, name in enumerate(self.names[:len(self.net)]):
            self.namespace(name, self.net[i])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://{host}:{port}"
        self.scheduler = self.start([str(BIN / "dask"), "scheduler", "--host", host, "--port", str(port),
                                     "--no-dashboard"])
        self.workers = [self.start_worker(i) for i in range(workers)]

    @staticmethod
    def namespace(name, net):
        """A network namespace with one veth link to this machine: net.1 here, net.2 there."""
        run("ip", "netns", "add", name)
        run("ip", "link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}w")
        run("ip", "link", "set", f"{name}w", "netns", name)
        run("ip", "addr", "add", f"{net}.1/30", "dev", f"{name}h")
        run("ip", "link", "set", f"{name}h", "up")
        for command in (["addr", "add", f"{net}.2/30", "dev", f"{name}w"], ["link", "set", f"{name}w", "up"],
                        ["link", "set", "lo", "up"], ["route", "add", "default", "via", f"{net}.1"]):
            run("ip", "netns", "exec", name, "ip", *command)

    def start(self, argv, env=None):
        return subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def start_worker(self, i):
        """`dask worker` in its namespace, with a private /tmp as its folder and a clean environment."""
        env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": "/tmp/work", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
               "PYTHONPATH": str(ROOT), data.ENV_VAR: str(data.mnist_root())}
        argv = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", "/tmp", "--dir", "/tmp/work", "--chdir", "/tmp/work",
                "--die-with-parent", "--", str(BIN / "dask"), "worker", self.address, "--nthreads", "1",
                "--name", f"w{i}", "--local-directory", "/tmp/work/dask", "--no-dashboard"]
        if NAMESPACES:
            argv = ["ip", "netns", "exec", self.names[i], *argv, "--host", f"{self.net[i]}.2"]
        return self.start(argv, env)

    def close(self):
        for proc in [*self.workers, self.scheduler]:
            watchdog.kill_tree(proc)
        for name in self.names[:len(self.net)]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def cluster():
    started = Cluster()
    try:
        from distributed import Client

        with Client(started.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def local_scores(tmp_path_factory):
    """The class graded locally: {student: score}."""
    course_dir = make_class(tmp_path_factory.mktemp("local"))
    rows = grading.grade(course_dir, "tiny", workers=2, budget_s=30, memory_gb=2, log=lambda m: None)
    return {r["student"]: r["score"] for r in rows}


def make_class(course_dir):
    base = tiny_course(course_dir)
    for student, (cells, insert) in CLASS.items():
        submit(course_dir, student, {"tiny.ipynb": edit(base, cells, insert=insert).encode()})
    submit(course_dir, "not_json", {"tiny.ipynb": b"{not a notebook"})
    return course_dir


def scores_in(course_dir):
    return {s: course.scores(course_dir, "tiny", s)["auto"] for s in jobs.submissions(course_dir, "tiny")}


def gradebook_rows(course_dir):
    """(student, notebook) of every submitted notebook the gradebook holds, duplicates kept."""
    with course.gradebook(course_dir) as gb:
        return sorted((s.student.id, nb.name) for s in gb.assignment_submissions("tiny") for nb in s.notebooks)


def test_a_grading_machines_own_jupyter_config_does_not_apply(tmp_path, monkeypatch):
    """A grading machine whose Jupyter config names an exchange class it cannot import (a hub's system-wide
    /etc/jupyter/nbgrader_config.py, seen here): nbgrader on the worker would load it and fail every
    submission. Workers grade with the course's settings alone."""
    config = tmp_path / "machine-config"
    config.mkdir()
    (config / "nbgrader_config.py").write_text("c.ExchangeFactory.collect = 'no.such.module.Collect'\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    course_dir = tmp_path / "course"
    base = tiny_course(course_dir)
    submit(course_dir, "good", {"tiny.ipynb": edit(base).encode()})
    rows = grading.grade(course_dir, "tiny", workers=1, budget_s=30, memory_gb=2, log=lambda m: None)
    assert rows[0]["score"] == 5, rows


def test_a_real_cluster_grades_as_this_machine_does(cluster, local_scores, tmp_path):
    course_dir = make_class(tmp_path)
    messages = []
    grading.grade(course_dir, "tiny", scheduler=cluster.address, budget_s=30, memory_gb=2, log=messages.append)
    assert scores_in(course_dir) == local_scores
    assert f"mean of {len(CLASS) + 1})" in messages[-1], messages[-1]      # each graded submission recorded once
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("dask-")], "a worker wrote into the course"


def test_a_worker_killed_mid_run_loses_nothing(cluster, local_scores, tmp_path):
    """SIGKILL to a whole worker (nanny, worker, nbgrader, kernel: a machine gone) while it grades
    a slow submission: the other worker grades it, every submission is recorded once."""
    from distributed import Client

    course_dir = make_class(tmp_path)
    messages, killed = [], []

    def kill_a_busy_worker():
        with Client(cluster.address, timeout=60) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
                if "w0" in {names.get(a) for a, tasks in client.processing().items() if tasks}:
                    time.sleep(1)           # into its grading: the first one imports torch, then the kernel starts
                    watchdog.kill_tree(cluster.workers[0])
                    killed.append(time.monotonic())
                time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    grading.grade(course_dir, "tiny", scheduler=cluster.address, budget_s=30, memory_gb=2, log=messages.append)
    killer.join()
    assert killed, "the worker was never seen grading"
    assert scores_in(course_dir) == local_scores
    state = grading.load_state(course_dir)["tiny"]
    assert not [s for s, e in state.items() if "Dask worker" in " ".join(e.problems)], state
    assert f"mean of {len(CLASS) + 1})" in messages[-1], messages[-1]
    assert len(gradebook_rows(course_dir)) == len(set(gradebook_rows(course_dir))) == len(CLASS) + 1


def test_a_lost_scheduler_ends_grade_with_a_message_and_a_rerun_resumes(cluster, local_scores, tmp_path):
    course_dir = make_class(tmp_path)
    command = [sys.executable, "-m", "autograder", "--course", str(course_dir), "grade", "tiny",
               "--scheduler", cluster.address, "--budget", "30", "--memory-gb", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(grading.load_state(course_dir).get("tiny", {})) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    recorded = set(grading.load_state(course_dir)["tiny"])
    assert len(recorded) < len(CLASS) + 1, "everything was graded before the scheduler could go"
    watchdog.kill_tree(cluster.scheduler)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert "the Dask scheduler was lost" in err and "Traceback" not in err, err[-2000:]
    state = grading.load_state(course_dir)["tiny"]
    assert not [s for s, e in state.items() if "grader failed" in " ".join(e.problems)], state
    left = len(CLASS) + 1 - len(state)
    assert left > 0

    again = Cluster()
    try:
        messages = []
        grading.grade(course_dir, "tiny", scheduler=again.address, budget_s=30, memory_gb=2, log=messages.append)
    finally:
        again.close()
    assert f"{left} to grade" in messages[0], messages[0]
    assert scores_in(course_dir) == local_scores
    assert len(gradebook_rows(course_dir)) == len(set(gradebook_rows(course_dir)))
    assert json.loads((course_dir / grading.STATE).read_text())["tiny"].keys() == set(CLASS) | {"not_json"}


def test_a_scheduler_that_cannot_be_reached_is_said_plainly(tmp_path):
    course_dir = make_class(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir), "grade", "tiny",
                           "--scheduler", f"tcp://127.0.0.1:{closed}"], capture_output=True, text=True,
                          env=os.environ | {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"})
    assert done.returncode == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and grading.load_state(course_dir) == {}
