"""Verdicts that student code cannot forge: models checked outside the notebook's kernel.

A test cell calls `submit(model, name)`. While the class is being graded, that exports the
trained model with torch.export: a file of tensors and an operator graph, with no Python code
in it. After the notebook has run, the grading worker loads the files in its own process,
checks the graph, the architecture and the accuracy with its own code and data, and the
gradebook gets the smaller of the notebook's score and this verdict for each listed test cell.
Patching the grader, torch, or builtins inside the kernel therefore changes nothing here.
"""
import os
from pathlib import Path

import torch
from torch.export import Dim

from autograder import cnn, evaluate

EXPORT_DIR = "GRADER_EXPORT_DIR"

# Operators a course model may use. A graph with anything else (indexing into stored test
# digits, comparisons, lookups) is not a CNN or dense network and gets no verdict points.
ALLOWED_OPS = {
    "conv2d", "relu", "relu_", "max_pool2d", "max_pool2d_with_indices", "flatten", "view", "reshape",
    "_unsafe_view", "linear", "dropout", "dropout_", "t", "addmm", "mm", "add", "sym_size", "getitem",
    "contiguous", "clone", "alias", "_assert_scalar", "sym_constrain_range_for_size", "le", "ge",
    "_assert_tensor_metadata",
}


def submit(model, name):
    """Hand a trained model to the grader (does nothing outside class grading)."""
    folder = os.environ.get(EXPORT_DIR)
    if not folder:
        return
    model.eval()
    device = next(model.parameters()).device
    example = torch.zeros(2, 1, 28, 28, device=device)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: Dim("batch")},))
    torch.export.save(program, Path(folder) / f"{name}.pt2")


def op_names(program):
    names = set()
    for node in program.graph.nodes:
        if node.op == "call_function":
            names.add(getattr(node.target, "__name__", str(node.target)).split(".")[0])
    return names


def load(folder, name):
    """The exported model `name`, after checking that it is only a network; raise AssertionError if not."""
    path = Path(folder) / f"{name}.pt2"
    assert path.exists(), f"no trained model '{name}' reached the grader (did the test cell run?)"
    try:
        program = torch.export.load(path)
    except Exception as error:  # noqa: BLE001 - a damaged file is the student's failure
        raise AssertionError(f"the exported model '{name}' could not be loaded: {error}") from None
    unexpected = op_names(program) - ALLOWED_OPS
    assert not unexpected, f"the model '{name}' computes more than a network: {sorted(unexpected)}"
    assert not program.constants, f"the model '{name}' carries constant tensors besides its weights"
    return program.module().to("cpu")


def cnn_verdicts(folder, name="model", threshold=0.985):
    model = load(folder, name)
    return {
        "test_output_and_params": lambda: cnn.check_parameters(model),
        "test_layer_shapes": lambda: cnn.check_shapes(model),
        "test_behaviour": lambda: (cnn.check_relus(model), cnn.check_logits(model)),
        "test_accuracy": lambda: evaluate.check_accuracy(model, threshold),
    }


def dense_vs_cnn_verdicts(folder):
    dense, conv = load(folder, "dense"), load(folder, "cnn")
    shift3 = evaluate.shift_transform(3, 3)

    def accuracies():
        d = evaluate.check_accuracy(dense, 0.965, name="the dense net")
        c = evaluate.check_accuracy(conv, 0.985, name="the CNN")
        assert c > d, f"the CNN ({c:.2%}) should beat the dense net ({d:.2%})"

    def shift():
        d, c = evaluate.accuracy(dense, transform=shift3), evaluate.accuracy(conv, transform=shift3)
        assert c > d, f"at a 3-pixel shift the CNN ({c:.1%}) should beat the dense net ({d:.1%})"

    return {"test_accuracies": accuracies, "test_shift_robustness": shift}


def augmentation_verdicts(folder):
    plain, augmented = load(folder, "plain"), load(folder, "augmented")

    def robust():
        evaluate.check_accuracy(augmented, 0.98, name="the augmented model")
        gap = (evaluate.accuracy(augmented, transform=evaluate.perturb)
               - evaluate.accuracy(plain, transform=evaluate.perturb))
        assert gap > 0.10, f"augmentation gained {100 * gap:.1f} points on the perturbed set, needed > 10"

    return {"test_augmented_model": robust}


# assignment -> (test cells it decides, function of the export folder giving one check per cell)
VERDICTS = {
    "03_mnist_cnn": (["test_output_and_params", "test_layer_shapes", "test_behaviour", "test_accuracy"],
                     cnn_verdicts),
    "04_dense_vs_cnn": (["test_accuracies", "test_shift_robustness"], dense_vs_cnn_verdicts),
    "05_augmentation": (["test_augmented_model"], augmentation_verdicts),
}


def judge(assignment, folder):
    """{test cell: None if passed, else the reason} for the assignment's external verdicts."""
    if assignment not in VERDICTS:
        return {}
    cells, make = VERDICTS[assignment]
    try:
        checks = make(folder)
    except AssertionError as error:
        return {cell: str(error) for cell in cells}
    verdicts = {}
    for cell in cells:
        try:
            checks[cell]()
            verdicts[cell] = None
        except AssertionError as error:
            verdicts[cell] = str(error)
    return verdicts
