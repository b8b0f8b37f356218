"""nbgrader's region markers, read from its own preprocessors (ClearSolutions, ClearHiddenTests) and
so from the course's configuration, for the code that finds solution and hidden-test regions itself.
As in nbgrader, a line that holds a marker anywhere opens or closes a region."""
import re

from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions


def solution(config=None):
    """(begin, end) of a solution region."""
    clear = ClearSolutions(config=config)
    return clear.begin_solution_delimeter, clear.end_solution_delimeter


def hidden_tests(config=None):
    """(begin, end) of a hidden-test region."""
    clear = ClearHiddenTests(config=config)
    return clear.begin_test_delimeter, clear.end_test_delimeter


def region(markers):
    """A pattern of every region between the markers, from the line that opens it to the line that closes it."""
    begin, end = map(re.escape, markers)
    return re.compile(rf"^[^\n]*{begin}.*?{end}[^\n]*$", re.S | re.M)


def without_marker_lines(source, markers):
    """The source without the lines that hold a marker (the code between them stays)."""
    return "\n".join(line for line in source.splitlines() if not any(m in line for m in markers))
