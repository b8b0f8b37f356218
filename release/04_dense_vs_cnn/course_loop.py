"""The course's own training loop: the `train_epoch` and `evaluate` that students write in 03, and
`fit`, the course recipe around them (spec.RECIPE, validation after every epoch), and `batches`,
the loader it trains fastest with.

Assignments 04, 05 and 06 train with it: it is released with them as course_loop.py
(autograder/instructor/course.py), never with the student package.
"""
import time

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from autograder.student.spec import RECIPE


def batches(dataset, batch_size=RECIPE["batch_size"], shuffle=False):
    """A DataLoader that indexes a TensorDataset once per batch (with a list of indices), instead of
    once per image followed by stacking: the same batches, less work per batch."""
    order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    return DataLoader(dataset, batch_size=None, sampler=BatchSampler(order, batch_size, drop_last=False),
                      pin_memory=torch.cuda.is_available())


def train_epoch(model, loader, optimizer, loss_fn, scheduler=None, device="cpu"):
    """One pass over `loader` that updates the model; the mean training loss per image."""
    model.train()
    total, seen = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(labels)
        seen += len(labels)
    return total / seen


def evaluate(model, loader, loss_fn=None, device="cpu"):
    """(mean loss per image, accuracy) over every image of `loader`, in eval mode, without gradients."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            logits = model(images)
            total_loss += loss_fn(logits, labels).item() * len(labels)
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += len(labels)
    return total_loss / seen, correct / seen


def fit(model, train_loader, val_loader, epochs=RECIPE["epochs"], max_lr=RECIPE["max_lr"], device="cpu", name="model"):
    """Train with the course recipe (Adam, one-cycle, label smoothing), measuring validation after
    every epoch; return the history."""
    optimizer = torch.optim.Adam(model.parameters(), lr=max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, pct_start=RECIPE["pct_start"],
                                                    steps_per_epoch=len(train_loader))
    train_loss_fn, loss_fn = nn.CrossEntropyLoss(label_smoothing=RECIPE["label_smoothing"]), nn.CrossEntropyLoss()
    history = {"epoch": [], "train_loss": [], "val_loss": [], "val_acc": [], "seconds": []}
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        train_loss = train_epoch(model, train_loader, optimizer, train_loss_fn, scheduler, device)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        for key, value in zip(history, (epoch, train_loss, val_loss, val_acc, time.perf_counter() - start)):
            history[key].append(value)
        print(f"{name} epoch {epoch}: training loss {train_loss:.4f}, validation accuracy {val_acc:.2%} "
              f"({history['seconds'][-1]:.1f} s)")
    return history
