"""The class report (`python -m autograder report`) on a small graded class of the tiny assignment
(tests/test_class_grading.py), in a real browser too; and its similarity flags."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from autograder.instructor import grading, similarity
from helpers import ROOT
from helpers import edit, submit, tiny_course

SHOTS = ROOT / "test-output" / "report"
SCRIPT = "<script>document.title='pwned'</script>"
LOOPED = {   # one student's answers, long enough to fingerprint (copydetect ignores matches under 25 tokens)
    0: "def add(a, b):\n    total = 0\n    for value in (a, b):\n        if isinstance(value, bool):\n"
       "            value = int(value)\n        total = total + value\n    result = total\n    return result",
    2: "def mul(a, b):\n    product = 0\n    count = abs(b)\n    for step in range(count):\n"
       "        product = product + a\n    if b < 0:\n        product = -product\n    return product",
}
RENAMED = {0: LOOPED[0].replace("total", "acc").replace("value", "item").replace("result", "out"),
           2: LOOPED[2].replace("product", "p").replace("count", "n").replace("step", "i")}
OWN = {
    0: "def add(a, b):\n    numbers = [a, b]\n    while len(numbers) > 1:\n"
       "        numbers = [numbers[0] + numbers[1]] + numbers[2:]\n    return numbers[0]",
    2: "def mul(a, b):\n    if b == 0:\n        return 0\n    half = mul(a, b // 2) if b > 1 else 0\n"
       "    return half + half + (a if b % 2 else 0)",
}
CLASS = {
    "good": {},
    "syntax_error": {0: "def add(a, b)\n    return a + b"},
    "scripted": {2: f"def mul(a, b):\n    return a * b\nraise ValueError({SCRIPT!r})"},
    "looped": LOOPED,
    "renamed": RENAMED,
    "own_way": OWN,
}


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """The class graded, then one more submission that came in late and one that is not a notebook
    submitted after grading (no grade); returns the course and the report's page."""
    course_dir = tmp_path_factory.mktemp("report")
    base = tiny_course(course_dir)
    for student, cells in CLASS.items():
        submit(course_dir, student, {"tiny.ipynb": edit(base, cells).encode()})
    submit(course_dir, "not_json", {"tiny.ipynb": b"{not a notebook"})
    grading.grade(course_dir, "tiny", workers=2, budget_s=20, memory_gb=2, log=lambda m: None)
    submit(course_dir, "late", {"tiny.ipynb": edit(base).encode()})
    before = digest(course_dir / "gradebook.db")
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir), "report", "tiny"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert digest(course_dir / "gradebook.db") == before, "the report changed the gradebook"
    return course_dir, course_dir / "reports" / "tiny" / "index.html"


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_report_shows_scores_cells_reasons_and_time(reported):
    course_dir, page = reported
    text = page.read_text()
    for image in ("scores.png", "cells.png", "seconds.png"):
        assert (page.parent / image).stat().st_size > 1000 and f'src="{image}"' in text
    assert "7 students graded" in text
    assert "<td>test_add</td><td>5</td><td>7</td>" in text, "test_add: syntax_error and not_json failed it"
    assert "<td>add: SyntaxError: " in text


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_students_error_message_is_shown_as_text(reported):
    _, page = reported
    text = page.read_text()
    assert SCRIPT not in text, "a student's error message entered the page as HTML"
    assert "mul: ValueError: &lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in text


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_students_without_a_grade_are_listed_with_the_reason(reported):
    _, page = reported
    text = page.read_text()
    assert "<td>late</td><td>submitted, not graded" in text
    assert "<td>not_json</td><td>0 points: nbgrader could not grade it: the notebook is not valid JSON" in text


@pytest.mark.slow
@pytest.mark.sandbox
def test_copied_answers_are_flagged_and_an_independent_solution_is_not(reported):
    course_dir, page = reported
    pairs = similarity.flagged(course_dir, "tiny")
    assert ("looped", "renamed") in [(a, b) for a, b, _ in pairs], pairs
    assert not [p for p in pairs if "own_way" in p], pairs
    assert "<td>looped</td><td>renamed</td>" in page.read_text()


def test_provided_code_is_never_a_match(tmp_path):
    """Two students who handed in the untouched release share every line, all of it provided."""
    shutil.copytree(ROOT / "release" / "01_data_analysis", tmp_path / "release" / "01_data_analysis")
    for student in ("a", "b"):
        shutil.copytree(ROOT / "release" / "01_data_analysis", tmp_path / "submitted" / student / "01_data_analysis")
    assert similarity.student_answers(tmp_path, "01_data_analysis")["a"], "01 has answer cells"
    assert similarity.flagged(tmp_path, "01_data_analysis", threshold=0.01) == []


def test_what_most_of_the_class_wrote_is_not_a_copy(tmp_path):
    """Eleven students with the same answers (MOSS's -m 10: the usual way to write it) are not flagged;
    two of them with another answer in common are."""
    base = tiny_course(tmp_path)
    for i in range(11):
        submit(tmp_path, f"usual{i}", {"tiny.ipynb": edit(base, LOOPED).encode()})
    for student in ("pair_a", "pair_b"):
        submit(tmp_path, student, {"tiny.ipynb": edit(base, OWN).encode()})
    assert similarity.flagged(tmp_path, "tiny") == [("pair_a", "pair_b", 1.0)]
    assert ("usual0", "usual1", 1.0) in similarity.flagged(tmp_path, "tiny", common=11)


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.browser
def test_the_report_in_a_browser(reported):
    """Chromium opens the page: every image loads, the student's script did not run; a screenshot."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("REQUIRE_BROWSER"):
            raise RuntimeError("Chromium is not installed: apt-get install chromium (make browser)")
        pytest.skip("no Chromium (apt-get install chromium, or make browser)")
    playwright = pytest.importorskip("playwright.sync_api")
    _, page_path = reported
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.getAttribute('src'), i.naturalWidth])")
            page.screenshot(path=SHOTS / "report.png", full_page=True)
            title = page.title()
        finally:
            browser.close()
    assert [src for src, _ in sizes] == ["scores.png", "cells.png", "seconds.png"]
    assert all(width > 100 for _, width in sizes), sizes
    assert title == "tiny: class report", title


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_report_of_an_assignment_not_in_the_gradebook_is_refused(reported):
    course_dir, _ = reported
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir), "report", "nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no assignment nope in the gradebook" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads((course_dir / grading.STATE).read_text())["tiny"].keys() == set(CLASS) | {"not_json"}
