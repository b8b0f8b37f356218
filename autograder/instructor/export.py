"""Grades as CSV files: nbgrader export plugins.

    nbgrader export --exporter=autograder.instructor.export.CellScores --assignment=03_mnist_cnn --to=grades.csv

(`python -m autograder export 03_mnist_cnn` does the same.) One row per student and assignment:
the points of each test cell, then the autograded, manual and total points.

    nbgrader export --exporter=autograder.instructor.export.CanvasGrades --to=canvas.csv
    nbgrader export --exporter=autograder.instructor.export.MoodleGrades --to=moodle.csv

(`python -m autograder export all --format canvas`, or `moodle`): files Canvas's and Moodle's
gradebooks import as they are, one column per assignment (all, or those given with --assignment)
and one row per student in the gradebook, with the points an assignment's submission scored.
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
    write_table(table(rows, [c for c in columns if c not in totals] + totals), path)


def table(rows, columns):
    """Dict rows as a table: the header, then each row's values in the columns' order (None where it has none)."""
    return [columns] + [[row.get(column) for column in columns] for row in rows]


def write_table(rows, path):
    """The course's one CSV writer: rows of values, the header first; None is an empty cell."""
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


class CellScores(ExportPlugin):
    """nbgrader's export with one column per autograded test cell."""

    def export(self, gradebook):
        rows = cell_scores(gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student])
        write(rows, self.to or "grades.csv")
        self.log.info("%d rows written to %s", len(rows), self.to or "grades.csv")


def totals(gradebook, assignments=(), students=()):
    """The assignments and students to export (default: all in the gradebook), and each submission's
    points by (student id, assignment name): autograded plus manual, as Formgrader sums them."""
    chosen = [a for a in gradebook.assignments if not assignments or a.name in assignments]
    people = [s for s in gradebook.students if not students or s.id in students]
    points = {(sub.student.id, a.name): round(sub.score, 2)
              for a in chosen for sub in gradebook.assignment_submissions(a.name)}
    return chosen, people, points


def canvas_rows(gradebook, assignments=(), students=()):
    """Canvas's gradebook import CSV, as rows: the header, "Points Possible", then every student.

    Canvas's rules (its importer, canvas-lms app/models/gradebook_importer.rb, which the columns of
    the Canvas grade import guides follow): the header starts Student, ID, SIS User ID, SIS Login ID,
    Section; a student is found by ID (Canvas's own number), else SIS User ID, else SIS Login ID,
    else name. We know none of Canvas's numbers, so ID is empty and the nbgrader id (the JupyterHub
    login) is the SIS Login ID. An assignment column headed "Title (123)" names Canvas assignment
    123; without the number Canvas takes the assignment of that exact title or creates it, with the
    points of the "Points Possible" row, so the header is the bare assignment name. An empty cell
    is no score (not 0): that is what a student who never submitted gets.
    """
    chosen, people, points = totals(gradebook, assignments, students)
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + [a.name for a in chosen],
            ["Points Possible", "", "", "", ""] + [a.max_score for a in chosen]]
    for s in people:
        name = ", ".join(filter(None, [s.last_name, s.first_name])) or s.id  # Canvas's "Last, First"
        rows.append([name, "", "", s.id, ""] + [points.get((s.id, a.name)) for a in chosen])
    return rows


def moodle_rows(gradebook, assignments=(), students=()):
    """Moodle's "Import grades from CSV" file, as rows: the header, then every student.

    Moodle's rules (docs.moodle.org "Grade import"; grade/import/csv/classes/load_data.php): the
    instructor maps one column ("Map from") to a user field ("Map to": Username, ID number, Email
    address), and each other column to a grade item, a "New grade item" named by its header, or
    "Ignore". The nbgrader id is the JupyterHub login, so it is in "Username" (map Username to
    Username; to ID number if the logins are ID numbers). Grades are numbers with '.' decimals; an
    empty cell is no grade, which a student who never submitted gets.
    """
    chosen, people, points = totals(gradebook, assignments, students)
    rows = [["Username", "First name", "Last name", "Email address"] + [a.name for a in chosen]]
    for s in people:
        rows.append([s.id, s.first_name, s.last_name, s.email] + [points.get((s.id, a.name)) for a in chosen])
    return rows


LMS = {"canvas": canvas_rows, "moodle": moodle_rows}


class LmsGrades(ExportPlugin):
    """nbgrader's export as a file an LMS imports: one column per assignment, a row per student."""

    lms = ""

    def export(self, gradebook):
        to = self.to or f"{self.lms}.csv"
        write_table(LMS[self.lms](gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student]), to)
        self.log.info("%s grades written to %s", self.lms, to)


class CanvasGrades(LmsGrades):
    """Canvas gradebook import: `nbgrader export --exporter=autograder.instructor.export.CanvasGrades`."""

    lms = "canvas"


class MoodleGrades(LmsGrades):
    """Moodle grade import: `nbgrader export --exporter=autograder.instructor.export.MoodleGrades`."""

    lms = "moodle"
