"""The UV atlas: per-corner UVs rasterized into a texel grid.

Texel convention: a grid of ``H x W`` texels; row 0 is the top of the texture (v = 1), as in an image.
The centre of texel ``(row, col)`` is ``u = (col + 0.5) / W``, ``v = 1 - (row + 0.5) / H``.
Every texel covered by a UV triangle stores that face and the barycentric weights of its centre;
uncovered texels store face -1. Anny's UV islands do not overlap, so a texel belongs to one face
(on a shared edge, the lower face index wins, deterministically).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["UVRaster", "rasterize_uv", "cached_rasterize_uv", "texel_centers", "uv_to_texel", "surface_uv", "texel_footprint"]


@dataclass
class UVRaster:
    """Rasterized UV atlas.

    Attributes:
        face_index: ``(H, W)`` int64, -1 where no face covers the texel.
        barycentrics: ``(H, W, 3)`` float32 weights of the face's corners (0 where empty).
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.face_index.shape[0]), int(self.face_index.shape[1])

    @property
    def mask(self) -> torch.Tensor:
        """``(H, W)`` bool, texels covered by a face."""
        return self.face_index >= 0

    @property
    def coverage(self) -> float:
        return float(self.mask.float().mean())

    def covered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat lists of covered texels: linear texel index ``(N,)``, face ``(N,)``, barycentrics ``(N, 3)``."""
        flat = self.face_index.reshape(-1)
        idx = torch.nonzero(flat >= 0).squeeze(1)
        return idx, flat[idx], self.barycentrics.reshape(-1, 3)[idx]


def texel_centers(height: int, width: int, device=None) -> torch.Tensor:
    """``(H, W, 2)`` UV coordinates of texel centres (convention in the module docstring)."""
    rows = torch.arange(height, device=device, dtype=torch.float32)
    cols = torch.arange(width, device=device, dtype=torch.float32)
    v = 1.0 - (rows + 0.5) / height
    u = (cols + 0.5) / width
    return torch.stack(torch.broadcast_tensors(u[None, :], v[:, None]), dim=-1)


def uv_to_texel(uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(..., 2)`` UV to continuous texel coordinates ``(..., 2)`` as (col, row); texel centres are integers."""
    return torch.stack([uv[..., 0] * width - 0.5, (1.0 - uv[..., 1]) * height - 0.5], dim=-1)


def surface_uv(uv_corners: torch.Tensor, face: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` atlas UV of surface points given by ``face (N,)`` and barycentrics ``bary (N, 3)``
    (``uv_corners (F, 3, 2)``)."""
    return (bary[:, :, None] * uv_corners[face]).sum(1)


def _barycentric(points: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Barycentrics ``(N, 3)`` of 2D ``points (N, 2)`` in triangles ``tri (N, 3, 2)``."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    return torch.stack([1.0 - w1 - w2, w1, w2], dim=-1)


def rasterize_uv(uv_corners: torch.Tensor, height: int, width: int | None = None, chunk: int = 4_000_000) -> UVRaster:
    """Rasterize per-corner UVs into an ``H x W`` texel grid.

    Args:
        uv_corners: ``(F, 3, 2)`` UVs in [0, 1], v up.
        height, width: grid size (square when ``width`` is None).
        chunk: candidate (face, texel) pairs processed at once (memory bound).
    Returns:
        :class:`UVRaster`.
    """
    width = height if width is None else width
    uv = uv_corners.detach().to(torch.float64).cpu()
    tex = uv_to_texel(uv, height, width)  # (F, 3, 2) as (col, row)
    area2 = (tex[:, 1, 0] - tex[:, 0, 0]) * (tex[:, 2, 1] - tex[:, 0, 1]) - (tex[:, 2, 0] - tex[:, 0, 0]) * (
        tex[:, 1, 1] - tex[:, 0, 1]
    )
    valid = area2.abs() > 1e-12
    lo = torch.ceil(tex.amin(1)).clamp(min=0).long()
    hi = torch.floor(tex.amax(1)).long()
    hi[:, 0] = hi[:, 0].clamp(max=width - 1)
    hi[:, 1] = hi[:, 1].clamp(max=height - 1)
    extent = (hi - lo + 1).clamp(min=0)
    counts = extent[:, 0] * extent[:, 1] * valid.long()
    face_ids = torch.repeat_interleave(torch.arange(len(uv)), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(int(counts.sum())) - starts[face_ids]

    best = torch.full((height * width,), len(uv), dtype=torch.int64)
    for begin in range(0, len(face_ids), chunk):
        f = face_ids[begin : begin + chunk]
        k = local[begin : begin + chunk]
        col = lo[f, 0] + k % extent[f, 0]
        row = lo[f, 1] + k // extent[f, 0]
        bary = _barycentric(torch.stack([col, row], -1).double(), tex[f])
        inside = (bary >= -1e-9).all(-1)
        texel = (row * width + col)[inside]
        best.scatter_reduce_(0, texel, f[inside], reduce="amin")

    face_index = torch.where(best < len(uv), best, torch.full_like(best, -1))
    idx = torch.nonzero(face_index >= 0).squeeze(1)
    centers = torch.stack([idx % width, idx // width], -1).double()
    bary = _barycentric(centers, tex[face_index[idx]]).clamp(min=0.0)
    bary = bary / bary.sum(-1, keepdim=True)
    barycentrics = torch.zeros(height * width, 3, dtype=torch.float32)
    barycentrics[idx] = bary.float()
    return UVRaster(face_index.reshape(height, width), barycentrics.reshape(height, width, 3))


def cached_rasterize_uv(uv_corners: torch.Tensor, resolution: int, cache_dir: Path | None) -> UVRaster:
    """:func:`rasterize_uv` at ``resolution``², kept in ``cache_dir`` as safetensors (the 1024² raster
    takes ~0.4 s to build and ~20 ms to read). The file name carries a hash of ``uv_corners``, so a
    different atlas never reads a stale raster. ``cache_dir=None`` builds without caching."""
    if cache_dir is None:
        return rasterize_uv(uv_corners, resolution)
    import hashlib

    from safetensors.torch import load_file, save_file

    from uvatar.io.atomic import atomic_path

    digest = hashlib.sha1(uv_corners.detach().cpu().to(torch.float32).numpy().tobytes()).hexdigest()[:16]
    path = Path(cache_dir) / f"uv_raster_{resolution}_{digest}.safetensors"
    if path.is_file():
        try:
            tensors = load_file(str(path))
            return UVRaster(tensors["face_index"], tensors["barycentrics"])
        except Exception:  # a damaged cache file: rebuild it below
            pass
    raster = rasterize_uv(uv_corners, resolution)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"face_index": raster.face_index.contiguous(), "barycentrics": raster.barycentrics.contiguous()}, str(tmp))
    except OSError:  # a read-only cache is not an error: the raster is still returned
        pass
    return raster


def texel_footprint(rest_vertices: torch.Tensor, faces: torch.Tensor, uv_corners: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(F,)`` side length (metres) of one texel of a ``resolution``² atlas on each face of the surface."""
    corners = rest_vertices[faces]
    area3d = 0.5 * torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1)
    uv = uv_corners
    area_uv = 0.5 * ((uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1]) - (uv[:, 2, 0] - uv[:, 0, 0]) * (uv[:, 1, 1] - uv[:, 0, 1])).abs()
    return torch.sqrt(area3d / area_uv.clamp(min=1e-12)) / resolution
