"""Verdicts that student code cannot forge: models checked outside the notebook's kernel.

A test cell calls `submit(model, name)`. While the class is being graded, that writes the
trained model as plain data (autograder/instructor/graph.py: an operator graph in JSON and its tensors).
After the notebook has run, the grading worker reads them with loaders that cannot run code,
runs the graph with its own interpreter, and checks it with its own code and data. Each listed
test cell gets the smaller of the notebook's score and this verdict, and each verdict checks
what its cell checks, no more: a softmax on the output fails the logits check only.
Patching the grader, torch, or builtins inside the kernel therefore changes nothing here.
"""
import math

import torch
from torchvision.transforms.v2 import functional as TF

from autograder.instructor import graph, models, observations
from autograder.instructor.rules import GradingRules
from autograder.student import cnn, evaluate, spec


def load(folder, name):
    """The submitted model `name`, or AssertionError saying why the grader has none."""
    return graph.load(folder, name)


def check_claims(folder, key, measure, tolerance, floor=0.3):
    """The accuracies a notebook reports under `key`, {name: accuracy}, against the grader's own
    measurements, `measure` {name: function}: equal within `tolerance` (0.05 points, as the test cells
    ask, unless the course's GradingRules.claim_tolerance says otherwise). Each
    measured accuracy must also reach `floor` (chance is 10 %): an untrained model reported honestly
    earns nothing."""
    claims = observations.read_records(folder, "claim").get(key)
    assert isinstance(claims, dict), f"{key}: your notebook never got to this check"
    for name, how in measure.items():
        claimed, measured = claims.get(name), how()
        assert isinstance(claimed, (int, float)) and abs(claimed - measured) <= tolerance, \
            f"{key}: your notebook reports {claimed!r} for {name}, the grader measures {measured:.4f}"
        assert measured >= floor, f"{key}: the grader measures {measured:.2%} for {name}; was it trained?"


def shapes(model):
    return sorted(tuple(p.shape) for p in model.parameters())


def course_model(folder, name, batch_norm=(False,)):
    """The handed-in model `name`, checked to be the course CNN (with batch norm where batch_norm allows
    it): its parameters have the CNN's shapes, so it cannot hold a table of the test digits."""
    model = load(folder, name)
    assert any(shapes(model) == shapes(models.course_cnn(bn)) for bn in batch_norm), (
        f"the model '{name}' is not the course CNN{' with batch normalisation' if batch_norm == (True,) else ''}")
    return model


def untrained(model, seed=0):
    """The model with fresh weights drawn as PyTorch's layers draw them (uniform within 1/sqrt(fan_in)), as a
    new instance of the student's class would have them."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            bound = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.05
            p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
    return model


def dense_model(folder, name):
    """The handed-in model `name`, checked to be 04's dense network, 784 -> 128 -> 64 -> 10."""
    model = load(folder, name)
    assert shapes(model) == shapes(models.dense_net()), f"the model '{name}' is not the dense network 784 -> 128 -> 64 -> 10"
    return model


def cnn_verdicts(folder, tolerance=None, name="model", threshold=spec.CNN_ACCURACY):
    """The checks of 03's model cells, as the cells make them (visible and hidden parts); 03 reports no
    accuracies of its own, so `tolerance` is not used."""
    def model():
        return load(folder, name)

    def output_and_params():
        m = model()
        cnn.check_parameters(m)
        for n in (1, 64):
            shape = tuple(cnn.run(m, cnn.digits(n)).shape)
            assert shape == (n, 10), f"output shape for a batch of {n}: expected {(n, 10)}, got {shape}"

    def behaviour():
        m = untrained(model())      # the cell checks a new MnistCNN(): the architecture, not how training went
        cnn.check_logits(m)
        cnn.check_relus(m)

    def accuracy():
        m = model()
        evaluate.check_accuracy(m, threshold)
        cnn.check_shapes(m, sizes=(3,))

    return {
        "test_output_and_params": output_and_params,
        "test_layer_shapes": lambda: cnn.check_shapes(model(), sizes=(1, 7, 200)),
        "test_behaviour": behaviour,
        "test_accuracy": accuracy,
    }


def shift_transform(dx, dy):
    """A transform of [0, 1] images: move dx pixels right and dy down, zero fill (the grader's own)."""
    return lambda images: TF.affine(images, angle=0.0, translate=[dx, dy], scale=1.0, shear=[0.0, 0.0])


def dense_vs_cnn_verdicts(folder, tolerance):
    shifted = shift_transform(spec.SHIFT, spec.SHIFT)
    models = {"dense": lambda: dense_model(folder, "dense"), "cnn": lambda: course_model(folder, "cnn")}

    def accuracies():
        d = evaluate.check_accuracy(models["dense"](), spec.DENSE_ACCURACY, name="the dense net")
        c = evaluate.check_accuracy(models["cnn"](), spec.CNN_ACCURACY, name="the CNN")
        assert c > d, f"the CNN ({c:.2%}) should beat the dense net ({d:.2%})"

    def shift():
        # the accuracies the notebook measured with the student's shift_images, against the grader's own shift
        # of the validation digits. Shifted digits may leave even a trained model near chance (the dense net
        # keeps 17 % in the solution's run), so the floor is taken on the CNN's unshifted digits.
        check_claims(folder, "shift accuracies", tolerance=tolerance, measure={
            name: lambda name=name: evaluate.accuracy(models[name](), split="validation", transform=shifted)
            for name in models}, floor=0.0)
        unshifted = evaluate.accuracy(models["cnn"](), split="validation")
        assert unshifted >= 0.3, f"shift accuracies: the grader measures {unshifted:.2%} for the CNN on unshifted digits; was it trained?"
        d = evaluate.accuracy(models["dense"](), transform=shifted)
        c = evaluate.accuracy(models["cnn"](), transform=shifted)
        assert c > d, f"at a {spec.SHIFT}-pixel shift the CNN ({c:.1%}) should beat the dense net ({d:.1%})"

    def comparison():
        check_claims(folder, "comparison val_acc", tolerance=tolerance, measure={
            name: lambda name=name: evaluate.accuracy(models[name](), split="validation") for name in models})

    return {"test_accuracies": accuracies, "test_shift_robustness": shift, "test_comparison": comparison}


def augmentation_verdicts(folder, tolerance):
    def robust():
        plain, augmented = course_model(folder, "plain"), course_model(folder, "augmented")
        evaluate.check_accuracy(augmented, spec.AUGMENTED_ACCURACY, name="the augmented model")
        robust = evaluate.accuracy(augmented, perturbed=True)
        assert robust >= spec.AUGMENTED_PERTURBED, (f"the augmented model classifies {robust:.2%} of the perturbed test "
                                                   f"digits right; at least {spec.percent(spec.AUGMENTED_PERTURBED)} is needed")
        gap = robust - evaluate.accuracy(plain, perturbed=True)
        assert gap > spec.AUGMENTATION_GAIN, (f"augmentation gained {100 * gap:.1f} points on the perturbed set, "
                                              f"needed > {100 * spec.AUGMENTATION_GAIN:g}")

    def sweep():
        check_claims(folder, "sweep accuracies", tolerance=tolerance, measure={
            f"{model} {kind}": lambda model=model, kind=kind: evaluate.accuracy(
                course_model(folder, model), split="validation", perturbed=kind == "perturbed")
            for model in ("sweep0", "sweep2") for kind in ("clean", "perturbed")})

    return {"test_augmented_model": robust, "test_sweep": sweep}


def regularisation_verdicts(folder, tolerance):
    def on_validation(name, batch_norm=(False,)):
        return lambda: evaluate.accuracy(course_model(folder, name, batch_norm), split="validation")

    def final():
        model = course_model(folder, "final", batch_norm=(False, True))
        measured = evaluate.check_accuracy(model, spec.REGULARISED_ACCURACY, name="the final model")
        check_claims(folder, "final test accuracy", tolerance=tolerance, measure={"final": lambda: measured})

    return {
        "test_regularisers": lambda: check_claims(folder, "small-data accuracies", tolerance=tolerance, measure={
            "small plain": on_validation("small plain"), "small batch norm": on_validation("small batch norm", (True,))},
            floor=0.8),
        "test_sweep": lambda: check_claims(folder, "sweep accuracies", tolerance=tolerance, measure={
            name: on_validation(name) for name in ("sweep sgd 0.1", "sweep adam 0.001")}),
        "test_final": final,
    }


# assignment -> (test cells it decides, function of the export folder giving one check per cell)
VERDICTS = {
    "03_mnist_cnn": (["test_output_and_params", "test_layer_shapes", "test_behaviour", "test_accuracy"],
                     cnn_verdicts),
    "04_dense_vs_cnn": (["test_accuracies", "test_shift_robustness", "test_comparison"], dense_vs_cnn_verdicts),
    "05_augmentation": (["test_augmented_model", "test_sweep"], augmentation_verdicts),
    "06_regularisation": (["test_regularisers", "test_sweep", "test_final"], regularisation_verdicts),
}


def judge(assignment, folder, only=None, rules=None):
    """{test cell: None if passed, else the reason} for the assignment's external verdicts (those of
    the cells in `only`, if given). Every failure is a reason, whatever the files made the checks do:
    never an exception."""
    if assignment not in VERDICTS:
        return {}
    cells, make = VERDICTS[assignment]
    checks = make(folder, (rules or GradingRules()).claim_tolerance)
    verdicts = {}
    for cell in only or cells:
        try:
            checks[cell]()
            verdicts[cell] = None
        except AssertionError as error:
            verdicts[cell] = str(error)
        except Exception as error:  # noqa: BLE001 - hostile files may break a check in any way
            verdicts[cell] = f"the grader could not check your model: {type(error).__name__}: {error}"[:300]
    return verdicts


def decide(assignment, expected, folder, test_cells, rules=None):
    """{test cell: None or the reason} for every test cell of the notebook: the model verdicts and
    the hidden tests' observations, judged here. A test cell with no check outside the kernel
    gets no points: what the kernel says about itself is never enough."""
    rules = rules or GradingRules()
    found = observations.judge(expected, folder, rules.rel_tol, rules.abs_tol) if expected else {}
    for cell, reason in judge(assignment, folder, rules=rules).items():
        found[cell] = found.get(cell) or reason
    return {cell: found.get(cell, "the grader has no check of its own for this test") for cell in test_cells}
