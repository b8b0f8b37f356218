"""Grade one submission in a scratch course directory; runs in a worker process (local or Dask).

A job carries everything as bytes (the submission's files, a template gradebook, the
nbgrader config), and the result carries back the executed notebooks and the verdicts, so a
worker needs no shared file system: the same function runs on a laptop or on a cluster.
The worker never writes the real gradebook; the instructor's process records the results.
"""
import ctypes
import functools
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
import torch
from nbgrader.apps import NbGraderApp

from autograder.instructor import processes, sandbox, untrusted, verdicts
from autograder.student import data, evaluate, submit

PR_SET_PDEATHSIG = 1   # prctl option: the signal a process gets when its parent dies
PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None    # looked up before any fork
BUDGET_CONFIG = """
# Added by the grading worker: one wall-clock budget for the whole notebook.
import time as _time
_deadline = _time.monotonic() + {budget}
c.Execute.timeout_func = lambda cell: max(1, min({cell_timeout}, int(_deadline - _time.monotonic())))
"""


def write_tree(folder, files):
    for rel, content in files.items():
        path = Path(folder) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def detach(max_bytes, worker_pid):
    """In a child of the worker (nbgrader's process, the verdicts'), first: its own session (a terminal's Ctrl-C reaches the worker, which
    stops it), killed when the worker dies (a killed worker leaves no grading behind), and at most
    max_bytes of memory besides what it shares with the worker (the sandbox's launcher caps the
    kernel at max_bytes itself)."""
    os.setsid()
    if PRCTL:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != worker_pid:              # the worker died before the line above
        os._exit(1)
    inherited = int(Path("/proc/self/statm").read_text().split()[5]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_DATA, (inherited + max_bytes, inherited + max_bytes))


class Nbgrader:
    """`nbgrader ARGV` in a child process forked from this worker, which has imported nbgrader
    already (a new Python importing it cost 0.9 s a submission); with Popen's pid, poll and wait.
    The child is detached, and writes to the log file; whatever happens, it ends in os._exit."""

    def __init__(self, argv, cwd, env, log_file, memory_bytes):
        self.returncode = None
        worker = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            status = 1
            try:
                detach(memory_bytes, worker)
                status = self.run(argv, cwd, env, log_file.fileno())
            finally:
                os._exit(status)

    @staticmethod
    def run(argv, cwd, env, log_fd):
        """In the child: 0 if nbgrader succeeded, 1 if not."""
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
        try:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            tempfile.tempdir = None             # read TMPDIR again: the worker's was cached before the fork
            NbGraderApp.launch_instance(argv=argv)
            return 0
        except SystemExit as stop:
            return 0 if stop.code in (None, 0) else 1
        except BaseException:   # noqa: BLE001 - the log says what went wrong; the grader reads it
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def problems_in(notebook_bytes):
    """Readable reasons for cells that did not complete: errors in the student's cells, timeouts,
    memory, dead kernels. (A failing test cell is not a problem: its points tell.)"""
    found = []
    nb = nbformat.reads(notebook_bytes.decode(), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            name, value = output.get("ename", ""), output.get("evalue", "")
            if "Timeout" in name or "KeyboardInterrupt" in name:
                found.append("stopped: the time budget ran out")
            elif name == "MemoryError" or "allocate memory" in value:
                found.append("stopped: the memory cap was reached")
            elif "DeadKernel" in name:
                found.append("the kernel died")
            elif meta.get("solution") and not meta.get("grade"):
                found.append(f"{meta.get('grade_id')}: {name}: {value}"[:160])
    return sorted(set(found))


def grade_with(job, environ):
    """grade_submission with the grader's environment of now (a forked process has its server's)."""
    os.environ.clear()
    os.environ.update(environ)
    return grade_submission(job)


def grade_submission(job):
    """Autograde job["student"]'s job["assignment"]; return executed notebooks, verdicts, problems,
    and where the time went."""
    started = time.monotonic()
    torch.set_num_threads(job["threads"])         # the verdicts share the cores with the other workers' kernels
    evaluate.raw_set()                            # the grader's data, loaded before any student code runs
    loaded = time.monotonic()
    scratch = Path(job.get("scratch") or tempfile.mkdtemp(prefix="grade-"))
    try:
        result = run_job(job, scratch)
    except Exception as error:  # noqa: BLE001 - whatever the submission did, it gets a row with the reason
        result = failed(job, f"the grader could not grade it: {type(error).__name__}: {error}"[:300])
    finally:
        remove(scratch)
    result["phases"] = {"the grader's data": loaded - started, **result["phases"]}
    return result | {"seconds": round(time.monotonic() - started, 1)}


SANDBOX_CONFIG = """
# Added by the grading worker: the kernel runs in the sandbox and talks over Unix sockets (in a
# folder of their own), and nbgrader works in the scratch course, whatever the course's config names.
c.KernelManager.transport = "ipc"
c.KernelManager.ip = {sockets!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
"""
LIMITS = {"processes": 256, "disk_bytes": 512 * 2**20, "tmp_bytes": 512 * 2**20,
          "submission_bytes": 64 * 2**20, "notebook_bytes": 64 * 2**20, "verdict_seconds": 300}
# What the kernel may write: the sockets it listens on, the folder it exports models and records to,
# and `work`, where the sandbox gives each kernel a private copy of its notebook's folder. Nothing
# outside the sandbox writes into them, and the grader reads them only through autograder.untrusted.
KERNEL_FOLDERS = ("sockets", "exports", "work")


def prepare(job, scratch):
    """Write the scratch course; return nbgrader's arguments and environment."""
    assignment, student = job["assignment"], job["student"]
    (scratch / "gradebook.db").write_bytes(job["gradebook"])
    (scratch / "nbgrader_config.py").write_text(
        job["config"] + BUDGET_CONFIG.format(budget=job["budget_s"], cell_timeout=job["budget_s"])
        + SANDBOX_CONFIG.format(sockets=str(scratch / "sockets" / "kernel"), root=str(scratch),
                                db_url=f"sqlite:///{scratch / 'gradebook.db'}"))
    write_tree(scratch / "submitted" / student / assignment, job["files"])
    for folder in ("runtime", "jupyter", *KERNEL_FOLDERS):
        (scratch / folder).mkdir()
    threads, mnist = str(job["threads"]), str(data.mnist_root())
    kernel_env = {submit.EXPORT_DIR: str(scratch / "exports"), "OMP_NUM_THREADS": threads,
                  "MKL_NUM_THREADS": threads, "NBGRADER_EXECUTION": "autograde", data.ENV_VAR: mnist}
    settings = {"env": kernel_env, "writable": [str(scratch / "exports"), str(scratch / "sockets")],
                "work": str(scratch / "work"), "readable": [mnist], "tmp_bytes": LIMITS["tmp_bytes"],
                "memory_bytes": job["memory_bytes"]}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "JUPYTER_PATH": sandbox.kernel_spec(scratch / "jupyter"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
           sandbox.SETTINGS: json.dumps(settings),
           # The course's settings only (nbgrader_config.py in the scratch course), never this machine's
           # Jupyter config (/etc/jupyter, ~/.jupyter: a hub's exchange, say), which nbgrader would merge
           # in; the empty config folder that jupyter_core makes for it goes into the scratch course.
           "JUPYTER_NO_CONFIG": "1", "TMPDIR": str(scratch / "runtime")}
    return ["autograde", assignment, f"--student={student}", "--force"], env


def failed(job, reason):
    """The result of a submission that could not be graded: zero, with the reason."""
    return {"assignment": job["assignment"], "student": job["student"], "notebooks": {}, "timestamp": None,
            "verdicts": {}, "problems": [reason], "seconds": None, "phases": {}}


def run_job(job, scratch):
    assignment, student = job["assignment"], job["student"]
    argv, env = prepare(job, scratch)
    started = time.monotonic()
    with open(scratch / "nbgrader.log", "w+") as log_file:
        proc = Nbgrader(argv, scratch, env, log_file, job["memory_bytes"])
        try:
            stopped = watch(proc, scratch, job["budget_s"] + job["grace_s"], job["memory_bytes"])
        except BaseException:                   # Ctrl-C or a cancelled task: leave no kernel behind
            kill_tree(proc)
            raise
        nbgrader_seconds = time.monotonic() - started
        log_file.seek(0)
        log = log_file.read()
    missing = [name for name in job["notebooks"] if name not in job["files"]]
    problems = stopped + [f"missing notebook: {name}" for name in missing]
    graded = scratch / "autograded" / student / assignment
    # nbgrader writes the notebook before it executes it: a run that was stopped left an unexecuted
    # copy, in which no test failed. Only a run that finished is graded.
    finished = not stopped and proc.returncode == 0
    notebooks = executed_notebooks(graded, job["notebooks"]) if finished else {}
    if not notebooks and not stopped:
        problems.append("nbgrader could not grade it: " + last_error(log))
    for notebook in notebooks.values():
        problems += problems_in(notebook)
    deciding = time.monotonic()
    decided, trouble = bounded(functools.partial(verdicts.decide, assignment, job["expected"], scratch / "exports",
                                                 test_cells(notebooks)), LIMITS["verdict_seconds"], job["memory_bytes"])
    if trouble:
        decided = {cell: trouble for cell in test_cells(notebooks)}
        problems.append(trouble)
    phases = cell_seconds(notebooks)
    phases = {"nbgrader and the kernel, besides the cells": nbgrader_seconds - sum(phases.values()), **phases,
              "the grader's verdicts": time.monotonic() - deciding}
    return {"assignment": assignment, "student": student, "notebooks": notebooks,
            "timestamp": job["files"].get("timestamp.txt"), "verdicts": decided,
            "problems": sorted(set(problems)), "phases": phases}


def executed_notebooks(folder, names):
    """{name: bytes} of the notebooks nbgrader wrote into folder (a folder no kernel could write)."""
    found = {name: untrusted.read(Path(folder) / name, LIMITS["notebook_bytes"]) for name in names}
    return {name: data for name, data in found.items() if data is not None}


def bounded(task, seconds, memory_bytes):
    """(task(), None) with task run in a child process that has `seconds` and `memory_bytes` (besides
    what it shares with this one); (None, reason) if it ran past either or failed. The grader's own
    work on a submission's files (reading a graph, running it, tracing shapes) is budgeted like the
    kernel was. task's result must be JSON."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:                                    # the child: detached and capped like nbgrader's process,
        status = 1                                  # one thread (OpenMP does not survive a fork with more)
        try:
            os.close(read_end)
            detach(memory_bytes, parent)
            torch.set_num_threads(1)
            with os.fdopen(write_end, "w") as pipe:
                json.dump(task(), pipe)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    answer, ended, deadline = b"", False, time.monotonic() + seconds
    with os.fdopen(read_end, "rb") as pipe:
        while not ended and select.select([pipe], [], [], max(0, deadline - time.monotonic()))[0]:
            chunk = os.read(pipe.fileno(), 2**16)
            answer += chunk
            ended = not chunk
    if not ended:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not ended:
        return None, f"the grader's checks of your files ran past their {seconds} s"
    try:
        return json.loads(answer), None
    except ValueError:
        return None, f"the grader's checks of your files failed (over the memory cap of {memory_bytes / 2**30:g} GiB?)"


def cell_seconds(notebooks):
    """Seconds the kernel spent in the test cells and in all other cells, from the timestamps that
    nbclient writes into every executed cell."""
    seconds = {"the student's cells": 0.0, "test cells": 0.0}
    for notebook in notebooks.values():
        for cell in nbformat.reads(notebook.decode(), as_version=4).cells:
            if cell.cell_type != "code" or not cell.source.strip():
                continue        # not executed: any timestamps there are the student's own
            times = cell.metadata.get("execution", {})
            try:
                spent = (datetime.fromisoformat(times["shell.execute_reply"])
                         - datetime.fromisoformat(times["iopub.execute_input"])).total_seconds()
            except (KeyError, TypeError, ValueError):
                continue
            test = cell.metadata.get("nbgrader", {}).get("grade")
            seconds["test cells" if test else "the student's cells"] += max(0.0, spent)
    return seconds


def watch(proc, scratch, seconds, memory_bytes):
    """Wait for nbgrader; stop it and its kernel when a limit is passed: time, the memory of all
    its processes together, their number, or the disk the submission writes. Return the reasons."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None:
        tree = processes.descendants(proc.pid)
        if time.monotonic() > deadline:
            reason = f"killed after {seconds} s"
        elif sum(processes.threads(p) for p in tree) > LIMITS["processes"]:
            reason = f"stopped: more than {LIMITS['processes']} processes and threads"
        elif disk_usage(scratch) > LIMITS["disk_bytes"]:
            reason = f"stopped: more than {LIMITS['disk_bytes'] // 2**20} MiB written"
        elif sum(processes.rss(p) for p in tree) > memory_bytes:
            reason = "stopped: the memory cap was reached"
        else:
            time.sleep(0.25)
            continue
        kill_tree(proc)
        return [reason]
    kill_tree(proc)                              # a kernel left behind by nbgrader
    return []


def kill_tree(proc):
    for process in processes.descendants(proc.pid):
        try:
            process.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def disk_usage(folder):
    """Bytes of disk that everything under folder takes (blocks, not sizes: a preallocated file counts, and
    every directory does), walked without recursion, however deep a kernel made the tree."""
    total, folders = 0, [str(folder)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
            except OSError:
                pass
    return total


def remove(folder):
    """Remove a scratch folder whatever a kernel left in it (rm does not recurse on the stack, as
    shutil.rmtree does, which a tree thousands of folders deep overflows)."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=False)


def test_cells(notebooks):
    """The grade ids of the autograded test cells of executed notebooks."""
    found = []
    for notebook in notebooks.values():
        for cell in nbformat.reads(notebook.decode(), as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                found.append(meta["grade_id"])
    return found


EXCEPTION = re.compile(r"^[\w.]+(Error|Exception): ")
KNOWN_FAILURES = [
    (("DeadKernelError", "Kernel died", "UnresponsiveKernelError"), "the kernel died"),
    (("NotJSONError", "JSONDecodeError", "Notebook does not appear to be JSON"), "the notebook is not valid JSON"),
]


def last_error(log):
    """The most telling line of nbgrader's log for a submission it could not grade."""
    for markers, reason in KNOWN_FAILURES:
        if any(marker in (log or "") for marker in markers):
            return reason
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    exceptions = [line for line in lines if EXCEPTION.match(line)]
    return (exceptions or lines or ["no output"])[-1][-300:]
