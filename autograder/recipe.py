"""Recipes: what a probe asks the sandbox to do, written as Python, shipped as data.

An assignment's probes.py describes each probe as a function `name(r, args, device)` that writes
steps into `r`, a `Recipe`. Names under `r.student` are the student's; `r.input(key)` is one of
the judge's input tensors; `r.lib("torch.optim.SGD")` a library name. Calling any of them records a
step and returns a stand-in for the result, which can be called, indexed or have attributes taken
in turn; `r.ship(key, value)` sends a value back. So

    def softmax(r, args, device):
        r.ship("p", r.student.softmax(r.input("softmax.z"), dim=1))

records two steps, and the executor (autograder/executor.py) follows them in the sandbox. Nothing
runs here: a stand-in has no value on this side, and using one as a truth value, a length or an
iterator is an error. The recipe is built once per plan, on the trusted side, and travels in
plan.json; probes.py itself never enters the sandbox.
"""
from __future__ import annotations

import contextlib


class RecipeUsage(TypeError):
    """A probe used a stand-in as if it had a value on the trusted side."""


class Value:
    """A stand-in for a value that exists only in the sandbox."""

    __slots__ = ("_recipe", "_arg")

    def __init__(self, recipe: "Recipe", arg: dict):
        self._recipe = recipe
        self._arg = arg

    def __getattr__(self, name: str) -> "Value":
        if name.startswith("__"):
            raise AttributeError(name)
        return Value(self._recipe, {"attr": [self._arg, name]})

    def __getitem__(self, index) -> "Value":
        return Value(self._recipe, {"item": [self._arg, self._recipe.arg(index)]})

    def __call__(self, *args, **kwargs) -> "Value":
        return self._recipe.call(self, *args, **kwargs)

    def _no_value(self, *_):
        raise RecipeUsage("a recipe's values exist only in the sandbox: ship it and let the "
                          "judge look at it")

    __bool__ = __len__ = __iter__ = __eq__ = __lt__ = __gt__ = __le__ = __ge__ = _no_value
    __hash__ = None


class _Student:
    __slots__ = ("_recipe",)

    def __init__(self, recipe: "Recipe"):
        self._recipe = recipe

    def __getattr__(self, name: str) -> Value:
        if name.startswith("__"):
            raise AttributeError(name)
        return Value(self._recipe, {"student": name})


class Recipe:
    """The steps of one probe (the JSON form is in autograder/executor.py)."""

    def __init__(self):
        self.steps: list[dict] = []
        self._into = [self.steps]  # where the next step goes (inside a no_grad or catch block)
        self._slots = 0
        self.cuda: bool | None = None
        self.student = _Student(self)

    # -- values
    def input(self, key: str) -> Value:
        """A fresh copy of the judge's input tensor `key` (each use is another copy)."""
        return Value(self, {"input": key})

    def numpy(self, key: str) -> Value:
        """The judge's input tensor `key` as a fresh numpy array."""
        return Value(self, {"numpy": key})

    def lib(self, dotted: str) -> Value:
        return Value(self, {"lib": dotted})

    def device(self, name: str) -> Value:
        return Value(self, {"device": name})

    def arg(self, value) -> dict:
        if isinstance(value, Value):
            return value._arg
        if isinstance(value, list):
            return {"list": [self.arg(v) for v in value]}
        if isinstance(value, tuple):
            return {"tuple": [self.arg(v) for v in value]}
        if isinstance(value, dict):
            return {"dict": [[str(k), self.arg(v)] for k, v in value.items()]}
        if value is None or type(value) in (bool, int, float, str):
            return {"const": value}
        if isinstance(value, slice):
            return {"slice": [self.arg(value.start), self.arg(value.stop), self.arg(value.step)]}
        raise RecipeUsage(f"a recipe cannot carry a {type(value).__name__}: pass inputs by key")

    # -- steps
    def _add(self, step: dict) -> None:
        self._into[-1].append(step)

    def _slot(self) -> int:
        self._slots += 1
        return self._slots

    def call(self, fn: Value, *args, **kwargs) -> Value:
        slot = self._slot()
        self._add({"do": "call", "fn": self.arg(fn), "args": [self.arg(a) for a in args],
                   "kwargs": {k: self.arg(v) for k, v in kwargs.items()}, "into": slot})
        return Value(self, {"slot": slot})

    def let(self, value) -> Value:
        """Hold `value` in the sandbox, so that later steps see the same object (an input used
        twice is otherwise two fresh copies)."""
        slot = self._slot()
        self._add({"do": "let", "value": self.arg(value), "into": slot})
        return Value(self, {"slot": slot})

    def ship(self, key: str, value) -> None:
        """Send `value` back under `key`, as it is now (tensors are copied at this step)."""
        self._add({"do": "ship", "value": self.arg(value), "as": key})

    def set(self, target: Value, index, value: float) -> None:
        """target[index] = value, in the sandbox (a change the judge chose, made after a call)."""
        self._add({"do": "set", "target": self.arg(target), "index": list(index), "value": value})

    def seed(self, value: int) -> None:
        """Seed torch, numpy and random globally, as the student's process starts a call."""
        self._add({"do": "seed", "seed": int(value)})

    @contextlib.contextmanager
    def _block(self, step: dict):
        step["steps"] = []
        self._add(step)
        self._into.append(step["steps"])
        try:
            yield
        finally:
            self._into.pop()

    def no_grad(self):
        return self._block({"do": "no_grad"})

    @contextlib.contextmanager
    def catch(self):
        """The steps inside may raise; the stand-in it yields is the exception, or None."""
        slot = self._slot()
        with self._block({"do": "catch", "into": slot}):
            yield Value(self, {"slot": slot})

    def take(self, source: Value, limit: int) -> Value:
        """[source[i] for i in range(min(len(source), limit))]."""
        slot = self._slot()
        self._add({"do": "take", "from": self.arg(source), "limit": int(limit), "into": slot})
        return Value(self, {"slot": slot})

    def watch(self, module: Value, *, each: bool = False, keep: int = 0, limit: int = 1000) -> Value:
        """Record the module's forward calls (see autograder/executor.py). What it records is a
        report of the student's process: for self-checks and `reported` checks only."""
        slot = self._slot()
        self._add({"do": "watch", "module": self.arg(module), "each": each, "keep": keep,
                   "limit": limit, "into": slot})
        return Value(self, {"slot": slot})

    def export(self, key: str, module: Value, example: list[int]) -> None:
        """Ship `module` as graphs of standard operators with its initial weights (graph.py)."""
        self._add({"do": "export", "module": self.arg(module), "example": list(example), "as": key})

    def pretend_cuda(self, available: bool) -> None:
        """Run this probe as if torch.cuda.is_available() said `available`, from before the
        student's module is imported."""
        self.cuda = bool(available)

    def to_json(self) -> dict:
        return {"steps": self.steps, "cuda": self.cuda}


def build(probes, function: str, args: dict, device: str) -> dict:
    """The recipe of one probe: `probes.<function>(r, args, device)` run against a fresh Recipe."""
    fn = getattr(probes, function, None)
    if not callable(fn):
        raise AttributeError(f"{getattr(probes, '__file__', 'probes.py')} defines no probe "
                             f"`{function}`")
    recipe = Recipe()
    fn(recipe, args, device)
    return recipe.to_json()


def inputs_used(recipe: dict) -> set[str]:
    """The judge's input tensors a recipe reads (so a public bundle ships only those)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("input", "numpy") and isinstance(v, str):
                    found.add(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(recipe.get("steps", []))
    return found
