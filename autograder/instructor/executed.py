"""Reading what nbgrader wrote for one submission: its executed notebooks (bytes from a folder no
kernel could write) and its log, turned into the readable reasons and timings the grader reports."""
import re
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader import utils

from autograder.instructor import untrusted


def problems_in(notebook_bytes):
    """Readable reasons for cells that did not complete: errors in the student's cells, timeouts,
    memory, dead kernels. (A failing test cell is not a problem: its points tell.)"""
    found = []
    nb = nbformat.reads(notebook_bytes.decode(), as_version=4)
    for cell in nb.cells:
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
            elif utils.is_solution(cell) and not utils.is_grade(cell):
                found.append(f"{cell.metadata.nbgrader.get('grade_id')}: {name}: {value}"[:160])
    return sorted(set(found))


def executed_notebooks(folder, names, max_bytes):
    """{name: bytes} of the notebooks nbgrader wrote into folder (a folder no kernel could write)."""
    found = {name: untrusted.read(Path(folder) / name, max_bytes) for name in names}
    return {name: data for name, data in found.items() if data is not None}


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
            seconds["test cells" if utils.is_grade(cell) else "the student's cells"] += max(0.0, spent)
    return seconds


def test_cells(notebooks):
    """The grade ids of the autograded test cells of executed notebooks."""
    found = []
    for notebook in notebooks.values():
        for cell in nbformat.reads(notebook.decode(), as_version=4).cells:
            if utils.is_grade(cell) and cell.cell_type == "code":
                found.append(cell.metadata.nbgrader["grade_id"])
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

