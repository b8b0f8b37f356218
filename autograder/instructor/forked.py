"""Children forked from a grading worker: nbgrader's process, and the grader's checks of a
submission's files. Each is detached (its own session, killed with the worker) and capped in
memory; both end in os._exit, whatever happens."""
import ctypes
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from nbgrader.apps import NbGraderApp

PR_SET_PDEATHSIG = 1   # prctl option: the signal a process gets when its parent dies
PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None    # looked up before any fork


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
    """`nbgrader ARGV` configured by `config` (a traitlets Config) in a child process forked from this
    worker, which has imported nbgrader already (a new Python importing it cost 0.9 s a submission);
    with Popen's pid, poll and wait. The child is detached, and writes to the log file."""

    def __init__(self, argv, config, cwd, env, log_file, memory_bytes):
        self.returncode = None
        worker = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            status = 1
            try:
                detach(memory_bytes, worker)
                status = self.run(argv, config, cwd, env, log_file.fileno())
            finally:
                os._exit(status)

    @staticmethod
    def run(argv, config, cwd, env, log_fd):
        """In the child: 0 if nbgrader succeeded, 1 if not."""
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
        try:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            tempfile.tempdir = None             # read TMPDIR again: the worker's was cached before the fork
            NbGraderApp.launch_instance(argv=argv, config=config)
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

