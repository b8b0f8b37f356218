"""nbgrader's file exchange, hardened for a shared machine where students must not reach each other's work.

nbgrader's default exchange leaves a submission's folder world-writable and its files world-readable: a
classmate who knows the folder's name (its random suffix is the only secret) reads and changes it, reads the
submission's secret and with it the name of the feedback, and a submission made with `--student alice` is
collected as alice's. These classes keep nbgrader's layout and commands and change who may do what:

  <root>/<course>/outbound    the instructor's, readable by all: released assignments
  <root>/<course>/inbound     the instructor's, group `graders` (instructor and TAs) may list it; students
                              may only create in it (mode 3773: setgid, sticky, no read for others); its
                              default ACL gives what is created in it to the graders and to nobody else
  inbound/<student>+...       the student's, 2750 and the ACL: nobody but the student and the graders enter
  <root>/<course>/feedback    the instructor's, 2711: nobody may list it
  feedback/<hash>.html        0640 group graders, plus an ACL entry that lets its student alone read it

Collect takes a submission only from a folder owned by the account it names. The exchange's root and its
course folder are made by root (`python -m autograder hub setup`); nbgrader's own check that the root is
world-writable is replaced by one that it exists. Enable with nbgrader's ExchangeFactory (the setup writes
this into the hub venv's etc/jupyter/nbgrader_config.py):

    c.ExchangeFactory.submit = "autograder.student.exchange.ExchangeSubmit"    # and so on for each class
"""
import glob
import os
import pwd
import shutil
import stat
import subprocess

from nbgrader.exchange import default
from nbgrader.utils import ignore_patterns, notebook_hash

SUBMISSION_DIR, SUBMISSION_FILE, FEEDBACK_FILE = 0o2750, 0o640, 0o640


class Hardened:
    """What every hardened exchange command shares: the root is made by the administrator, not by nbgrader."""

    def ensure_root(self):
        if not os.path.isdir(self.root) or not os.access(self.root, os.X_OK):
            self.fail(f"The exchange {self.root} does not exist: ask your instructor to run the course's setup")


class ExchangeSubmit(Hardened, default.ExchangeSubmit):
    """A submission only in the submitter's own name, in a folder that only they and the graders can enter."""

    def init_dest(self):
        me = pwd.getpwuid(os.getuid()).pw_name
        if self.coursedir.student_id not in ("*", me):
            self.fail(f"You are {me}: you cannot submit as {self.coursedir.student_id}")
        super().init_dest()

    def set_perms(self, dest, fileperms, dirperms):
        if os.path.dirname(dest) == self.inbound_path:
            fileperms, dirperms = SUBMISSION_FILE, SUBMISSION_DIR
        super().set_perms(dest, fileperms, dirperms)

    def copy_files(self):
        super().copy_files()            # ends by opening the folder to everyone (0777): closed again here
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), SUBMISSION_DIR)


class ExchangeCollect(Hardened, default.ExchangeCollect):
    """Collect a student's newest submission among those in folders their own account made; refuse the rest."""

    def genuine(self, record):
        path = os.path.join(self.inbound_path, record["filename"])
        try:
            return pwd.getpwuid(os.lstat(path).st_uid).pw_name == record["username"]
        except KeyError:
            return False

    def _sort_by_timestamp(self, records):      # per student: their genuine submissions first, newest first
        return sorted(records, key=lambda r: (self.genuine(r), r["timestamp"]), reverse=True)

    def do_copy(self, src, dest, log=None):
        """nbgrader's copy without what a student's folder may hold besides files and folders: collect runs
        as the instructor, and copying what a student's link points to would put the instructor's course or
        a classmate's collected work into the student's submission (a FIFO would stop the copy). Links are
        left out, and kept as links should one appear mid-copy (the grader refuses those, with the reason)."""
        nbgrader_ignores = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                           max_file_size=self.coursedir.max_file_size, log=self.log)

        def ignore(folder, names):
            odd = {name for name in names if not ordinary(os.path.join(folder, name))}
            for name in sorted(odd):
                self.log.error("Left out %s: not a file or a folder", os.path.join(folder, name))
            return set(nbgrader_ignores(folder, names)) | odd

        shutil.copytree(src, dest, symlinks=True, ignore=ignore)

    def copy_files(self):
        for record in [r for r in self.src_records if not self.genuine(r)]:
            self.log.error("Refused %s: it names %s but another account made it", record["filename"], record["username"])
        self.src_records = [r for r in self.src_records if self.genuine(r)]
        super().copy_files()


def ordinary(path):
    """A regular file or a folder, not a link to one."""
    mode = os.lstat(path).st_mode
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


class ExchangeReleaseFeedback(Hardened, default.ExchangeReleaseFeedback):
    """Feedback that only its student (and the graders) can read, even knowing its name."""

    def copy_files(self):
        super().copy_files()
        for html in glob.glob(os.path.join(self.src_path, "*.html")):
            student = os.path.relpath(html, self.coursedir.root).split(os.sep)[1]
            with open(os.path.join(os.path.dirname(html), "submission_secret.txt")) as fh:
                secret = fh.read()
            name = notebook_hash(secret=secret, notebook_id=os.path.splitext(os.path.basename(html))[0])
            released = os.path.join(self.dest_path, f"{name}.html")
            os.chmod(released, FEEDBACK_FILE)
            granted = subprocess.run(["setfacl", "-m", f"u:{student}:r", released], capture_output=True, text=True)
            if granted.returncode:
                self.log.error("%s cannot read their feedback %s: %s", student, released, granted.stderr.strip())


class ExchangeReleaseAssignment(Hardened, default.ExchangeReleaseAssignment):
    pass


class ExchangeFetchAssignment(Hardened, default.ExchangeFetchAssignment):
    pass


class ExchangeFetchFeedback(Hardened, default.ExchangeFetchFeedback):
    pass


class ExchangeList(Hardened, default.ExchangeList):
    pass

