"""nbgrader configuration for the MNIST CNN course (the repository root is the course directory)."""
c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "mnist-cnn"

# The exchange, where released assignments, submissions and feedback pass between instructor and
# students: a folder of the course here. On a shared server, point it at a folder every student
# can write to (nbgrader's default, /usr/local/share/nbgrader/exchange, needs root to create).
import os  # noqa: E402
c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")

# Training cells run for a minute or two on a laptop CPU; give each cell ten. This is the one cell
# timeout of Validate, `nbgrader autograde` and `python -m autograder grade`.
c.Execute.timeout = 600
# Once the last cell has run (Validate, autograde), the kernel is stopped at once: a graceful
# shutdown waits for torch's (and any student's) exit handlers, 1.2 s of every run of 03.
c.Execute.shutdown_kernel = "immediate"
# Widget state is not kept in executed notebooks (student code can put anything in it).
c.Execute.store_widget_state = False

# A test cell with *any* stderr output scores 0. Warnings (Python's, PyTorch's, logging's)
# are not failures: drop them before scoring. Errors are "error" outputs and still count.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warn"

# A grade cell the student deleted is put back from the gradebook and graded. A copied grade
# cell is graded once: the first copy keeps the grade id (our DeduplicateGradeIds replaces
# nbgrader's, which crashes together with add_missing_cells), and OverwriteCells restores its
# original source from the gradebook, so edits to a test cell never count.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.instructor.nbgrader_fixes.DeduplicateGradeIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Outputs are capped in bytes as soon as a notebook has run (nbgrader's LimitOutput counts lines only).
c.Autograde.autograde_preprocessors = [
    "autograder.instructor.nbgrader_fixes.ExecuteKeepingOutputs",   # no display update reaches an earlier cell
    "autograder.instructor.nbgrader_fixes.LimitOutputBytes",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback never shows hidden test source (nbgrader's default does: #917, #1363), nor any output of
# a cell that ran once hidden tests had entered the kernel (student code could print them encoded).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.instructor.nbgrader_fixes.OutputsBeforeHiddenTests",
    "autograder.instructor.nbgrader_fixes.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Student versions keep what the student needs to see and nothing more.
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("Replace this line with your code.")'
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Files that notebooks write next to themselves (saved models) never go into release/, and the
# hidden tests' expected values (expected.json) never leave source/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.pt", "*.pt2", "expected.json"]

# Class grading (`python -m autograder grade`): every rule and limit is a GradingRules setting;
# `python -m autograder rules` lists them all with their values. For example:
c.GradingRules.budget_s = 900      # wall-clock seconds for all of a submission's notebooks
c.GradingRules.memory_gb = 6.0     # memory of all of a submission's processes together
