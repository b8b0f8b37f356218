"""Preprocessors that fix nbgrader 0.9.6 behaviour the course relies on (see nbgrader_config.py)."""
import re

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


class DeduplicateGradeIds(NbGraderPreprocessor):
    """Keep the first cell of each grade_id; later copies become ordinary cells.

    nbgrader's DeduplicateIds leaves `metadata.nbgrader = {}` on the copies, and
    OverwriteCells.add_missing_cells then fails with KeyError: 'grade_id', so a student
    who copied a test cell got no grade at all. Dropping the key grades the notebook.
    """

    def preprocess(self, nb, resources):
        seen = set()
        for cell in nb.cells:
            if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
                continue
            grade_id = cell.metadata.nbgrader.get("grade_id")
            if grade_id in seen:
                self.log.warning("Cell with id '%s' exists more than once; grading the first",
                                 grade_id)
                del cell.metadata["nbgrader"]
            seen.add(grade_id)
        return nb, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback shows each test's points and failure message, never the source of a hidden test.

    nbgrader puts hidden tests back for grading and leaves them in the feedback HTML
    (jupyter/nbgrader#917, #1363). This replaces each hidden block with a placeholder and keeps
    only the name and message of an error, not its traceback (which quotes the failing line).
    """

    placeholder = "# (hidden tests ran here)"

    def preprocess_cell(self, cell, resources, index):
        if utils.is_grade(cell) and cell.cell_type == "code":
            cell.source = HIDDEN.sub(self.placeholder, cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return cell, resources
