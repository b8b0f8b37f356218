"""Checks of a student's training loop (`train_epoch`) and evaluation (`evaluate`), by behaviour.

Each check runs the student's function on a tiny linear model and a few random digits, next to the
course's own version on an identical copy, and says what differs in the terms of the loop: the
mode the model was in, the optimizer and schedule steps, the gradients, the loss per image.
`*_result` gives the same behaviour as plain numbers, for the hidden tests to observe.
"""
import copy

import torch
from torch import nn

from autograder import reference


class Probe(nn.Module):
    """A linear classifier of 28x28 digits that remembers, for every forward call, whether it was
    in training mode and recording gradients."""

    def __init__(self, seed):
        super().__init__()
        with torch.random.fork_rng(devices=[]):      # the student's own random state stays as it was
            torch.manual_seed(seed)
            self.linear = nn.Linear(784, 10)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x.flatten(1))


class CountingSGD(torch.optim.SGD):
    def __init__(self, params):
        super().__init__(params, lr=0.5)
        self.events = []

    def zero_grad(self, set_to_none=True):
        self.events.append("zero_grad")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        self.events.append("step")
        return super().step(closure)


class CountingSchedule:
    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1


class RecordingLoss(nn.CrossEntropyLoss):
    """Cross-entropy that remembers every batch's loss and size."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, logits, labels):
        loss = super().forward(logits, labels)
        self.batches.append((loss.item(), len(labels)))
        return loss


def digits(seed, n, batch_size):
    """n random 'digits' with labels, in batches of batch_size (the last one shorter)."""
    g = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, generator=g)   # g, not the global RNG


def run_train_epoch(train_epoch, device, seed, n, batch_size):
    """The student's epoch and the reference epoch from the same start; what each did."""
    loader = digits(seed, n, batch_size)
    model, twin = Probe(seed).to(device).eval(), Probe(seed)    # left in eval mode: train_epoch must switch
    optimizer, schedule, loss_fn = CountingSGD(model.parameters()), CountingSchedule(), RecordingLoss()
    returned = train_epoch(model, loader, optimizer, loss_fn, schedule)
    reference.train_epoch(twin, loader, torch.optim.SGD(twin.parameters(), lr=0.5), nn.CrossEntropyLoss())
    return {"loader": loader, "model": model.cpu(), "twin": twin, "optimizer": optimizer, "schedule": schedule,
            "loss_fn": loss_fn, "returned": returned}


def check_train_epoch(train_epoch, device, seed=0, n=100, batch_size=32):
    """AssertionError with a reason unless train_epoch trains like the course's loop; a summary if it does."""
    run = run_train_epoch(train_epoch, device, seed, n, batch_size)
    batches = len(run["loader"])
    modes = run["model"].calls
    assert modes, "train_epoch never called the model"
    assert all(training for training, _ in modes), "the model was not in training mode: call model.train() first"
    steps = run["optimizer"].events.count("step")
    assert steps == batches, f"one optimizer.step() per batch: {batches} batches, {steps} steps"
    assert run["schedule"].steps == batches, (
        f"call scheduler.step() once per batch, after optimizer.step(): {batches} batches, {run['schedule'].steps} steps")
    for mine, theirs in zip(run["model"].parameters(), run["twin"].parameters()):
        assert torch.allclose(mine, theirs, atol=1e-5), (
            "after one epoch the weights differ from the course loop's: per batch, optimizer.zero_grad() (or "
            "the gradients add up), forward, loss, backward, step, in that order")
    losses = run["loss_fn"].batches
    assert losses, "train_epoch never called loss_fn: compute each batch's loss with the loss_fn it is given"
    per_image = sum(loss * size for loss, size in losses) / sum(size for _, size in losses)
    per_batch = sum(loss for loss, _ in losses) / len(losses)
    returned = float(run["returned"])
    assert abs(returned - per_image) < 1e-5, (
        f"train_epoch returned {returned:.6f}; the mean loss per image is {per_image:.6f}"
        + (" (you averaged the batch means, which counts the short last batch as much as a full one)"
           if abs(returned - per_batch) < 1e-6 else ""))
    return f"{batches} batches ({n} images, the last batch {n - (batches - 1) * batch_size}): mean loss {per_image:.4f}"


def train_epoch_result(train_epoch, device, seed=1, n=70, batch_size=16):
    """What the student's epoch does, as numbers: weight statistics, the returned loss, the counts."""
    run = run_train_epoch(train_epoch, device, seed, n, batch_size)
    weight, bias = run["model"].linear.weight.detach(), run["model"].linear.bias.detach()
    return {"weights": [float(weight.sum()), float((weight ** 2).sum()), float(bias.sum())],
            "returned loss": float(run["returned"]),
            "optimizer steps and schedule steps": [run["optimizer"].events.count("step"), run["schedule"].steps],
            "every call in training mode": all(training for training, _ in run["model"].calls)}


def run_evaluate(evaluate, device, seed, n, batch_size):
    loader = digits(seed, n, batch_size)
    model = Probe(seed).to(device).train()               # left in training mode: evaluate must switch
    twin = copy.deepcopy(model).cpu().eval()
    loss, accuracy = evaluate(model, loader, nn.CrossEntropyLoss(reduction="mean"))
    with torch.no_grad():
        images, labels = loader.dataset.tensors
        logits = twin(images)
    return {"model": model, "loss": float(loss), "accuracy": float(accuracy),
            "expected": (float(nn.functional.cross_entropy(logits, labels)),
                         (logits.argmax(1) == labels).sum().item() / n)}


def check_evaluate(evaluate, device, seed=0, n=100, batch_size=32):
    """AssertionError with a reason unless evaluate measures like the course's; a summary if it does."""
    run = run_evaluate(evaluate, device, seed, n, batch_size)
    calls = run["model"].calls
    assert calls, "evaluate never called the model"
    assert not any(training for training, _ in calls), "the model was in training mode: call model.eval() first"
    assert not any(grad for _, grad in calls), "gradients were recorded: evaluate inside `with torch.no_grad():`"
    loss, accuracy = run["expected"]
    assert abs(run["accuracy"] - accuracy) < 1e-6, (
        f"accuracy {run['accuracy']:.4f}, expected {accuracy:.4f}: count the right predictions over the whole "
        f"loader and divide by its {n} images")
    assert abs(run["loss"] - loss) < 1e-5, (
        f"loss {run['loss']:.6f}, expected {loss:.6f} per image: weight each batch's loss by its size")
    return f"{n} images in batches of {batch_size}: loss {loss:.4f}, accuracy {accuracy:.2%}"


def evaluate_result(evaluate, device, seed=1, n=70, batch_size=16):
    """What the student's evaluate returns and how it ran, as numbers."""
    run = run_evaluate(evaluate, device, seed, n, batch_size)
    return {"loss and accuracy": [run["loss"], run["accuracy"]],
            "any call in training mode or recording gradients": any(t or g for t, g in run["model"].calls)}
