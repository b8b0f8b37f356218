"""Executing notebooks: recording the outputs that nbval checks, and the expected observations;
the students' copy of every lecture."""
import json
import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearOutput, ClearSolutions

from autograder.instructor import course as course_mod
from autograder.instructor import markers, observations
from autograder.student import observe

CHECKED = "nbval-check-output"
BLANK = "_____  # we write this together in class"


def execute(path, timeout=600, **hooks):
    """Run a notebook top to bottom in its own folder and return the executed notebook."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}, **hooks).execute()
    return nb


def record(path):
    """Execute `path` and save it with outputs only in the cells tagged nbval-check-output.

    Those outputs (and their execution counts, which nbval needs) are what nbval and
    tests/test_solutions.py compare; every other cell, and the notebook's metadata, is saved clean.
    An instructor notebook of source/ gets its expected.json from the same run.
    """
    path = Path(path)
    if path.parent.parent.name == "source":
        return expect(path.parent, save_outputs=True)
    nb = execute(path)
    keep_checked_outputs(nb)
    nbformat.write(nb, path)


def keep_checked_outputs(nb):
    nb.metadata.pop("widgets", None)         # progress bars' state: noise in a diff, useless to a reader
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECKED not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None


def blank_copy(path):
    """The students' copy of a lecture: nbgrader's ClearSolutions (as for the assignments) replaces
    each ### BEGIN SOLUTION ... ### END SOLUTION region, which the class writes live, by a blank;
    no cell keeps an output (a lecture without such regions is copied without its outputs, so that
    students run it rather than read what an assignment asks them to predict)."""
    nb = nbformat.read(path, as_version=4)
    nb, _ = ClearSolutions(code_stub={"python": BLANK}, enforce_metadata=False).preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    return nb


def lectures(course):
    """{lecture in notebooks/: its students' copy in notebooks/students/}, for every lecture."""
    folder = Path(course) / "notebooks"
    return {path: folder / "students" / path.name for path in sorted(folder.glob("*.ipynb"))}


def live_lectures(course):
    """The lectures with live-coding regions (nbgrader's solution regions), as lectures() gives them."""
    begin = markers.solution(course_mod.config(course))[0]
    return {path: copy for path, copy in lectures(course).items() if begin in path.read_text()}


def stale(course):
    """Assignments whose source/<assignment>/expected.json is missing or older than the notebook."""
    return [name for name in course_mod.assignments(course) if not observations.current(Path(course) / "source" / name)]


def expect(folder, save_outputs=False):
    """Execute the assignment's instructor notebook and write folder/expected.json: for each test
    cell, what the solution gives for every check the cell observes (autograder/student/observe.py).
    With save_outputs, the run also refreshes the outputs nbval compares (see record)."""
    (path,) = sorted(Path(folder).glob("*.ipynb"))
    cells, seen = {}, 0
    with tempfile.TemporaryDirectory() as records:
        def collect(cell, **_):
            nonlocal seen
            lines = (Path(records) / observe.RECORDS).read_text().splitlines()
            new, seen = lines[seen:], len(lines)
            if not new:
                return
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            assert cell.metadata.get("nbgrader", {}).get("grade"), f"observe() outside a test cell: {cell.source[:80]}"
            for record in (r for r in map(json.loads, new) if "key" in r):   # claims are the grader's to measure
                assert all(record["key"] not in c for c in cells.values()), f"two checks named {record['key']!r}"
                cells.setdefault(grade_id, {})[record["key"]] = record["value"]

        (Path(records) / observe.RECORDS).touch()
        os.environ[observe.RECORD_TO] = records
        try:
            nb = execute(path, on_cell_executed=collect)
        finally:
            del os.environ[observe.RECORD_TO]
    if save_outputs:
        keep_checked_outputs(nb)
        nbformat.write(nb, path)
    expected = {"notebook": path.name, "fingerprint": observations.fingerprint(path), "cells": cells}
    (Path(folder) / observe.EXPECTED).write_text(dump(expected))
    return expected


def dump(expected):
    """expected.json with one line per check, so that a diff shows which checks changed."""
    cells = [f"  {json.dumps(cell)}: {{\n" + ",\n".join(f"   {json.dumps(key)}: {json.dumps(value)}"
                                                      for key, value in sorted(checks.items())) + "\n  }"
             for cell, checks in sorted(expected["cells"].items())]
    return (f'{{\n "notebook": {json.dumps(expected["notebook"])},\n "fingerprint": "{expected["fingerprint"]}",\n'
            f' "cells": {{\n' + ",\n".join(cells) + "\n }\n}\n")
