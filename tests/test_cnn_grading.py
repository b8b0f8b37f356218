"""Assignment 03's grade cells, run on models written to be wrong in one way each.

Every wrong model must lose the points of exactly the behaviour it got wrong; correct models
written differently must lose nothing. The grade cells (with their hidden tests) are taken
from the source notebook and executed here, in-process, without training.
"""
import json
import os
import pickle

import nbformat
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from autograder.student import evaluate, spec
from autograder.instructor import graph, verdicts
from autograder.instructor.models import course_cnn, dense_net
from autograder.student import submit
from autograder.instructor.course import strip_markers
from helpers import ROOT

NOTEBOOK = ROOT / "source" / "03_mnist_cnn" / "mnist_cnn.ipynb"
STRUCTURE = [cell for cell in verdicts.VERDICTS["03_mnist_cnn"][0] if cell != "test_accuracy"]   # what an untrained model passes


def grade_cells():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return {c.metadata.nbgrader["grade_id"]: strip_markers(c.source)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


CELLS = grade_cells()


def failed_cells(model_class, model=None, cells=STRUCTURE):
    """Run the named grade cells against a submission's MnistCNN; return the ids that fail."""
    failed = {}
    for grade_id in cells:
        namespace = {"torch": torch, "nn": nn, "MnistCNN": model_class, "device": torch.device("cpu"),
                     "model": model if model is not None else model_class()}
        try:
            exec(compile(CELLS[grade_id], grade_id, "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - a failing grade cell, whatever it raised
            failed[grade_id] = f"{type(error).__name__}: {error}"
    return failed


class Reference(nn.Module):
    """The course CNN with switches that break it in one way each."""

    def __init__(self, c1=32, pad=1, pool2=True, relu2=True, out="logits", constant=False, scale=1.0,
                 pool=F.max_pool2d, norm=False, dropout=0.0, rounding=0.0):
        super().__init__()
        size = 7 if pad and pool2 else 14 if pad else 5
        self.conv1, self.conv2 = nn.Conv2d(1, c1, 3, padding=pad), nn.Conv2d(c1, 64, 3, padding=pad)
        self.fc1, self.fc2 = nn.Linear(64 * size * size, 128), nn.Linear(128, 10)
        self.norm = nn.BatchNorm2d(c1) if norm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.pool2, self.relu2, self.out, self.constant, self.scale, self.pool = pool2, relu2, out, constant, scale, pool
        self.rounding = rounding

    def forward(self, x):
        if self.constant:
            x = x * 0
        x = self.pool(F.relu(self.norm(self.conv1(x))), 2)
        x = self.conv2(x) * self.scale
        x = F.relu(x) if self.relu2 else x
        x = self.pool(x, 2) if self.pool2 else x
        logits = self.fc2(self.drop(F.relu(self.fc1(x.flatten(1)))))
        if self.rounding:                # constant but for rounding: rows differ by at most `rounding`
            logits = logits + self.rounding * torch.arange(len(x), device=x.device)[:, None] / len(x)
        return {"logits": logits, "softmax": logits.softmax(dim=1), "log_softmax": logits.log_softmax(dim=1)}[self.out]


def variant(**broken):
    return type("MnistCNN", (Reference,), {"__init__": lambda self: Reference.__init__(self, **broken)})


@pytest.mark.parametrize("broken, expected, message", [
    ({}, set(), ""),
    ({"relu2": False}, {"test_behaviour"}, "is a ReLU applied after it?"),
    ({"pool2": False}, {"test_output_and_params", "test_layer_shapes"}, "Is the second max-pool applied?"),
    ({"c1": 16}, {"test_output_and_params", "test_layer_shapes"}, "Does the first conv have 32 output channels?"),
    ({"pad": 0}, {"test_output_and_params", "test_layer_shapes"}, "padding=1"),
    ({"out": "softmax"}, {"test_behaviour"}, "softmax"),
    ({"constant": True}, {"test_behaviour"}, "the same for every image"),
    ({"constant": True, "rounding": 1e-6}, {"test_behaviour"}, "the same for every image"),
], ids=["correct", "missing_relu", "missing_pool", "wrong_channels", "no_padding", "softmax", "constant",
        "constant_but_for_rounding"])
def test_a_wrong_model_loses_exactly_its_points(broken, expected, message):
    failed = failed_cells(variant(**broken))
    assert set(failed) == expected, failed
    assert not expected or any(message in why for why in failed.values()), failed


class Sequential(nn.Module):
    """Correct, with nn.Sequential, other names and a dropout layer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))

    def forward(self, x):
        return self.body(x)


class Functional(nn.Module):
    """Correct, with torch.relu, pooling before ReLU and x.reshape."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.c, self.d = nn.Linear(3136, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(F.max_pool2d(self.a(x), 2))
        x = torch.relu(F.max_pool2d(self.b(x), 2))
        return self.d(self.c(x.reshape(x.size(0), -1)).relu())


class Counted(Functional):
    """Correct, flattening with x.reshape(len(x), -1), as 03 allows: len() makes the batch size a Python
    number, so torch.export cannot keep it free (the grader then runs the graph on fixed-size batches)."""

    def forward(self, x):
        x = torch.relu(F.max_pool2d(self.a(x), 2))
        x = torch.relu(F.max_pool2d(self.b(x), 2))
        return self.d(self.c(x.reshape(len(x), -1)).relu())


@pytest.mark.parametrize("model_class", [Sequential, Functional, Counted])
def test_any_correct_implementation_earns_full_marks(model_class):
    assert failed_cells(model_class) == {}


def test_a_model_that_flattens_with_view_is_told_before_training_breaks():
    """03's training stores the weights channels-last, where x.view cannot flatten the feature maps:
    the behaviour check says so, before the training cell would fail with PyTorch's own error."""
    class Viewed(Functional):
        def forward(self, x):
            x = torch.relu(F.max_pool2d(self.a(x), 2))
            x = torch.relu(F.max_pool2d(self.b(x), 2))
            return self.d(self.c(x.view(x.size(0), -1)).relu())

    failed = failed_cells(Viewed)
    assert set(failed) == {"test_behaviour"}, failed
    assert "flatten with nn.Flatten() or x.flatten(1)" in failed["test_behaviour"]


def test_a_model_that_raises_in_forward_gets_a_clear_message():
    class Broken(Reference):
        def forward(self, x):
            raise RuntimeError("oops")

    failed = failed_cells(Broken)
    assert set(failed) == set(STRUCTURE)
    assert "raised RuntimeError inside forward" in failed["test_layer_shapes"]


def test_an_untrained_model_loses_only_the_accuracy_points():
    failed = failed_cells(Reference, cells=STRUCTURE + ["test_accuracy"])
    assert set(failed) == {"test_accuracy"}, failed
    assert "at least 98.5%" in failed["test_accuracy"]


def test_the_graders_evaluation_counts_every_test_digit():
    class Oracle(nn.Module):
        """Answers with the true label for the first 9,900 digits and 'wrong' for the rest."""

        def __init__(self):
            super().__init__()
            self.seen = 0

        def forward(self, x):
            labels = evaluate.test_set("cpu")[1][self.seen:self.seen + len(x)].clone()
            labels[max(0, 9_900 - self.seen):] += 1
            self.seen += len(x)
            return F.one_hot(labels % 10, 10).float()

    assert evaluate.accuracy(Oracle()) == 0.99


# Wrong in one way, or right in an unusual way: the grader's verdict outside the kernel (on the
# model exported as plain data) must fail exactly the cells that the notebook's own tests fail.
# The models are untrained, so both sides fail the accuracy cell whatever else is wrong: it is left
# out (18 s of measuring 12 models twice); test_unforgeable.py grades an untrained model's accuracy.
VARIANTS = {"correct": {}, "missing_relu": {"relu2": False}, "one_pool": {"pool2": False}, "narrow_conv": {"c1": 16},
            "no_padding": {"pad": 0}, "softmax": {"out": "softmax"}, "log_softmax": {"out": "log_softmax"},
            "constant": {"constant": True}, "scaling_op": {"scale": 2.0}, "average_pooling": {"pool": F.avg_pool2d},
            "batch_norm": {"norm": True}, "dropout": {"dropout": 0.3}}


@pytest.mark.parametrize("name", VARIANTS)
def test_the_graders_verdict_agrees_with_the_notebook_cell_by_cell(tmp_path, name):
    model_class = variant(**VARIANTS[name])
    model = model_class()
    inside = failed_cells(model_class, model)
    submit.save(model, tmp_path, "model")
    outside = {cell: why for cell, why in verdicts.judge("03_mnist_cnn", tmp_path, STRUCTURE).items() if why}
    assert set(outside) == set(inside), (inside, outside)
    exported = graph.load(tmp_path, "model")
    x = evaluate.test_set()[0][:256]
    assert torch.allclose(exported(x), model.eval()(x), atol=1e-5), "the grader's copy computes something else"


@pytest.mark.parametrize("model_class", [Sequential, Functional, Counted])
def test_the_grader_runs_every_correct_implementation(tmp_path, model_class):
    model = model_class().eval()
    submit.save(model, tmp_path, "model")
    assert verdicts.judge("03_mnist_cnn", tmp_path, STRUCTURE) == dict.fromkeys(STRUCTURE)
    x = evaluate.test_set()[0][:257]
    assert torch.allclose(graph.load(tmp_path, "model")(x), model(x), atol=1e-5), "the grader's copy computes something else"


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_a_model_on_any_device_is_handed_in_and_stays_where_it_was(tmp_path, device):
    """On an H200, handing in a batch-norm model from the GPU failed: torch.export guarded cuDNN's batch
    limit (65,535) against the dynamic batch. `save` exports on the CPU; the student's model stays put."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no GPU here")
    model = variant(norm=True)().to(device).eval()
    submit.save(model, tmp_path, "model")
    assert {p.device.type for p in model.parameters()} == {device}
    x = evaluate.test_set()[0][:256]
    with torch.no_grad():
        assert torch.allclose(graph.load(tmp_path, "model")(x), model(x.to(device)).cpu(), atol=1e-4)


def test_a_model_holding_a_computed_tensor_is_handed_in(tmp_path):
    """A model that keeps a tensor from its last computation (here a loss) cannot be deep-copied;
    handing it in must not copy it."""
    model = variant(norm=True)().eval()
    model.last_loss = model(evaluate.test_set()[0][:4]).sum()
    submit.save(model, tmp_path, "model")
    assert graph.load(tmp_path, "model") is not None


class Payload:
    """Unpickling this runs a shell command: what a crafted model file would do to an unsafe loader."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_model_file_runs_no_code_in_the_grader(tmp_path):
    marker = tmp_path / "the_grader_ran_my_code"
    submit.save(Reference(), tmp_path, "model")
    (tmp_path / "model.tensors").write_bytes(pickle.dumps({"conv1.weight": Payload(marker)}))
    reasons = verdicts.judge("03_mnist_cnn", tmp_path)
    assert not marker.exists()
    assert all("could not be read" in why for why in reasons.values()), reasons


def test_an_operator_outside_the_table_is_named_and_never_called(tmp_path):
    submit.save(Reference(), tmp_path, "model")
    spec = json.loads((tmp_path / "model.json").read_text())
    call = next(n for n in spec["nodes"] if n["op"] == "call_function")
    call["target"], call["args"] = "builtins.exec", ["import os; os.system('touch pwned')"]
    (tmp_path / "model.json").write_text(json.dumps(spec))
    reasons = verdicts.judge("03_mnist_cnn", tmp_path)
    assert all("builtins.exec" in why for why in reasons.values()), reasons


@pytest.mark.slow           # trains a CNN on 20,000 digits
def test_a_plain_model_handed_in_as_the_augmented_one_earns_nothing(tmp_path):
    """05's attack: an untrained model handed in as "plain" and a model trained without augmentation as
    "augmented" make a large gap on the perturbed digits with no augmentation at all; the grader also
    requires the augmented model itself to read the perturbed digits."""
    import torchvision
    from torch.utils.data import TensorDataset

    from autograder.student.data import mnist_root
    from autograder.instructor.reference import batches, fit

    raw = torchvision.datasets.MNIST(mnist_root(), train=True)
    images = ((raw.data[:20_000].float() / 255 - spec.MEAN) / spec.STD).unsqueeze(1)
    torch.manual_seed(0)
    trained = course_cnn()
    fit(trained, batches(TensorDataset(images, raw.targets[:20_000]), shuffle=True),
        batches(TensorDataset(images[:1000], raw.targets[:1000]), 256))
    submit.save(course_cnn(), tmp_path, "plain")
    submit.save(trained, tmp_path, "augmented")
    reason = verdicts.judge("05_augmentation", tmp_path, ["test_augmented_model"])["test_augmented_model"]
    assert reason and "perturbed test digits right" in reason, reason


SWEEP_05 = {f"sweep{s} {kind}": (f"sweep{s}", kind == "perturbed", False) for s in (0, 2) for kind in ("clean", "perturbed")}
# cases whose accuracies are measured on moved digits: the grader's own move of the [0, 1] images
MOVED = {"04_dense_vs_cnn/shift": verdicts.shift_transform(spec.SHIFT, spec.SHIFT)}
CLAIMS = {  # case -> (test cell, records key, {reported name: (handed-in model, on perturbed digits, architecture)})
    "04_dense_vs_cnn": ("test_comparison", "comparison val_acc", {"dense": ("dense", False, "dense"),
                                                                   "cnn": ("cnn", False, False)}),
    "04_dense_vs_cnn/shift": ("test_shift_robustness", "shift accuracies", {"dense": ("dense", False, "dense"),
                                                                            "cnn": ("cnn", False, False)}),
    "05_augmentation": ("test_sweep", "sweep accuracies", SWEEP_05),
    "06_regularisation/regularisers": ("test_regularisers", "small-data accuracies", {
        "small plain": ("small plain", False, False), "small batch norm": ("small batch norm", False, True)}),
    "06_regularisation/sweep": ("test_sweep", "sweep accuracies",
                                {name: (name, False, False) for name in ("sweep sgd 0.1", "sweep adam 0.001")}),
}


@pytest.fixture(scope="module")
def briefly_trained():
    """The course CNN without and with batch norm (keys False, True) and 04's dense net ("dense"), each trained
    once through 6,000 digits (about 93 % for the CNNs)."""
    import torchvision
    from torch.utils.data import TensorDataset

    from autograder.student.data import mnist_root
    from autograder.instructor.reference import batches, train_epoch

    raw = torchvision.datasets.MNIST(mnist_root(), train=True)
    images = ((raw.data[:6000].float() / 255 - spec.MEAN) / spec.STD).unsqueeze(1)
    models = {}
    for kind in (False, True, "dense"):
        torch.manual_seed(0)
        models[kind] = dense_net() if kind == "dense" else course_cnn(kind)
        train_epoch(models[kind], batches(TensorDataset(images, raw.targets[:6000]), shuffle=True),
                    torch.optim.Adam(models[kind].parameters(), lr=1e-3), nn.CrossEntropyLoss())
    return models


@pytest.mark.slow           # briefly_trained trains three models
def test_the_grader_evaluates_a_channels_last_copy_that_counts_the_same(tmp_path, briefly_trained):
    """On a CPU the grader evaluates a copy of the model stored channels-last (two to three times as
    fast: `python -m autograder benchmark`). It counts what the model itself counts (a digit whose
    two best logits tie within rounding may differ), leaves the model as it was, and a model whose
    forward cannot run channels-last (it flattens with `view`) is evaluated as it is."""
    images, labels = evaluate.test_set()
    model = briefly_trained[False].eval()
    submit.save(model, tmp_path, "model")
    with torch.no_grad():
        plain = sum(int((model(x).argmax(1) == y).sum()) for x, y in zip(images.split(256), labels.split(256)))
    for handed_in in (model, graph.load(tmp_path, "model")):
        assert evaluate.channels_last(handed_in, images[:8]) is not handed_in, "the channels-last copy was not used"
        assert abs(evaluate.accuracy(handed_in) * len(labels) - plain) <= 1, (evaluate.accuracy(handed_in), plain)
    assert all(p.is_contiguous() for p in model.parameters()), "the student's model was changed"

    class Viewing(Functional):
        def forward(self, x):
            x = torch.relu(F.max_pool2d(self.b(torch.relu(F.max_pool2d(self.a(x), 2))), 2))
            return self.d(self.c(x.view(x.size(0), -1)).relu())

    viewing = Viewing().eval()
    assert evaluate.channels_last(viewing, images[:8]) is viewing
    assert 0 <= evaluate.accuracy(viewing) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("case", CLAIMS)
def test_a_reported_accuracy_is_checked_against_the_graders_measurement(tmp_path, case, briefly_trained):
    """04's table and shift experiment, 05's sweep and 06's small-data comparison and sweep report validation accuracies. Inside the
    kernel a notebook could type them in and patch the grader's `accuracy` to agree; the grader
    measures the handed-in models itself, and an untrained model reported honestly earns nothing."""
    cell, key, reported = CLAIMS[case]

    def hand_in(models):
        for model, batch_norm in {model: batch_norm for model, _, batch_norm in reported.values()}.items():
            submit.save(models[batch_norm], tmp_path, model)

    def claims(values=None):
        if values is None:
            values = {name: evaluate.accuracy(graph.load(tmp_path, model), split="validation", perturbed=perturbed,
                                              transform=MOVED.get(case))
                      for name, (model, perturbed, _) in reported.items()}
        (tmp_path / "observations.jsonl").write_text(json.dumps({"claim": key, "value": values}) + "\n")
        return verdicts.judge(case.split("/")[0], tmp_path, [cell])[cell]

    hand_in(briefly_trained)
    typed = claims({name: 0.99 for name in reported})
    assert typed and "the grader measures" in typed, typed
    assert claims() is None
    torch.manual_seed(0)
    hand_in({False: course_cnn(False), True: course_cnn(True), "dense": dense_net()})
    untrained = claims()
    assert untrained and "was it trained?" in untrained, untrained


def test_06s_final_model_must_be_a_version_of_the_course_cnn(tmp_path):
    """Any model over the threshold would otherwise do, even one that stores the test digits."""
    submit.save(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), tmp_path, "final")
    (tmp_path / "observations.jsonl").write_text(json.dumps({"claim": "final test accuracy", "value": {"final": 0.99}}))
    reason = verdicts.judge("06_regularisation", tmp_path, ["test_final"])["test_final"]
    assert reason and "is not the course CNN" in reason, reason
