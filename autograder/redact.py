"""Keep what the grader knows to be secret out of what a student gets back.

A student's kernel can print anything it can see while it runs, and under grading it sees the
hidden tests as they execute (an IPython hook gets every cell's source). Before a graded notebook
is recorded, every output of every cell is scrubbed of the assignment's secret lines (solution
code and hidden tests, as in source/) and of the expected values of the hidden checks.
"""
import json
import re
from pathlib import Path

import nbformat

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
MARK = "[hidden by the grader]"


def secret_lines(folder):
    """Lines of solution code and hidden tests in folder's notebooks that a student must never see.

    Short lines, and lines that also stand outside those blocks (a shared import, a `for` header),
    are not secret."""
    secret, public = set(), set()
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for block in SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source):
                secret |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
            rest = HIDDEN.sub("", SOLUTION.sub("", cell.source))
            public |= {line.strip() for line in rest.splitlines()}
    return secret - public


def secrets(folder, expected):
    """The secret lines of the source folder and the expected values (as JSON) of its hidden checks."""
    values = {json.dumps(v) for checks in (expected or {}).get("cells", {}).values() for v in checks.values()}
    return sorted(secret_lines(folder) | {v for v in values if len(v) > 12}, key=len, reverse=True)


def scrub(text, found):
    for secret in found:
        text = text.replace(secret, MARK)
    return text


def notebook(data, found):
    """The notebook (bytes) with every secret replaced in every output."""
    nb = nbformat.reads(data.decode(), as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = scrub(output.text, found)
            for kind, value in output.get("data", {}).items():
                if kind.startswith("text/") or kind == "application/json":
                    output.data[kind] = scrub(value if isinstance(value, str) else json.dumps(value), found)
            if "traceback" in output:
                output.traceback = [scrub(line, found) for line in output.traceback]
                output.evalue = scrub(output.evalue, found)
    return nbformat.writes(nb).encode()
