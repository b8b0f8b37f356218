"""Grade one submission in a scratch course directory; runs in a worker process (local or Dask).

A job (autograder/instructor/records.py) carries everything as data (the submission's files, a
template gradebook, the course's nbgrader settings, the grading rules), and the result carries back
the executed notebooks and the verdicts, so a worker needs no shared file system: the same function
runs on a laptop or on a cluster. The worker never writes the real gradebook; the instructor's
process records the results.
"""
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from nbgrader.preprocessors import Execute
from traitlets.config import Config

from autograder.instructor import executed, sandbox, verdicts, watchdog
from autograder.instructor.forked import Nbgrader, bounded
from autograder.instructor.records import Result, failed
from autograder.student import data, evaluate, submit

# What the kernel may write: the sockets it listens on, the folder it exports models and records to,
# and `work`, where the sandbox gives each kernel a private copy of its notebook's folder. Nothing
# outside the sandbox writes into them, and the grader reads them only through autograder.untrusted.
KERNEL_FOLDERS = ("sockets", "exports", "work")


def write_tree(folder, files):
    for rel, content in files.items():
        path = Path(folder) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def grade_with(job, environ):
    """grade_submission with the grader's environment of now (a forked process has its server's)."""
    os.environ.clear()
    os.environ.update(environ)
    return grade_submission(job)


def grade_submission(job):
    """Autograde job.student's job.assignment; return its Result."""
    started = time.monotonic()
    torch.set_num_threads(job.threads)            # the verdicts share the cores with the other workers' kernels
    evaluate.raw_set()                            # the grader's data, loaded before any student code runs
    loaded = time.monotonic()
    scratch = Path(job.scratch or tempfile.mkdtemp(prefix="grade-"))
    try:
        result = run_job(job, scratch)
    except Exception as error:  # noqa: BLE001 - whatever the submission did, it gets a row with the reason
        result = failed(job, f"the grader could not grade it: {type(error).__name__}: {error}"[:300])
    finally:
        watchdog.remove(scratch)
    result.phases = {"the grader's data": loaded - started, **result.phases}
    result.seconds = round(time.monotonic() - started, 1)
    return result


def nbgrader_config(job, scratch):
    """The course's settings, then the grader's own: nbgrader works in the scratch course, whatever
    the course names; the kernel talks over Unix sockets in a folder of their own; and no cell runs
    past the course's cell timeout or past the submission's budget, whichever comes first."""
    config = Config(json.loads(json.dumps(job.settings)))
    cell_timeout = Execute(config=config).timeout
    deadline = time.monotonic() + job.rules.budget_s
    config.merge(Config({
        "Execute": {"timeout_func": lambda cell: max(1, min(cell_timeout, int(deadline - time.monotonic())))},
        "KernelManager": {"transport": "ipc", "ip": str(scratch / "sockets" / "kernel")},
        "CourseDirectory": {"root": str(scratch), "db_url": f"sqlite:///{scratch / 'gradebook.db'}",
                            "submitted_directory": "submitted", "autograded_directory": "autograded"},
    }))
    return config


def prepare(job, scratch):
    """Write the scratch course; return nbgrader's arguments, its configuration and its environment."""
    (scratch / "gradebook.db").write_bytes(job.gradebook)
    write_tree(scratch / "submitted" / job.student / job.assignment, job.files)
    for folder in ("runtime", "jupyter", *KERNEL_FOLDERS):
        (scratch / folder).mkdir()
    threads, mnist = str(job.threads), str(data.mnist_root())
    kernel_env = {submit.EXPORT_DIR: str(scratch / "exports"), "OMP_NUM_THREADS": threads,
                  "MKL_NUM_THREADS": threads, "NBGRADER_EXECUTION": "autograde", data.ENV_VAR: mnist}
    settings = {"env": kernel_env, "writable": [str(scratch / "exports"), str(scratch / "sockets")],
                "work": str(scratch / "work"), "readable": [mnist], "tmp_bytes": job.rules.tmp_mb * 2**20,
                "memory_bytes": job.rules.memory_bytes}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           # Only the job's settings, never this machine's Jupyter config (/etc/jupyter, ~/.jupyter: a hub's
           # exchange, say); the empty config folder jupyter_core makes for it goes into the scratch course.
           "JUPYTER_NO_CONFIG": "1", "TMPDIR": str(scratch / "runtime"),
           "JUPYTER_PATH": sandbox.kernel_spec(scratch / "jupyter"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
           sandbox.SETTINGS: json.dumps(settings)}
    argv = ["autograde", job.assignment, f"--student={job.student}", "--force"]
    return argv, nbgrader_config(job, scratch), env


def run_job(job, scratch):
    argv, config, env = prepare(job, scratch)
    started = time.monotonic()
    with open(scratch / "nbgrader.log", "w+") as log_file:
        proc = Nbgrader(argv, config, scratch, env, log_file, job.rules.memory_bytes)
        try:
            stopped = watchdog.watch(proc, scratch, job.rules)
        except BaseException:                   # Ctrl-C or a cancelled task: leave no kernel behind
            watchdog.kill_tree(proc)
            raise
        nbgrader_seconds = time.monotonic() - started
        log_file.seek(0)
        log = log_file.read()
    missing = [name for name in job.notebooks if name not in job.files]
    problems = stopped + [f"missing notebook: {name}" for name in missing]
    graded = scratch / "autograded" / job.student / job.assignment
    # nbgrader writes the notebook before it executes it: a run that was stopped left an unexecuted
    # copy, in which no test failed. Only a run that finished is graded.
    finished = not stopped and proc.returncode == 0
    notebooks = executed.executed_notebooks(graded, job.notebooks, job.rules.notebook_mb * 2**20) if finished else {}
    if not notebooks and not stopped:
        problems.append("nbgrader could not grade it: " + executed.last_error(log))
    for notebook in notebooks.values():
        problems += executed.problems_in(notebook)
    deciding = time.monotonic()
    cells = executed.test_cells(notebooks)
    decided, trouble = bounded(functools.partial(verdicts.decide, job.assignment, job.expected, scratch / "exports",
                                                 cells, job.rules), job.rules.verdict_s, job.rules.memory_bytes)
    if trouble:
        decided = {cell: trouble for cell in cells}
        problems.append(trouble)
    phases = executed.cell_seconds(notebooks)
    phases = {"nbgrader and the kernel, besides the cells": nbgrader_seconds - sum(phases.values()), **phases,
              "the grader's verdicts": time.monotonic() - deciding}
    return Result(job.assignment, job.student, notebooks=notebooks, timestamp=job.files.get("timestamp.txt"),
                  verdicts=decided, problems=sorted(set(problems)), phases=phases)
