"""Preprocessors that fix nbgrader 0.9.6 behaviour the course relies on (see nbgrader_config.py)."""
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


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
