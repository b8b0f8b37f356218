"""Checks that the assignments' test cells call.

Each check raises AssertionError with a message that says what was expected, what came
out, and where to look, so that a student's feedback tells them what to fix.
"""
import math

import torch
from torch import nn


def expect_equal(what, actual, expected):
    """Fail with 'what: expected E, got A' unless actual == expected."""
    if isinstance(actual, torch.Size):
        actual = tuple(actual)
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def expect_close(what, actual, expected, tol):
    """Fail unless |actual - expected| <= tol."""
    actual = float(actual)
    assert math.isfinite(actual) and abs(actual - expected) <= tol, (
        f"{what}: expected {expected} ± {tol}, got {actual:.6g}")


def conv_stack(channels, kernel_size=3, padding=1, pools=2, pool_kernel=2, stride=1):
    """A Conv-ReLU(-MaxPool) stack like the course CNN's, for testing shape code on variants."""
    layers = []
    for i, (cin, cout) in enumerate(zip(channels, channels[1:])):
        layers += [nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding), nn.ReLU()]
        if i < pools:
            layers.append(nn.MaxPool2d(pool_kernel))
    return nn.Sequential(*layers)
