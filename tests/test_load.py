"""No point depends on how busy the grading machine is.

04 measures timings (seconds per epoch, microseconds per image) and reports them; none of its points rests
on one. Its solution, graded by `grade` on one core while a CPU hog keeps the other busy, earns full marks.
(A hog per core, on top of the grading's threads, made the same grading four times as long: 5.5 min.)
"""
import os
import shutil
import subprocess
import sys

import pytest

from autograder.instructor import course, demo, grading
from helpers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.sandbox]
ASSIGNMENT = "04_dense_vs_cnn"
HOG = "while True:\n    pass"


def test_04s_solution_earns_full_marks_on_a_busy_machine(tmp_path):
    shutil.copytree(ROOT / "source" / ASSIGNMENT, tmp_path / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("*.pt", "*.pt2"))
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    course.release(tmp_path, ASSIGNMENT)
    demo.write_samples(tmp_path, ASSIGNMENT)
    for student in ("partial", "untouched"):
        shutil.rmtree(tmp_path / "submitted" / student)
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(max(1, (os.cpu_count() or 2) - 1))]
    try:
        (row,) = grading.grade(tmp_path, ASSIGNMENT, workers=os.cpu_count())     # one thread for the grading
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert row["score"] == row["max"], row
