"""The course's validation split, computed by the instructor and shipped with the student package.

Assignment 01 asks students to write a stratified, seeded split; every later notebook and the grader use
the course's own split of MNIST's training labels (spec.VALIDATION). Students get its indices as data
(autograder/student/validation_split.npz), never the code that computes it.
"""
import numpy as np
import torchvision

from autograder.student import data
from autograder.student.spec import VALIDATION


def compute(labels):
    """(train_idx, val_idx) of the course's split, from scikit-learn, as 01's solution computes it."""
    from sklearn.model_selection import train_test_split

    train_idx, val_idx = train_test_split(range(len(labels)), test_size=VALIDATION["size"],
                                          stratify=np.asarray(labels), random_state=VALIDATION["seed"])
    return list(train_idx), list(val_idx)


def write(root):
    """Compute the split of MNIST's training labels under root and store it in the student package,
    unless the stored one is the same; return (train_idx, val_idx)."""
    labels = torchvision.datasets.MNIST(root, train=True).targets
    split = compute(labels)
    try:
        if data.validation_split(labels) == split:
            return split
    except (OSError, ValueError, KeyError):
        pass
    np.savez(data.SPLIT, train=np.asarray(split[0], dtype=np.int32), val=np.asarray(split[1], dtype=np.int32),
             labels=np.asarray(data.labels_digest(labels)))
    return split
