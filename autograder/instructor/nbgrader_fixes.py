"""Preprocessors that fix nbgrader 0.9.6 behaviour the course relies on (see nbgrader_config.py)."""
import json

from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer

from autograder.instructor import markers


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
            cell.source = markers.region(markers.hidden_tests(self.config)).sub(self.placeholder, cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return cell, resources


class OutputsBeforeHiddenTests(NbGraderPreprocessor):
    """Feedback returns the outputs of cells that ran before the first hidden test entered the kernel, no later ones.

    From that cell on, the student's code has seen hidden test source (an IPython hook gets every cell)
    and could print it in any encoding, reversed or in base64, which no text filter can catch. So
    later cells keep no output; a later test cell that failed says only that, and the grader's own
    reasons reach the student as comments (autograder/instructor/recording.py). Runs before HideHiddenTests.
    """

    def preprocess(self, nb, resources):
        entered, begin = False, markers.hidden_tests(self.config)[0]
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            # Only a grade cell holds hidden tests (its source comes from the gradebook); a student's cell
            # may hold the marker as text, and is never searched with a pattern.
            entered = entered or (utils.is_grade(cell) and begin in cell.source)
            if entered:
                failed = any(o.get("output_type") == "error" or o.get("name") == "stderr" for o in cell.outputs)
                cell.outputs = [new_output("error", ename="TestFailed", traceback=[], evalue=(
                    "this test failed; its message is not shown (it ran after hidden tests), the grader's "
                    "comments say what it found"))] if failed and utils.is_grade(cell) else []
        return nb, resources


class LimitOutputBytes(NbGraderPreprocessor):
    """Cap each output and all of a notebook's outputs in bytes (nbgrader's LimitOutput counts lines:
    one line of 300 MiB passes it). A stream keeps its start and its kind, so scores do not change;
    a larger display or result becomes a note. Runs right after Execute."""

    max_output_bytes = Integer(2**20, help="the most bytes one output keeps").tag(config=True)
    max_notebook_bytes = Integer(16 * 2**20, help="the most bytes all outputs keep together").tag(config=True)
    max_outputs = Integer(200, help="the most outputs one cell keeps (errors and stderr always)").tag(config=True)

    def preprocess(self, nb, resources):
        left = self.max_notebook_bytes
        for cell in nb.cells:
            self.keep_few(cell)
            for output in cell.get("outputs", []):
                size = len(json.dumps(output))
                if size > min(self.max_output_bytes, left):
                    self.shrink(output, size, max(0, min(self.max_output_bytes, left) - 1000))
                left -= len(json.dumps(output))
        return nb, resources

    def keep_few(self, cell):
        """At most max_outputs outputs, and every error and stderr output (they decide the score)."""
        outputs = cell.get("outputs", [])
        if len(outputs) > self.max_outputs:
            decisive = [o for o in outputs[self.max_outputs:] if o.get("output_type") == "error" or o.get("name") == "stderr"]
            note = new_output("stream", name="stdout", text=f"[{len(outputs) - self.max_outputs:,} more outputs cut by the grader]\n")
            cell.outputs = outputs[:self.max_outputs] + [note] + decisive[:self.max_outputs]

    @staticmethod
    def shrink(output, size, keep):
        note = f"[{size:,} bytes of output cut by the grader]"
        if output.get("output_type") == "stream":
            output["text"] = output["text"][:keep] + "\n" + note
        elif output.get("output_type") == "error":
            output["ename"], output["evalue"] = output.get("ename", "")[:100], output.get("evalue", "")[:keep // 2]
            output["traceback"] = [note]
        else:
            output["data"] = {"text/plain": note}
            output["metadata"] = {}


class ExecuteKeepingOutputs(Execute):
    """nbgrader's Execute, except that no cell's outputs change once that cell has run.

    nbclient rewrites every earlier output that shares a display id when a later cell updates it: a hook
    that sees hidden tests could write them into the output of a cell that ran before them, which the
    feedback keeps (OutputsBeforeHiddenTests). Updates of a display id are dropped here."""

    def _update_display_id(self, display_id, msg):
        pass
