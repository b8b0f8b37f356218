"""Reading files that student code could have written: regular files only, never through a link, capped.

A submission's folder and everything a grading kernel could write are hostile once the kernel has
ended: a name may be a link into the course, a FIFO that blocks whoever opens it, a device that
never ends, or a file of any size. The grader reads them only through `read` and `read_tree`,
which refuse all of these with a reason the student is told.
"""
import os
import stat
from pathlib import Path


class Refused(Exception):
    """A file the grader will not read; the message says why."""


def read(path, max_bytes):
    """The bytes of the regular file at path (not a link, FIFO or device), at most max_bytes; None if
    there is no such file; Refused otherwise."""
    name = Path(path).name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:            # ELOOP: a link; ENXIO: a socket; others: unreadable
        raise Refused(f"{name}: the grader does not follow links or open special files ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{name}: not a regular file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"{name}: larger than {max_bytes:,} bytes")
    return data


def read_tree(folder, max_bytes):
    """{relative path: bytes} of every file under folder, at most max_bytes in all; Refused if the
    tree holds a link or a special file, or more than max_bytes."""
    folder, found, total = Path(folder), {}, 0
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise Refused(f"{path.relative_to(folder)}: the grader reads regular files only, not links or special files")
            data = read(path, max_bytes - total)
            if data is None:
                continue
            total += len(data)
            found[str(path.relative_to(folder))] = data
        dirs.sort()
    return dict(sorted(found.items()))
