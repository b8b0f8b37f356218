"""The grader's side of observations: judging what a kernel recorded against expected.json.

A hidden test records what the student's code produced (autograder/student/observe.py); the grading
worker reads the kernel's records file here, with autograder/instructor/untrusted.py, and compares it
with source/<assignment>/expected.json, which the sandbox never sees.
"""
import hashlib
import json
from pathlib import Path

from autograder.instructor import untrusted
from autograder.student.observe import EXPECTED, MISSING, RECORDS, compare


def read_records(folder, field="key"):
    """{key: value} of the observations (field "key") or claims ("claim") in a kernel's records file:
    JSON lines, nothing executable; the first record of a key counts (a notebook that observes
    again cannot replace an earlier result). untrusted.Refused if the file is a link, special or too large."""
    found = {}
    data = untrusted.read(Path(folder) / RECORDS, 64 * 2**20) or b""
    for line in data.decode(errors="replace").splitlines():
        try:
            record = json.loads(line)
            found.setdefault(str(record[field]), record["value"])
        except (ValueError, KeyError, TypeError, RecursionError):     # RecursionError: nested too deep
            continue
    return found


def judge(expected, folder, rel_tol, abs_tol):
    """{test cell: None or the reason} for every cell that expected.json has checks for, numbers
    compared within the tolerances."""
    try:
        actual = read_records(folder)
    except untrusted.Refused as refused:
        return {cell: f"the grader refused your notebook's records: {refused}" for cell in expected["cells"]}
    verdicts = {}
    for cell, checks in expected["cells"].items():
        reasons = [compare(key, value, actual.get(key, MISSING), rel_tol, abs_tol) for key, value in checks.items()]
        verdicts[cell] = next((r for r in reasons if r), None)
    return verdicts


def current(folder):
    """folder/expected.json if it was made from the code of the notebook in folder as it is now, else None."""
    path = Path(folder) / EXPECTED
    expected = json.loads(path.read_text()) if path.is_file() else None
    notebook = Path(folder) / expected["notebook"] if expected else None
    return expected if notebook and notebook.is_file() and fingerprint(notebook) == expected["fingerprint"] else None


def fingerprint(notebook_path):
    """The hash of the notebook's code cells, in order: expected.json is stale once code changed
    after it. Prose may change freely: it does not change what the solution computes."""
    cells = json.loads(Path(notebook_path).read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(code).encode()).hexdigest()
