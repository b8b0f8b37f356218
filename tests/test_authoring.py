"""docs/authoring.md's "Adding an assignment", followed as written: its commands run, in a new course
folder, on a small assignment; the solution earns full marks and the untouched release zero."""
import re
import shlex
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from autograder.instructor import course
from helpers import ROOT, nbgrader_cell as cell

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.sandbox]      # releases, records and grades: make test-slow

GUIDE = ROOT / "docs" / "authoring.md"


def steps():
    """The command lines of the guide's block under "## Adding an assignment"."""
    section = GUIDE.read_text().split("## Adding an assignment", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def example(folder):
    """09_example: one exercise, a test cell with a visible and a hidden part, a written answer."""
    nb = new_notebook(cells=[
        new_markdown_cell("Write `square(x)`, which returns `x * x`."),
        cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
             solution=True, grade_id="square"),
        cell('from autograder.student.observe import observe\nassert square(3) == 9, "square(3) should be 9"\n'
             '### BEGIN HIDDEN TESTS\nobserve("square of -1.5", square(-1.5))\n### END HIDDEN TESTS',
             grade=True, locked=True, points=2, grade_id="test_square"),
    ])
    nb.cells.append(new_markdown_cell("### BEGIN SOLUTION\nAny answer that says why.\n### END SOLUTION",
                                      metadata={"nbgrader": {"schema_version": 3, "locked": False, "solution": True,
                                                             "grade": True, "points": 1, "grade_id": "why"}}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "example.ipynb")


def test_the_guides_steps_add_an_assignment_that_grades_right(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    example(tmp_path / "source" / "09_example")
    for line in steps():
        for command in line.split("&&"):
            argv = [sys.executable if word == "python" else word for word in shlex.split(command)]
            ran = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
            assert ran.returncode == 0, f"{command}:\n{ran.stdout[-1500:]}\n{ran.stderr[-1500:]}"
    assert (tmp_path / "release" / "09_example" / "example.ipynb").is_file()
    assert (tmp_path / "source" / "09_example" / "expected.json").is_file()
    trial = course.scores(tmp_path, "09_example", "trial")
    untouched = course.scores(tmp_path, "09_example", "untouched")
    assert (trial["auto"], trial["auto_max"], trial["manual_max"]) == (2, 2, 1), trial
    assert untouched["auto"] == 0, untouched
