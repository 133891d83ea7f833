"""Scatter point features into a UV grid with the paper's normalized kernel sum.

    U(u, v) = sum_i m_i k((u, v) - (u_i, v_i)) f_i / (sum_i m_i k((u, v) - (u_i, v_i)) + eps)

with ``k`` the bilinear (tent) kernel of one texel radius. Points at texel centres land on their own
texel only (the projection is then exact); denser points (a finer sampling raster) average.
"""

from __future__ import annotations

import torch

from uvatar.body.uv import uv_to_texel

__all__ = ["scatter_to_uv", "scatter_to_uv_reference"]


def scatter_to_uv(
    uv: torch.Tensor, features: torch.Tensor, weights: torch.Tensor, height: int, width: int, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized tent-kernel scatter.

    Args:
        uv: ``(N, 2)`` UV coordinates in [0, 1] (v up, as the atlas).
        features: ``(N, C)`` point features.
        weights: ``(N,)`` visibility ``m_i`` (0 or 1, or soft).
        height, width: grid size.
    Returns:
        grid ``(C, H, W)`` and kernel weight sum ``(H, W)`` (0 where nothing landed).
    """
    texel = uv_to_texel(uv, height, width)  # (N, 2) as (col, row); centres are integers
    base = torch.floor(texel)
    frac = texel - base
    channels = features.shape[1]
    numerator = features.new_zeros(height * width, channels)
    denominator = features.new_zeros(height * width)
    for dc in (0, 1):
        for dr in (0, 1):
            col = base[:, 0].long() + dc
            row = base[:, 1].long() + dr
            kernel = (frac[:, 0] if dc else 1 - frac[:, 0]) * (frac[:, 1] if dr else 1 - frac[:, 1])
            ok = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            w = (weights * kernel)[ok]
            index = (row * width + col)[ok]
            numerator.index_add_(0, index, features[ok] * w[:, None])
            denominator.index_add_(0, index, w)
    grid = numerator / (denominator[:, None] + eps)
    return grid.T.reshape(channels, height, width), denominator.reshape(height, width)


def scatter_to_uv_reference(
    uv: torch.Tensor, features: torch.Tensor, weights: torch.Tensor, height: int, width: int, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """The formula evaluated literally, texel by texel against every point (tiny inputs only)."""
    texel = uv_to_texel(uv, height, width)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=uv.dtype), torch.arange(width, dtype=uv.dtype), indexing="ij")
    centres = torch.stack([cols, rows], -1).reshape(-1, 1, 2)
    distance = (centres - texel[None]).abs()  # (HW, N, 2)
    kernel = (1 - distance).clamp(min=0).prod(-1) * weights[None]
    denominator = kernel.sum(1)
    grid = (kernel @ features) / (denominator[:, None] + eps)
    return grid.T.reshape(-1, height, width), denominator.reshape(height, width)
