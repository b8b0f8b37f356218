"""Handing a trained model to the grader: `submit(model, name)` in a test cell.

While the class is graded, `submit` exports the model with torch.export and writes two files into the
kernel's export folder: its operator graph as JSON (operator names, node references and literal numbers)
and its tensors (`torch.save` of a flat dict, read back with `weights_only=True`). Neither can carry code:
the grader runs the graph with its own interpreter (autograder/instructor/graph.py). Outside class
grading, `submit` does nothing.
"""
import json
import os
from pathlib import Path

import torch
from torch.export import Dim

EXPORT_DIR = "GRADER_EXPORT_DIR"
FIXED_BATCH = 97       # no layer of a course model has 97 units: the grader finds it in the graph's shapes


def submit(model, name):
    """Hand a trained model to the grader (does nothing outside class grading)."""
    folder = os.environ.get(EXPORT_DIR)
    if folder:
        save(model, folder, name)


def save(model, folder, name):
    """Write `name`.json (the graph) and `name`.tensors (weights and buffers) into folder."""
    model.eval()
    # Exported on the CPU: a model on the GPU would export CUDA's own kernels and limits (cuDNN's batch
    # norm guards the batch size at 65,535, which the dynamic batch dimension fails). `to` keeps the
    # same parameter objects, so the student's model is moved back unchanged.
    device = next(model.parameters()).device
    try:
        program, batch = export(model.cpu())
    finally:
        model.to(device)
    signature = program.graph_signature
    roles = {**{k: ["parameter", v] for k, v in signature.inputs_to_parameters.items()},
             **{k: ["buffer", v] for k, v in signature.inputs_to_buffers.items()},
             **{k: ["constant", v] for k, v in signature.inputs_to_lifted_tensor_constants.items()}}
    nodes = []
    for node in program.graph_module.graph.nodes:
        entry = {"op": node.op, "name": node.name, "args": plain(node.args), "kwargs": plain(node.kwargs)}
        if node.op == "placeholder":
            entry["role"] = roles.get(node.name, ["input", node.name])
        elif node.op == "call_function":
            entry["target"] = target_name(node.target)
        nodes.append(entry)
    tensors = {k: v.detach().cpu().contiguous() for k, v in program.state_dict.items()}
    tensors |= {k: v.detach().cpu().contiguous() for k, v in program.constants.items() if isinstance(v, torch.Tensor)}
    Path(folder, f"{name}.json").write_text(json.dumps({"nodes": nodes, "batch": batch}))
    torch.save(tensors, Path(folder, f"{name}.tensors"))


def export(model):
    """(the exported program, None) for any batch size; where the model's code fixes the batch size (a
    `len(x)` in forward makes it a Python number), (a program for batches of FIXED_BATCH, FIXED_BATCH): the
    grader puts the batch size of its input where the graph's shapes say FIXED_BATCH."""
    try:
        return torch.export.export(model, (torch.zeros(2, 1, 28, 28),), dynamic_shapes=({0: Dim("batch")},)), None
    except Exception:  # noqa: BLE001 - torch reports a batch size fixed by the code in several ways
        return torch.export.export(model, (torch.zeros(FIXED_BATCH, 1, 28, 28),)), FIXED_BATCH


def target_name(target):
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__name__', '?')}"


def plain(value):
    """An argument as JSON: node references, numbers, strings, lists, and a few torch enums."""
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): plain(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": value.type}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    raise TypeError(f"the grader cannot record an argument of type {type(value).__name__} in the model's graph")
