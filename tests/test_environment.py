"""requirements.txt and environment.yml pin the same stack."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==([^\s#]+)")


def pins(path):
    return {m.group(1).lower(): m.group(2) for line in path.read_text().splitlines()
            if (m := PIN.match(line))}


def test_conda_and_pip_pin_the_same_packages():
    pip, conda = pins(ROOT / "requirements.txt"), pins(ROOT / "environment.yml")
    assert pip, "requirements.txt pins nothing"
    assert pip == conda, f"only in requirements.txt: {pip.items() - conda.items()}; " \
                         f"only in environment.yml: {conda.items() - pip.items()}"


def test_the_stack_is_pinned():
    pinned = pins(ROOT / "requirements.txt")
    for name in ("torch", "torchvision", "nbgrader", "nbval", "jupyterlab", "matplotlib",
                 "seaborn", "scikit-learn", "tqdm", "pytest"):
        assert name in pinned, f"{name} is not pinned in requirements.txt"
    assert pinned["torch"] == "2.14.1" and pinned["torchvision"] == "0.29.1"


def test_nbformat_loads_without_building_a_uri_grammar():
    """Every grading starts an nbgrader process that imports nbformat; jsonschema 4.24+ would build
    rfc3987-syntax's grammar there (0.7 s each), so requirements.txt pins jsonschema below it."""
    import subprocess
    import sys

    loaded = subprocess.run([sys.executable, "-c", "import sys, nbformat, nbgrader.apps; "
                             "print(sorted(m for m in sys.modules if m.startswith('rfc3987')))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"importing nbformat loaded {loaded}"
