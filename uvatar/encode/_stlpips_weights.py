"""Locate and load the ST-LPIPS weights that ship inside the ``stlpips-pytorch`` wheel.

The package itself is never imported (it imports torchvision, IPython and torchsummary at import
time); only its bundled ``weights/vST0.0/{alex,vgg}_shift_tolerant.pth`` files are read, with
``torch.load(weights_only=True)``: tensors only, no pickled code.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import torch

from uvatar.errors import DependencyError

__all__ = ["STLPIPS_PIN", "stlpips_weights_path", "load_stlpips_state_dict", "has_stlpips_weights"]

log = logging.getLogger(__name__)

STLPIPS_PIN = "stlpips-pytorch==0.0.2"
_DIST = "stlpips_pytorch"
_FILES = {"vgg": "vgg_shift_tolerant.pth", "alex": "alex_shift_tolerant.pth"}


def stlpips_weights_path(net: str) -> Path:
    """Path of the shift-tolerant weights for ``net`` ("vgg" or "alex"); DependencyError if absent."""
    fname = _FILES[net]
    spec = importlib.util.find_spec(_DIST)  # top-level: finds the folder without importing it
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            p = Path(root) / "weights" / "vST0.0" / fname
            if p.is_file():
                return p
    try:
        for f in importlib.metadata.files(_DIST) or []:
            if f.name == fname:
                return Path(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    raise DependencyError(f"ST-LPIPS weights not found; pip install {STLPIPS_PIN} (only its weight files are used)")


def has_stlpips_weights() -> bool:
    """True if the ST-LPIPS VGG and AlexNet weight files can be found."""
    try:
        return all(stlpips_weights_path(n).is_file() for n in _FILES)
    except DependencyError:
        return False


@functools.lru_cache(maxsize=2)
def load_stlpips_state_dict(net: str) -> dict[str, torch.Tensor]:
    """The full ST-LPIPS state dict of ``net`` on the CPU (keys ``net.sliceK.I.*``, ``linK.model.1.weight``,
    ``scaling_layer.{shift,scale}``). Cached; callers must not modify the tensors in place."""
    path = stlpips_weights_path(net)
    log.debug("loading ST-LPIPS %s weights from %s", net, path)
    sd = torch.load(path, weights_only=True, map_location="cpu")
    return {k: v.float() for k, v in sd.items()}
