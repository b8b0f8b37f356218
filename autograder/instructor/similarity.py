"""Pairs of submissions whose answers are nearly identical, for a person to judge.

Each student's answer cells (nbgrader's solution cells, code only) are joined into one document and
fingerprinted with copydetect (winnowing, as MOSS does: names are replaced by placeholders, so
renamed variables still match). Every fingerprint of the release notebooks (the provided code and
the stubs) is boilerplate and never counts, nor does one found in more than COMMON students' answers. Nothing here reads or writes the gradebook.
"""
import collections
import io
import itertools
import json
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files

from autograder.instructor import course, jobs, untrusted

NOISE, GUARANTEE = 25, 30        # copydetect's defaults: matches shorter than 25 tokens never count
THRESHOLD = 0.8                  # flagged when each of the two shares this much of its answers with the other
COMMON = 10                     # a passage in the answers of more students than this is common, not copied
MAX_BYTES = 64 * 2**20


def answers(notebook_bytes):
    """The source of a notebook's answer cells (code), in order."""
    cells = json.loads(notebook_bytes)["cells"]
    return "\n\n".join(("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
                       for c in cells if c.get("cell_type") == "code"
                       and c.get("metadata", {}).get("nbgrader", {}).get("solution")
                       and not c["metadata"]["nbgrader"].get("grade"))


def code(notebook_bytes):
    """The source of every code cell of a notebook (the release: all of it is provided)."""
    cells = json.loads(notebook_bytes)["cells"]
    return "\n\n".join(("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
                       for c in cells if c.get("cell_type") == "code")


def fingerprint(text, boilerplate=()):
    return CodeFingerprint("answers.py", NOISE, GUARANTEE, boilerplate=boilerplate, fp=io.StringIO(text),
                           language="python")


def student_answers(course_dir, assignment):
    """{student: their answers in every notebook of the assignment}; a notebook that cannot be read
    (not JSON, a link, too large) adds nothing."""
    found = {}
    for student, folder in jobs.submissions(course_dir, assignment).items():
        texts = []
        for name in release_notebooks(course_dir, assignment):
            try:
                data = untrusted.read(folder / name, MAX_BYTES)
                texts.append(answers(data) if data else "")
            except (untrusted.Refused, ValueError, KeyError, TypeError, AttributeError):
                continue
        found[student] = "\n\n".join(texts)
    return found


def release_notebooks(course_dir, assignment):
    return [p.name for p in course.notebooks(Path(course_dir) / "release" / assignment)]


def provided(course_dir, assignment):
    """The fingerprints of the release: its code, and its answer cells' stubs joined as a student's answers are."""
    released = [(Path(course_dir) / "release" / assignment / name).read_bytes()
                for name in release_notebooks(course_dir, assignment)]
    return (fingerprint("\n\n".join(map(code, released))).hashes
            | fingerprint("\n\n".join(map(answers, released))).hashes)


def widespread(texts, most=COMMON):
    """The fingerprints found in the answers of more than `most` students: the way everyone writes it,
    not a copy (MOSS's -m)."""
    counts = collections.Counter(h for text in texts.values() for h in fingerprint(text).hashes)
    return {h for h, n in counts.items() if n > most}


def flagged(course_dir, assignment, threshold=THRESHOLD, common=COMMON):
    """[(student, student, similarity)] of the pairs whose answers overlap by `threshold` or more
    (the smaller of the two shares), most similar first."""
    texts = student_answers(course_dir, assignment)
    excluded = np.array(sorted(provided(course_dir, assignment) | widespread(texts, common)), dtype=np.int64)
    prints = {s: fingerprint(text, excluded) for s, text in texts.items()}
    pairs = []
    for (a, fa), (b, fb) in itertools.combinations(sorted(prints.items()), 2):
        if len(fa.hashes) and len(fb.hashes):
            _, shares, _ = compare_files(fa, fb)
            if min(shares) >= threshold:
                pairs.append((a, b, round(float(min(shares)), 3)))
    return sorted(pairs, key=lambda p: -p[2])
