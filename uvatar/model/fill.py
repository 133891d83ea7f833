"""The projection baseline's colour fill of Core-UV, as a function the learned decoder builds on.

Exactly the fill of :func:`uvatar.model.projection.decode_projection`: texels seen by the photo keep
their colour; unseen ones take their mirror texel's colour where that was seen; unseen scalp texels
take the seen scalp's median colour (hair); the rest is filled by push-pull inside each UV island.
"""

from __future__ import annotations

import torch

from uvatar.body.mirror import mirror_texels
from uvatar.model.inpaint import mirror_fill, push_pull_islands

__all__ = ["fill_core_colors", "pool_colors"]


def fill_core_colors(
    colors: torch.Tensor, seen: torch.Tensor, body, rest_vertices: torch.Tensor, mirror: bool = True, scalp: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill every covered texel of a Core-UV colour map.

    Args:
        colors: ``(3, R, R)`` RGB in [0, 1], valid where ``seen``.
        seen: ``(R, R)`` bool, texels the photo saw.
        body: the BodyModel (atlas, mirror maps, parts).
        rest_vertices: ``(V, 3)`` the subject's reference-pose vertices (where the scalp is).
    Returns:
        filled colours ``(3, R, R)`` (covered texels filled; outside the atlas unchanged) and
        ``(R, R)`` bool "colour from the photo" (seen or mirrored from a seen texel).
    """
    resolution = colors.shape[-1]
    raster = body.uv_raster(resolution)
    known = seen & raster.mask
    colors = colors.clone()
    if mirror:
        colors, known = mirror_fill(colors, known, mirror_texels(raster, body.mirror, body.uv_corners))
    from_photo = known.clone()
    fallback = colors[:, known].median(dim=1).values if known.any() else torch.full((3,), 0.5)
    if scalp:
        from uvatar.model.projection import scalp_texels

        scalp_mask = scalp_texels(raster, body, rest_vertices)
        hair_seen = scalp_mask & known
        if hair_seen.sum() >= 50:
            hair = colors[:, hair_seen].median(dim=1).values
            fill = scalp_mask & ~known
            colors = torch.where(fill[None], hair[:, None, None], colors)
            known = known | fill
    return push_pull_islands(colors, known, raster.mask, fallback).clamp(0, 1), from_photo


def pool_colors(colors: torch.Tensor, covered: torch.Tensor, side: int) -> torch.Tensor:
    """Average ``(C, R, R)`` values over covered texels into a ``(C, side, side)`` grid (``R`` a multiple of side).

    Cells with no covered texel take the plain average.
    """
    factor = colors.shape[-1] // side
    if factor == 1:
        return colors.clone()
    w = covered.float()[None, None]
    num = torch.nn.functional.avg_pool2d(colors[None] * w, factor)[0]
    den = torch.nn.functional.avg_pool2d(w, factor)[0]
    plain = torch.nn.functional.avg_pool2d(colors[None], factor)[0]
    return torch.where(den > 0, num / den.clamp(min=1e-8), plain)
