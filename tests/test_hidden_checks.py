"""Every hidden test fails on a wrong answer.

Each entry of WRONG replaces a piece of one exercise's solution by a plausible mistake. The hidden
part of the exercise's test cell passes on the solution and must fail on the mistake: an
AssertionError from a check that says what differs, or the mistake raising on the check's input. `visible` says what the
visible part of the cell does with the mistake: True where it passes, so that only the hidden part
catches the mistake (the hidden test earns its place), False where the visible check already
catches it, None where the visible part needs a trained model.

The notebook's cells run in this process, in order, on the real data, without the training cells;
the checks whose answers are trained models are decided by the grader's verdicts and tested with
wrong models in test_cnn_grading.py.
"""
import ast
import shutil
from pathlib import Path

import matplotlib
import nbformat
import pytest

from autograder import course

ROOT = Path(__file__).resolve().parents[1]
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TRAINING = ("fit(", "= train(", "train_with(", "small_budget(", "train_budget(")

# assignment -> [(solution cell, test cell, visible, (solution text, mistake))]
WRONG = {
    "01_data_analysis": [
        ("count_classes", "test_count_classes", True,
         ("return torch.bincount(labels, minlength=10)",
          "counts = torch.zeros(10, dtype=torch.long)\n    for label in labels:\n        counts[label] += 1\n"
          "    return counts")),
        ("class_images", "test_class_images", True,
         ("images[labels == d].mean(dim=0)", "images[labels == d].median(dim=0).values")),
        ("pixel_stats", "test_pixel_stats", True,
         ("zero_fraction = float(pixel_counts[0] / pixel_counts.sum())", "zero_fraction = 0.81")),
        ("normalisation", "test_normalisation", True,
         ("return float(images.mean()), float(images.std())",
          "return (0.1307, 0.3081) if images.numel() > 10**6 else (float(images.mean()), float(images.std()))")),
        ("split_and_loaders", "test_split_and_loaders", True,
         ("stratify=labels.numpy(), random_state=seed", "random_state=seed")),
        ("nearest_mean", "test_nearest_mean", True,
         ("torch.cdist(images.flatten(1), means.flatten(1))", "torch.cdist(*(torch.nn.functional.normalize(t.flatten(1)) for t in (images, means)))")),
    ],
    "02_layer_tracing": [
        ("conv_output_size", "test_output_size_visible", False,
         ("return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1",
          "return (size + 2 * padding - dilation * (kernel_size - 1)) // stride")),
        ("conv_output_size", "test_output_size_vs_torch", True,
         ("return conv_output_size(size, kernel_size, stride, padding, dilation)",
          "return conv_output_size(size, kernel_size, stride, 0, dilation)")),
        ("trace_shapes", "test_trace_course_cnn", True,
         ("    shapes = []\n", "    shapes = []\n    x = torch.zeros(64, 1, 28, 28)\n")),
        ("in_features", "test_in_features", True,
         ("layer.kernel_size[0], layer.stride[0],", "layer.kernel_size[0], 1,")),
        ("param_counts", "test_param_counts", True,
         ("kernel_size * kernel_size + (out_channels if bias else 0)", "kernel_size * kernel_size + out_channels")),
        ("receptive_fields", "test_receptive_fields", True,
         ("r, j = r + (k - 1) * j, j * s", "r, j = r + (k - 1) * j, j * (s if isinstance(layer, nn.MaxPool2d) else 1)")),
        ("conv_block", "test_conv_block", True,
         ("pool_map = F.max_pool2d(relu_map, 2)", "pool_map = F.avg_pool2d(relu_map, 2)")),
    ],
    "03_mnist_cnn": [
        ("train_epoch", "test_train_epoch", False,
         ("        if scheduler is not None:\n            scheduler.step()\n", "")),
        ("evaluate", "test_evaluate", False, ("    model.eval()\n", "")),
        ("confusion", "test_confusion_matrix", False, ("(labels, predictions)", "(predictions, labels)")),
        ("confusion", "test_most_confused", False,
         ("mistakes = confusion - torch.diag(confusion.diag())", "mistakes = confusion.T - torch.diag(confusion.diag())")),
    ],
    "04_dense_vs_cnn": [
        ("dense_net", "test_dense_net", True,
         ("self.fc1(x.flatten(1))", "self.fc1(x.reshape(64, 784))")),
        ("param_breakdown", "test_param_breakdown", True,
         ("for name, param in model.named_parameters():\n        layer = name.rsplit(\".\", 1)[0]\n",
          "for name, param in model.named_parameters():\n        layer = name.rsplit(\".\", 1)[0]\n"
          "        if not isinstance(model.get_submodule(layer), (nn.Conv2d, nn.Linear)):\n            continue\n")),
        ("explosion", "test_explosion", True, ("return n * n * hidden + hidden", "return n * n * 128 + 128")),
        ("shift", "test_shift", True,
         ("    shifted = torch.zeros_like(images)\n", "    return torch.roll(images, (dy, dx), dims=(-2, -1))\n")),
        ("permutation", "test_permutation", True,
         ("return images.flatten(1)[:, perm].reshape(images.shape)",
          "return images.flatten(1)[:, torch.argsort(perm)].reshape(images.shape)")),
    ],
    "05_augmentation": [
        ("random_shift", "test_random_shift", True,
         ("        h, w = image.shape[-2:]\n", "        return torch.roll(image, (dy, dx), dims=(-2, -1))\n")),
        ("choose", "test_choose", None,
         ("return max(sweep, key=lambda strength: (sweep[strength][\"clean\"] + sweep[strength][\"perturbed\"]) / 2)",
          "return max(reversed(list(sweep)), key=lambda s: (sweep[s][\"clean\"] + sweep[s][\"perturbed\"]) / 2)")),
        ("robustness_curve", "test_robustness_curve", None,
         ("for level in levels]", "for level in sorted(levels)]")),
    ],
    "06_regularisation": [
        ("dropout", "test_dropout", True,
         ("return x * keep / (1 - self.p)", "x.mul_(keep).div_(1 - self.p)\n        return x")),
        ("batch_norm", "test_batch_norm", True,
         ("self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)",
          "self.running_mean.mul_(0.9).add_(0.1 * mean)")),
        ("make_optimizer", "test_make_optimizer", True,
         ("return torch.optim.SGD(params, lr=lr)\n", "return torch.optim.SGD(params, lr=lr, momentum=0.9)\n")),
        ("choose", "test_choose", None,
         ("return max(points, key=", "return max(reversed(points), key=")),
    ],
}


def parts(source):
    """(visible part, hidden part) of a test cell's source."""
    visible, rest = source.split("### BEGIN HIDDEN TESTS")
    return visible, rest.split("### END HIDDEN TESTS")[0]


def outcome(namespace, source):
    """None if the source runs in the namespace, else the exception it raised."""
    try:
        exec(compile(source, "<cell>", "exec"), namespace)
        return None
    except Exception as error:  # noqa: BLE001 - the outcome is what is tested
        return error
    finally:
        plt.close("all")


def walk(folder, wrong):
    """Run the notebook's cells, the solution in one namespace and each mistake in its own;
    return the problems found and the test cells never reached."""
    mistakes = {test: (cell, visible, change) for cell, test, visible, change in wrong}
    main, live, problems, judged = {"__name__": "__main__"}, {}, [], set()
    (path,) = course.notebooks(folder)
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or any(call in cell.source for call in TRAINING):
            continue
        if meta.get("grade"):
            if grade_id in live:
                problems += judge(grade_id, cell.source, dict(main), live.pop(grade_id), mistakes[grade_id][1])
                judged.add(grade_id)
            continue
        for namespace in live.values():
            outcome(namespace, cell.source)
        for test, (solution, _, (right, mistake)) in mistakes.items():
            if solution == grade_id:
                assert right in cell.source, f"{grade_id}: the solution no longer contains {right!r}"
                live[test] = dict(main)
                outcome(live[test], cell.source.replace(right, mistake))
        outcome(main, cell.source)
    return problems, sorted(mistakes.keys() - judged)


def prepare(namespace, source):
    """Run every statement of the visible part that can run (the hidden part uses its names),
    whatever the others raise."""
    for statement in ast.parse(source).body:
        outcome(namespace, ast.unparse(statement))


def judge(test, source, right, wrong, visible):
    """[(test, problem)] for one test cell: what its parts did on the solution and on the mistake."""
    shown, hidden = parts(source)
    found = []
    if visible is not None:
        error = outcome(dict(right), shown)
        if error is not None:
            found.append((test, f"the visible part fails on the solution: {type(error).__name__}: {error}"))
        error = outcome(dict(wrong), shown)
        if visible and error is not None:
            found.append((test, f"the visible part should pass the mistake, it raised {type(error).__name__}: {error}"))
        if not visible and not caught(error):
            found.append((test, f"the visible part should catch the mistake, it gave {error!r}"))
    prepare(right, shown)
    error = outcome(right, hidden)
    if error is not None:
        found.append((test, f"the hidden part fails on the solution: {type(error).__name__}: {error}"))
    prepare(wrong, shown)
    error = outcome(wrong, hidden)
    if not caught(error):
        found.append((test, f"the hidden part should catch the mistake, it gave {error!r}"))
    return found


def caught(error):
    """The mistake failed the check: an AssertionError from a check, or the student's code raising
    on the check's input. A NameError would mean this test lacks a name the notebook defines."""
    return error is not None and not isinstance(error, NameError)


@pytest.mark.parametrize("assignment", sorted(WRONG))
def test_every_hidden_check_fails_on_a_wrong_answer(assignment, tmp_path, monkeypatch):
    folder = ROOT / "source" / assignment
    shutil.copy(folder / "expected.json", tmp_path)
    monkeypatch.chdir(tmp_path)          # observe() compares with the expected.json it finds here
    monkeypatch.delenv("GRADER_EXPORT_DIR", raising=False)
    problems, missing = walk(folder, WRONG[assignment])
    assert not missing, f"test cells never reached: {missing}"
    assert not problems, "\n".join(f"{test}: {problem}" for test, problem in problems)
