"""autograder/student/spec.py is the one place the course's numbers live: what names or states them elsewhere agrees."""
import re

import nbformat
import pytest

from autograder.instructor import course, models, verdicts
from autograder.student import spec
from helpers import ASSIGNMENTS, ROOT

THRESHOLDS = [spec.CNN_ACCURACY, spec.DENSE_ACCURACY, spec.AUGMENTED_ACCURACY, spec.REGULARISED_ACCURACY,
              spec.TARGET_ACCURACY]
# A percentage of 90 or more, as prose writes an accuracy: "98.5 %", "99%", ">= 96.5 %".
ACCURACY_IN_PROSE = re.compile(r"(?<![\d.])(9\d(?:\.\d+)?)\s?%")


def cells(assignment):
    return [c for path in course.notebooks(ROOT / "source" / assignment)
            for c in nbformat.read(path, as_version=4).cells]


def prose(cell):
    """What a reader takes as a statement: markdown, and a code cell's comments and docstring."""
    if cell.cell_type == "markdown":
        return cell.source
    lines = cell.source.splitlines()
    return "\n".join(line for line in lines if line.lstrip().startswith(("#", '"""')))


@pytest.mark.parametrize("assignment", sorted(verdicts.VERDICTS))
def test_every_verdict_names_a_test_cell_of_its_notebook(assignment):
    assert assignment in ASSIGNMENTS, f"verdicts.VERDICTS names {assignment}, which source/ does not hold"
    tests = {c.metadata.nbgrader["grade_id"] for c in cells(assignment)
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    missing = set(verdicts.VERDICTS[assignment][0]) - tests
    assert not missing, f"verdicts for {assignment} name test cells it does not have: {sorted(missing)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_accuracies_in_prose_are_the_specified_ones(assignment):
    allowed = {round(100 * t, 4) for t in THRESHOLDS}
    for cell in cells(assignment):
        for number in ACCURACY_IN_PROSE.findall(prose(cell)):
            assert float(number) in allowed, (
                f"source/{assignment} states {number} %, which is none of spec.py's accuracies "
                f"({', '.join(spec.percent(t) for t in THRESHOLDS)}): {cell.source[:160]!r}")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_normalise_with_the_specified_constants(assignment):
    for cell in cells(assignment):
        for mean, std in re.findall(r"MEAN, STD = ([\d.]+), ([\d.]+)", cell.source):
            assert (float(mean), float(std)) == (spec.MEAN, spec.STD), f"source/{assignment}: {cell.source[:120]!r}"


def test_the_cnn_assignment_trains_with_the_specified_recipe():
    source = "\n".join(c.source for c in cells("03_mnist_cnn"))
    recipe = spec.RECIPE
    assert re.search(rf"batch_size={recipe['batch_size']}\b", source), "03's loader batch size"
    assert re.search(rf"num_epochs={recipe['epochs']}\b", source), "03's number of epochs"
    (max_lr,) = re.findall(r"max_lr=([\d.e-]+)", source)[:1]
    assert float(max_lr) == recipe["max_lr"], f"03's max_lr is {max_lr}, spec.py says {recipe['max_lr']}"
    for setting in ("pct_start", "label_smoothing"):
        assert re.search(rf"{setting}={recipe[setting]}\b", source), f"03's {setting}"


def test_the_specified_cnn_is_the_one_the_checks_expect():
    from autograder.student import cnn

    model = models.course_cnn()
    cnn.check_parameters(model)
    cnn.check_shapes(model, sizes=(1, 7))


def test_typed_in_normalisation_constants_earn_nothing():
    """01's hidden check measures pixel_mean_std on other images (the ones): a function that returns
    the course's constants, typed in, does not give what the solution gives there."""
    from autograder.instructor import observations
    from autograder.student import observe

    key = "pixel_mean_std of the training images of ones"
    expected = observations.current(ROOT / "source" / "01_data_analysis")["cells"]["test_normalisation"][key]
    assert observe.compare(key, expected, [spec.MEAN, spec.STD]) is not None
