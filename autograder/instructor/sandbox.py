"""The grading kernel's sandbox: bubblewrap around ipykernel.

While a class is graded, a submission's kernel (and everything it starts) runs with
  - no network (only its own loopback) and its own PID namespace, so it can neither see nor
    signal the grader, its worker or any other student's kernel;
  - a read-only view of the system, the Python environment, the student wing of the `autograder`
    package (autograder/student) and MNIST, and nothing else of the machine: not the course directory, the gradebook, other submissions
    or the instructor's notebooks;
  - write access to a private copy of its notebook folder (seen where the folder is: nbgrader
    writes the executed notebook into the real one, which the kernel never had), the folder it
    exports models to, the folder of its sockets and its private /tmp (a size-capped tmpfs);
  - a clean environment: only the variables listed in `clean_env`.

The worker (autograder/instructor/worker.py) installs `kernel_spec` as the "python3" kernel of its own
nbgrader run and passes the settings in the GRADER_SANDBOX variable; jupyter_client then starts
`python -m autograder.instructor.sandbox -f CONNECTION_FILE`, which replaces itself with bwrap. The kernel
talks to nbgrader over Unix sockets in a folder of the worker's (`KernelManager.ip`), the only
channel out of the sandbox.
"""
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

SETTINGS = "GRADER_SANDBOX"
GPU_VARIABLES = ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")    # where the GPU driver is, which GPUs to use
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt")
LIBRARY = "/grading-library"      # where the kernel finds the autograder package, first on its PYTHONPATH


def available():
    """The reason the sandbox cannot run here, or None if it can."""
    if not shutil.which("bwrap"):
        return ("bubblewrap is not installed: `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
                "`sudo dnf install bubblewrap` (Fedora); class grading refuses to run student code without it")
    return None


def kernel_spec(folder):
    """Write a "python3" kernel spec under folder/kernels that starts kernels in the sandbox;
    return the folder to put first on JUPYTER_PATH."""
    spec = Path(folder) / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.instructor.sandbox", "-f", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)", "language": "python",
        "interrupt_mode": "message"}))       # a signal from outside would not reach the kernel's PID namespace
    return str(folder)


def clean_env(settings):
    """The kernel's whole environment: the GPU variables of ours that are set, and nothing else of ours."""
    venv_bin = str(Path(sys.executable).parent)
    gpu = {name: os.environ[name] for name in GPU_VARIABLES if name in os.environ}
    return {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "MPLCONFIGDIR": "/tmp/matplotlib", "PYTHONPATH": LIBRARY, **gpu, **settings["env"]}


def readable(settings):
    """Folders the kernel may read: the system, Python, and the settings' "readable" folders (MNIST).
    (Named by the worker: finding MNIST here would import torchvision, 2 s before every kernel could start.)"""
    return [*SYSTEM, sys.base_prefix, sys.prefix, *settings.get("readable", [])]


def bwrap_args(settings, writable, cwd):
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--size", str(settings["tmp_bytes"]), "--tmpfs", "/tmp", "--size", str(settings["tmp_bytes"]), "--tmpfs", "/dev/shm"]
    for path in readable(settings):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    # The student wing of the package this grader runs, bound where the kernel's PYTHONPATH looks first:
    # the kernel imports exactly this copy, not whatever an editable install points to, and no instructor code.
    package = Path(__file__).resolve().parents[1]
    args += ["--ro-bind", str(package / "__init__.py"), f"{LIBRARY}/autograder/__init__.py",
             "--ro-bind", str(package / "student"), f"{LIBRARY}/autograder/student"]
    for path in writable:
        args += ["--bind", path, path]
    for device in sorted(Path("/dev").glob("nvidia*")):       # the GPU, where there is one
        args += ["--dev-bind", str(device), str(device)]
    for name, value in clean_env(settings).items():
        args += ["--setenv", name, value]
    return args + ["--chdir", cwd]


def private_copy(folder, work):
    """A new folder under work holding a copy of folder's files, for the kernel to see and write in
    place of folder: nbgrader writes the executed notebook into folder afterwards, and it must find
    there nothing the kernel made (a link into the course, a FIFO)."""
    copy = tempfile.mkdtemp(dir=work)
    shutil.copytree(folder, copy, symlinks=True, dirs_exist_ok=True)
    return copy


def main(argv):
    """Replace this process with bwrap running ipykernel on the given connection file, with the
    settings' memory cap."""
    connection_file = Path(argv[argv.index("-f") + 1]).resolve()
    settings = json.loads(os.environ[SETTINGS])
    resource.setrlimit(resource.RLIMIT_DATA, (settings["memory_bytes"], settings["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings["tmp_bytes"], settings["tmp_bytes"]))     # no file past it
    cwd = os.getcwd()
    args = bwrap_args(settings, settings["writable"], cwd)
    args += ["--bind", private_copy(cwd, settings["work"]), cwd]
    args += ["--ro-bind", str(connection_file), str(connection_file)]    # this file only, not its folder
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file)]
    os.execvp("bwrap", args + kernel)


if __name__ == "__main__":
    main(sys.argv)
