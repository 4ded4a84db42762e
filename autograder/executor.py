"""The executor: the only assignment-facing code that runs beside the student's module.

A probe reaches the sandbox as a *recipe* (built by the trusted side from the assignment's
probes.py with autograder/recipe.py): a list of steps that say which of the student's functions to
call, on which of the judge's inputs, and which results to ship back. This file interprets those
steps and *ships values*, nothing else: a returned tensor goes out through safetensors with its
dtype and shape, a Python value as itself with its exact type's name, an exception as its type and
message. It measures nothing and decides nothing. Every report a check rests on (a type, a dtype, a
shape, finiteness, a count of parameters, a layer order) is derived by the judge from these bytes.

That is the point of the split. Student code shares this process, so it can rewrite anything here,
but a rewritten executor can only send other values, and the judge grades the values it receives:
sending the right ones is the same as computing them. Only what no value carries (memory shared
with an input, an input changed in place, grad mode, the device a tensor lives on) is a report of
this process; the checks that rest on it are marked `reported: true` in grading_config.yaml and
capped (README, Security model).

Like harness.py and confine.py it is copied into the sandbox's work folder and imports nothing of
the `autograder` package. The trusted side also imports it (`check` without a sandbox, the otter
bridge in the student's own process).

A recipe is {"steps": [STEP...], "cuda": true | false | null}. "cuda" pretends a GPU is (or is not)
available *before* the student's module is imported (`before_import`). Values live in numbered slots.

    ARG  = {"slot": n}                  a value an earlier step made
         | {"input": key}               a fresh copy of one of the judge's input tensors
         | {"numpy": key}               ... as a numpy array
         | {"const": json}              a number, string, bool or None
         | {"list": [ARG]} | {"tuple": [ARG]} | {"dict": [[str, ARG]]}
         | {"student": name}            an attribute of the student's module
         | {"lib": "torch.optim.SGD"}   a name under torch, numpy, builtins or math
         | {"attr": [ARG, name]}        getattr
         | {"item": [ARG, ARG]}         indexing
         | {"slice": [ARG, ARG, ARG]}   slice(start, stop, step)
         | {"device": name}             torch.device(name)
    STEP = {"do": "call", "fn": ARG, "args": [ARG], "kwargs": {str: ARG}, "into": n}
         | {"do": "let", "value": ARG, "into": n}     hold one object for later steps
         | {"do": "ship", "value": ARG, "as": key}
         | {"do": "set", "target": ARG, "index": [int], "value": number}   target[index] = value
         | {"do": "seed", "seed": int}                torch's, numpy's and random's global seeds
         | {"do": "no_grad", "steps": [STEP]}
         | {"do": "catch", "steps": [STEP], "into": n}    slot n: the exception raised, or None
         | {"do": "take", "from": ARG, "limit": int, "into": n}   [x[i] for i < min(len(x), limit)]
         | {"do": "watch", "module": ARG, "each": bool, "keep": int, "limit": int, "into": n}
         | {"do": "export", "module": ARG, "example": [int], "as": key}

`watch` puts a forward hook on a module (or, with "each", on every module an iterable holds) and
records each call: the module's training flag, whether grad mode was on, the shapes going in, and a
one-number output; the first `keep` calls also keep their first input and their output. `export`
turns a module into two graphs of standard operators (training and evaluation mode, any batch size)
with its initial weights (autograder/graph.py reads them).

A shipped value becomes a NODE (JSON) and its tensors are stored under their path:

    {"t": "none"} | {"t": "bool" | "int" | "float" | "str", "v": value}
    {"t": "tensor", "type", "dtype", "shape", "device", "requires_grad", "key"?, "grad"?: NODE}
    {"t": "ndarray", "dtype", "shape", "key"?}       {"t": "numpy", "type", "v"}  (a numpy scalar)
    {"t": "tuple" | "list", "type", "len", "items": [NODE]}
    {"t": "dict", "type", "len", "items": [[NODE, NODE]]}
    {"t": "device" | "dtype", "v": str}
    {"t": "module", "type", "training", "children": [[name, NODE]], "params": [[name, NODE]],
     "buffers": [[name, NODE]]}
    {"t": "exception", "type", "mro": [str], "message": str}
    {"t": "graph", "train": GRAPH, "eval": GRAPH, "state": {name: key}} | {"t": "export_error", ...}
    {"t": "object", "type"} | {"t": "unreadable", "type", "why"} | {"t": "cut"} (past the caps)
"""
from __future__ import annotations

import random
import sys

MAX_ITEMS = 4096    # per list, tuple or dict shipped (the bundled probes ship at most a few hundred)
MAX_DEPTH = 12
MAX_TEXT = 2000
MAX_TENSORS = 1000  # per probe (the reader refuses more than 1024)
LIBS = ("torch", "numpy", "builtins", "math")


class RecipeError(Exception):
    """A recipe the executor cannot follow: a fault of the grader's plan, not of the student."""


def _qualname(x) -> str:
    t = type(x)
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"[:200]


# --- before the import: the world the student's module is loaded into ------------------------------

def before_import(recipe: dict) -> None:
    """Pretend a GPU is (or is not) available, before the student's module exists, so that a
    device chosen once at import follows the pretence like one chosen at call time."""
    cuda = recipe.get("cuda")
    if cuda is None:
        return
    import torch

    flag = bool(cuda)
    torch.cuda.is_available = lambda: flag
    torch.cuda.device_count = lambda: int(flag)


# --- running the steps ------------------------------------------------------------------------------

class _Run:
    def __init__(self, student, inputs: dict, device: str):
        self.student = student
        self.inputs = inputs
        self.device = device
        self.slots: dict[int, object] = {}
        self.calls: dict[int, str] = {}  # what each call step wrote, for a message: Network([3, 5, 2])
        self.data: dict[str, dict] = {}
        self.tensors: dict = {}

    def arg(self, a):
        if not isinstance(a, dict) or len(a) != 1:
            raise RecipeError(f"not an argument: {a!r}")
        (kind, v), = a.items()
        if kind == "slot":
            return self.slots[v]
        if kind == "input":
            return self.inputs[v].clone()
        if kind == "numpy":
            return self.inputs[v].numpy().copy()
        if kind == "const":
            return v
        if kind == "list":
            return [self.arg(x) for x in v]
        if kind == "tuple":
            return tuple(self.arg(x) for x in v)
        if kind == "dict":
            return {k: self.arg(x) for k, x in v}
        if kind == "student":
            return getattr(self.student, v)
        if kind == "lib":
            return _lib(v)
        if kind == "attr":
            return getattr(self.arg(v[0]), v[1])
        if kind == "item":
            return self.arg(v[0])[self.arg(v[1])]
        if kind == "slice":
            return slice(*(self.arg(x) for x in v))
        if kind == "device":
            import torch
            return torch.device(v)
        raise RecipeError(f"unknown argument kind {kind!r}")

    def steps(self, steps: list) -> None:
        for step in steps:
            getattr(self, "do_" + step["do"])(step)

    def do_call(self, s):
        fn = self.arg(s["fn"])
        args = [self.arg(a) for a in s.get("args", [])]
        kwargs = {k: self.arg(a) for k, a in s.get("kwargs", {}).items()}
        call = self.said(s)
        try:
            self.slots[s["into"]] = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - said by the caller: which call raised it
            try:
                exc.autograder_call = call  # harness.describe names the call in the reason
            except Exception:  # noqa: BLE001, S110 - an exception that refuses attributes
                pass
            raise
        self.calls[s["into"]] = call

    def said(self, s) -> str:
        """The call a step makes, as a student would write it: Network([10, 1]), model(a tensor)."""
        def text(a) -> str:
            (kind, v), = a.items() if isinstance(a, dict) and len(a) == 1 else (("?", None),)
            if kind == "const":
                return repr(v)
            if kind in ("list", "tuple"):
                inner = ", ".join(text(x) for x in v)
                return f"[{inner}]" if kind == "list" else f"({inner}{',' if len(v) == 1 else ''})"
            if kind in ("student", "lib"):
                return str(v).rsplit(".", 1)[-1]
            if kind == "attr":
                return f"{text(v[0])}.{v[1]}"
            if kind == "slot":
                return self.calls.get(v, "…")
            return {"input": "a tensor", "numpy": "an array"}.get(kind, "…")
        args = [text(a) for a in s.get("args", [])]
        args += [f"{k}={text(a)}" for k, a in s.get("kwargs", {}).items()]
        said = f"{text(s['fn'])}({', '.join(args)})"
        return said if len(said) <= 120 else said[:116] + " ...)"

    def do_let(self, s):
        self.slots[s["into"]] = self.arg(s["value"])
        value = s["value"]
        if isinstance(value, dict) and "slot" in value and value["slot"] in self.calls:
            self.calls[s["into"]] = self.calls[value["slot"]]

    def do_ship(self, s):
        self.data[s["as"]] = encode(self.arg(s["value"]), s["as"], self.tensors)

    def do_set(self, s):
        self.arg(s["target"])[tuple(s["index"])] = s["value"]

    def do_seed(self, s):
        seed(s["seed"])

    def do_no_grad(self, s):
        import torch

        with torch.no_grad():
            self.steps(s["steps"])

    def do_catch(self, s):
        try:
            self.steps(s["steps"])
            self.slots[s["into"]] = None
        except Exception as exc:  # noqa: BLE001 - which exception it was is the point
            self.slots[s["into"]] = exc

    def do_take(self, s):
        source = self.arg(s["from"])
        n = min(len(source), int(s["limit"]))
        self.slots[s["into"]] = [source[i] for i in range(n)]

    def do_watch(self, s):
        self.slots[s["into"]] = _watch(self.arg(s["module"]), bool(s.get("each")),
                                       int(s.get("keep", 0)), int(s.get("limit", 1000)))

    def do_export(self, s):
        self.data[s["as"]] = _export(self.arg(s["module"]), s["example"], s["as"], self.tensors)


def _lib(dotted: str):
    import importlib

    root, _, rest = dotted.partition(".")
    if root not in LIBS:
        raise RecipeError(f"{dotted}: only names under {', '.join(LIBS)} can be called")
    obj = importlib.import_module(root)
    for part in rest.split(".") if rest else ():
        obj = getattr(obj, part)
    return obj


def seed(value: int) -> None:
    random.seed(value)
    import numpy as np
    import torch

    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def run(recipe: dict, student, inputs: dict, device: str) -> tuple[dict, dict]:
    """Follow the recipe against `student` (the imported module). Returns (data, tensors): each
    shipped key's NODE, and every tensor those nodes name. A step that raises ends the probe: the
    caller reports the exception as the student's (a check that expects one uses `catch`)."""
    state = _Run(student, inputs, device)
    state.steps(recipe["steps"])
    return state.data, state.tensors


# --- watching a module's calls --------------------------------------------------------------------

def _shape(x):
    import torch

    return list(x.shape) if isinstance(x, torch.Tensor) else _qualname(x)


def _watch(target, each: bool, keep: int, limit: int) -> list:
    import torch
    from torch import nn

    def hook_on(module, records):
        def record(mod, args, out):
            if len(records) >= limit:
                return
            entry = {"training": bool(mod.training), "grad_enabled": torch.is_grad_enabled(),
                     "args": [_shape(a) for a in args[:4]]}
            if isinstance(out, torch.Tensor):
                entry["out_shape"] = list(out.shape)
                if out.numel() == 1:
                    entry["out_value"] = float(out.detach().reshape(()))
            if len(records) < keep and args and isinstance(args[0], torch.Tensor) \
                    and isinstance(out, torch.Tensor):
                entry["input"] = args[0].detach().clone()
                entry["output"] = out.detach().clone()
            records.append(entry)
        module.register_forward_hook(record)

    if not each:
        records: list = []
        hook_on(target, records)
        return records
    per_module: list = []
    for module in list(target):
        records = []
        if isinstance(module, nn.Module):
            hook_on(module, records)
        per_module.append(records)
    return per_module


# --- exporting a module as graphs of standard operators ------------------------------------------

def _graph_arg(arg):
    import torch

    if isinstance(arg, torch.fx.Node):
        return {"ref": arg.name}
    if isinstance(arg, (list, tuple)):
        return {"list": [_graph_arg(a) for a in arg]}
    if arg is None or type(arg) in (int, float, bool, str):
        return {"const": arg}
    return {"const": str(arg)}  # a dtype or a device: the judge refuses what it does not expect


def _graph(program) -> dict:
    kinds = {spec.arg.name: (spec.kind.name.lower(), spec.target or spec.arg.name)
             for spec in program.graph_signature.input_specs}
    nodes, output = [], None
    for node in program.graph.nodes:
        if node.op == "placeholder":
            kind, target = kinds.get(node.name, ("user_input", node.name))
            nodes.append({"name": node.name, "op": "input", "kind": kind, "target": target})
        elif node.op == "call_function":
            nodes.append({"name": node.name, "op": "call", "target": str(node.target),
                          "args": [_graph_arg(a) for a in node.args],
                          "kwargs": {k: _graph_arg(v) for k, v in node.kwargs.items()}})
        elif node.op == "output":
            output = _graph_arg(node.args[0])
    return {"nodes": nodes, "output": output}


def _forward_error(module, example: list):
    """Where a plain forward pass on a batch of zeros fails: the exception and the name of the
    innermost submodule that was running ("fc1"), so the judge can name the student's layer and the
    concrete shapes (torch.export's own message speaks of symbolic sizes). None if it runs."""
    import torch

    running: list[str] = []
    names = {id(m): name for name, m in module.named_modules()}

    def enter(mod, _):
        running.append(names.get(id(mod), ""))

    def leave(*_):
        if running:
            running.pop()  # a hook that returned a value would replace the module's output

    handles = []
    for m in module.modules():
        handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
    try:
        with torch.no_grad():
            module(torch.zeros(example))
    except Exception as exc:  # noqa: BLE001 - the student's forward: say what stopped it, and where
        layer = running[-1] if running else ""
        return {"t": "forward_error", "type": type(exc).__name__,
                "message": (_text(exc).strip().splitlines() or [""])[0][:300], "layer": layer,
                "layer_type": type(dict(module.named_modules()).get(layer)).__name__ if layer else ""}
    finally:
        for h in handles:
            h.remove()
    return None


def _export(module, example: list, key: str, tensors: dict) -> dict:
    """The module in training and in evaluation mode, as graphs with a batch dimension of any size
    (from 2 up), and its initial weights. Where export fails, a plain forward pass says why, if it
    fails too (a shape mismatch reads better there than in export's symbolic sizes)."""
    import torch

    shape = [int(d) for d in example]
    batch = torch.export.Dim("batch", min=2, max=4096)
    graphs, state = {}, {}
    for mode in ("train", "eval"):
        getattr(module, mode)()
        try:
            program = torch.export.export(module, (torch.zeros(shape),),
                                          dynamic_shapes=({0: batch},))
        except Exception as exc:  # noqa: BLE001 - the student's forward: say what stopped it
            plain = _forward_error(module, shape)
            if plain is not None:
                return {**plain, "mode": mode, "shape": shape}
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            return {"t": "export_error", "mode": mode, "type": type(exc).__name__, "message": first}
        graphs[mode] = _graph(program)
        if mode == "train":
            state = {k: v for k, v in program.state_dict.items()}
            state.update({k: v for k, v in program.constants.items() if isinstance(v, torch.Tensor)})
    names = {}
    for name, value in state.items():
        path = f"{key}/{name}"
        tensors[path] = value.detach().to("cpu").clone().contiguous()
        names[name] = path
    return {"t": "graph", "train": graphs["train"], "eval": graphs["eval"], "state": names}


# --- shipping values --------------------------------------------------------------------------------

def _text(x) -> str:
    try:
        text = str(x)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return "<message unavailable>"
    return text[:MAX_TEXT]


def _tensor(value, path: str, tensors: dict, depth: int) -> dict:
    node = {"t": "tensor", "type": _qualname(value), "dtype": str(value.dtype).removeprefix("torch."),
            "shape": [int(d) for d in value.shape], "device": value.device.type,
            "requires_grad": bool(value.requires_grad)}
    if value.device.type != "meta" and len(tensors) < MAX_TENSORS:
        tensors[path] = value.detach().to("cpu").clone().contiguous()
        node["key"] = path
    if value.is_leaf and value.grad is not None:
        node["grad"] = encode(value.grad, path + "#grad", tensors, depth + 1)
    return node


def _ndarray(value, path: str, tensors: dict) -> dict:
    import numpy as np
    import torch

    node = {"t": "ndarray", "dtype": str(value.dtype), "shape": [int(d) for d in value.shape]}
    if value.dtype.kind in "biuf" and value.dtype.itemsize <= 8 and len(tensors) < MAX_TENSORS:
        try:
            tensors[path] = torch.from_numpy(np.array(value, copy=True, order="C"))
            node["key"] = path
        except (TypeError, ValueError):
            pass  # a dtype torch has no match for: the judge sees the dtype's name
    return node


def _items(seq, path: str, tensors: dict, depth: int) -> list:
    return [encode(v, f"{path}/{i}", tensors, depth + 1) for i, v in enumerate(seq[:MAX_ITEMS])]


def encode(value, path: str, tensors: dict, depth: int = 0) -> dict:
    """One value as a NODE, its tensors added to `tensors` under `path`. Never raises: what cannot
    be read is shipped as unreadable, with its type."""
    try:
        return _encode(value, path, tensors, depth)
    except Exception as exc:  # noqa: BLE001 - a value that breaks on being read is data too
        return {"t": "unreadable", "type": _qualname(value), "why": _text(exc)[:300]}


def _encode(value, path: str, tensors: dict, depth: int) -> dict:
    if depth > MAX_DEPTH:
        return {"t": "cut"}
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind in (bool, float):
        return {"t": kind.__name__, "v": value}
    if kind is int:
        return {"t": "int", "v": value if abs(value) < 2**63 else None}
    if kind is str:
        return {"t": "str", "v": value[:MAX_TEXT], "len": len(value)}
    module = getattr(kind, "__module__", "") or ""
    if module.split(".")[0] == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            return _ndarray(value, path, tensors)
        if isinstance(value, np.generic):
            item = value.item()
            plain = item if type(item) in (bool, int, float) else None
            if type(plain) is int and abs(plain) >= 2**63:
                plain = None
            return {"t": "numpy", "type": f"numpy.{kind.__name__}", "v": plain}
    if module.split(".")[0] == "torch":
        import torch

        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value)}
    if "torch" in sys.modules:  # no tensor or module can exist before torch is imported
        import torch
        from torch import nn

        if isinstance(value, torch.Tensor):
            return _tensor(value, path, tensors, depth)
        if isinstance(value, nn.Module):
            return _module(value, path, tensors, depth)
    if isinstance(value, (tuple, list)):
        base = tuple if isinstance(value, tuple) else list
        items = base.__getitem__(value, slice(0, MAX_ITEMS))
        return {"t": base.__name__, "type": _qualname(value), "len": base.__len__(value),
                "items": _items(items, path, tensors, depth)}
    if isinstance(value, dict):
        pairs = list(dict.items(value))[:MAX_ITEMS]
        return {"t": "dict", "type": _qualname(value), "len": dict.__len__(value),
                "items": [[encode(k, f"{path}/k{i}", tensors, depth + 1),
                           encode(v, f"{path}/{i}", tensors, depth + 1)]
                          for i, (k, v) in enumerate(pairs)]}
    if isinstance(value, BaseException):
        return {"t": "exception", "type": _qualname(value),
                "mro": [f"{c.__module__}.{c.__qualname__}" for c in kind.__mro__][:20],
                "message": _text(value)}
    return {"t": "object", "type": _qualname(value)}


def _module(value, path: str, tensors: dict, depth: int) -> dict:
    """A module as its tree: each submodule's type and own parameters and buffers (read from the
    module's own tables, so no student property or hook runs)."""
    own = vars(value)
    children = own.get("_modules", {}) or {}
    params = own.get("_parameters", {}) or {}
    buffers = own.get("_buffers", {}) or {}
    return {"t": "module", "type": _qualname(value), "training": bool(own.get("training", False)),
            "children": [[str(k), encode(v, f"{path}/{k}", tensors, depth + 1)]
                         for k, v in list(children.items())[:MAX_ITEMS]],
            "params": [[str(k), encode(v, f"{path}/{k}", tensors, depth + 1)]
                       for k, v in list(params.items())[:MAX_ITEMS]],
            "buffers": [[str(k), encode(v, f"{path}/{k}", tensors, depth + 1)]
                        for k, v in list(buffers.items())[:MAX_ITEMS]]}
