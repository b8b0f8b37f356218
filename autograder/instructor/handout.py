"""What the instructor hands students besides release/: the student wing of the package, on its own.

`python -m autograder student-package DEST` writes DEST/ as an installable project holding
autograder/__init__.py and autograder/student/ only (`pip install DEST`): students get the data
loading, the course's public numbers, the visible checks, `observe`/`claim` and `submit`, and none of
the grader, the answers or the instructor's commands.
"""
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
PROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "mnist-course"
version = "0.1.0"
description = "What students of the MNIST CNN course import: data, public numbers, visible checks, hand-in"
requires-python = ">=3.10"
dependencies = ["numpy", "torch", "torchvision"]

[tool.setuptools]
packages = ["autograder", "autograder.student"]

[tool.setuptools.package-data]
"autograder.student" = ["validation_split.npz"]
"""


def student_package(dest):
    """Write the student wing as an installable project in dest (replacing what was there); return dest."""
    dest = Path(dest)
    shutil.rmtree(dest / "autograder", ignore_errors=True)
    shutil.copytree(PACKAGE / "student", dest / "autograder" / "student",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(PACKAGE / "__init__.py", dest / "autograder" / "__init__.py")
    (dest / "pyproject.toml").write_text(PROJECT)
    return dest
