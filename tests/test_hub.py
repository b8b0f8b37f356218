"""The course on JupyterHub, end to end, with real accounts in Chromium (`make test-hub`, as root).

The hub from `python -m autograder hub setup|start`; the instructor `instr` releases 01 with the course's and
nbgrader's commands in their account; alice and bob log in through the hub's login page, fetch 01 in the
Assignment List, open it, Validate (the server answers meanwhile), submit; the instructor collects, grades
(`python -m autograder grade`, sandboxed), releases feedback; each student fetches their own. Screenshots of
each step in test-output/hub/. Then, as alice: the instructor's course, the gradebook, bob's home and the
grader are out of reach.
"""
import os
import shutil
import time

import nbformat
import pytest

from autograder.instructor import course, demo
from autograder.instructor import hub
from helpers import ASSIGNMENT, INSTRUCTOR, NOTEBOOK, ROOT, STUDENTS, as_user, course_dir, home, reset

pytestmark = [pytest.mark.hub, pytest.mark.usefixtures("deployment")]    # the hub set up first
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("REQUIRE_HUB"):
        raise RuntimeError("the hub test needs Chromium: apt-get install chromium (make browser)")
    pytest.skip("no Chromium (make browser)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")
SHOTS = ROOT / "test-output" / "hub"


def instructor(*argv):
    """A command in the instructor's course, with the course's package (the grader) on the path."""
    return as_user(INSTRUCTOR, "env", f"PYTHONPATH={course_dir()}", *argv, cwd=course_dir())


@pytest.fixture(scope="module")
def running():
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    reset("hardened")
    start = time.monotonic()
    hub.start()
    print(f"JupyterHub answered {time.monotonic() - start:.1f} s after its start")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
    hub.stop()


def shot(page, name):
    page.screenshot(path=SHOTS / f"{name}.png")


def log_in(browser, user):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(hub.url("hub/login"))
    page.fill("#username_input", user)
    page.fill("#password_input", user)
    shot(page, f"{user}-1-login")
    page.click("#login_submit")
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=120_000)
    shot(page, f"{user}-2-lab")
    return page


def assignment_list(page):
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    assert "Formgrader" not in page.locator(".lm-Menu").inner_text(), "a student is offered Formgrader"
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()


def press(page, label, name, done, seconds=120):
    """Click the Assignment List's button `label`; wait until done() (a check on the files); screenshot."""
    page.get_by_role("button", name=label, exact=True).first.click(timeout=seconds * 1000)
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"{name}: nothing happened in {seconds} s"
        time.sleep(0.5)
    page.wait_for_timeout(1000)
    shot(page, name)


def test_the_class_on_the_hub(running):
    instructor("nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    instructor("nbgrader", "release_assignment", ASSIGNMENT, "--force")
    pages, inbound = {}, hub.EXCHANGE / hub.course_id() / "inbound"
    for user in STUDENTS:
        page = pages[user] = log_in(running, user)
        assignment_list(page)
        work = home(user) / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        press(page, "Fetch", f"{user}-3-fetched", work.exists)
        if user == "alice":             # alice answers every question; bob hands in the notebook untouched
            source = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
            nbformat.write(demo.solved(source, nbformat.read(work, as_version=4)), work)
        page.goto(hub.url(f"user/{user}/lab/tree/{ASSIGNMENT}/{NOTEBOOK}.ipynb"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        shot(page, f"{user}-4-opened")
        validate_while_answering(page, user)
        assignment_list(page)
        press(page, "Submit", f"{user}-6-submitted", lambda: any(inbound.glob(f"{user}+{ASSIGNMENT}+*")))
    instructor("nbgrader", "collect", ASSIGNMENT)
    instructor(f"{hub.VENV}/bin/python", "-m", "autograder", "grade", ASSIGNMENT)
    instructor(f"{hub.VENV}/bin/python", "-m", "autograder", "feedback", ASSIGNMENT)
    instructor("nbgrader", "release_feedback", ASSIGNMENT)
    scores = {user: course.scores(course_dir(), ASSIGNMENT, user) for user in STUDENTS}
    assert scores["alice"]["auto"] == scores["alice"]["auto_max"] > 0 and scores["bob"]["auto"] == 0, scores
    for user, page in pages.items():
        assignment_list(page)
        feedback = home(user) / ASSIGNMENT / "feedback"
        press(page, "Fetch Feedback", f"{user}-7-feedback", lambda: any(feedback.glob("*/*.html")))
        fetched = list(feedback.glob(f"*/{NOTEBOOK}.html"))
        assert len(fetched) == 1, f"{user} fetched {fetched}"
        own = course_dir() / "feedback" / user / ASSIGNMENT / f"{NOTEBOOK}.html"
        assert fetched[0].read_text() == own.read_text(), f"{user} fetched feedback that is not theirs"


# A request from the page, as JupyterLab makes them (with the XSRF token): (status, seconds to answer).
ASK = """async (url) => {
    const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
    const start = performance.now();
    const response = await fetch(url, {headers: {"X-XSRFToken": xsrf}});
    return [response.status, (performance.now() - start) / 1000];
}"""


def validate_while_answering(page, user):
    """Press Validate on the untouched notebook; the server must answer a request while it runs."""
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").click()
    time.sleep(1)
    status, waited = page.evaluate(ASK, f"/user/{user}/api/contents")
    assert status == 200, f"the server answered {status}"
    dialogs = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog")
    running_still = dialogs.count() == 0
    dialogs.first.wait_for(timeout=300_000)
    shot(page, f"{user}-5-validated")
    text = dialogs.first.inner_text()
    assert ("NotImplementedError" in text) == (user == "bob"), text[:1000]   # alice's written answers are empty
    assert running_still, "Validate finished before the server was asked: nothing was measured"
    assert waited < 2, f"{user}'s server took {waited:.1f} s to answer while Validate ran"
    page.keyboard.press("Escape")


@pytest.mark.parametrize("target", ["source", "source/01_data_analysis/expected.json", "gradebook.db",
                                    "nbgrader_config.py"])
def test_alice_cannot_read_the_instructors_course(target):
    path = course_dir() / target
    assert path.exists(), f"{path} is not there (the class test above makes the gradebook)"
    reading = as_user("alice", "cat" if not target.endswith(("source",)) else "ls", path, check=False)
    assert reading.returncode != 0 and not reading.stdout, f"alice read {path}"


@pytest.mark.parametrize("target", ["", ASSIGNMENT])
def test_alice_cannot_read_bobs_home_or_work(target):
    assert (home("bob") / target).exists()
    reading = as_user("alice", "ls", home("bob") / target, check=False)
    assert reading.returncode != 0 and not reading.stdout


def test_alices_kernel_has_the_student_wing_only():
    """The kernel's python is the hub's venv's (a kernel spec of its own would say otherwise)."""
    student = as_user("alice", "python", "-c", "import autograder.student.data, sys; print(sys.executable)")
    assert student.stdout.strip() == f"{hub.VENV}/bin/python"
    grader = as_user("alice", "python", "-c", "import autograder.instructor", check=False)
    assert grader.returncode != 0 and "No module named 'autograder.instructor'" in grader.stderr


def test_students_validate_with_the_courses_settings():
    """A student's nbgrader (Validate, Assignment List) reads the course's cell timeout and course id."""
    code = ("from nbgrader.apps.validateapp import ValidateApp; a = ValidateApp(); a.initialize([]); "
            "print(a.config.Execute.timeout, a.config.CourseDirectory.course_id)")
    seen = as_user("alice", "python", "-c", code).stdout.split()
    wanted = course.config(ROOT)
    assert seen == [str(wanted.Execute.timeout), wanted.CourseDirectory.course_id]
