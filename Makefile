# The course's two commands:  make course  (set up, release, grade the samples)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: course test test-fast test-slow test-hub lab release setup sandbox browser clean

course: setup  ## set up everything, release every assignment, autograde the sample submissions
	$(BIN)/python -m autograder demo

test: setup browser  ## the test suite (CI's): pipeline, data, grading, the browser, every notebook under nbval
	$(BIN)/python -m pytest -m "not long and not hub and not cluster"

test-fast: setup  ## the inner loop, under 2 minutes: no notebook run, grading, training or browser
	$(BIN)/python -m pytest -m "not slow and not browser and not hub and not cluster"

test-slow: setup  ## what make test leaves out for time: alternatives graded, a busy machine, authoring, a Dask cluster
	$(BIN)/python -m pytest -m "long or cluster"

test-hub: setup browser  ## as root: the course on JupyterHub with real accounts (sets it up: docs/jupyterhub.md)
	$(BIN)/python -m pytest -m hub tests/test_hub_exchange.py tests/test_hub.py

lab: setup  ## open the course in JupyterLab: the instructor's view, or a student's with STUDENT=<id>
	$(BIN)/python -m autograder lab $(if $(STUDENT),--student $(STUDENT))

release: setup  ## after editing an instructor notebook: regenerate release/, re-run the changed solutions (expected.json)
	$(BIN)/python -m autograder release
	$(BIN)/python -m autograder expect

setup: $(VENV)/.installed sandbox
	$(BIN)/python -m autograder data

sandbox:  ## bubblewrap, the sandbox class grading runs students' kernels in: installed with apt where we may
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } || \
	  echo "Class grading needs bubblewrap: sudo apt-get install bubblewrap (Debian/Ubuntu), sudo dnf install bubblewrap (Fedora)"

browser:  ## Chromium, which the browser tests drive (tests/test_browser.py): installed with apt where we may
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	  echo "The browser tests need Chromium: sudo apt-get install chromium (Debian/Ubuntu); they are skipped without it"

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e '.[instructor]'
	touch $@

clean:  ## remove the environment and the demo's grading files (not the MNIST cache)
	rm -rf $(VENV) gradebook.db submitted autograded feedback grades.csv exchange students .lab
