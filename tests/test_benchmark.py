"""The benchmark command's parts: the per-notebook report and the Markdown table.

The full benchmark executes every notebook once more and times the machine, so CI does not run it
(a timing asserted on a shared CI machine fails by chance); `python -m autograder benchmark` does,
and its figures are in the README.
"""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.instructor import benchmark
from helpers import ROOT


def test_a_notebook_report_has_time_memory_device_accuracies_and_sections(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Part A"), new_code_cell("x = 1"),
                                       new_markdown_cell("# Part B\nwhere the time goes"), new_code_cell(
        "import numpy\nblock = numpy.ones(50_000_000)  # 400 MB, so the peak is visible\n"
        "import time; time.sleep(1.5)\n"
        "device = 'cpu'\nhistory = {'loss': [0.3, 0.1], 'test_acc': [0.97, 0.9912]}\n"
        "row = {'test_acc': 0.99}  # a table row, not a history\n"
        "h = history  # a loop variable")]), path)
    report = benchmark.run_notebook(path)
    assert report["device"] == "cpu"
    assert report["accuracies"] == {"history": 0.9912}
    assert report["seconds"] >= 1.5
    assert report["peak_memory_mb"] >= 380
    assert report["sections"]["Part B"] >= 1.5 > report["sections"]["Part A"], report["sections"]


def test_the_markdown_table_lists_every_notebook_and_recipe(tmp_path):
    result = {"machine": "test", "grader_eval_seconds": 1.2, "total_seconds": 12.0,
              "notebooks": [{"notebook": str(tmp_path / "a.ipynb"), "seconds": 12.0, "peak_memory_mb": 900,
                             "device": "cpu", "accuracies": {"history": 0.9912},
                             "sections": {"Part 1": 1.0, "Part 2": 2.5, "Part 3": 8.5}}],
              "recipes": {"fast": {"seconds_to_99": 30.5, "training_seconds": 45.0,
                                   "test_acc_per_epoch": [0.985, 0.991]},
                          "never": {"seconds_to_99": None, "training_seconds": 90.0,
                                    "test_acc_per_epoch": [0.98]},
                          "reference": {"seconds_to_99": 61.0, "training_seconds": 70.0,
                                        "test_acc_per_epoch": [0.98, 0.99]}}}
    table = benchmark.markdown(result, tmp_path)
    assert "| a.ipynb | 12.0 | 900 | cpu | history 99.12 % |" in table
    assert "| fast | 30.5 | 0.50x | 98.50, 99.10 |" in table
    assert "| never | not reached in 90.0 | - | 98.00 |" in table
    assert "not reached in 90.0" in table
    assert "1.2 s" in table
    assert "per section of a.ipynb: Part 1 1; Part 2 2.5; Part 3 8.5." in table



def test_the_generated_class_has_every_kind_and_the_release_as_its_base(tmp_path):
    """The class of `benchmark --class`: the small assignment's release with each kind's answers."""
    from autograder.instructor import course

    (tmp_path / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    benchmark.small_assignment(tmp_path)
    course.release(tmp_path, benchmark.SMALL)
    kinds = benchmark.generated_class(tmp_path, 60)
    assert set(kinds.values()) == set(benchmark.KINDS) and len(kinds) == 60
    path = tmp_path / "submitted" / "student0000" / benchmark.SMALL / f"{benchmark.SMALL}.ipynb"
    nb = nbformat.read(path, as_version=4)
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in nb.cells}
    assert answers["square"] == benchmark.KINDS["solution 0"]["square"] and "assert square(3) == 9" in answers["test_square"]
    deleted = next(s for s, k in kinds.items() if k == "deleted test")
    nb = nbformat.read(tmp_path / "submitted" / deleted / benchmark.SMALL / f"{benchmark.SMALL}.ipynb", as_version=4)
    assert "test_square" not in [c.metadata.nbgrader["grade_id"] for c in nb.cells]
