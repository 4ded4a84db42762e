"""A student's network as data: rebuilt by the judge from an exported graph, with no student code.

In the sandbox, the executor's `export` step (autograder/executor.py) instantiates nothing itself:
a recipe hands it the student's model, and it exports it with `torch.export`, once in training mode
and once in evaluation mode (so dropout is in the graph as what it does in each), with a dynamic
batch dimension, and ships each graph as JSON and the initial weights through safetensors. The
judge (`GraphNet.from_node`) reads the JSON, refuses any operator outside `OPERATORS` with a
reason, and returns an `nn.Module` whose forward walks the graph with PyTorch's own functions over
the shipped weights, now parameters of the judge's process. The judge then trains and scores that
module itself: the submission's process only ever sent a description of a network, and describing
the right network is the same as writing it.

The JSON form of one graph: {"nodes": [...], "output": ARG}, each node
    {"name": str, "op": "input", "kind": "parameter" | "buffer" | "user_input", "target": str}
    {"name": str, "op": "call", "target": "aten.conv2d.default", "args": [ARG...], "kwargs": {str: ARG}}
where ARG is {"ref": node name} | {"list": [ARG...]} | {"const": int | float | bool | str | None}.
"""
from __future__ import annotations

import math
import re
import time
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

MAX_NODES = 2000  # the course's networks have about 20; more is not a network to train
MAX_ELEMENTS = 16_000_000  # per result of a layer, a broadcast or a product (64 MB of float32)


class GraphRefused(Exception):
    """The graph cannot be rebuilt: the message says why, for the student's feedback."""


class TooLarge(GraphRefused):
    """An operation's result would hold more than MAX_ELEMENTS numbers for the rows it was given."""


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _max_pool2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    # aten's empty stride means "the kernel size", as nn.MaxPool2d's default does
    return F.max_pool2d(x, _pair(kernel_size), _pair(stride) if stride else None, _pair(padding),
                        _pair(dilation), ceil_mode)


def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    # F.max_pool2d(..., return_indices=True), of which a network keeps the values
    return tuple(F.max_pool2d(x, _pair(kernel_size), _pair(stride) if stride else None,
                              _pair(padding), _pair(dilation), ceil_mode, return_indices=True))


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    return F.avg_pool2d(x, _pair(kernel_size), _pair(stride) if stride else None, _pair(padding),
                        ceil_mode, count_include_pad, divisor_override)


def _size(x, dim):
    return int(x.shape[dim])


def _conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    # aten.conv2d.padding carries padding="same" or "valid"; aten.conv2d.default numbers
    return F.conv2d(x, w, b, _pair(stride), padding if isinstance(padding, str) else _pair(padding),
                    _pair(dilation), groups)


def _pad(x, pad, mode="constant", value=None):
    # nn.Conv2d(padding_mode="reflect" | "replicate" | "circular") pads before its convolution
    return F.pad(x, [int(p) for p in pad], mode, value)


DTYPES = {"torch.float32": torch.float32, "torch.float64": torch.float64,
          "torch.float16": torch.float16, "torch.bfloat16": torch.bfloat16}


def _to_dtype(x, dtype, non_blocking=False, copy=False, memory_format=None):
    # x.double() or x.float() in forward (a float64 network, say); only floating-point dtypes
    if dtype not in DTYPES:
        raise ValueError(f"forward converts a tensor to {dtype}; the grader converts only between "
                         "floating-point types")
    return x.to(DTYPES[dtype])


def _assert_metadata(*_, **__):
    return None  # torch.export's own check that a conversion saw the tensor it expected


def _getitem(seq, index):
    # one result of an operation that returns several (max-pooling with return_indices=True)
    if not isinstance(seq, (tuple, list)) or type(index) is not int or not -len(seq) <= index < len(seq):
        raise ValueError("an operation's results were read in a way the grader does not follow")
    return seq[index]


def _clamp(x, min=None, max=None):  # noqa: A002 - aten's own argument names
    return torch.clamp(x, min, max)


# What the course's networks are made of (a CNN, a small MLP for XOR) in every form PyTorch offers
# to write them (string or tuple padding, padding modes, no bias, modules or functions, in place or
# not, nn.Flatten or view, x.T, a float64 network), and what their common bugs use (a softmax at the
# end, average pooling, a sigmoid), so that a buggy network is still trained and scored rather than
# refused. tests/test_graph.py exports each form and runs it.
OPERATORS = {
    "aten.conv2d.default": _conv2d,
    "aten.conv2d.padding": _conv2d,
    "aten.pad.default": _pad,
    "aten.linear.default": F.linear,
    "aten.relu.default": torch.relu,
    "aten.relu_.default": torch.relu,
    "aten.clamp.default": _clamp,
    "aten.clamp_min.default": torch.clamp_min,
    "aten.leaky_relu.default": F.leaky_relu,
    "aten.sigmoid.default": torch.sigmoid,
    "aten.tanh.default": torch.tanh,
    "aten.max_pool2d.default": _max_pool2d,
    "aten.max_pool2d_with_indices.default": _max_pool2d_with_indices,
    "aten.avg_pool2d.default": _avg_pool2d,
    "aten.adaptive_avg_pool2d.default": F.adaptive_avg_pool2d,
    "aten.flatten.using_ints": torch.flatten,
    "aten.view.default": torch.reshape,
    "aten.reshape.default": torch.reshape,
    "aten.contiguous.default": lambda x, memory_format=None: x.contiguous(),
    "aten.to.dtype": _to_dtype,
    "aten._assert_tensor_metadata.default": _assert_metadata,
    "aten.dropout.default": lambda x, p, train: F.dropout(x, p, bool(train)),
    "aten.dropout_.default": lambda x, p, train: F.dropout(x, p, bool(train)),
    "aten.feature_dropout.default": lambda x, p, train: torch.feature_dropout(x, p, bool(train)),
    "aten.add.Tensor": lambda a, b, alpha=1: torch.add(a, b, alpha=alpha),
    "aten.softmax.int": lambda x, dim, dtype=None: torch.softmax(x, dim),
    "aten.log_softmax.int": lambda x, dim, dtype=None: torch.log_softmax(x, dim),
    "aten.t.default": torch.t,
    "aten.numpy_T.default": lambda x: x.permute(*reversed(range(x.dim()))),
    "aten.mm.default": torch.mm,
    "aten.matmul.default": torch.matmul,
    "aten.addmm.default": lambda b, x, w, beta=1, alpha=1: torch.addmm(b, x, w, beta=beta, alpha=alpha),
    "aten.sym_size.int": _size,
    "<built-in function getitem>": _getitem,
}
KINDS = ("parameter", "buffer", "user_input")


def _conv_side(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _result_shape(target: str, args: list) -> tuple | None:
    """The shape the result of a layer, a padding, a broadcast or a matrix product will have, worked
    out before it is computed (a graph could otherwise ask the judge for a product of two long
    vectors); None where the operation cannot make anything larger than its inputs."""
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    try:
        if target.startswith("aten.conv2d.") and len(shapes) >= 2 and len(shapes[0]) == 4:
            n, _, h, w = shapes[0]
            kh, kw = shapes[1][-2:]
            stride, padding, dilation = (_pair(args[i] if len(args) > i else d)
                                         for i, d in ((3, 1), (4, 0), (5, 1)))
            if isinstance(args[4] if len(args) > 4 else 0, str):
                if args[4] == "same":  # the input's own size (PyTorch allows it with stride 1 only)
                    return (n, shapes[1][0], h, w)
                padding = (0, 0)
            if min(int(v) for v in (*stride, *dilation)) < 1:
                return None  # the operation itself refuses it
            out = (_conv_side(h, kh, int(stride[0]), int(padding[0]), int(dilation[0])),
                   _conv_side(w, kw, int(stride[1]), int(padding[1]), int(dilation[1])))
            return (n, shapes[1][0], *out) if min(out) > 0 else None
        if target == "aten.pad.default" and shapes and len(args) > 1:
            pads = [int(p) for p in args[1]]
            shape = list(shapes[0])
            for i in range(min(len(pads) // 2, len(shape))):
                shape[-1 - i] += pads[2 * i] + pads[2 * i + 1]
            return tuple(shape)
        if target == "aten.adaptive_avg_pool2d.default" and shapes and len(args) > 1:
            return (*shapes[0][:-2], *(int(v) for v in _pair(args[1])))
        if target == "aten.linear.default" and len(shapes) >= 2:
            return (*shapes[0][:-1], shapes[1][0])
        if target == "aten.add.Tensor" and len(shapes) == 2:
            return tuple(torch.broadcast_shapes(*shapes))
        if target in ("aten.mm.default", "aten.matmul.default") and len(shapes) == 2:
            a, b = shapes
            return (max(1, math.prod(b[:-2])), *a[:-1], b[-1] if len(b) > 1 else 1)
        if target == "aten.addmm.default" and len(shapes) == 3:
            return (shapes[1][0], shapes[2][-1])
    except (RuntimeError, IndexError, ValueError, TypeError, ArithmeticError):
        return None  # the operation itself reports the mismatch
    return None


def short(target: str) -> str:
    """aten.max_pool2d.default -> max_pool2d: the name a student recognises."""
    return target.split(".")[1] if target.count(".") >= 2 else target


KNOWN = {short(t) for t in OPERATORS}  # the operations the grader runs, by their short names


def _checked_arg(arg, names: set[str], where: str):
    if not isinstance(arg, dict) or len(arg) != 1:
        raise GraphRefused(f"{where}: an argument is not in the expected form")
    (kind, value), = arg.items()
    if kind == "ref":
        if value not in names:
            raise GraphRefused(f"{where}: it reads {value!r}, which no earlier node defines")
        return arg
    if kind == "list":
        if not isinstance(value, list) or len(value) > 64:
            raise GraphRefused(f"{where}: a list argument is not in the expected form")
        return {"list": [_checked_arg(v, names, where) for v in value]}
    if kind == "const":
        if value is not None and type(value) not in (int, float, bool, str):
            raise GraphRefused(f"{where}: a constant argument is not a number, a flag or a name")
        if type(value) is float and not math.isfinite(value):
            raise GraphRefused(f"{where}: a constant argument is not finite")
        return arg
    raise GraphRefused(f"{where}: an argument is not in the expected form")


def validate(graph) -> dict:
    """The graph, checked node by node against the allow-list; GraphRefused names the problem."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise GraphRefused("the exported graph is not in the expected form")
    nodes = graph["nodes"]
    if len(nodes) > MAX_NODES:
        raise GraphRefused(f"the graph has {len(nodes)} operations; a network of the described "
                           f"shape has a few dozen")
    names: set[str] = set()
    refused, forms = [], []
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or node["name"] in names:
            raise GraphRefused("the exported graph is not in the expected form")
        if node.get("op") == "input":
            if node.get("kind") not in KINDS or not isinstance(node.get("target"), str):
                raise GraphRefused("an input of the exported graph is not in the expected form")
        elif node.get("op") == "call":
            target = node.get("target")
            if not isinstance(target, str):
                raise GraphRefused("an operation of the exported graph is not in the expected form")
            if target not in OPERATORS and short(target) in KNOWN:
                forms.append(target.removeprefix("aten."))  # a known operation, another overload
            elif target not in OPERATORS:
                refused.append(short(target))
            where = f"the {short(target)} operation"
            if not isinstance(node.get("args"), list) or not isinstance(node.get("kwargs", {}), dict):
                raise GraphRefused(f"{where} is not in the expected form")
            if "out" in node.get("kwargs", {}):  # a write into a tensor of the judge's
                raise GraphRefused(f"{where} writes into another tensor (out=)")
            for a in [*node["args"], *node.get("kwargs", {}).values()]:
                _checked_arg(a, names, where)
        else:
            raise GraphRefused("the exported graph is not in the expected form")
        names.add(node["name"])
    if refused:
        shown = ", ".join(sorted(set(refused)))
        raise GraphRefused(f"the network uses {shown}, which the grader does not run")
    if forms:
        shown = ", ".join(sorted(set(forms)))
        raise GraphRefused(f"the network calls {shown} in a form the grader does not run")
    _checked_arg(graph.get("output"), names, "the graph's output")
    inputs = [n for n in nodes if n["op"] == "input" and n["kind"] == "user_input"]
    if len(inputs) != 1:
        raise GraphRefused(f"forward takes {len(inputs)} tensors; it should take one batch")
    return graph


def _refs(arg) -> list[str]:
    """The node names an argument reads."""
    if not isinstance(arg, dict):
        return []
    if "ref" in arg:
        return [arg["ref"]]
    if "list" in arg:
        return [name for a in arg["list"] for name in _refs(a)]
    return []


def live(graph: dict) -> set[str]:
    """The operations the input flows through on its way to the output: each one reads (through
    others) the user's input, and the output reads it. A layer called on a throw-away tensor, or
    whose result is thrown away, is not among them, however often forward calls it."""
    nodes = graph.get("nodes", [])
    reads = {n["name"]: [r for a in [*n.get("args", []), *n.get("kwargs", {}).values()]
                         for r in _refs(a)] for n in nodes}
    from_input = {n["name"] for n in nodes if n.get("op") == "input" and n.get("kind") == "user_input"}
    for n in nodes:  # the nodes come in an order where each reads only earlier ones
        if n.get("op") == "call" and any(r in from_input for r in reads[n["name"]]):
            from_input.add(n["name"])
    to_output, stack = set(), _refs(graph.get("output"))
    while stack:
        name = stack.pop()
        if name not in to_output:
            to_output.add(name)
            stack.extend(reads.get(name, []))
    calls = {n["name"] for n in nodes if n.get("op") == "call"}
    return from_input & to_output & calls


# torch.export's names for sizes and values it keeps symbolic: s31, u0, zuf0...
SYMBOLIC = re.compile(r"\b(?:s|u|zuf|zf|zui|zi)\d+\b")
MISMATCH = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def forward_failure(node: dict, name: str) -> str:
    """What a `forward_error` node says, in the student's terms: the call, the layer that raised
    (as the student named it), the exception, and for a linear layer given the wrong number of
    features, the two numbers."""
    shape = node.get("shape")
    item = "image" if isinstance(shape, list) and len(shape) == 4 else "input"
    batch = (f"a batch of {shape[0]} {item}s of shape {tuple(shape[1:])}"
             if isinstance(shape, list) and len(shape) > 1 and all(type(d) is int for d in shape)
             else "a batch")
    layer = node.get("layer") if isinstance(node.get("layer"), str) else ""
    kind = node.get("layer_type") if isinstance(node.get("layer_type"), str) else ""
    where = f" in self.{layer} ({kind})" if layer else ""
    message = str(node.get("message", ""))[:300]
    said = f"{name}'s forward fails on {batch}{where}: {node.get('type', 'Exception')}: {message}"
    found = MISMATCH.search(message)
    if found and isinstance(shape, list) and shape and int(found.group(1)) != shape[0]:
        said += (f". A batch of {shape[0]} became {int(found.group(1))} rows on its way to the "
                 "linear layer: a reshape fixes the batch size; flatten with torch.flatten(x, 1) "
                 "or x.view(x.size(0), -1)")
    elif found:
        got, expected = int(found.group(2)), int(found.group(3))
        said += (f". The linear layer expects {expected:,} features per {item} and receives "
                 f"{got:,}: make its in_features the size of what reaches it"
                 + (" (the flattened feature maps)" if item == "image" else ""))
    return said


class Step(NamedTuple):
    """One operation a forward ran on the input's way to the output."""
    op: str                     # its short name: conv2d, relu, max_pool2d, linear...
    low: float | None           # the smallest value of its first input
    shape_in: tuple | None      # the shape of its first input
    shape_out: tuple | None     # the shape of its result


class GraphNet(nn.Module):
    """The student's network rebuilt from its graphs: `train_graph` runs in training mode,
    `eval_graph` in evaluation mode, both over one set of parameters (the shipped initial weights)."""

    def __init__(self, train_graph: dict, eval_graph: dict, state: dict[str, torch.Tensor],
                 what: str = "a CNN"):
        super().__init__()
        self.what = what  # the kind of network, for messages: "far larger than a CNN of ..."
        self.graphs = {"train": validate(train_graph), "eval": validate(eval_graph)}
        # set to a list to record a Step for each operation a forward runs on the input's way to the
        # output, in order (`live`): what flows through the network
        self.trace: list[Step] | None = None
        self.live = {mode: live(graph) for mode, graph in self.graphs.items()}
        # each operation as a student would name it in a message: "conv layer 2", "the max_pool2d"
        self.layers = {mode: layer_names(graph) for mode, graph in self.graphs.items()}
        self.deadline: float | None = None  # time.monotonic() past which forward refuses to go on
        self.names: dict[str, str] = {}  # state name -> attribute name (a dot is not allowed)
        for mode, graph in self.graphs.items():
            for node in graph["nodes"]:
                if node["op"] != "input" or node["kind"] == "user_input":
                    continue
                target = node["target"]
                if target not in state:
                    raise GraphRefused(f"the {mode} graph reads {target!r}, which is not among the "
                                       "network's weights")
                if target in self.names:
                    continue
                attribute = f"w{len(self.names)}"
                self.names[target] = attribute
                value = state[target].detach().clone()
                if node["kind"] == "parameter":
                    if not value.is_floating_point():
                        raise GraphRefused(f"the weight {target!r} is not a floating-point tensor")
                    self.register_parameter(attribute, nn.Parameter(value))
                else:
                    self.register_buffer(attribute, value)

    @classmethod
    def from_node(cls, node, tensors: dict[str, torch.Tensor], name: str, what: str = "a CNN"):
        """The network an executor's `export` step shipped (`node`, its tensors by path); `name`
        is the student's class, for messages. GraphRefused says why it cannot be rebuilt."""
        if not isinstance(node, dict):
            raise GraphRefused(f"{name} was not exported")
        if node.get("t") == "forward_error":
            raise GraphRefused(forward_failure(node, name))
        if node.get("t") == "export_error":
            message = str(node.get("message", ""))
            if "Constraints violated (batch)" in message:
                raise GraphRefused(f"{name}'s forward works for one batch size only: flatten with "
                                   "torch.flatten(x, 1) or x.view(x.size(0), -1), never a fixed "
                                   "batch size")
            said = SYMBOLIC.sub("N", f"{node.get('type', 'Exception')}: {message}")
            raise GraphRefused(f"the grader could not turn {name} into a graph of PyTorch "
                               f"operations ({said}); keep forward to layers and tensor "
                               "operations, with no Python branch on a tensor's values")
        if node.get("t") != "graph" or not isinstance(node.get("state"), dict):
            raise GraphRefused(f"the exported {name} is not in the expected form")
        state = {k: tensors[v] for k, v in node["state"].items()
                 if isinstance(k, str) and isinstance(v, str) and v in tensors}
        return cls(node.get("train"), node.get("eval"), state, what)

    def _refuse_if_too_large(self, node: dict, args: list, mode: str, rows: int) -> None:
        """GraphRefused, in the student's terms, where the operation's result would hold more than
        MAX_ELEMENTS numbers: a layer's output for the judge's batch of `rows` images."""
        shape = _result_shape(node["target"], args)
        if shape is None or math.prod(shape) <= MAX_ELEMENTS:
            return
        per_row = math.prod(shape) // rows
        item = "image" if len(shape) == 4 else "input"
        if len(shape) == 4:
            made = f"{shape[1]:,} feature maps of {shape[2]}x{shape[3]} ({per_row:,} numbers) per image"
        else:
            made = f"{per_row:,} numbers per input"
        raise TooLarge(f"{self.layers[mode][node['name']]} would make {made}, far larger than "
                       f"{self.what} of the described shape needs; the grader computes at most "
                       f"{MAX_ELEMENTS // rows:,} numbers per {item} in one layer: use fewer "
                       "channels or units")

    def forward(self, x):
        """The graph of the module's mode on the batch `x`. Evaluated without gradients, a batch
        whose layers would not fit MAX_ELEMENTS is run in halves: the judge can score any network
        it could train, in whatever batches it scores (training's own batch is the binding size)."""
        traced = len(self.trace) if self.trace is not None else 0
        try:
            return self._forward(x)
        except TooLarge:
            rows = int(x.shape[0]) if x.dim() else 1
            if self.training or torch.is_grad_enabled() or rows < 2:
                raise
        if self.trace is not None:
            del self.trace[traced:]  # the halves trace the operations again
        half = rows // 2
        first = self.forward(x[:half])
        kept, self.trace = self.trace, None  # one half's trace says what flows through
        try:
            second = self.forward(x[half:])
        finally:
            self.trace = kept
        if first.dim() == 0 or second.dim() == 0 or (len(first), len(second)) != (half, rows - half) \
                or first.shape[1:] != second.shape[1:]:
            raise GraphRefused("forward does not return one row of scores per input")
        return torch.cat([first, second])

    def _forward(self, x):
        mode = "train" if self.training else "eval"
        graph, on_path = self.graphs[mode], self.live[mode]
        values: dict[str, object] = {}

        def arg(a):
            (kind, value), = a.items()
            if kind == "ref":
                return values[value]
            if kind == "list":
                return [arg(v) for v in value]
            return value

        for node in graph["nodes"]:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise GraphRefused("training it took longer than the grader allows")
            if node["op"] == "input":
                # a copy: no operation may reach the judge's own images through its input
                values[node["name"]] = x.clone() if node["kind"] == "user_input" else \
                    getattr(self, self.names[node["target"]])
                continue
            fn = OPERATORS[node["target"]]
            args = [arg(a) for a in node["args"]]
            self._refuse_if_too_large(node, args, mode, rows=max(1, int(x.shape[0])) if x.dim() else 1)
            try:
                values[node["name"]] = fn(*args, **{k: arg(v) for k, v in node.get("kwargs", {}).items()})
            except (RuntimeError, TypeError, ValueError, IndexError) as exc:
                raise GraphRefused(f"{self.layers[mode][node['name']]} failed when the grader ran "
                                   f"it: {(str(exc).strip().splitlines() or [''])[0]}") from None
            if self.trace is not None and node["name"] in on_path:
                self.trace.append(_step(op_name(node["target"], args), args, values[node["name"]]))
        out = arg(graph["output"])
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise GraphRefused("forward does not return one tensor")
        return out


def _step(op: str, args: list, result) -> Step:
    first = args[0] if args and isinstance(args[0], torch.Tensor) else None
    low = float(first.detach().min()) if first is not None and first.numel() else None
    if isinstance(result, tuple) and result and isinstance(result[0], torch.Tensor):
        result = result[0]  # max-pooling that also returns its indices
    return Step(op, low, tuple(first.shape) if first is not None else None,
                tuple(result.shape) if isinstance(result, torch.Tensor) else None)


# Forms of one operation under the name a check looks for: in place or not, with or without indices
SAME_AS = {"relu_": "relu", "dropout_": "dropout", "max_pool2d_with_indices": "max_pool2d",
           "numpy_T": "t"}


def op_name(target: str, args: list | None = None) -> str:
    """What an operation is, by the name a check looks for: `short`, with in-place forms and
    aliases folded (relu_ is relu), and x.clamp(min=0) named relu, which is what it computes."""
    name = short(target)
    if target == "<built-in function getitem>":
        return "getitem"
    if name in ("clamp", "clamp_min") and args is not None and len(args) >= 2 \
            and not isinstance(args[1], torch.Tensor) and args[1] == 0 \
            and (name == "clamp_min" or len(args) < 3 or args[2] is None):
        return "relu"
    return SAME_AS.get(name, name)


LAYER_KINDS = {"conv2d": "conv layer", "linear": "linear layer"}


def layer_names(graph: dict) -> dict[str, str]:
    """Each operation's name for a student: "conv layer 2" (the second convolution forward runs),
    "linear layer 1", or "the max_pool2d operation"; never the graph's own node names."""
    seen: dict[str, int] = {}
    names = {}
    for node in graph.get("nodes", []):
        if node.get("op") != "call":
            continue
        op = op_name(node["target"])
        if op in LAYER_KINDS:
            seen[op] = seen.get(op, 0) + 1
            names[node["name"]] = f"{LAYER_KINDS[op]} {seen[op]} ({op})"
        else:
            names[node["name"]] = f"the {op} operation"
    return names


def operators(graph: dict) -> list[str]:
    """The graph's operations in order, by their short names (conv2d, relu, max_pool2d...)."""
    return [short(n["target"]) for n in graph.get("nodes", []) if n.get("op") == "call"]
