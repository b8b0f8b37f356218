"""Every rule and limit of class grading, in one place: `c.GradingRules.<name>` in nbgrader_config.py.

`python -m autograder rules` lists them with this course's values. The cell timeout is nbgrader's
own `c.Execute.timeout`: Validate, `nbgrader autograde` and `grade` all stop a cell there, and
`grade` also stops a submission's notebooks once `budget_s` is spent.
"""
import textwrap

from nbgrader.preprocessors import Execute
from traitlets import Float, Int
from traitlets.config import Configurable

from autograder.instructor import course
from autograder.student import observe

class GradingRules(Configurable):
    """The rules `python -m autograder grade` grades a class by."""

    budget_s = Int(900, help="Wall-clock seconds that all the notebooks of one submission may run "
                             "together (each cell also stops at c.Execute.timeout).").tag(config=True)
    grace_s = Int(60, help="Seconds nbgrader gets beyond the budget (kernel start, writing the notebook) "
                           "before the submission is stopped.").tag(config=True)
    memory_gb = Float(6.0, help="GiB of memory that one submission's processes may use together.").tag(config=True)
    workers = Int(0, help="Submissions graded at a time on this machine; 0: one per core, but no more than "
                          "one per worker_memory_gb of available memory.").tag(config=True)
    worker_memory_gb = Float(2.0, help="GiB of available memory counted per worker when workers is 0.").tag(config=True)
    attempts = Int(2, help="Fresh processes a submission gets when its grading process dies.").tag(config=True)
    processes = Int(256, help="Processes and threads that one submission may run.").tag(config=True)
    disk_mb = Int(512, help="MiB that one submission may write in its grading folder.").tag(config=True)
    tmp_mb = Int(512, help="MiB of the kernel's /tmp (memory, counted in memory_gb too).").tag(config=True)
    submission_mb = Int(64, help="MiB of a submission's files; a larger submission is refused "
                                 "with a zero and the reason.").tag(config=True)
    notebook_mb = Int(64, help="MiB of an executed notebook that the grader reads back.").tag(config=True)
    verdict_s = Int(300, help="Seconds the grader's own checks of a submission's models may take.").tag(config=True)
    claim_tolerance = Float(0.0005, help="How far an accuracy that a notebook reports may be from the "
                                         "grader's own measurement of the same model.").tag(config=True)
    rel_tol = Float(observe.REL_TOL, help="Relative tolerance of numbers compared with expected.json "
                               "(GPU and CPU round differently).").tag(config=True)
    abs_tol = Float(observe.ABS_TOL, help="Absolute tolerance of numbers compared with expected.json.").tag(config=True)

    @property
    def memory_bytes(self):
        return int(self.memory_gb * 2**30)


def load(course_dir, **overrides):
    """The course's rules (its nbgrader_config.py), with the overrides that are not None on top."""
    settings = {name: value for name, value in overrides.items() if value is not None}
    return GradingRules(config=course.config(course_dir, GradingRules=settings))


def describe(course_dir):
    """Every rule with its help and this course's value, as lines nbgrader_config.py can take."""
    rules = load(course_dir)
    timeout = Execute(config=course.config(course_dir)).timeout
    lines = ["# The cell timeout of Validate, `nbgrader autograde` and `grade` (nbgrader's own setting):",
             f"c.Execute.timeout = {timeout!r}"]
    for name, trait in rules.traits(config=True).items():
        lines += ["", *textwrap.wrap(trait.help, 100, initial_indent="# ", subsequent_indent="# "),
                  f"c.GradingRules.{name} = {getattr(rules, name)!r}"]
    return "\n".join(lines)
