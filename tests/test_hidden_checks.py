"""Every hidden test fails on a wrong answer, and passes every other correct one.

Each entry of WRONG (tests/answers.py) replaces a piece of one exercise's solution by a plausible mistake. The hidden
part of the exercise's test cell passes on the solution and must fail on the mistake: an
AssertionError from a check that says what differs, or the mistake raising on the check's input; a check
that crashes on the mistake (a TypeError in its own code) catches nothing. `visible` says what the
visible part of the cell does with the mistake: True where it passes, so that only the hidden part
catches the mistake (the hidden test earns its place), False where the visible check already
catches it, None where the visible part needs a trained model.

The notebook's cells run in this process, in order, on the real data, without the training cells;
the checks whose answers are trained models are decided by the grader's verdicts and tested with
wrong models in test_cnn_grading.py.
"""
import shutil
import traceback

import nbformat
import pytest

from answers import RIGHT, WRONG
from autograder.instructor import course
from helpers import ANSWER, ROOT, TRAINING, outcome, parts, prepare


def walk(folder, changes, verdict):
    """Run the notebook's cells, the solution in one namespace and each change (solution cell, test cell,
    expectation, (solution text, replacement)) in its own; return the problems that verdict(test cell source,
    solution namespace, changed namespace, expectation) finds and the test cells never reached."""
    main, live, problems, judged = {"__name__": "__main__"}, {}, [], set()
    (path,) = course.notebooks(folder)
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code" or any(call in cell.source for call in TRAINING):
            continue
        if meta.get("grade"):
            for i in [i for i in live if changes[i][1] == grade_id]:
                problems += [(grade_id, p) for p in verdict(cell.source, dict(main), live.pop(i), changes[i][2])]
                judged.add(i)
            continue
        filename = ANSWER if meta.get("solution") else "<cell>"
        for namespace in live.values():
            outcome(namespace, cell.source, filename)
        for i, (solution, _, _, (right, replacement)) in enumerate(changes):
            if solution == grade_id:
                assert right in cell.source, f"{grade_id}: the solution no longer contains {right!r}"
                live[i] = dict(main)
                outcome(live[i], cell.source.replace(right, replacement), filename)
        outcome(main, cell.source, filename)
    return problems, sorted(changes[i][1] for i in set(range(len(changes))) - judged)


def judge(source, right, wrong, visible):
    """Problems of one test cell: what its parts did on the solution and on the mistake."""
    shown, hidden = parts(source)
    found = []
    if visible is not None:
        error = outcome(dict(right), shown)
        if error is not None:
            found.append(f"the visible part fails on the solution: {type(error).__name__}: {error}")
        error = outcome(dict(wrong), shown)
        if visible and error is not None:
            found.append(f"the visible part should pass the mistake, it raised {type(error).__name__}: {error}")
        if not visible and not caught(error):
            found.append(f"the visible part should catch the mistake, it gave {described(error)}")
    prepare(right, shown)
    error = outcome(right, hidden)
    if error is not None:
        found.append(f"the hidden part fails on the solution: {type(error).__name__}: {error}")
    prepare(wrong, shown)
    error = outcome(wrong, hidden)
    if not caught(error):
        found.append(f"the hidden part should catch the mistake, it gave {described(error)}")
    return found


def accept(source, _, other, visible):
    """Problems of one test cell on another correct answer: both parts must pass it (the hidden part only,
    where the visible part needs a trained model: visible is None)."""
    shown, hidden = parts(source)
    if visible is None:
        prepare(other, shown)
    error = (outcome(other, shown) if visible is not None else None) or outcome(other, hidden)
    return [f"a correct answer fails: {type(error).__name__}: {error}"] if error else []


def caught(error):
    """The mistake failed the check: an AssertionError (a visible or hidden assert, or observe's comparison with
    expected.json, the one the grader makes outside the kernel), or the student's code raising on the check's
    input (the error passed through an answer cell). Any other error is the check crashing on the mistake; a
    NameError would mean this test lacks a name the notebook defines."""
    if isinstance(error, AssertionError):
        return True
    frames = traceback.extract_tb(error.__traceback__) if error is not None else []
    return not isinstance(error, NameError) and any(frame.filename == ANSWER for frame in frames)


def described(error):
    """The error and the line that raised it."""
    if error is None:
        return "no error"
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {error} (raised in {frame.filename}, line {frame.lineno})"


def test_a_check_that_crashes_on_a_mistake_catches_nothing():
    """A check whose own code fails on a wrong answer has not caught it; an assert (or observe's comparison, an
    AssertionError too) and a wrong answer that raises on the check's input have."""
    namespace = {}
    outcome(namespace, "def count(labels):\n    return None\n\ndef mean(values):\n    return values.mean()", ANSWER)
    assert not caught(outcome(dict(namespace), "assert count([1, 1]).sum() == 2"))     # AttributeError in the check
    assert caught(outcome(dict(namespace), "assert count([1, 1]) is not None, 'count returned nothing'"))
    assert caught(outcome(dict(namespace), "mean([1, 2])"))                             # raised in the answer
    assert not caught(outcome(dict(namespace), "undefined"))      # a NameError: this test lacks a name


@pytest.mark.parametrize("assignment", sorted(WRONG))
def test_every_hidden_check_fails_on_a_wrong_answer(assignment, tmp_path, monkeypatch):
    folder = ROOT / "source" / assignment
    shutil.copy(folder / "expected.json", tmp_path)
    monkeypatch.chdir(tmp_path)          # observe() compares with the expected.json it finds here
    monkeypatch.syspath_prepend(str(folder))   # the files released with the notebook (course_loop.py)
    monkeypatch.delenv("GRADER_EXPORT_DIR", raising=False)
    problems, missing = walk(folder, WRONG[assignment], judge)
    assert not missing, f"test cells never reached: {missing}"
    assert not problems, "\n".join(f"{test}: {problem}" for test, problem in problems)


@pytest.mark.parametrize("assignment", sorted(RIGHT))
def test_every_correct_answer_passes_both_parts(assignment, tmp_path, monkeypatch):
    """Other correct implementations, as other sources write them, pass the visible and the hidden part
    (the hidden part's comparisons are the ones `grade` makes outside the kernel)."""
    folder = ROOT / "source" / assignment
    shutil.copy(folder / "expected.json", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("GRADER_EXPORT_DIR", raising=False)
    problems, missing = walk(folder, RIGHT[assignment], accept)
    assert not missing, f"test cells never reached: {missing}"
    assert not problems, "\n".join(f"{test}: {problem}" for test, problem in problems)
