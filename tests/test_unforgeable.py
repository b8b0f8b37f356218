"""Real submissions of assignment 03, graded by the class-grading command.

The honest solution gets full marks. Submissions that skip training and then patch the grader,
torch, subprocess or builtins from their own cells may fool the checks inside the notebook, but
the verdicts computed outside the kernel decide, so they earn no accuracy point.
"""
import shutil

import nbformat
import pytest

from autograder import course, grading
from conftest import ROOT

ASSIGNMENT = "03_mnist_cnn"
NOTEBOOK = "mnist_cnn.ipynb"
SKIP_TRAINING = ('model = MnistCNN().to(device)\n'
                 'history = {"epoch": [1], "loss": [0.0], "train_acc": [0.0], "test_acc": [0.0], "seconds": [0.0]}')
CHEATS = {
    "untrained": "",
    "patches_autograder": ("import autograder.evaluate as grader\n"
                           "grader.accuracy = lambda *args, **kwargs: 0.999\n"
                           "grader.check_accuracy = lambda *args, **kwargs: 0.999"),
    "patches_torch": ("torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)\n"
                      "torch.Tensor.argmax = lambda self, dim=None: torch.zeros(self.shape[0], dtype=torch.long)"),
    "patches_subprocess": ("import subprocess\n"
                           "subprocess.run = subprocess.Popen = subprocess.check_output = lambda *a, **k: None"),
    "patches_builtins": ("import builtins\n"
                         "_len = builtins.len\n"
                         "builtins.len = lambda obj: 1 if getattr(obj, 'shape', None) == (10000,) else _len(obj)"),
}


def submission(cheat):
    """The solution with training skipped and the cheat inserted before the accuracy test."""
    nb = nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution"):
            c.source = course.strip_markers(c.source)
    if cheat is None:
        return nb
    train = next(i for i, c in enumerate(nb.cells) if "history = train(" in c.source)
    nb.cells[train].source = SKIP_TRAINING + "\n" + cheat
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("unforgeable")
    shutil.copytree(ROOT / "source" / ASSIGNMENT, course_dir / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("*.pt", "*.pt2"))
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    course.release(course_dir, ASSIGNMENT)
    for student, cheat in {"honest": None, **CHEATS}.items():
        folder = course_dir / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(submission(cheat), folder / NOTEBOOK)
    grading.grade(course_dir, ASSIGNMENT, workers=1, budget_s=600)
    return course_dir, {r["student"]: r for r in grading.export(course_dir, ASSIGNMENT, course_dir / "grades.csv")}


def test_the_honest_solution_gets_full_marks(graded):
    _, rows = graded
    assert rows["honest"]["autograded"] == rows["honest"]["autograded_max"], rows["honest"]


@pytest.mark.parametrize("student", CHEATS)
def test_patching_earns_no_accuracy_point(graded, student):
    _, rows = graded
    assert rows[student]["test_accuracy"] == 0, rows[student]
    assert rows[student]["test_layer_shapes"] == rows["honest"]["test_layer_shapes"], "a correct architecture keeps its points"


def test_the_grader_itself_was_fooled_inside_the_kernel(graded):
    """Proof that the outside verdict matters: inside the notebook the patched check passed."""
    course_dir, _ = graded
    executed = nbformat.read(course_dir / "autograded" / "patches_autograder" / ASSIGNMENT / NOTEBOOK, as_version=4)
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy")
    assert not any(o.output_type == "error" for o in cell.outputs), "the patch did not fool the in-kernel check"
