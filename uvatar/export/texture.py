"""Bake the avatar's surface Gaussians into a base-colour texture over the body's UV atlas.

Each Core-UV Gaussian (``layer == 0``) sits on a body face at known barycentrics, so it has a UV
position: ``uv = sum_k bary_k * uv_corners[face, k]``. Its colour is splatted there bilinearly,
weighted by its opacity; texels no Gaussian reached are filled by push-pull inside their own UV
island (colours never cross a seam), and the space between islands is then filled from the nearest
islands so that bilinear filtering and mip-maps do not bleed the background into the surface.
Shell-UV Gaussians (hair, loose clothes) float off the surface and are left out.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from uvatar.errors import InputError

__all__ = ["gaussian_uvs", "splat_to_texture", "bake_base_color", "texture_png"]


def gaussian_uvs(avatar, body) -> torch.Tensor:
    """``(N, 2)`` UV position (u right, v up, in [0, 1]) of each of the avatar's N Gaussians."""
    corners = body.uv_corners[avatar.face_index.to(body.uv_corners.device)]  # (N, 3, 2)
    return (avatar.barycentrics.to(corners)[..., None] * corners).sum(1)


def splat_to_texture(uv: torch.Tensor, colors: torch.Tensor, weights: torch.Tensor, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear splat of colours at UV positions into a ``size x size`` grid.

    Args:
        uv: ``(N, 2)`` UV (v up); colors: ``(N, 3)``; weights: ``(N,)`` non-negative splat weights.
        size: texture side in texels (row 0 = top = v 1, texel centres at +0.5, as ``uvatar.body.uv``).
    Returns:
        summed colour ``(size, size, 3)`` float64 and summed weight ``(size, size)`` float64.
    """
    uv = uv.detach().double().cpu().numpy()
    colors = colors.detach().double().cpu().numpy()
    weights = weights.detach().double().cpu().numpy()
    col = uv[:, 0] * size - 0.5
    row = (1.0 - uv[:, 1]) * size - 0.5
    c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    fc, fr = col - c0, row - r0
    color_sum = np.zeros((size * size, 3))
    weight_sum = np.zeros(size * size)
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        texel = (r * size + c)[inside]
        ww = (w * weights)[inside]
        weight_sum += np.bincount(texel, ww, size * size)
        for ch in range(3):
            color_sum[:, ch] += np.bincount(texel, ww * colors[inside, ch], size * size)
    return color_sum.reshape(size, size, 3), weight_sum.reshape(size, size)


def bake_base_color(avatar, body, size: int = 1024) -> np.ndarray:
    """``(size, size, 3)`` float32 base-colour texture in [0, 1] (row 0 = top, v = 1) from the
    avatar's Core-UV Gaussians; every texel is filled (module docstring)."""
    from uvatar.body.uv_fill import push_pull, push_pull_islands

    if size < 16 or size > 8192:
        raise InputError(f"texture size must be in [16, 8192] texels; got {size}")
    core = avatar.layer == 0
    if not bool(core.any()):
        raise InputError("the avatar has no surface (Core-UV) Gaussians to bake a texture from; reconstruct it again")
    uv = gaussian_uvs(avatar, body)[core]
    color_sum, weight_sum = splat_to_texture(uv, avatar.colors[core].clamp(0, 1), avatar.opacities[core].clamp(min=0), size)
    known = weight_sum > 1e-6
    values = np.where(known[..., None], color_sum / np.maximum(weight_sum, 1e-12)[..., None], 0.0)
    values = torch.from_numpy(values.astype(np.float32)).permute(2, 0, 1)  # (3, H, W)
    domain = body.uv_raster(size).mask.cpu()
    known_t = torch.from_numpy(known)
    fallback = values[:, known_t].mean(1)
    filled = push_pull_islands(values, known_t & domain, domain, fallback)
    surface = domain | known_t
    filled = push_pull(torch.where(surface[None], filled, torch.zeros_like(filled)), surface)
    return filled.permute(1, 2, 0).clamp(0, 1).numpy()


def texture_png(texture: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` texture in [0, 1].

    The avatar's colours come straight from sRGB photo pixels (scaled to [0, 1], not linearised), so
    they are written as they are and the PNG is an sRGB image, which is what glTF's
    ``baseColorTexture`` expects.
    """
    from PIL import Image

    pixels = (np.clip(texture, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
