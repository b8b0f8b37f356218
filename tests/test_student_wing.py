"""What students receive, the student wing of the package (autograder/student), holds no graded answer.

Students install and import autograder/student; the sandbox binds it alone into grading kernels. The
instructor's wing (autograder/instructor) holds the grader, the course's own answers (the training loop
released with 04 to 06, the architectures, the split's code) and everything else.
"""
import ast
import inspect
import io
import keyword
import pkgutil
import re
import shutil
import tokenize
from pathlib import Path

import nbformat
import pytest

import autograder.student
from autograder.instructor import course, handout
from helpers import ASSIGNMENTS, ROOT, TRAINING, outcome, parts, prepare

STUDENT = Path(autograder.student.__file__).parent
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def student_modules():
    return [f"autograder.student.{m.name}" for m in pkgutil.iter_modules([str(STUDENT)])]


def test_the_student_wing_imports_nothing_of_the_instructors():
    for path in STUDENT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any("instructor" in name for name in names), f"{path.name} imports {names}"


def public_callables():
    """{name: (module, callable)} of every public function and class the student wing defines."""
    found = {}
    for name in student_modules():
        module = __import__(name, fromlist=["_"])
        for attr, value in vars(module).items():
            if not attr.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value)) \
                    and value.__module__ == name:
                found[f"{name}.{attr}"] = value
    return found


def normalised(code):
    """Code with every name replaced by `n` and no whitespace: the same code whatever its names and layout."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    try:
        return "".join("n" if t.type == tokenize.NAME and not keyword.iskeyword(t.string) else t.string
                       for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                                          tokenize.INDENT, tokenize.DEDENT))
    except (tokenize.TokenError, IndentationError):
        return None


def solution_blocks():
    """(assignment, block) for every solution block of two or more lines in source/."""
    for assignment in ASSIGNMENTS:
        for path in course.notebooks(ROOT / "source" / assignment):
            for cell in nbformat.read(path, as_version=4).cells:
                for block in SOLUTION.findall(cell.source):
                    if len([line for line in block.splitlines() if line.strip()]) >= 2:
                        yield assignment, block


def test_no_solution_block_is_in_the_student_wing():
    wing = "".join(filter(None, (normalised(path.read_text()) for path in STUDENT.glob("*.py"))))
    checked = 0
    for assignment, block in solution_blocks():
        code = normalised(inspect.cleandoc("\n" + block) if block.startswith(" ") else block)
        if code:
            checked += 1
            assert code not in wing, f"a solution block of {assignment} is in the student wing:\n{block}"
    assert checked > 20


def defined(source):
    """[(name, its required parameters, or None for a class)] of the functions and classes an answer cell defines."""
    found = []
    for node in ast.parse(course.strip_markers(source)).body:
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, [a.arg for a in node.args.args][:len(node.args.args) - len(node.args.defaults)]))
        elif isinstance(node, ast.ClassDef):
            found.append((node.name, None))
    return found


def fits(candidate, params):
    """A class for a class, or a function that can be called with the exercise's required arguments."""
    if params is None or inspect.isclass(candidate):
        return params is None and inspect.isclass(candidate)
    try:
        inspect.signature(candidate).bind(*params)
        return True
    except (TypeError, ValueError):
        return False


def refused(source, namespace):
    """Whether the test cell fails (visible part, or hidden part after it) in the namespace."""
    shown, hidden = parts(source) if "### BEGIN HIDDEN TESTS" in source else (source, "")
    if outcome(dict(namespace), shown) is not None:
        return True
    prepare(namespace, shown)
    return hidden and outcome(namespace, hidden) is not None


@pytest.mark.slow           # runs each notebook in this process, and every candidate at every test cell
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_function_of_the_student_wing_answers_an_exercise(assignment, tmp_path, monkeypatch):
    """Every public function and class of the student wing, put in place of an exercise's answer whose
    signature it fits, fails one of the test cells after that answer (visible or hidden part). The notebook
    runs once, on the solution (without its training cells); at each test cell, the candidates take the
    place of the answers above it."""
    folder = ROOT / "source" / assignment
    shutil.copy(folder / "expected.json", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("GRADER_EXPORT_DIR", raising=False)
    candidates, main, answers, failed = public_callables(), {"__name__": "__main__"}, [], {}
    for cell in nbformat.read(course.notebooks(folder)[0], as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or any(call in cell.source for call in TRAINING):
            continue
        if meta.get("grade"):
            for name, params in answers:
                for qualified, candidate in candidates.items():
                    if fits(candidate, params) and not failed.get((name, qualified)):
                        failed[name, qualified] = refused(cell.source, {**main, name: candidate})
        elif meta.get("solution"):
            answers = defined(cell.source)
        outcome(main, cell.source)
    passing = [f"{qualified} as {name}" for (name, qualified), refusal in failed.items() if not refusal]
    assert failed, "no function of the student wing fits an exercise"
    assert not passing, f"these pass every test cell of the exercise: {passing}"


def test_the_student_package_holds_the_student_wing_alone(tmp_path):
    """`python -m autograder student-package DEST` is what students install: the student wing and its data."""
    handout.student_package(tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert "autograder/student/validation_split.npz" in files and "pyproject.toml" in files
    assert all(f.startswith("autograder/student/") or f in ("autograder/__init__.py", "pyproject.toml") for f in files), files


@pytest.mark.parametrize("assignment", course.LOOP_AFTER_03)
def test_the_loop_released_after_03_is_the_courses(assignment):
    """04 to 06 get 03's loop as course_loop.py, released with them (`python -m autograder release` copies it)."""
    handed_out = ROOT / "source" / assignment / "course_loop.py"
    assert handed_out.read_text() == course.LOOP.read_text(), f"{handed_out} is stale: run `make release`"
    assert (ROOT / "release" / assignment / "course_loop.py").read_text() == course.LOOP.read_text()
