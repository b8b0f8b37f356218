"""Checks of a student's training loop (`train_epoch`) and evaluation (`evaluate`), by behaviour.

Each check runs the student's function on a tiny linear model and a few random digits and says what
differs in the terms of the loop: the mode the model was in, the optimizer and schedule steps, the
gradients, the loss per image. It compares with properties every correct loop has and with recorded
numbers (the weights the course's loop leaves, measured once), never with a loop run at check time:
these checks ship to students, and a loop here would be 03's answer. `*_result` gives the same
behaviour as plain numbers, for the hidden tests to observe.
"""
import copy

import torch
from torch import nn

# What one epoch of the course's loop leaves in Probe(0), on digits(0, 100, 32) with CountingSGD's learning
# rate: the sum and the sum of squares of the weights, and the ten biases.
TRAINED = {"weights": [-0.842447, 59.84808],
           "biases": [-0.0487562, -0.0236233, -0.0147743, 0.0765113, -0.0917775, 0.0751164, 0.0984349, 0.0073308,
                      0.0057829, -0.0527521]}


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
    """The student's epoch on a fresh probe; what it did."""
    loader = digits(seed, n, batch_size)
    model = Probe(seed).to(device).eval()    # left in eval mode: train_epoch must switch
    optimizer, schedule, loss_fn = CountingSGD(model.parameters()), CountingSchedule(), RecordingLoss()
    returned = train_epoch(model, loader, optimizer, loss_fn, schedule)
    return {"loader": loader, "model": model.cpu(), "optimizer": optimizer, "schedule": schedule,
            "loss_fn": loss_fn, "returned": returned}


def weights_as_trained(model):
    """Whether the probe's weights are those one epoch of the course's loop leaves (TRAINED)."""
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    found = torch.tensor([float(weight.sum()), float((weight ** 2).sum()), *bias.tolist()])
    return torch.allclose(found, torch.tensor(TRAINED["weights"] + TRAINED["biases"]), rtol=1e-4, atol=2e-6)


def check_train_epoch(train_epoch, device):
    """AssertionError with a reason unless train_epoch trains like the course's loop; a summary if it does."""
    n, batch_size = 100, 32                   # the probe TRAINED was recorded on
    run = run_train_epoch(train_epoch, device, 0, n, batch_size)
    batches = len(run["loader"])
    modes = run["model"].calls
    assert modes, "train_epoch never called the model"
    assert all(training for training, _ in modes), "the model was not in training mode: call model.train() first"
    steps = run["optimizer"].events.count("step")
    assert steps == batches, f"one optimizer.step() per batch: {batches} batches, {steps} steps"
    assert run["schedule"].steps == batches, (
        f"call scheduler.step() once per batch, after optimizer.step(): {batches} batches, {run['schedule'].steps} steps")
    assert weights_as_trained(run["model"]), (
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
