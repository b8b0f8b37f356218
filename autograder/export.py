"""Grades as a CSV with one column per autograded test cell: an nbgrader export plugin.

    nbgrader export --exporter=autograder.export.CellScores --assignment=03_mnist_cnn --to=grades.csv

(`python -m autograder export 03_mnist_cnn` does the same.) One row per student and assignment:
the points of each test cell, then the autograded, manual and total points.
"""
import csv

from nbgrader.plugins import ExportPlugin


def cell_scores(gradebook, assignments=(), students=()):
    """The rows, for the given assignments and students (default: all), sorted by assignment and student."""
    rows = []
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for submission in gradebook.assignment_submissions(assignment.name):
            if students and submission.student.id not in students:
                continue
            code = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
            row = {"student": submission.student.id, "assignment": assignment.name}
            row |= {g.name: g.score for g in code}
            row |= {"autograded": sum(g.score for g in code),
                    "autograded_max": sum(g.max_score for g in code),
                    "manual": submission.score - sum(g.score for g in code),
                    "total": submission.score, "max": submission.max_score}
            rows.append(row)
    return sorted(rows, key=lambda r: (r["assignment"], r["student"]))


def write(rows, path):
    """One CSV for all rows: a test cell's column is empty where another assignment has none."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    totals = ["autograded", "autograded_max", "manual", "total", "max"]
    columns = [c for c in columns if c not in totals] + totals
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class CellScores(ExportPlugin):
    """nbgrader's export with one column per autograded test cell."""

    def export(self, gradebook):
        rows = cell_scores(gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student])
        write(rows, self.to or "grades.csv")
        self.log.info("%d rows written to %s", len(rows), self.to or "grades.csv")
