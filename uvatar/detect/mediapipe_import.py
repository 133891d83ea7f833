"""Import MediaPipe without loading matplotlib.

``import mediapipe`` (0.10.21) imports every legacy solution, including its drawing helpers, which import
``matplotlib.pyplot`` at module level: 0.2-0.4 s, about half of MediaPipe's import on this machine, in
every photo's reconstruction, for plotting code UVatar never calls. While MediaPipe imports, ``matplotlib``
and ``matplotlib.pyplot`` are stand-ins (:class:`DeferredModule`) that import the real module the first
time anything is read from them; they leave ``sys.modules`` as soon as MediaPipe has imported, so every
later ``import matplotlib`` is the real one, and MediaPipe's plotting still works (its ``plt`` imports
pyplot when first used). Nothing is deferred when matplotlib was imported before.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

__all__ = ["DeferredModule", "import_mediapipe"]

DEFERRED = ("matplotlib", "matplotlib.pyplot")  # parent first: ``import matplotlib.pyplot`` reads the parent
_LOCK = threading.Lock()


class DeferredModule(types.ModuleType):
    """Stands in for module ``name``: reading an attribute imports the real module and reads it there."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__spec__ = None  # read by the import system: a plain attribute, no import

    def __getattr__(self, attr: str):
        if sys.modules.get(self.__name__) is self:  # read while still standing in: step aside first
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def import_mediapipe():
    """``import mediapipe`` with matplotlib deferred (module docstring); returns the module."""
    with _LOCK:
        if "mediapipe" in sys.modules:
            return sys.modules["mediapipe"]
        placed = []
        if not any(name in sys.modules for name in DEFERRED):
            stand_ins = [DeferredModule(name) for name in DEFERRED]
            stand_ins[0].pyplot = stand_ins[1]  # what ``import matplotlib.pyplot as plt`` binds
            for module in stand_ins:
                sys.modules[module.__name__] = module
                placed.append(module)
        try:
            import mediapipe
        finally:
            for module in placed:
                if sys.modules.get(module.__name__) is module:
                    del sys.modules[module.__name__]
        return mediapipe
