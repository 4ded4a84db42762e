"""Autograder for an introductory PyTorch course: sandboxed probes, a trusted pytest judge.

Public API (each command's `main(*, ...)`; the CLI is a thin layer over these):
"""
from autograder.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__", "grade", "release"]


def __getattr__(name):  # lazy: `import autograder` must not import torch
    if name in ("grade", "release"):
        import importlib
        return importlib.import_module(f"autograder.{name}")
    raise AttributeError(name)
