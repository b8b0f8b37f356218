"""Checks of 03's training sanity exercises, by behaviour: the loss at initialisation (`initial_loss`),
learning one batch by heart (`overfit_batch`) and the repaired training loop (`fixed_train`).

The visible checks test properties every correct answer has (a model whose scores are all equal has a
loss of exactly ln 10; a mean does not change when the batch is repeated). The `*_result` functions run
the student's function on small seeded networks and random 'digits' and return plain numbers, for the
hidden tests to observe; the grader compares them with the solution's. Every network here is small
enough to run in a blink, and the random state of the notebook is left as it was.

The inputs are chosen so that any correct answer gives the same numbers: the networks have no dropout
(nothing random while they train), and the loop's checks either train on one batch per epoch or at a
learning rate of 0, so the order in which a loop shuffles its images cannot change the outcome.
"""
import math

import torch
from torch import nn

LN10 = math.log(10)


def random_digits(seed, n):
    """n random 28x28 'digits' (normal noise) and random labels, from their own generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def tiny_net(seed, batch_norm=True, scale=1.0):
    """784 -> 16 (-> batch norm) -> ReLU -> 10, with weights drawn from `seed`; the last layer's weights
    multiplied by `scale` (a large scale makes confident, far from uniform, predictions)."""
    with torch.random.fork_rng(devices=[]):      # the notebook's own random state stays as it was
        torch.manual_seed(seed)
        layers = [nn.Flatten(), nn.Linear(784, 16), *([nn.BatchNorm1d(16)] if batch_norm else []), nn.ReLU(),
                  nn.Linear(16, 10)]
        net = nn.Sequential(*layers)
    with torch.no_grad():
        net[-1].weight.mul_(scale)
    return net


def equal_scores(classes=10):
    """A network whose ten scores are 0 for every image: it has no preference at all."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return net


def as_float(value, what):
    """A number a function returned (a float, or a tensor holding one number), as a float."""
    if isinstance(value, torch.Tensor):
        assert value.numel() == 1, f"{what} should be one number, got a tensor of shape {tuple(value.shape)}"
        value = value.item()
    assert isinstance(value, (int, float)) and math.isfinite(value), f"{what} should be a finite number, got {value!r}"
    return float(value)


# The loss at initialisation

def check_initial_loss(initial_loss, device="cpu"):
    """AssertionError with a reason unless initial_loss behaves as a mean cross-entropy per image."""
    images, labels = random_digits(0, 40)
    images, labels = images.to(device), labels.to(device)
    flat = as_float(initial_loss(equal_scores().to(device), images, labels), "initial_loss")
    assert abs(flat - LN10) < 1e-4, (
        f"a network that gives every class the same score gets the loss {flat:.4f} from your initial_loss; "
        f"its softmax gives each class 1/10, so the cross-entropy is -ln(1/10) = {LN10:.4f}")
    net = tiny_net(0, batch_norm=False).to(device)
    once = as_float(initial_loss(net, images, labels), "initial_loss")
    twice = as_float(initial_loss(net, torch.cat([images, images]), torch.cat([labels, labels])), "initial_loss")
    assert abs(once - twice) < 1e-5 * max(1.0, abs(once)), (
        f"the loss of a batch ({once:.4f}) and of the same batch twice ({twice:.4f}) differ: return the mean "
        "loss per image, not a sum")
    return f"equal scores: loss {flat:.4f} = ln 10; a batch and the same batch twice: {once:.4f} both times"


def initial_loss_result(initial_loss, device="cpu"):
    """initial_loss of two seeded networks that are confident (so far from ln 10), on 50 random digits."""
    images, labels = random_digits(4, 50)
    images, labels = images.to(device), labels.to(device)
    return [as_float(initial_loss(tiny_net(seed, batch_norm=False, scale=scale).to(device), images, labels),
                     "initial_loss") for seed, scale in ((3, 8.0), (5, 20.0))]


# Overfitting one batch

def overfit_result(overfit_batch, device="cpu"):
    """The losses overfit_batch reports for a seeded network with batch normalisation, handed over in eval
    mode (overfit_batch must switch to training mode), on 24 random digits: 6 steps of Adam at 0.01."""
    images, labels = random_digits(6, 24)
    net = tiny_net(7).to(device).eval()
    losses = overfit_batch(net, images.to(device), labels.to(device), 6, 0.01)
    return [as_float(loss, "each loss overfit_batch returns") for loss in losses]


def batch_accuracy(model, images, labels):
    """The share of (images, labels) the model gets right, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


# The repaired loop

def fixed_train_result(fixed_train):
    """What fixed_train returns in two runs where the order of the shuffle cannot matter:
    a network with batch normalisation trained for 3 epochs of one batch each (48 digits, batches of 64:
    training mode, zero_grad and matched labels all show), and a plain network at a learning rate of 0
    on 70 digits in batches of 16, the last of 6 (the loss of an epoch must be its mean per image)."""
    results = {}
    runs = {"batch norm, one batch per epoch": (tiny_net(8), random_digits(9, 48), 3, 64, 0.5),
            "learning rate 0, batches of 16 and a last one of 6": (tiny_net(10, batch_norm=False),
                                                                 random_digits(11, 70), 2, 16, 0.0)}
    for name, (net, (images, labels), epochs, batch_size, lr) in runs.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(12)
            losses, accuracies = fixed_train(net, images, labels, epochs, batch_size, lr)
        results[name] = {"losses": [as_float(v, "each loss") for v in losses],
                         "accuracies": [as_float(v, "each accuracy") for v in accuracies]}
    return results
