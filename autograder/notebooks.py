"""Executing notebooks and recording the outputs that nbval checks."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECKED = "nbval-check-output"


def execute(path, timeout=600):
    """Run a notebook top to bottom in its own folder and return the executed notebook."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def record(path):
    """Execute `path` and save it with outputs only in the cells tagged nbval-check-output.

    Those outputs (and their execution counts, which nbval needs) are what nbval compares
    in CI; every other cell is saved clean.
    """
    nb = execute(path)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECKED not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)
