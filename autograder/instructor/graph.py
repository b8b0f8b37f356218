"""The grader's own interpreter for a handed-in model (autograder/student/submit.py writes it as plain data).

`load` reads them with loaders that cannot execute anything and returns a
`GraphModel`: an nn.Module whose forward runs the graph by looking every operator up in OPS,
a fixed table of pure tensor functions. An operator outside the table is not an error at load
time: it is named when the model is run, so checks that only look at the weights still decide.
(`torch.export.load` is never used: it unpickles, so a crafted file would run code.)
"""
import io
import json
import operator
from pathlib import Path

import torch
from torch import nn

from autograder.instructor import untrusted

MAX_GRAPH_BYTES = 10 * 2**20
MAX_TENSOR_BYTES = 512 * 2**20
MAX_BUFFER_NUMBERS = 100_000     # batch-norm statistics, not a copy of the test set
MAX_NODES = 1_000                # a course model exports to fewer than 100

# Every operator a course model (dense nets and CNNs, with batch norm, dropout and any of the usual
# activations, poolings and reshapes) exports to. Keys are what the JSON says; values what runs.
ATEN = """conv2d.default conv2d.padding convolution.default linear.default addmm.default mm.default
matmul.default t.default relu.default relu_.default leaky_relu.default gelu.default silu.default
elu.default sigmoid.default tanh.default hardtanh.default max_pool2d.default max_pool2d_with_indices.default
avg_pool2d.default adaptive_avg_pool2d.default adaptive_max_pool2d.default flatten.using_ints view.default
reshape.default _unsafe_view.default permute.default transpose.int contiguous.default clone.default
alias.default detach.default squeeze.dim unsqueeze.default softmax.int _softmax.default log_softmax.int
_log_softmax.default add.Tensor add.Scalar sub.Tensor sub.Scalar mul.Tensor mul.Scalar div.Tensor
div.Scalar neg.default exp.default log.default sqrt.default rsqrt.default pow.Tensor_Scalar mean.dim
sum.dim_IntList amax.default cat.default constant_pad_nd.default dropout.default feature_dropout.default
batch_norm.default _native_batch_norm_legit_no_training.default layer_norm.default sym_size.int
_assert_tensor_metadata.default _assert_scalar.default sym_constrain_range_for_size.default""".split()
OPS = {f"aten.{name}": getattr(getattr(torch.ops.aten, name.split(".")[0]), name.split(".")[1]) for name in ATEN}
OPS |= {f"_operator.{name}": getattr(operator, name) for name in ("getitem", "add", "sub", "mul", "floordiv")}


class GraphModel(nn.Module):
    """A model rebuilt from its graph and tensors; runs only operators of OPS, on the CPU."""

    def __init__(self, nodes, tensors, batch=None):
        super().__init__()
        self.nodes, self.batch = nodes, batch
        self.slots = {}         # graph input -> attribute: forward reads the module's tensors as `to` left them
        for node in nodes:
            if node["op"] != "placeholder" or node["role"][0] == "input":
                continue
            role, key = node["role"]
            slot = f"{role[0]}{len(self.slots)}"
            if role == "parameter":
                self.register_parameter(slot, nn.Parameter(tensors[key], requires_grad=False))
            else:
                self.register_buffer(slot, tensors[key])
            self.slots[node["name"]] = slot
        self.unknown = sorted({n["target"] for n in nodes if n["op"] == "call_function" and n["target"] not in OPS})

    def forward(self, x):
        assert not self.unknown, (f"the grader cannot run your model: it uses {', '.join(self.unknown)}, "
                                  "which is not a layer of a dense net or CNN")
        env = {name: getattr(self, slot) for name, slot in self.slots.items()}
        for node in self.nodes:
            if node["op"] == "placeholder" and node["role"][0] == "input":
                env[node["name"]] = x
            elif node["op"] == "call_function":
                args, kwargs = resolve(node["args"], env), resolve(node["kwargs"], env)
                if self.batch:      # a graph exported for one batch size: its shapes name that size
                    args = [resize(arg, self.batch, len(x)) for arg in args]
                env[node["name"]] = OPS[node["target"]](*args, **kwargs)
            elif node["op"] == "output":
                out = resolve(node["args"], env)[0]
                return out[0] if isinstance(out, (list, tuple)) else out
        raise AssertionError("your model's graph has no output")


def resize(arg, exported, actual):
    """A shape argument (a list of ints) with the exported batch size replaced by the actual one."""
    if isinstance(arg, list):
        return [actual if type(v) is int and v == exported else resize(v, exported, actual) for v in arg]
    return arg


def resolve(value, env):
    if isinstance(value, list):
        return [resolve(v, env) for v in value]
    if isinstance(value, dict):
        if "node" in value:
            return env[value["node"]]
        if "dict" in value:
            return {k: resolve(v, env) for k, v in value["dict"].items()}
        if "dtype" in value:
            return {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64}[value["dtype"]]
        if "device" in value:
            return torch.device("cpu")
        if "memory_format" in value:
            return {"contiguous_format": torch.contiguous_format,
                    "channels_last": torch.channels_last, "preserve_format": torch.preserve_format}[value["memory_format"]]
    return value


def load(folder, name):
    """The model `name` from folder as a GraphModel; AssertionError with a readable reason if the
    files are missing, too large, malformed, or hold more than a network."""
    try:
        graph = untrusted.read(Path(folder, f"{name}.json"), MAX_GRAPH_BYTES)
        weights = untrusted.read(Path(folder, f"{name}.tensors"), MAX_TENSOR_BYTES)
    except untrusted.Refused as refused:
        raise AssertionError(f"the exported model '{name}' was refused: {refused}") from None
    assert graph is not None and weights is not None, (
        f"no trained model '{name}' reached the grader (did the test cell run?)")
    try:
        content = json.loads(graph)
        nodes, batch = content["nodes"], content.get("batch")
        assert batch is None or (type(batch) is int and 1 <= batch <= 1000), f"batch size {batch!r}"
        tensors = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
        check_structure(nodes, tensors)
    except Exception as error:  # noqa: BLE001 - whatever is wrong with the files is the submission's failure
        raise AssertionError(f"the exported model '{name}' could not be read: {error}") from None
    roles = [n["role"][0] for n in nodes if n["op"] == "placeholder"]
    assert "constant" not in roles, f"the model '{name}' carries constant tensors besides its weights"
    assert roles.count("input") == 1, f"the model '{name}' should take exactly one input, the images"
    buffers = sum(tensors[n["role"][1]].numel() for n in nodes if n["op"] == "placeholder" and n["role"][0] == "buffer")
    assert buffers <= MAX_BUFFER_NUMBERS, f"the model '{name}' stores {buffers:,} numbers besides its parameters"
    return GraphModel(nodes, tensors, batch)


def check_structure(nodes, tensors):
    """Raise unless the JSON and the tensors have the shape `save` writes."""
    assert isinstance(tensors, dict) and all(isinstance(v, torch.Tensor) for v in tensors.values())
    assert isinstance(nodes, list) and len(nodes) <= MAX_NODES, f"the graph has more than {MAX_NODES} nodes"
    names = set()
    for node in nodes:
        assert node["op"] in ("placeholder", "call_function", "output"), f"unexpected node kind {node['op']!r}"
        if node["op"] == "placeholder":
            role, key = node["role"]
            assert role in ("input", "parameter", "buffer", "constant") and (role == "input" or key in tensors)
        refs = [v["node"] for v in flatten(node["args"]) + flatten(node["kwargs"]) if isinstance(v, dict) and "node" in v]
        assert all(ref in names for ref in refs), f"node {node['name']!r} uses a value defined after it"
        names.add(node["name"])


def flatten(value):
    if isinstance(value, list):
        return [x for v in value for x in flatten(v)]
    if isinstance(value, dict) and "dict" in value:
        return [x for v in value["dict"].values() for x in flatten(v)]
    return [value]
