"""The course in a real browser: a student's JupyterLab with Validate, and the instructor's Formgrader.

Chromium from the system (Debian: `apt-get install chromium`), driven by Playwright. Each step
leaves a screenshot in test-output/browser/. Without Chromium the tests are skipped, unless
REQUIRE_BROWSER is set (CI sets it): then they fail.
"""
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import nbformat
import pytest

from autograder.instructor import course, lab
from helpers import EXCHANGED as GRADED, ROOT, solved

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-output" / "browser"
ASSIGNMENT, NOTEBOOK = "03_mnist_cnn", "mnist_cnn.ipynb"
TOKEN = "browser-test"
VALIDATE = ".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button"     # the open notebook's button

if not CHROMIUM:
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("Chromium is not installed: apt-get install chromium (make browser)")
    pytest.skip("no Chromium (apt-get install chromium, or make browser)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


class Lab:
    """A JupyterLab view on a free loopback port, and a browser page on it."""

    def __init__(self, course_dir, student, browser):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        argv, where = lab.command(course_dir, student, ["--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                                                        "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}"])
        self.log = open(SHOTS / f"jupyterlab-{student or 'instructor'}.log", "w")
        self.server = subprocess.Popen(argv, cwd=where, env=lab.environment(course_dir, student),
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.page = None
        try:
            self.wait_until_up()
            self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        except BaseException:
            self.close()
            raise

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}?token={TOKEN}"

    def wait_until_up(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not start in {seconds} s: see {self.log.name}")

    def close(self):
        if self.page:
            self.page.close()
        self.server.terminate()
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            self.server.kill()
        self.log.close()


def step(page, name, wait, seconds):
    """Wait for `wait` (a function of the page that raises on timeout), then screenshot the step."""
    try:
        wait(seconds * 1000)
    except playwright.TimeoutError:
        page.screenshot(path=SHOTS / f"{name}-TIMEOUT.png")
        raise AssertionError(f"step '{name}': did not appear within {seconds} s; see {SHOTS / name}-TIMEOUT.png") from None
    page.screenshot(path=SHOTS / f"{name}.png")


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory, browser):
    """Alice's view, with the released 03 twice: one copy to solve, one left untouched."""
    course_dir = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "nbgrader_config.py", course_dir)
    for name in (ASSIGNMENT, "untouched"):
        (lab.folder(course_dir, "alice") / name).mkdir(parents=True)
        shutil.copy(ROOT / "release" / ASSIGNMENT / NOTEBOOK, lab.folder(course_dir, "alice") / name)
    view = Lab(course_dir, "alice", browser)
    yield view
    view.close()


def answers():
    """(cell index, the instructor's solution) of each cell the student writes in, code and prose: what alice types."""
    release = nbformat.read(ROOT / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    filled = solved(nbformat.read(ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4), release)
    return [(i, c.source) for i, c in enumerate(filled.cells) if c.metadata.get("nbgrader", {}).get("solution")]


def open_notebook(view, folder, name):
    view.page.goto(view.url(f"lab/tree/{folder}/{NOTEBOOK}") + "&reset")       # only this notebook open
    step(view.page, name, lambda ms: view.page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=ms), 90)


def validate(view, name, seconds):
    """Press Validate; return the dialog's text and the seconds it took."""
    start = time.monotonic()
    view.page.locator(VALIDATE).click()
    dialogs = view.page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    step(view.page, name, lambda ms: dialogs.first.wait_for(timeout=ms), seconds)
    return dialogs.first.inner_text(), time.monotonic() - start


def test_a_student_fills_runs_and_validates_assignment_03(student_lab):
    view, page = student_lab, student_lab.page
    open_notebook(view, ASSIGNMENT, "1-student-opens-03")
    menu = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
    if menu.count():
        menu.click()
        assert "Formgrader" not in page.locator(".lm-Menu").inner_text(), "a student's view offers Formgrader"
        page.keyboard.press("Escape")
    cells = page.locator(".jp-Notebook .jp-Cell")
    for index, text in answers():
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        if "jp-MarkdownCell" in cell.get_attribute("class"):
            cell.dblclick()                         # a written answer: open its editor
        editor = cell.locator(".cm-content")
        step(page, f"2-typing-cell-{index}", lambda ms: editor.get_by_text("YOUR").first.wait_for(timeout=ms), 30)
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(text)
    page.screenshot(path=SHOTS / "2-student-typed-the-answers.png")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    done = "() => document.querySelectorAll('.jp-InputPrompt').length > 0 && " \
           "![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
    step(page, "3-student-ran-all-cells",
         lambda ms: (page.wait_for_function("() => [...document.querySelectorAll('.jp-InputPrompt')]"
                                            ".some(p => p.textContent.includes('*'))", timeout=ms),
                     page.wait_for_function(done, timeout=ms)), 300)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] .jp-RenderedText, "
                          ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"a cell failed in the browser: {errors.first.inner_text()[:500]}"
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1000)
    text, seconds = validate(view, "4-student-validates-03", 600)
    print(f"Validate on the solved 03 took {seconds:.0f} s")
    assert "Success" in text or "passed" in text, f"Validate did not pass: {text[:1000]}"


def test_validate_names_the_failing_tests_and_the_server_answers_meanwhile(student_lab):
    """Validate on the untouched 03 names every test cell, failing. nbgrader's own handler blocks the
    server for the whole run; the course's runs it in a thread, so the lab answers meanwhile."""
    view = student_lab
    open_notebook(view, "untouched", "5-student-opens-untouched-03")
    start = time.monotonic()
    with view.page.expect_request(lambda request: "assignments/validate" in request.url):
        view.page.locator(VALIDATE).click()
    time.sleep(1)                                   # Validate is now executing the notebook (7 s)
    asked = time.monotonic()
    urllib.request.urlopen(view.url("api/contents"), timeout=60)
    waited = time.monotonic() - asked
    dialogs = view.page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    assert waited < 2, f"the server took {waited:.1f} s to list files while Validate ran"
    assert dialogs.count() == 0, "Validate finished before the server was asked: nothing was measured"
    step(view.page, "6-student-validates-untouched-03", lambda ms: dialogs.first.wait_for(timeout=ms), 300)
    text = dialogs.first.inner_text()
    print(f"Validate on the untouched 03 took {time.monotonic() - start:.0f} s")
    tests = [c.source.splitlines()[0] for c in nbformat.read(ROOT / "release" / ASSIGNMENT / NOTEBOOK, as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    named = [t for t in tests if t in text]
    print(f"Validate names {len(named)} of the {len(tests)} test cells")
    assert "failed" in text.lower() and "NotImplementedError" in text, text[:1000]
    assert len(named) == len(tests), f"Validate does not name {sorted(set(tests) - set(named))}"


@pytest.mark.sandbox          # the exchange grades the class
def test_the_instructor_sees_the_graded_class_in_formgrader(exchanged, browser):
    course_dir, rows = exchanged
    view = Lab(course_dir, None, browser)
    page = view.page
    try:
        page.goto(view.url("lab"))
        step(page, "7-instructor-opens-the-course", lambda ms: page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
             .wait_for(timeout=ms), 90)
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
        formgrader = page.frame_locator("iframe").first
        step(page, "8-instructor-opens-formgrader",
             lambda ms: formgrader.get_by_text("Manage Students").first.wait_for(timeout=ms), 60)
        formgrader.get_by_text("Manage Students").first.click()
        table = formgrader.locator("table").first
        step(page, "9-instructor-sees-the-class", lambda ms: table.get_by_text("alice").first.wait_for(timeout=ms), 60)
        shown = table.inner_text()
        for student, row in rows.items():
            assert student in shown, f"Formgrader does not list {student}: {shown[:500]}"
        total = rows["alice"]["max"] + course.scores(course_dir, GRADED, "alice")["manual_max"]    # written answers too
        assert f"{rows['alice']['score']:g} / {total:g}" in shown, shown[:500]
    finally:
        view.close()
