"""Where submissions are graded: fresh local processes, or a Dask cluster's workers."""
import concurrent.futures
import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import tempfile
import time

import psutil

from autograder.instructor import watchdog, worker
from autograder.instructor.records import failed


def default_workers(rules):
    """One single-threaded training per core (measured faster than fewer, multi-threaded ones),
    and no more than memory allows at rules.worker_memory_gb per submission."""
    memory_slots = int(psutil.virtual_memory().available // (rules.worker_memory_gb * 2**30))
    return max(1, min(os.cpu_count() or 1, memory_slots))


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


def isolated(job, stopping):
    """Grade one submission in a fresh process; if that process dies, once more in another. A
    submission that kills its process every time is recorded with the reason, not retried forever.
    Once `stopping` is set (Ctrl-C), no new process starts."""
    for _ in range(job.rules.attempts):
        if stopping.is_set():
            raise KeyboardInterrupt("grading was interrupted")
        scratch = tempfile.mkdtemp(prefix="grade-")      # removed here too: a killed process cannot
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=fresh_processes()) as pool:
            started = time.monotonic()
            try:
                job.scratch = scratch
                result = pool.submit(worker.grade_with, job, dict(os.environ)).result()
            except concurrent.futures.process.BrokenProcessPool:
                continue
            finally:
                watchdog.remove(scratch)
            starting = time.monotonic() - started - result.seconds    # Python, torch and autograder imported
            result.phases = {"a fresh grading process": starting, **result.phases}
            return result
    return failed(job, f"its grading process died {job.rules.attempts} times")

