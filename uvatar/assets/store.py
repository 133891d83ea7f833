"""Loading the shipped asset tensors (``uvatar/data/assets/assets.safetensors``) as plain dataclasses.

Everything here is in MakeHuman's hm08 vertex numbering, as in the source files; :mod:`uvatar.assets.fit`
maps it onto Anny's vertices at fitting time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.assets.catalogue import DATA_DIR, _document, asset_info
from uvatar.errors import InputError

__all__ = ["AssetData", "HelperBinding", "load_asset_data", "load_helper_binding"]


@dataclass(frozen=True)
class AssetData:
    """One template as stored (the ``.mhclo`` fields fitting needs, and the mesh).

    Attributes:
        name: catalogue name.
        refs: ``(N, 3)`` int64 hm08 vertex indices of each asset vertex's three base vertices.
        weights: ``(N, 3)`` float32 weights of those vertices (a single-index line is ``(1, 0, 0)``).
        offsets: ``(N, 3)`` float32 offsets in MakeHuman units (decimetres) and axes (Y up, +Z forward),
            to be scaled per axis by :attr:`scales` measured on the current body.
        scales: ``(3, 3)`` rows ``(hm08 vertex a, hm08 vertex b, reference distance)`` for MakeHuman's
            x, y and z axes: scale ``= |p_a - p_b| along that axis / reference`` (MakeHuman units).
        faces: ``(F, 3)`` int64 triangles (counter-clockwise seen from outside).
        face_uvs: ``(F, 3)`` int64 indices into :attr:`uvs`.
        uvs: ``(T, 2)`` float32 texture coordinates (OBJ convention: v up).
        delete_verts: ``(D,)`` int64 hm08 body vertices the asset hides.
    """

    name: str
    refs: torch.Tensor
    weights: torch.Tensor
    offsets: torch.Tensor
    scales: torch.Tensor
    faces: torch.Tensor
    face_uvs: torch.Tensor
    uvs: torch.Tensor
    delete_verts: torch.Tensor


@dataclass(frozen=True)
class HelperBinding:
    """hm08 vertices that Anny lacks (helper geometry), bound to hm08 body triangles of the template.

    A bound vertex is ``sum_k barycentrics[k] * p[triangle[k]] + frame @ offsets`` on any body whose
    hm08 body vertices ``p`` are known, ``frame`` being :func:`uvatar.body.skinning.face_frames` of the
    triangle (tangent, bitangent, normal).

    Attributes:
        hm08: ``(H,)`` int64 hm08 index of each bound vertex.
        triangle: ``(H, 3)`` int64 hm08 indices of its triangle (all Anny vertices).
        barycentrics: ``(H, 3)`` float32; offsets: ``(H, 3)`` float32 metres in the triangle frame.
    """

    hm08: torch.Tensor
    triangle: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor


@functools.lru_cache(maxsize=1)
def _tensors() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    path = DATA_DIR / "assets.safetensors"
    if not path.is_file():
        raise InputError(f"asset data missing at {path}; rebuild it with python tools/build_assets.py")
    return load_file(str(path))


def _long(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.int64))


def _float(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))


@functools.lru_cache(maxsize=64)
def load_asset_data(name: str) -> AssetData:
    """The stored :class:`AssetData` of ``name`` (unknown names raise :class:`InputError`); cached."""
    asset_info(name)
    t = _tensors()
    entry = _document()["assets"][name]
    steps = float(_document()["uv_steps"])
    return AssetData(
        name=name,
        refs=_long(t[f"{name}.refs"]),
        weights=_float(t[f"{name}.weights"]),
        offsets=_float(t[f"{name}.offsets"]),
        scales=torch.tensor(entry["scales"], dtype=torch.float64),
        faces=_long(t[f"{name}.faces"]),
        face_uvs=_long(t[f"{name}.face_uvs"]),
        uvs=torch.from_numpy(t[f"{name}.uvs"].astype(np.float32) / steps),
        delete_verts=_long(t[f"{name}.delete_verts"]),
    )


@functools.lru_cache(maxsize=1)
def load_helper_binding() -> HelperBinding:
    """The shared :class:`HelperBinding` (cached)."""
    t = _tensors()
    return HelperBinding(
        hm08=_long(t["helpers.hm08"]),
        triangle=_long(t["helpers.triangle"]),
        barycentrics=_float(t["helpers.barycentrics"]),
        offsets=_float(t["helpers.offsets"]),
    )
