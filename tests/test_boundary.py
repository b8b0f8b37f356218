"""After a kernel ends, what it leaves behind is hostile: attacks on the grader outside the sandbox.

Each attack is the last cell of an otherwise correct submission, graded in one class with an honest
classmate by `python -m autograder grade`'s code. The kernel knows the course's folder (found from
/proc/self/mountinfo, which names the bound package inside it; here the test hands it over) and
leaves links, FIFOs, devices, broken files and floods where the grader would read or write. The
grader must write nothing through them, read nothing from them, finish, and give every student a
row with the score their honest part earns.
"""
import functools
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from autograder.student import evaluate
from autograder.instructor import forked, grading, verdicts
from autograder.student.submit import save
from helpers import edit, submit, tiny_course

REPLACE_NOTEBOOK = "import os\nos.remove('tiny.ipynb')\n"
RECORDS = "import os\nrecords = os.path.join(os.environ['GRADER_EXPORT_DIR'], 'observations.jsonl')\n"
FLOOD_MIB = 100


def attacks(course_dir):
    """student -> (the last cell, the score the honest part earns, a problem the row must name)."""
    return {
        "link_source": (REPLACE_NOTEBOOK + f"os.symlink({str(course_dir / 'source/tiny/tiny.ipynb')!r}, 'tiny.ipynb')", 5, ""),
        "link_expected": (REPLACE_NOTEBOOK + f"os.symlink({str(course_dir / 'source/tiny/expected.json')!r}, 'tiny.ipynb')", 5, ""),
        "link_gradebook": (REPLACE_NOTEBOOK + f"os.symlink({str(course_dir / 'gradebook.db')!r}, 'tiny.ipynb')", 5, ""),
        "link_classmate": (REPLACE_NOTEBOOK + f"os.symlink({str(course_dir / 'submitted/good/tiny/tiny.ipynb')!r}, "
                           "'tiny.ipynb')", 5, ""),
        "fifo_notebook": (REPLACE_NOTEBOOK + "os.mkfifo('tiny.ipynb')", 5, ""),
        "garbage_notebook": ("with open('tiny.ipynb', 'w') as f:\n    f.write('{this is not a notebook')", 5, ""),
        "zero_records": (RECORDS + "os.remove(records)\nos.symlink('/dev/zero', records)", 0, "observations.jsonl"),
        "fifo_records": (RECORDS + "os.remove(records)\nos.mkfifo(records)", 0, "observations.jsonl"),
        "nested_records": (RECORDS + "with open(records, 'a') as f:\n    f.write('[' * 200_000 + ']' * 200_000 + '\\n')", 5, ""),
        "flood": (f"import sys\nfrom IPython.display import display\nsys.stdout.write('x' * {FLOOD_MIB} * 2**20)\n"
                  f"display({{'text/plain': 'y' * {FLOOD_MIB // 2} * 2**20}}, raw=True)", 5, ""),
        # Found by a review that attacked this grader: a tree too deep for a recursive walk, disk taken by
        # blocks a file's size does not show, and threads, which take process ids like processes.
        "deep_tree": ("import os\nfd = os.open(os.environ['GRADER_EXPORT_DIR'], os.O_RDONLY)\nfor _ in range(3000):\n"
                      "    os.mkdir('d', dir_fd=fd)\n    fd = os.open('d', os.O_RDONLY, dir_fd=fd)", 5, ""),
        "preallocated": ("import ctypes, os, time\nfd = os.open('big', os.O_CREAT | os.O_WRONLY)\n"
                         "assert ctypes.CDLL(None).fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(700 * 2**20)) == 0\n"
                         "time.sleep(5)", 0, "MiB written"),
        "threads": ("import threading, time\nthreading.stack_size(2**18)\nfor _ in range(600):\n"
                    "    threading.Thread(target=time.sleep, args=(8,)).start()\ntime.sleep(5)", 0, "threads"),
    }


def course_files(course_dir):
    """Every file of the course that grading must leave as it is (the gradebook is checked apart)."""
    folders = [course_dir / name for name in ("source", "release", "submitted")]
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()} | {
        course_dir / "nbgrader_config.py": (course_dir / "nbgrader_config.py").read_bytes()}


def peak_rss_bytes():
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course_dir = tmp_path_factory.mktemp("boundary")
    base = tiny_course(course_dir)
    submit(course_dir, "good", {"tiny.ipynb": edit(base).encode()})
    for student, (attack, _, _) in attacks(course_dir).items():
        submit(course_dir, student, {"tiny.ipynb": edit(base, insert=(len(base.cells), attack)).encode()})
    before = course_files(course_dir)
    Path("/proc/self/clear_refs").write_text("5")       # VmHWM from now on: this grading's peak
    resting = peak_rss_bytes()
    rows = grading.grade(course_dir, "tiny", workers=3, budget_s=60, memory_gb=2)
    return course_dir, {r["student"]: r for r in rows}, before, peak_rss_bytes() - resting


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.parametrize("student", ["good", *attacks(Path("/course"))])
def test_every_student_gets_the_score_of_their_honest_part(graded, student):
    course_dir, rows, _, _ = graded
    _, score, problem = attacks(course_dir).get(student, (None, 5, ""))
    assert rows[student]["score"] == score and problem in rows[student]["problems"], rows[student]["problems"]


@pytest.mark.slow
@pytest.mark.sandbox
def test_nothing_was_written_through_a_link(graded):
    course_dir, _, before, _ = graded
    changed = [str(p.relative_to(course_dir)) for p, data in course_files(course_dir).items() if before.get(p) != data]
    assert not changed and course_files(course_dir).keys() == before.keys(), changed


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_gradebook_holds_every_student(graded):
    course_dir, rows, _, _ = graded
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        students = {name for (name,) in db.execute("select student_id from submitted_assignment "
                                                   "join student on student.id = student_id")}
    assert students == set(rows), set(rows) ^ students


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_flood_reaches_neither_the_gradebook_nor_the_instructors_memory(graded):
    course_dir, rows, _, peak = graded
    graded_notebook = course_dir / "autograded" / "flood" / "tiny" / "tiny.ipynb"
    outputs = json.loads(graded_notebook.read_text())["cells"][-1]["outputs"]
    assert "cut by the grader" in json.dumps(outputs), "the flood did not run"
    assert graded_notebook.stat().st_size < 20 * 2**20, f"{graded_notebook.stat().st_size:,} bytes"
    assert peak < FLOOD_MIB * 2**20, f"the instructor's process grew by {peak / 2**20:.0f} MiB"



# The grader's own checks of handed-in models run outside the sandbox, on files the kernel wrote.
def write_graph(folder, name, nodes, tensors):
    """A handed-in model as the kernel could have written it by hand, in the format of autograder/student/submit.py."""
    (folder / f"{name}.json").write_text(json.dumps({"nodes": nodes}))
    torch.save(tensors, folder / f"{name}.tensors")


def node(name, target, *args):
    return {"op": "call_function", "name": name, "target": target, "args": list(args), "kwargs": {"dict": {}}}


def slow_graph(folder, repeats=900):
    """Within the node limit, a graph of 900 matrix products over every batch of the test set: minutes of work."""
    nodes = [{"op": "placeholder", "name": "w", "role": ["parameter", "w"], "args": [], "kwargs": {"dict": {}}},
             {"op": "placeholder", "name": "x", "role": ["input", "x"], "args": [], "kwargs": {"dict": {}}},
             node("m0", "aten.view.default", {"node": "x"}, [-1, 784])]
    for i in range(1, repeats):
        nodes.append(node(f"m{i}", "aten.mm.default", {"node": f"m{i - 1}"}, {"node": "w"}))
    nodes.append({"op": "output", "name": "output", "args": [[{"node": f"m{repeats - 1}"}]], "kwargs": {"dict": {}}})
    write_graph(folder, "model", nodes, {"w": torch.eye(784)})


def test_the_graders_checks_of_a_graph_have_a_time_budget(tmp_path):
    slow_graph(tmp_path)
    started = time.monotonic()
    verdict, reason = forked.bounded(functools.partial(verdicts.judge, "03_mnist_cnn", tmp_path, ["test_accuracy"]),
                                     seconds=5, memory_bytes=2**30)
    assert verdict is None and "ran past their 5 s" in reason, (verdict, reason)
    assert time.monotonic() - started < 15


def test_the_graders_checks_of_a_graph_have_a_memory_cap(tmp_path):
    """A graph that pads the batch to 4 GiB: the check fails with a reason, the grader lives on."""
    nodes = [{"op": "placeholder", "name": "x", "role": ["input", "x"], "args": [], "kwargs": {"dict": {}}},
             node("big", "aten.constant_pad_nd.default", {"node": "x"}, [0, 0, 0, 0, 0, 0, 0, 2**20]),
             {"op": "output", "name": "output", "args": [[{"node": "big"}]], "kwargs": {"dict": {}}}]
    write_graph(tmp_path, "model", nodes, {})
    verdict, reason = forked.bounded(functools.partial(verdicts.judge, "03_mnist_cnn", tmp_path, ["test_accuracy"]),
                                     seconds=60, memory_bytes=2**30)
    assert reason or "allocate" in verdict["test_accuracy"], (verdict, reason)


class LookupTable(nn.Module):
    """Not a network: the grader's own test digits and their labels, answered by nearest neighbour."""

    def __init__(self, images, labels):
        super().__init__()
        self.images = nn.Parameter(images.flatten(1))
        self.labels = nn.Parameter(nn.functional.one_hot(labels, 10).float())

    def forward(self, x):
        distances = (x.flatten(1) ** 2).sum(1, keepdim=True) - 2 * x.flatten(1) @ self.images.t() \
            + (self.images ** 2).sum(1)
        return torch.softmax(-distances * 100, dim=1) @ self.labels


@pytest.mark.parametrize("assignment, models, cell", [
    ("04_dense_vs_cnn", ("dense", "cnn"), "test_accuracies"),
    ("05_augmentation", ("plain", "augmented"), "test_augmented_model")])
def test_a_table_of_the_test_digits_is_not_a_model(tmp_path, assignment, models, cell):
    images, labels = evaluate.test_set()
    table = LookupTable(images, labels)
    assert evaluate.accuracy(table, batch_size=1000) > 0.999, "the attack itself does not work"
    for name in models:
        save(table, tmp_path, name)
    reason = verdicts.judge(assignment, tmp_path, [cell])[cell]
    assert reason and "is not" in reason, reason


@pytest.mark.slow
@pytest.mark.sandbox
def test_no_scratch_folder_is_left_behind(graded):
    """Even the tree 3,000 folders deep, which a recursive removal cannot take, is removed."""
    course_dir = graded[0]
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("grade-*")
                 if p.is_dir() and p.stat().st_mtime >= course_dir.stat().st_mtime]
    assert not leftovers, leftovers


def test_a_cell_keeps_at_most_200_outputs_and_every_error():
    """100,000 displays of one cell (found by the review: 40 s and 0.5 GiB of the instructor's process to
    record) keep 200 and a note; the cell's error still decides its score."""
    from nbformat import NotebookNode
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from autograder.instructor.nbgrader_fixes import LimitOutputBytes

    # put together without nbformat's validation, which takes seconds for 100,000 outputs (20 s under pytest)
    cell = new_code_cell("")
    cell.outputs = [NotebookNode(output_type="display_data", data={"text/plain": "x"}, metadata={})
                    for _ in range(100_000)] + [new_output("error", ename="E", evalue="v", traceback=[])]
    nb = new_notebook()
    nb.cells.append(cell)
    nb, _ = LimitOutputBytes().preprocess(nb, {})
    kept = nb.cells[0].outputs
    assert len(kept) == 202 and kept[-1].output_type == "error" and "more outputs cut" in kept[200].text

