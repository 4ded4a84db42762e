"""What a hidden test reads: the values one probe shipped, validated before use.

A probe ships values (autograder/executor.py): each under a key, as a NODE that says what the value
is (a tensor and its dtype and shape, a Python float, a tuple of three things, an exception...),
with its tensors through safetensors. Every report a check needs is derived here, by the judge, from
those bytes: a value's type, a tensor's dtype and shape (from the tensor itself), finiteness, the
length of a tuple. Paths name values inside a shipped one: `pair/0` is the first item of the tuple
shipped as `pair`, `net/layers/0/weight` a parameter of a submodule.

Every accessor checks the exact kind it needs and turns anything else into a failed test with a
reason, so garbage from the sandbox costs the student the test it touches and never crashes the
judge.
"""
from __future__ import annotations

import pytest
import torch

from autograder.probe import ProbeOutcome

SCALARS = {"bool": bool, "int": int, "float": float, "str": str}
# the tensor dtypes a 0-d tensor may hold to be read as a Python int or float (Evidence.as_python)
INTEGERS = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
FLOATS = {torch.float16, torch.bfloat16, torch.float32, torch.float64}


class Charged(pytest.fail.Exception):
    """A failed check whose cause other checks may share (a probe that crashed, a network that
    cannot be rebuilt): the judge charges the cause to the first of them in the config's order, and
    grades the others "not graded: depends on" it (judge.attribute)."""

    def __init__(self, message: str, cause: str):
        super().__init__(message, pytrace=False)
        self.cause = cause


class NotGraded(pytest.fail.Exception):
    """A check that cannot be graded because a check it depends on fails: `on` names them (test
    names), most likely first; the first that failed is charged with the cause. Its points are
    lost, and the feedback names the cause once, under that check."""

    def __init__(self, message: str, on: tuple[str, ...], cause: str | None = None):
        super().__init__(message, pytrace=False)
        self.on = on
        self.cause = cause  # where none of `on` fails: the cause it is charged as (see Charged)


def fail(message: str, cause: str | None = None):
    """Fail the current test with `message` as the student's feedback (no traceback). `cause`:
    what went wrong, where other checks may fail for the same reason (see Charged)."""
    if cause:
        raise Charged(message, cause)
    pytest.fail(message, pytrace=False)


def check(condition: bool, message: str, cause: str | None = None) -> None:
    if not condition:
        fail(message, cause)


def depends(on: str | tuple[str, ...], message: str, cause: str | None = None):
    """This check cannot be graded while the check `on` (a test name, or several: the first of them
    that fails) fails; `message` says why, for the case where they all pass after all (then this
    check is charged with it, as `cause` where other checks may share it)."""
    raise NotGraded(message, (on,) if isinstance(on, str) else tuple(on), cause)


# What each kind of node is (its tag says how the value was shipped), and the names of the types a
# node of that kind may claim to be. A name from PyTorch, numpy or Python itself that does not fit
# the tag (a list claiming to be a tuple, a tensor claiming to be an int) is a report the value
# itself contradicts: the tag wins. A student's own subclass keeps its name.
BASES = {"tuple": "builtins.tuple", "list": "builtins.list", "dict": "builtins.dict",
         "tensor": "torch.Tensor", "module": "torch.nn.modules.module.Module",
         "exception": "builtins.Exception", "object": "builtins.object"}
FITTING = {"tuple": {"builtins.tuple", "torch.Size"}, "list": {"builtins.list"},
           "dict": {"builtins.dict", "collections.OrderedDict"},
           "tensor": {"torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.parameter.Buffer"}}
LIBRARIES = ("builtins.", "torch.", "numpy.", "collections.")


def typename(node) -> str:
    """A node's type, fully qualified, as `type(x).__module__ + "." + __qualname__` would say it in
    the student's process ("builtins.float", "torch.Tensor", "numpy.int64", "torch.Size")."""
    if not isinstance(node, dict):
        return "?"
    t = node.get("t")
    if t == "none":
        return "builtins.NoneType"
    if t in SCALARS:
        return f"builtins.{t}"
    if t == "device":
        return "torch.device"
    if t == "dtype":
        return "torch.dtype"
    if t == "ndarray":
        return "numpy.ndarray"
    name = node.get("type")
    if not isinstance(name, str):
        return BASES.get(t, str(t))
    if t in FITTING and name not in FITTING[t] and name.startswith(LIBRARIES):
        return BASES[t]
    if t == "numpy" and not name.startswith("numpy."):
        return "numpy.generic"
    return name


def kind(node) -> str:
    """What a student would call the node's type: float, Tensor, tuple, ndarray, int64, list..."""
    return typename(node).rsplit(".", 1)[-1]


def _key(node):
    """A dict key's node as the Python key it stands for (None where it is not a plain one)."""
    t = node.get("t") if isinstance(node, dict) else None
    if t in SCALARS or t == "numpy":
        return node.get("v")
    return None


class Evidence:
    def __init__(self, outcome: ProbeOutcome, what: str, cause: str | None = None):
        """`cause`: the root cause a failed probe is charged as (default: the probe itself), so
        that every check reading it is charged once (judge.attribute)."""
        if not outcome.ok:
            fail(f"{what} could not be checked: {outcome.reason}", cause or f"probe {outcome.name}")
        self.outcome = outcome
        self.what = what
        self.data = outcome.data or {}

    # -- navigation
    def node(self, path: str) -> dict | None:
        """The node at `path`, or None where nothing was shipped there."""
        first, *rest = path.split("/")
        node = self.data.get(first)
        for part in rest:
            if not isinstance(node, dict):
                return None
            t = node.get("t")
            if t in ("tuple", "list"):
                items = node.get("items")
                node = items[int(part)] if isinstance(items, list) and part.isdigit() \
                    and int(part) < len(items) else None
            elif t == "dict":
                node = next((v for k, v in self.pairs_of(node) if str(_key(k)) == part), None)
            elif t == "module":
                node = next((v for table in ("children", "params", "buffers")
                             for k, v in node.get(table) or [] if k == part), None)
            elif t == "tensor" and part == "grad":
                node = node.get("grad")
            else:
                return None
        return node if isinstance(node, dict) else None

    @staticmethod
    def pairs_of(node: dict) -> list:
        items = node.get("items")
        return [p for p in items if isinstance(p, list) and len(p) == 2] if isinstance(items, list) else []

    def has(self, path: str) -> bool:
        return self.node(path) is not None

    def typename(self, path: str) -> str:
        return typename(self.node(path))

    def kind(self, path: str) -> str:
        return kind(self.node(path))

    def _missing(self, path: str, what: str | None):
        fail(f"{self.what}: {what or f'`{path}`'} was not produced")

    # -- values
    def value(self, path: str, kinds: type | tuple[type, ...], what: str | None = None):
        """A Python scalar (bool, int, float, str or None) of exactly one of `kinds`."""
        node = self.node(path)
        if node is None:
            self._missing(path, what)
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        t = node.get("t")
        if t == "none" and type(None) in kinds:
            return None
        if t in SCALARS and SCALARS[t] in kinds:
            v = node.get("v")
            if type(v) is SCALARS[t] or t == "float" and type(v) is int:
                return float(v) if t == "float" else v
        shown = " or ".join(k.__name__ for k in kinds)
        fail(f"{self.what}: {what or f'`{path}`'} is a {kind(node)}, not a {shown}")

    def number(self, path: str) -> float | None:
        """A plain int or float as a float (None for anything else: a tensor, a numpy number)."""
        node = self.node(path)
        if isinstance(node, dict) and node.get("t") in ("int", "float") \
                and type(node.get("v")) in (int, float):
            return float(node["v"])
        return None

    def scalar(self, path: str) -> float | None:
        """A plain number, a numpy number or a one-element tensor, as a float (None for anything
        else, a bool included)."""
        number = self.number(path)
        if number is not None:
            return number
        node = self.node(path)
        if isinstance(node, dict) and node.get("t") == "numpy" and type(node.get("v")) in (int, float):
            return float(node["v"])
        if self.has_tensor(path):
            t = self.outcome.tensors[node["key"]]
            if t.numel() == 1 and t.dtype != torch.bool:
                return float(t.reshape(()).double())
        return None

    def as_python(self, path: str, want: type) -> tuple[int | float | None, str]:
        """The type policy (README, "Grading"): a number the notebook asks for as a Python `want`
        (int or float) is read from a Python number, a numpy scalar or a 0-d tensor of that kind
        alike. Returns (the number, a note for the student where it was not a Python `want`), or
        (None, "") where the value is none of these (a float for an int, a 1-element list...)."""
        node = self.node(path)
        t = node.get("t") if isinstance(node, dict) else None
        v = node.get("v") if isinstance(node, dict) else None
        integral = want is int
        if t == "int" and type(v) is int or t == "float" and not integral and type(v) in (int, float):
            return want(v), ""
        name, how = want.__name__, ("int(x)" if integral else "float(x)")
        if t == "numpy" and type(v) is int or t == "numpy" and not integral and type(v) is float:
            return want(v), (f"{self.what}: a numpy {kind(node)} read as the Python {name} it holds "
                             f"(the notebook asks for a Python {name}: {how})")
        if self.has_tensor(path):
            x = self.outcome.tensors[node["key"]]
            fits = x.dtype in INTEGERS if integral else x.dtype in INTEGERS | FLOATS
            if x.dim() == 0 and fits:  # NaN too, as a Python float may be: the check judges it
                return want(x.item()), (f"{self.what}: a 0-d tensor read as the Python {name} it "
                                        f"holds (the notebook asks for a Python {name}: .item())")
        return None, ""

    def parts(self, path: str, n: int, what: str) -> list[str]:
        """The paths of a returned tuple's (or list's) n items; fails unless there are exactly n.
        `what` names the call: "random_pair"."""
        node = self.node(path)
        if node is None:
            self._missing(path, f"what {what} returned")
        if node.get("t") not in ("tuple", "list") or node.get("len") != n:
            length = f" of length {node.get('len')}" if node.get("t") in ("tuple", "list") else ""
            fail(f"{what} should return {n} values as a tuple; it returned a "
                 f"{kind(node)}{length}")
        return [f"{path}/{i}" for i in range(n)]

    def items(self, path: str) -> list[str]:
        """The paths of a shipped list's (or tuple's) items ([] for anything else)."""
        node = self.node(path)
        if not isinstance(node, dict) or node.get("t") not in ("tuple", "list"):
            return []
        items = node.get("items")
        return [f"{path}/{i}" for i in range(len(items))] if isinstance(items, list) else []

    def mapping(self, path: str) -> dict[str, str]:
        """A shipped dict (a state_dict, say) as {str(key): path of its value}."""
        node = self.node(path)
        if not isinstance(node, dict) or node.get("t") != "dict":
            return {}
        return {str(_key(k)): f"{path}/{str(_key(k))}" for k, _ in self.pairs_of(node)}

    def parameters(self, path: str) -> list[tuple[str, torch.Tensor]]:
        """Every parameter of the module tree shipped at `path` (what model.parameters() holds),
        as (dotted name, tensor): read from the tensors themselves, not from any shape reported."""
        found: list[tuple[str, torch.Tensor]] = []

        def walk(node, prefix: str, depth: int):
            if not isinstance(node, dict) or node.get("t") != "module" or depth > 20:
                return
            for name, param in node.get("params") or []:
                key = param.get("key") if isinstance(param, dict) else None
                if param.get("t") == "tensor" and isinstance(key, str) and key in self.outcome.tensors:
                    found.append((f"{prefix}{name}", self.outcome.tensors[key]))
            for name, child in node.get("children") or []:
                walk(child, f"{prefix}{name}.", depth + 1)
        walk(self.node(path), "", 0)
        return found

    # -- tensors
    def has_tensor(self, path: str) -> bool:
        node = self.node(path)
        return isinstance(node, dict) and node.get("t") == "tensor" \
            and isinstance(node.get("key"), str) and node["key"] in self.outcome.tensors

    def _shipped(self, path: str, t: str, called: str, what: str) -> dict:
        """The node at `path`, which must be of kind `t` (a tensor, an ndarray)."""
        node = self.node(path)
        if node is None:
            fail(f"{self.what}: {what} was not produced")
        if node.get("t") != t:
            fail(f"{self.what}: {what} is a {kind(node)}, not {called}")
        return node

    def tensor(self, path: str, shape: tuple | None = None, dtype: torch.dtype | None = torch.float32,
               finite: bool = True, what: str | None = None) -> torch.Tensor:
        """The tensor at `path`, as its bytes say it is (dtype and shape are read from the tensor,
        not from any report). A numpy array counts only where `numpy` is asked for (array())."""
        what = what or f"`{path}`"
        node = self._shipped(path, "tensor", "a tensor", what)
        return self._data(node, what, shape, dtype, finite)

    def array(self, path: str, shape: tuple | None = None, dtype: torch.dtype | None = None,
              finite: bool = True, what: str | None = None) -> torch.Tensor:
        """The numpy array at `path`, as a tensor of the same dtype."""
        what = what or f"`{path}`"
        node = self._shipped(path, "ndarray", "a numpy array", what)
        if not isinstance(node.get("key"), str):
            fail(f"{self.what}: {what} is a numpy array of dtype {node.get('dtype')}, which is not "
                 "a number type")
        return self._data(node, what, shape, dtype, finite)

    def _data(self, node: dict, what: str, shape, dtype, finite) -> torch.Tensor:
        t = self.outcome.tensors.get(node.get("key")) if isinstance(node.get("key"), str) else None
        if t is None:
            where = node.get("device")
            fail(f"{self.what}: {what} has no values the grader can read"
                 + (f" (it is on the {where!r} device)" if isinstance(where, str) else ""))
        if dtype is not None and t.dtype != dtype:
            fail(f"{self.what}: {what} has dtype {t.dtype}, expected {dtype}")
        if shape is not None and tuple(t.shape) != tuple(shape):
            fail(f"{self.what}: {what} has shape {tuple(t.shape)}, expected {tuple(shape)}")
        if finite and t.is_floating_point() and not torch.isfinite(t).all():
            fail(f"{self.what}: {what} contains NaN or infinite values")
        return t

    def reported(self, path: str, field: str):
        """A tensor's process-only attribute ("device", "requires_grad"), as the student's process
        said it: a report, so only a `reported: true` check may rest on it."""
        node = self.node(path)
        return node.get(field) if isinstance(node, dict) and node.get("t") == "tensor" else None
