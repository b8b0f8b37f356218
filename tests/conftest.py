"""Shared fixtures (the demo's graded course, the exchange's) and the tiers' markers on collected notebooks."""
import os
import shutil

import pytest

import helpers
from autograder.instructor import demo, hub
from autograder.student.data import mnist_root
from helpers import ROOT, run_exchange


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """A copy of source/ and the nbgrader config on which the demo ran: release, submit, grade.

    The same steps as the README's main command, on the real data, in a scratch directory. This is
    the one run of the solution notebooks in the suite: test_solutions.py checks their outputs as
    nbval would, and the pipeline tests check their grades.
    """
    mnist_root()
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source", course / "source",
                    ignore=shutil.ignore_patterns("*.pt", "*.pt2", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    demo.run(course)
    return course


@pytest.fixture(scope="session")
def exchanged(tmp_path_factory):
    """A course whose assignment 02 went through nbgrader's exchange and was graded (test_exchange.py)."""
    return run_exchange(tmp_path_factory.mktemp("exchange"))


def _patient_nbval():
    """nbval reads a cell's output messages only after the cell has finished, and ZeroMQ drops what
    its queues cannot hold: a progress bar redrawn ten times a second through a long training cell
    overflows them (20,000 tqdm updates in one cell reproduce it; 2,000 do not), the "idle" message
    is lost, and nbval fails the cell with "Timeout waiting for output" (seen in CI). Under test, tqdm redraws every 5 s (its TQDM_*
    environment defaults, inherited by the kernels), and nbval waits a minute rather than 5 s for
    the last messages. This conftest is loaded before pytest collects source/ and notebooks/."""
    from nbval.plugin import IPyNbCell

    os.environ["TQDM_MININTERVAL"] = "5"
    original = IPyNbCell.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.output_timeout = 60

    IPyNbCell.__init__ = init


_patient_nbval()


# session fixtures that grade a class: a test that uses one is slow (and would make `make test-fast` pay for it)
GRADING_FIXTURES = {"graded_course", "exchanged"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """nbval's items are the cells of a notebook it executes (the lectures in notebooks/): the slow tier. A
    test that uses a grading fixture without the slow marker is an error. This runs before `-m` deselects."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
        used = GRADING_FIXTURES & set(getattr(item, "fixturenames", ()))
        if used and not item.get_closest_marker("slow"):
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(sorted(used))}, which grades a class: mark it slow")


@pytest.fixture(scope="session")
def deployment():
    """The hub's setup (idempotent: quick once done) with the test's accounts."""
    hub.setup(helpers.INSTRUCTOR, list(helpers.STUDENTS), create_accounts=True, log=lambda message: None)
    return hub
