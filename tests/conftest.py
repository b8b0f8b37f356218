"""Shared fixtures: a copy of the course, released and graded once per test session."""
import shutil
from pathlib import Path

import pytest

from autograder import course as course_mod
from autograder.data import mnist_root

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course_mod.assignments(ROOT)


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """A copy of source/ and the nbgrader config on which the demo ran: release, submit, autograde.

    The same steps as the README's main command, on the real data, in a scratch directory.
    """
    mnist_root()
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source", course / "source",
                    ignore=shutil.ignore_patterns("*.pt", "*.pt2", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    course_mod.run_demo(course)
    return course
