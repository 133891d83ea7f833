"""Test-only: permissive stand-ins for modules that third-party oracles import but cannot load here.

timm and stlpips_pytorch import torchvision (the PyPI wheel is CUDA-built and fails to load against
our CPU torch), IPython and torchsummary at import time, though the code paths our oracle tests run
never use them. ``install(...)`` serves those names as dummy modules whose attributes are dummy
classes. Run oracles in a subprocess: never install this in the test process itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

import torch

__all__ = ["install"]


class _Dummy(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy(name, (torch.nn.Module,), {})


def _module_getattr(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Dummy(name, (torch.nn.Module,), {})


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = tuple(roots)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = types.ModuleType(spec.name)
        m.__path__ = []
        m.__getattr__ = _module_getattr
        return m

    def exec_module(self, module):
        pass


def install(*roots: str) -> None:
    """Serve the top-level packages ``roots`` (and their submodules) as dummies in this process."""
    for r in roots:
        for k in [k for k in sys.modules if k == r or k.startswith(r + ".")]:
            del sys.modules[k]
    sys.meta_path.insert(0, _Finder(roots))
