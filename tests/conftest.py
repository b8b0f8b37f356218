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


def _patient_nbval():
    """nbval waits only 5 s for a cell's messages once the cell has run; on a busy 2-core machine the
    last messages of a training cell can take longer (seen in CI). Give them a minute. This conftest is
    loaded before pytest collects source/ and notebooks/, so the setting covers them too."""
    from nbval.plugin import IPyNbCell

    original = IPyNbCell.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.output_timeout = 60

    IPyNbCell.__init__ = init


_patient_nbval()
