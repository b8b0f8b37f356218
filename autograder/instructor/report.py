"""The class report: how a graded assignment went, as an HTML page with its images.

    python -m autograder report 03_mnist_cnn [--output DIR]     (default: reports/<assignment>/)

It reads what grading left (nbgrader's gradebook, the graded notebooks, grading_state.json) and the
submitted notebooks, and writes index.html and PNG images: the distribution of autograded points,
the pass rate of every test cell, the most frequent failure reasons with the number of students
each, the time per submission, the students without a grade or with zero and why, and the pairs of
submissions whose answers are nearly identical (autograder/instructor/similarity.py). It never
writes the gradebook. Every text that came from a submission is escaped.
"""
import collections
import html
import json
from pathlib import Path

from matplotlib.figure import Figure
from nbgrader.coursedir import CourseDirectory

from autograder.instructor import course, grading, jobs, rules, similarity, untrusted

MAX_NOTEBOOK = 64 * 2**20
TOP_REASONS = 20
TOP_PAIRS = 100


def gradebook_scores(course_dir, assignment):
    """({student: (points, maximum)}, {test cell: [students who passed, students graded]}) of the
    autograded cells, from the gradebook."""
    scores, cells = {}, {}
    with course.gradebook(course_dir) as gb:
        for submission in gb.assignment_submissions(assignment):
            code = [g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
            scores[submission.student.id] = (sum(g.auto_score or 0 for g in code), sum(g.max_score for g in code))
            for g in code:
                count = cells.setdefault(g.name, [0, 0])
                count[0] += (g.auto_score or 0) >= g.max_score
                count[1] += 1
    return scores, cells


def test_errors(graded):
    """'cell: Error: message' of every test cell with an error in the graded notebooks in the folder."""
    found = []
    for path in sorted(Path(graded).glob("*.ipynb")):
        try:
            cells = json.loads(untrusted.read(path, MAX_NOTEBOOK) or b'{"cells": []}')["cells"]
        except (untrusted.Refused, ValueError, KeyError):
            continue
        for cell in cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if meta.get("grade") and errors:
                message = str(errors[-1].get("evalue", "")).strip().splitlines()[:1]
                found.append(f"{meta.get('grade_id')}: {errors[-1].get('ename', '')}: {''.join(message)}"[:200])
    return found


def failure_reasons(course_dir, assignment, scores, state):
    """[(reason, [students])], most frequent first: the errors of test cells and what grading recorded."""
    folders, students = CourseDirectory(config=course.config(course_dir)), collections.defaultdict(set)
    for student in scores:
        graded = folders.format_path(folders.autograded_directory, student, assignment)
        for reason in test_errors(graded) + (state[student].problems if student in state else []):
            students[reason].add(student)
    return sorted(((reason, sorted(who)) for reason, who in students.items()), key=lambda r: (-len(r[1]), r[0]))


def not_graded(course_dir, assignment, scores, state):
    """[(student, why)] for submissions with no grade, a grade of an older submission, or zero with a reason."""
    found, limits = [], rules.load(course_dir)
    for student, folder in jobs.submissions(course_dir, assignment).items():
        entry = state.get(student)
        if student not in scores:
            found.append((student, "submitted, not graded: run `python -m autograder grade`"))
        elif entry and entry.hash.split()[0] != jobs.digest(folder, limits):
            found.append((student, "submitted again since it was graded: run `python -m autograder grade`"))
        elif scores[student][0] == 0 and entry and entry.problems:
            found.append((student, "0 points: " + "; ".join(entry.problems)))
    return found


def figure(path, draw, width=6.4, height=3.6):
    fig = Figure(figsize=(width, height), layout="constrained")
    draw(fig.add_subplot())
    fig.savefig(path, dpi=100)


def plots(out, scores, cells, seconds):
    """Write the report's images into out; return {name: (file, caption)} of those written."""
    made = {}
    if scores:
        top = max(m for _, m in scores.values()) or 1
        bins = [x - 0.5 for x in range(int(top) + 2)] if top <= 40 else 20       # a bar per point, if few
        figure(out / "scores.png", lambda ax: (ax.hist([p for p, _ in scores.values()], bins=bins,
                                                       color="tab:blue", edgecolor="white"),
                                               ax.set(title="Autograded points", xlabel=f"points (of {top:g})",
                                                      ylabel="students")))
        made["scores"] = ("scores.png", "Distribution of autograded points")
    if cells:
        names = list(cells)
        figure(out / "cells.png", lambda ax: (ax.barh(names, [100 * p / n for p, n in cells.values()], color="tab:green"),
                                              ax.invert_yaxis(), ax.set_xlim(0, 100),
                                              ax.set(title="Pass rate per test cell", xlabel="students who passed (%)")),
               height=max(2.5, 0.35 * len(names) + 1.2))
        made["cells"] = ("cells.png", "Pass rate per test cell")
    if seconds:
        figure(out / "seconds.png", lambda ax: (ax.hist(list(seconds.values()), bins=20, color="tab:orange",
                                                        edgecolor="white"),
                                                ax.set(title="Time per submission", xlabel="seconds of grading",
                                                       ylabel="submissions")))
        made["seconds"] = ("seconds.png", "Grading time per submission")
    return made


def table(header, rows):
    """An HTML table; every cell's text escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>None.</p>"


STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;"
         "vertical-align:top}td{white-space:pre-wrap}img{max-width:100%;display:block;margin:1em 0}")


def image(images, key):
    if key not in images:
        return ""
    name, caption = images[key]
    return f'<img src="{name}" alt="{html.escape(caption)}">'


def page(assignment, scores, cells, reasons, seconds, missing, pairs, images):
    points = sorted(p for p, _ in scores.values())
    mean = sum(points) / len(points) if points else 0
    top = max((m for _, m in scores.values()), default=0)
    times = sorted(seconds.values())
    parts = [f"<h1>Class report: {html.escape(assignment)}</h1>",
             f"<p>{len(scores)} students graded; mean {mean:.2f} of {top:g} autograded points"
             + (f", median {points[len(points) // 2]:g}" if points else "") + ".</p>"]
    parts += ["<h2>Autograded points</h2>", image(images, "scores")]
    parts += ["<h2>Pass rate per test cell</h2>", image(images, "cells"),
              table(["test cell", "passed", "graded", "pass rate"],
                    [(c, p, n, f"{100 * p / n:.0f} %") for c, (p, n) in cells.items()])]
    parts += [f"<h2>Most frequent failure reasons</h2><p>{len(reasons)} distinct reasons; the first {TOP_REASONS}.</p>",
              table(["reason", "students", "who"],
                    [(r, len(who), ", ".join(who[:10]) + (" ..." if len(who) > 10 else "")) for r, who in reasons[:TOP_REASONS]])]
    parts += ["<h2>Time per submission</h2>", image(images, "seconds")]
    if times:
        parts.append(f"<p>Median {times[len(times) // 2]:.1f} s, "
                     f"longest {times[-1]:.1f} s, {len(times)} submissions timed.</p>")
    parts += ["<h2>Students not graded, or with zero and a reason</h2>", table(["student", "why"], missing)]
    parts += ["<h2>Similar submissions</h2>",
              f"<p>Pairs whose answer cells are nearly identical (at least {similarity.THRESHOLD:.0%} of each "
              "student's answers, the provided code excluded; found with copydetect). For a person to judge: "
              f"no grade was changed. {len(pairs)} pairs" + (f"; the first {TOP_PAIRS}" if len(pairs) > TOP_PAIRS else "")
              + ".</p>",
              table(["student", "student", "similarity"], [(a, b, f"{s:.0%}") for a, b, s in pairs[:TOP_PAIRS]])]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: class report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write(course_dir, assignment, out=None):
    """Write the report of one assignment; return the path of its page."""
    course_dir = Path(course_dir).resolve()
    out = Path(out or course_dir / "reports" / assignment)
    out.mkdir(parents=True, exist_ok=True)
    state = grading.load_state(course_dir).get(assignment, {})
    scores, cells = gradebook_scores(course_dir, assignment)
    seconds = {s: e.seconds for s, e in state.items() if e.seconds is not None}
    images = plots(out, scores, cells, seconds)
    text = page(assignment, scores, cells, failure_reasons(course_dir, assignment, scores, state), seconds,
                not_graded(course_dir, assignment, scores, state), similarity.flagged(course_dir, assignment), images)
    (out / "index.html").write_text(text)
    return out / "index.html"
