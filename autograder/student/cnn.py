"""Checks of the course CNN, by behaviour: what the model computes, never what its attributes are called.

Conv(1->32, 3, pad 1) -> ReLU -> MaxPool 2 -> Conv(32->64, 3, pad 1) -> ReLU -> MaxPool 2
-> Flatten -> Linear(3136->128) -> ReLU -> Linear(128->10), raw logits out.

`trace` runs the model under a TorchFunctionMode that sees every torch call (nn modules and
F.* functions alike), so nn.Sequential, F.relu, x.view and extra dropout layers all trace the same.
(`check_channels_last` alone refuses x.view: 03 trains channels-last, where view fails.)
"""
import copy

import torch
from torch.overrides import TorchFunctionMode

from autograder.student import evaluate
from autograder.student.evaluate import test_set
from autograder.student.spec import CNN_PARAM_SHAPES as PARAM_SHAPES
from autograder.student.spec import CNN_PARAMS as TOTAL_PARAMS


class Recorder(TorchFunctionMode):
    """Remembers (name, first tensor argument, result) of every torch call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "").split(".")[0]   # aten ops of an exported model: "conv2d.default"
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if isinstance(result, torch.Tensor) and first is not None:
            self.calls.append((name, first.detach(), result.detach()))
        return result


def run(model, x):
    """The model's output in eval mode (evaluate.run turns a crash into feedback)."""
    evaluate.eval_mode(model)
    return evaluate.run(model, x)


def trace(model, x):
    """The tensors the diagram talks about, found by running the model on x."""
    with Recorder() as recorder:
        out = run(model, x)
    calls = recorder.calls
    convs = [c for c in calls if c[0] == "conv2d"]
    linears = [c for c in calls if c[0] == "linear"]
    assert len(convs) >= 2, f"the diagram has 2 conv layers; your forward uses {len(convs)}"
    assert len(linears) >= 2, f"the diagram has 2 linear layers; your forward uses {len(linears)}"
    first_linear = calls.index(linears[0])
    four_d = [c[2] for c in calls[:first_linear] if c[2].dim() == 4]
    return {"block1": convs[1][1], "block2": four_d[-1], "flat": linears[0][1],
            "hidden": linears[1][1], "out": out}


def shape_hint(block, expected, actual):
    """Why `actual` might differ from `expected` after a conv block, in the diagram's terms."""
    ordinal = {"block1": "first", "block2": "second"}[block]
    if len(actual) != 4:
        return ""
    if actual[1] != expected[1]:
        return f" Does the {ordinal} conv have {expected[1]} output channels?"
    if actual[2] == 2 * expected[2]:
        return f" Is the {ordinal} max-pool applied?"
    return f" Does the {ordinal} conv use padding=1 and the max-pool kernel 2?"


DIAGRAM = {
    "block1": ("after the first conv block", lambda n: (n, 32, 14, 14)),
    "block2": ("after the second conv block", lambda n: (n, 64, 7, 7)),
    "flat": ("flattened, into the first linear layer", lambda n: (n, 3136)),
    "out": ("at the output", lambda n: (n, 10)),
}


def fmt(shape):
    return "(N, " + ", ".join(map(str, shape[1:])) + ")"


def check_shapes(model, sizes=(1, 7, 64), device="cpu"):
    """The shape after each block of the diagram, for batches of several sizes."""
    for n in sizes:
        found = trace(model, digits(n, device))
        for key, (where, expected_of) in DIAGRAM.items():
            expected, actual = expected_of(n), tuple(found[key].shape)
            hint = shape_hint(key, expected, actual) if key.startswith("block") else ""
            assert actual == expected, (f"{where} the diagram expects {fmt(expected)} but your model gives "
                                        f"{fmt(actual)} for a batch of N={n}.{hint}")


def check_parameters(model):
    """Every weight and bias has the diagram's shape, and the total is 421,642."""
    shapes = sorted(tuple(p.shape) for p in model.parameters())
    missing = [s for s in PARAM_SHAPES if s not in shapes]
    extra = [s for s in shapes if s not in PARAM_SHAPES]
    assert not missing and not extra, (f"parameter shapes differ from the diagram: missing {missing}, "
                                       f"unexpected {extra}")
    total = sum(p.numel() for p in model.parameters())
    assert total == TOTAL_PARAMS, f"the model has {total:,} parameters; the diagram has {TOTAL_PARAMS:,}"


def check_relus(model, device="cpu"):
    """ReLU after each conv and after the first linear layer (their outputs are never negative)."""
    found = trace(model, digits(64, device))
    for key, layer in [("block1", "first conv"), ("block2", "second conv"), ("hidden", "first linear layer")]:
        low = float(found[key].min())
        assert low >= 0, f"values after the {layer} go down to {low:.3f}: is a ReLU applied after it?"


def check_logits(model, device="cpu"):
    """The output is raw logits: not probabilities, not log-probabilities."""
    out = run(model, digits(64, device)).float()
    sums = out.exp().sum(dim=1)
    assert not torch.allclose(sums, torch.ones_like(sums), atol=1e-3), (
        "the output looks like log-probabilities: return raw logits (CrossEntropyLoss applies log-softmax)")
    rows = out.sum(dim=1)
    assert not (out.min() >= 0 and torch.allclose(rows, torch.ones_like(rows), atol=1e-3)), (
        "the output looks like softmax probabilities: return raw logits (CrossEntropyLoss applies softmax)")
    # Within rounding, not exactly: on a 16-core machine (torch 2.11) the rows of a model that ignores its
    # input were not bit-for-bit identical, and it passed an exact comparison there.
    assert not torch.allclose(out, out[:1].expand_as(out), rtol=1e-4, atol=1e-5), (
        "the output is the same for every image")


def check_deterministic(model, device="cpu"):
    """In eval mode, the same input gives the same output."""
    x = digits(64, device)
    assert torch.equal(run(model, x), run(model, x)), "two passes over the same images in eval mode differ"


def check_channels_last(model, device="cpu"):
    """The model also runs with its weights stored channels-last, as the course's training stores them."""
    stored = copy.deepcopy(model).to(memory_format=torch.channels_last)
    try:
        run(stored, digits(8, device))
    except AssertionError as error:
        raise AssertionError(f"{error} (The course's training stores the weights channels-last, and view fails "
                             "on such feature maps: flatten with nn.Flatten() or x.flatten(1).)") from None


def check_device(model, device):
    """All parameters are on the device the notebook chose."""
    where = {p.device.type for p in model.parameters()}
    assert where == {torch.device(device).type}, f"the model's parameters are on {where}, expected {device}"


def digits(n, device="cpu"):
    """The first n normalised test digits."""
    return test_set(device)[0][:n]
