"""03's checks of a student's train_epoch and evaluate: each wrong loop fails its visible check with
a reason that names the step, and gives other numbers to the hidden observation than the right loop."""
import inspect
import re

import pytest
import torch

from autograder.student import loops
from autograder.instructor import reference

DEVICE = torch.device("cpu")


def right(model, loader, optimizer, loss_fn, scheduler=None, *, train=True, zero=True, weigh=True, order="zbs"):
    """The course loop, or a loop wrong in one way: no model.train(), no zero_grad, the mean of the
    batch means, or zero_grad between backward and step."""
    if train:
        model.train()
    total, losses = 0.0, []
    for images, labels in loader:
        loss = loss_fn(model(images.to(DEVICE)), labels.to(DEVICE))
        for step in order:
            if step == "z" and zero:
                (model if zero == "model" else optimizer).zero_grad()
            elif step == "b":
                loss.backward()
            elif step == "s":
                optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(labels)
        losses.append(loss.item())
    return total / len(loader.dataset) if weigh else sum(losses) / len(losses)


WRONG_LOOPS = {
    "no model.train()": ({"train": False}, "call model.train() first"),
    "no zero_grad": ({"zero": False}, "optimizer.zero_grad() (or the gradients add up)"),
    "mean of batch means": ({"weigh": False}, "you averaged the batch means"),
    "zero_grad after backward": ({"order": "bzs"}, "the weights differ from the course loop's"),
}


def test_the_right_loop_passes():
    assert "4 batches" in loops.check_train_epoch(right, DEVICE)


def measure(model, loader, loss_fn, *, eval_mode=True, no_grad=True, per_image=True):
    if eval_mode:
        model.eval()
    total, correct, accuracies = 0.0, 0, []
    with torch.set_grad_enabled(not no_grad):
        for images, labels in loader:
            logits = model(images)
            total += loss_fn(logits, labels).item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            accuracies.append((logits.argmax(1) == labels).float().mean().item())
    n = len(loader.dataset)
    return total / n, correct / n if per_image else sum(accuracies) / len(accuracies)


WRONG_MEASURES = {
    "no model.eval()": ({"eval_mode": False}, "call model.eval() first"),
    "gradients recorded": ({"no_grad": False}, "torch.no_grad"),
    "mean of batch accuracies": ({"per_image": False}, "count the right predictions over the whole loader"),
}


def test_the_right_evaluation_passes():
    assert "100 images" in loops.check_evaluate(measure, DEVICE)


# name: (the check, the hidden observation, the right function, how the wrong one differs, the reason)
CASES = {**{name: (loops.check_train_epoch, loops.train_epoch_result, right, *case) for name, case in WRONG_LOOPS.items()},
         **{name: (loops.check_evaluate, loops.evaluate_result, measure, *case) for name, case in WRONG_MEASURES.items()}}


@pytest.mark.parametrize("name", CASES)
def test_a_wrong_function_fails_with_its_reason_and_other_numbers(name):
    check, result, correct, options, reason = CASES[name]

    def wrong(*args):
        return correct(*args, **options)

    with pytest.raises(AssertionError, match=re.escape(reason)):
        check(wrong, DEVICE)
    assert result(wrong, DEVICE) != result(correct, DEVICE)


def test_model_zero_grad_is_as_right_as_the_optimizers():
    def model_zero_grad(*args):
        return right(*args, zero="model")

    assert "4 batches" in loops.check_train_epoch(model_zero_grad, DEVICE)
    assert loops.train_epoch_result(model_zero_grad, DEVICE) == loops.train_epoch_result(right, DEVICE)


def test_the_checks_leave_the_students_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    loops.check_train_epoch(right, DEVICE)
    loops.check_evaluate(measure, DEVICE)
    assert torch.equal(torch.rand(3), expected), "a check reseeded the student's random numbers"


def test_the_visible_check_runs_no_loop_of_its_own():
    """check_train_epoch ships to students: it compares with numbers the course's loop left once (TRAINED),
    never with a loop imported at check time (that would be 03's answer on every student's disk). The
    numbers are today's: the course's loop still leaves them."""
    imports = re.findall(r"^(?:from|import) .*", inspect.getsource(loops), re.M)
    assert not any("reference" in line for line in imports), imports
    run = loops.run_train_epoch(reference.train_epoch, "cpu", 0, 100, 32)
    assert loops.weights_as_trained(run["model"]), "TRAINED is stale: record the course loop's weights again"
