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
import time
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

MAX_NODES = 2000  # the course's networks have about 20; more is not a network to train
MAX_ELEMENTS = 16_000_000  # per result of a layer, a broadcast or a product (64 MB of float32)


class GraphRefused(Exception):
    """The graph cannot be rebuilt: the message says why, for the student's feedback."""


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _max_pool2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    # aten's empty stride means "the kernel size", as nn.MaxPool2d's default does
    return F.max_pool2d(x, _pair(kernel_size), _pair(stride) if stride else None, _pair(padding),
                        _pair(dilation), ceil_mode)


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    return F.avg_pool2d(x, _pair(kernel_size), _pair(stride) if stride else None, _pair(padding),
                        ceil_mode, count_include_pad, divisor_override)


def _size(x, dim):
    return int(x.shape[dim])


# What the course's networks are made of (a CNN, a small MLP for XOR), and what their common bugs use
# (a softmax at the end, average pooling, a sigmoid), so that a buggy network is still trained and
# scored rather than refused.
OPERATORS = {
    "aten.conv2d.default": lambda x, w, b=None, stride=1, padding=0, dilation=1, groups=1:
        F.conv2d(x, w, b, _pair(stride), padding if isinstance(padding, str) else _pair(padding),
                 _pair(dilation), groups),
    "aten.linear.default": F.linear,
    "aten.relu.default": torch.relu,
    "aten.relu_.default": torch.relu,
    "aten.leaky_relu.default": F.leaky_relu,
    "aten.sigmoid.default": torch.sigmoid,
    "aten.tanh.default": torch.tanh,
    "aten.max_pool2d.default": _max_pool2d,
    "aten.avg_pool2d.default": _avg_pool2d,
    "aten.adaptive_avg_pool2d.default": F.adaptive_avg_pool2d,
    "aten.flatten.using_ints": torch.flatten,
    "aten.view.default": torch.reshape,
    "aten.reshape.default": torch.reshape,
    "aten.contiguous.default": lambda x, memory_format=None: x.contiguous(),
    "aten.dropout.default": lambda x, p, train: F.dropout(x, p, bool(train)),
    "aten.dropout_.default": lambda x, p, train: F.dropout(x, p, bool(train)),
    "aten.feature_dropout.default": lambda x, p, train: torch.feature_dropout(x, p, bool(train)),
    "aten.add.Tensor": lambda a, b, alpha=1: torch.add(a, b, alpha=alpha),
    "aten.softmax.int": lambda x, dim, dtype=None: torch.softmax(x, dim),
    "aten.log_softmax.int": lambda x, dim, dtype=None: torch.log_softmax(x, dim),
    "aten.t.default": torch.t,
    "aten.mm.default": torch.mm,
    "aten.matmul.default": torch.matmul,
    "aten.addmm.default": lambda b, x, w, beta=1, alpha=1: torch.addmm(b, x, w, beta=beta, alpha=alpha),
    "aten.sym_size.int": _size,
}
KINDS = ("parameter", "buffer", "user_input")


def _result_elements(target: str, args: list) -> int:
    """How many elements the result of a broadcast or a matrix product will have, before it is
    computed (a graph could otherwise ask the judge for a product of two long vectors)."""
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    try:
        if target == "aten.conv2d.default" and len(shapes) >= 2 and len(shapes[0]) == 4:
            n, _, h, w = shapes[0]
            pad = args[4] if len(args) > 4 and not isinstance(args[4], str) else 0
            ph, pw = _pair(pad) if isinstance(pad, (int, list, tuple)) else (h, w)
            return n * shapes[1][0] * (h + 2 * ph) * (w + 2 * pw)
        if target == "aten.adaptive_avg_pool2d.default" and shapes and len(args) > 1:
            oh, ow = _pair(args[1])
            return math.prod(shapes[0][:-2]) * int(oh) * int(ow)
        if target == "aten.linear.default" and len(shapes) >= 2:
            return math.prod(shapes[0][:-1]) * shapes[1][0]
        if target == "aten.add.Tensor" and len(shapes) == 2:
            return math.prod(torch.broadcast_shapes(*shapes))
        if target in ("aten.mm.default", "aten.matmul.default") and len(shapes) == 2:
            a, b = shapes
            return math.prod(a[:-1]) * (b[-1] if len(b) > 1 else 1) * max(1, math.prod(b[:-2]))
        if target == "aten.addmm.default" and len(shapes) == 3:
            return shapes[1][0] * shapes[2][-1]
    except (RuntimeError, IndexError, ValueError, TypeError):
        return 0  # the operation itself reports the mismatch
    return 0


def short(target: str) -> str:
    """aten.max_pool2d.default -> max_pool2d: the name a student recognises."""
    return target.split(".")[1] if target.count(".") >= 2 else target


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
    refused = []
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
            if target not in OPERATORS:
                refused.append(short(target))
            where = f"the operation {short(target)} ({node['name']})"
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
        if node.get("t") == "export_error":
            said = f"{node.get('type', 'Exception')}: {node.get('message', '')}"
            raise GraphRefused(f"the grader could not turn {name} into a graph of PyTorch "
                               f"operations ({said}); keep forward to layers and tensor "
                               "operations, with no Python branch on a tensor's values")
        if node.get("t") != "graph" or not isinstance(node.get("state"), dict):
            raise GraphRefused(f"the exported {name} is not in the expected form")
        state = {k: tensors[v] for k, v in node["state"].items()
                 if isinstance(k, str) and isinstance(v, str) and v in tensors}
        return cls(node.get("train"), node.get("eval"), state, what)

    def forward(self, x):
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
            if _result_elements(node["target"], args) > MAX_ELEMENTS:
                raise GraphRefused(f"the operation {short(node['target'])} ({node['name']}) would "
                                   f"make a tensor far larger than {self.what} of the described "
                                   "shape has (fewer channels or units?)")
            try:
                values[node["name"]] = fn(*args, **{k: arg(v) for k, v in node.get("kwargs", {}).items()})
            except (RuntimeError, TypeError, ValueError, IndexError) as exc:
                raise GraphRefused(f"the operation {short(node['target'])} ({node['name']}) failed "
                                   f"when the grader ran it: {exc}") from None
            if self.trace is not None and node["name"] in on_path:
                self.trace.append(_step(short(node["target"]), args, values[node["name"]]))
        out = arg(graph["output"])
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise GraphRefused("forward does not return one tensor")
        return out


def _step(op: str, args: list, result) -> Step:
    first = args[0] if args and isinstance(args[0], torch.Tensor) else None
    low = float(first.detach().min()) if first is not None and first.numel() else None
    return Step(op, low, tuple(first.shape) if first is not None else None,
                tuple(result.shape) if isinstance(result, torch.Tensor) else None)


def operators(graph: dict) -> list[str]:
    """The graph's operations in order, by their short names (conv2d, relu, max_pool2d...)."""
    return [short(n["target"]) for n in graph.get("nodes", []) if n.get("op") == "call"]
