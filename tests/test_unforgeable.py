"""Real submissions of assignment 03, graded by the class-grading command.

(The honest solution gets full marks from the same grader in the demo: test_pipeline.py.) Submissions
that skip training and then patch the grader,
torch, subprocess or builtins from their own cells may fool the checks inside the notebook, but
the verdicts computed outside the kernel decide, so they earn no accuracy point. Honest models
that are wrong in one way get, cell by cell, what a plain `nbgrader autograde` gives them.
"""
import shutil

import nbformat
import pytest

from autograder.instructor import course, grading
from helpers import FORGERIES, ROOT, solved

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
ASSIGNMENT = "03_mnist_cnn"
NOTEBOOK = "mnist_cnn.ipynb"
SKIP_TRAINING = ('model = MnistCNN().to(device)\n'
                 'history = {"epoch": [1], "train_loss": [0.0], "val_loss": [0.0], "val_acc": [0.0], "seconds": [0.0]}')
CHEATS = {
    "untrained": "",
    "patches_autograder": ("import autograder.student.evaluate as grader\n"
                           "grader.accuracy = lambda *args, **kwargs: 0.999\n"
                           "grader.check_accuracy = lambda *args, **kwargs: 0.999"),
    "patches_torch": ("torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)\n"
                      "torch.Tensor.argmax = lambda self, dim=None: torch.zeros(self.shape[0], dtype=torch.long)"),
    "patches_subprocess": ("import subprocess\n"
                           "subprocess.run = subprocess.Popen = subprocess.check_output = lambda *a, **k: None"),
    "patches_builtins": ("import builtins\n"
                         "_len = builtins.len\n"
                         "builtins.len = lambda obj: 1 if getattr(obj, 'shape', None) == (10000,) else _len(obj)"),
    # No working reload: silence the failing test and write the grader's records file with the answers
    # a student can guess (the hidden check's name shows in feedback; its answer is "yes, yes").
    "forges_records": FORGERIES["class_patch"] + (
        "\nimport json, os\n"
        "with open(os.path.join(os.environ.get('GRADER_EXPORT_DIR', '.'), 'observations.jsonl'), 'a') as f:\n"
        "    f.write(json.dumps({'key': \"the reloaded model is in eval mode and gives the trained model's logits\","
        " 'value': [True, True]}) + '\\n')"),
}
NO_RELOAD = "def reload(path):\n    return model"


# Honest but wrong in one way (and untrained, to keep the test short): graded here and by a plain
# `nbgrader autograde`, every cell must get the same points. Each is (a change to the model cell, code
# after training): "collapsed" stands for a loop that never clears its gradients, whose model ends up
# giving one output for every image; the behaviour cell checks the architecture, not the training.
WRONG = {"softmax_output": (("nn.Linear(128, 10),", "nn.Linear(128, 10), nn.Softmax(dim=1),"), ""),
         "average_pooling": (("nn.MaxPool2d(2)", "nn.AvgPool2d(2)"), ""),
         "collapsed": (None, "with torch.no_grad():\n    model.classifier[-1].weight.zero_()")}


def submission(cheat, wrong=None):
    """The solution with training skipped and the cheat inserted before the accuracy test. The
    figures and reports after training are left out (they grade nothing: 6 s of every submission)."""
    nb = solved(nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4),
                changes={("mnist_cnn", wrong[0]): wrong[1]} if wrong else None)
    if cheat == CHEATS["forges_records"]:
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "reload").source = NO_RELOAD
    train = next(i for i, c in enumerate(nb.cells) if "history = train(" in c.source)
    nb.cells[train].source = SKIP_TRAINING + "\n" + cheat
    for c in nb.cells[train + 1:]:
        if c.cell_type == "code" and "nbgrader" not in c.metadata and "torch.save" not in c.source:
            c.source = ""
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("unforgeable")
    shutil.copytree(ROOT / "source" / ASSIGNMENT, course_dir / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("*.pt", "*.pt2"))
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    course.release(course_dir, ASSIGNMENT)
    notebooks = {**{s: submission(c) for s, c in CHEATS.items()},
                 **{s: submission(after, wrong) for s, (wrong, after) in WRONG.items()}}
    for student, nb in notebooks.items():
        folder = course_dir / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
    grading.grade(course_dir, ASSIGNMENT, budget_s=600)
    return course_dir, {r["student"]: r for r in grading.export(course_dir, ASSIGNMENT, course_dir / "grades.csv")}


def points(grade_id):
    cells = nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4).cells
    return next(c.metadata.nbgrader["points"] for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.parametrize("student", CHEATS)
def test_patching_earns_no_accuracy_point(graded, student):
    _, rows = graded
    assert rows[student]["test_accuracy"] == 0, rows[student]
    assert rows[student]["test_layer_shapes"] == points("test_layer_shapes"), "a correct architecture keeps its points"


def test_forged_records_of_guessable_answers_earn_nothing(graded):
    """test_pipeline.py checks that no test cell can be passed by guessed yes/no answers; this is the
    same attack made by a real submission, through the class grader."""
    course_dir, rows = graded
    assert rows["forges_records"]["test_reload"] == 0, rows["forges_records"]
    executed = nbformat.read(course_dir / "autograded" / "forges_records" / ASSIGNMENT / NOTEBOOK, as_version=4)
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_reload")
    assert not any(o.output_type == "error" for o in cell.outputs), "the failing check was not silenced"


def test_the_grader_itself_was_fooled_inside_the_kernel(graded):
    """Proof that the outside verdict matters: inside the notebook the patched check passed."""
    course_dir, _ = graded
    executed = nbformat.read(course_dir / "autograded" / "patches_autograder" / ASSIGNMENT / NOTEBOOK, as_version=4)
    cell = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy")
    assert not any(o.output_type == "error" for o in cell.outputs), "the patch did not fool the in-kernel check"


def test_honest_wrong_models_get_what_plain_nbgrader_gives_them(graded, tmp_path):
    course_dir, rows = graded
    plain = tmp_path / "plain"
    shutil.copytree(course_dir, plain, ignore=shutil.ignore_patterns("gradebook.db", "autograded", "grading_state.json"))
    for folder in (plain / "submitted").iterdir():
        if folder.name not in WRONG:
            shutil.rmtree(folder)
    course.release(plain, ASSIGNMENT)
    course.autograde(plain, ASSIGNMENT)
    by_nbgrader = {r["student"]: r for r in grading.export(plain, ASSIGNMENT, plain / "grades.csv")}
    cells = [key for key in rows["untrained"] if key.startswith("test_")]
    for student in WRONG:
        assert {c: rows[student][c] for c in cells} == {c: by_nbgrader[student][c] for c in cells}, student
    assert rows["softmax_output"]["test_output_and_params"] == 2, "a softmax costs only the behaviour check"
    assert rows["collapsed"]["test_behaviour"] == points("test_behaviour"), "a collapsed model has the right architecture"


def test_the_feedback_says_why_the_grader_disagreed(graded):
    course_dir, _ = graded
    course.feedback(course_dir, ASSIGNMENT)
    html = (course_dir / "feedback" / "patches_autograder" / ASSIGNMENT / "mnist_cnn.html").read_text()
    assert "the grader&#39;s own check" in html or "the grader's own check" in html
    assert "test digits right" in html
