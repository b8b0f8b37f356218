"""Hidden tests that a student's kernel cannot forge: observations judged outside the kernel.

A hidden test records what the student's code produced, `observe(key, value)`, and holds no
expected value: the expected values are the instructor's solution's own observations, stored
in source/<assignment>/expected.json by `python -m autograder expect`. Who compares:
  - class grading (`python -m autograder grade`): the kernel only writes its observations as
    JSON into its export folder; the grading worker compares them with expected.json, which the
    sandbox never sees (autograder/instructor/expected.py);
  - a plain `nbgrader autograde` or nbval on the instructor's machine: `observe` finds
    expected.json and compares in the kernel, with the same `compare`, so both give the same points;
  - a student's own `nbgrader validate`: there is no expected.json, and observe does nothing.
A failure names the check, never the expected value.

What a notebook reports about its own trained models (an accuracy in a table) is a `claim`: the
grader measures the handed-in models itself and compares (autograder/instructor/verdicts.py); a plain
`nbgrader autograde` has only the in-kernel comparison its test cell makes.
"""
import json
import math
import os
from pathlib import Path

EXPECTED = "expected.json"
RECORDS = "observations.jsonl"
RECORD_TO = "GRADER_OBSERVE_TO"      # set by `expect`: record the instructor's values, check nothing


def observe(key, value):
    """Record `value` for the check `key`; where the expected values are at hand, check it now."""
    value = plain(value)
    write({"key": key, "value": value})
    expected = expected_here()
    if expected and not os.environ.get(RECORD_TO):
        reason = compare(key, expected_values(expected).get(key, MISSING), value)
        assert reason is None, reason


def claim(key, value):
    """Record what the notebook reports about its own submitted models (a measured accuracy): the
    grader measures the same models itself and compares (autograder/instructor/verdicts.py). Not a check of
    expected.json: the solution's models are not the student's."""
    write({"claim": key, "value": plain(value)})


def write(record):
    folder = os.environ.get(RECORD_TO) or os.environ.get("GRADER_EXPORT_DIR")
    if folder:
        with open(Path(folder) / RECORDS, "a") as f:
            f.write(json.dumps(record) + "\n")


MISSING = object()
REL_TOL, ABS_TOL = 1e-4, 1e-6       # the grader's are GradingRules.rel_tol and abs_tol


def plain(value):
    """Numbers, strings, booleans, None and (nested) lists and dicts; tensors and arrays as lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"observe() takes numbers, strings, lists, dicts and tensors, not {type(value).__name__}")


def same(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL):
    """Equal, floats within the tolerances (GPU and CPU round differently), structure exactly."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=abs_tol) if isinstance(expected, float) \
            else expected == actual
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(same(e, a, rel_tol, abs_tol) for e, a in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(same(expected[k], actual[k], rel_tol, abs_tol) for k in expected)
    return expected == actual


def compare(key, expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL):
    """None if `actual` is what the solution gives for `key`, else a reason that reveals no answer."""
    if expected is MISSING:
        return f"the grader does not know the check {key!r}"
    if actual is MISSING:
        return f"{key}: your notebook never got to this check"
    return None if same(expected, actual, rel_tol, abs_tol) else f"{key}: your result differs from the expected one"


def expected_here():
    """expected.json of the notebook running in this folder, if the instructor's files are at hand:
    next to it (source/<assignment>/) or in the course's source/ (autograded/<student>/<assignment>/)."""
    cwd = Path.cwd()
    for path in (cwd / EXPECTED, cwd.parents[2] / "source" / cwd.name / EXPECTED if len(cwd.parents) > 2 else None):
        if path and path.is_file():
            return json.loads(path.read_text())
    return None


def expected_values(expected):
    return {key: value for cell in expected["cells"].values() for key, value in cell.items()}
