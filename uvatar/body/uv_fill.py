"""Filling unseen UV texels: from the mirrored side, then by push-pull inside each UV island."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mirror_fill", "push_pull", "push_pull_islands"]


def mirror_fill(values: torch.Tensor, known: torch.Tensor, mirror: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy each unknown texel from its mirror texel where that one is known.

    Args:
        values: ``(C, H, W)``; known: ``(H, W)`` bool; mirror: ``(H, W)`` int64 linear index of the
            mirror texel (-1 none), from :func:`uvatar.body.mirror.mirror_texels`.
    Returns:
        filled values ``(C, H, W)`` and the new known mask ``(H, W)``.
    """
    channels, height, width = values.shape
    flat_known = known.reshape(-1)
    flat_mirror = mirror.reshape(-1)
    take = (~flat_known) & (flat_mirror >= 0)
    take[take.clone()] = flat_known[flat_mirror[take]]
    out = values.reshape(channels, -1).clone()
    out[:, take] = out[:, flat_mirror[take]]
    return out.reshape(channels, height, width), (flat_known | take).reshape(height, width)


def push_pull(values: torch.Tensor, known: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """Push-pull inpainting: average known texels down a pyramid, fill unknown ones from coarser levels.

    Args:
        values: ``(C, H, W)``; known: ``(H, W)`` bool (at least one True).
    Returns:
        ``(C, H, W)`` with known texels unchanged and every unknown texel filled.
    """
    weight = known.float()[None]
    pyramid = [(values * weight, weight)]
    while pyramid[-1][1].shape[-1] > 1 and pyramid[-1][1].shape[-2] > 1 and (levels is None or len(pyramid) <= levels):
        v, w = pyramid[-1]
        pyramid.append((torch.nn.functional.avg_pool2d(v[None], 2, ceil_mode=True)[0], torch.nn.functional.avg_pool2d(w[None], 2, ceil_mode=True)[0]))
    v, w = pyramid[-1]
    filled = v / w.clamp(min=1e-8)
    for v, w in reversed(pyramid[:-1]):
        up = torch.nn.functional.interpolate(filled[None], size=v.shape[-2:], mode="bilinear", align_corners=False)[0]
        own = v / w.clamp(min=1e-8)
        alpha = w.clamp(max=1.0)
        filled = alpha * own + (1 - alpha) * up
    return torch.where(known[None], values, filled)


def push_pull_islands(values: torch.Tensor, known: torch.Tensor, domain: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Push-pull separately inside each connected island of ``domain`` (no colour crosses between islands).

    Args:
        values: ``(C, H, W)``; known: ``(H, W)`` bool; domain: ``(H, W)`` bool (the atlas).
        fallback: ``(C,)`` value for islands with no known texel.
    Returns:
        ``(C, H, W)`` filled inside ``domain``; outside it, ``values`` unchanged.
    """
    from scipy import ndimage

    labels, count = ndimage.label(domain.numpy(), structure=np.ones((3, 3)))
    labels = torch.from_numpy(labels)
    out = values.clone()
    for island in range(1, count + 1):
        region = labels == island
        rows = torch.nonzero(region.any(1)).squeeze(1)
        cols = torch.nonzero(region.any(0)).squeeze(1)
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        sub_region = region[r0:r1, c0:c1]
        sub_known = known[r0:r1, c0:c1] & sub_region
        if not sub_known.any():
            patch = fallback[:, None, None].expand(-1, r1 - r0, c1 - c0)
        else:
            patch = push_pull(values[:, r0:r1, c0:c1], sub_known)
        out[:, r0:r1, c0:c1] = torch.where(sub_region[None], patch, out[:, r0:r1, c0:c1])
    return out
