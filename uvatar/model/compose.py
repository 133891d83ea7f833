"""The learned decoder's avatar over the full-resolution projection avatar.

The learned decoder predicts at its own map sizes (``tiny``: 128² Core-UV). The projection decoder builds
the avatar at the reconstruction's atlas (512² or 1024²): the photo's detail, the dressing rule, the
off-body photo pixels and the fitted templates. :func:`compose_over_projection` keeps that avatar and
lets the decoder decide only what the photo did not show:

* Core-UV Gaussians take the decoder's colour where the photo did not see their texel, the photo's where
  it saw it frontally, and a blend in between, by the view cosine (``w = clamp(cos / full_cos, 0, 1)`` on
  seen texels, 0 elsewhere): what the photo saw keeps its colour and resolution, a texel seen at a
  grazing angle (one photo pixel smeared over many texels) leans on the decoder.
* The decoder's Shell-UV texel Gaussians (hair and cloth volume beyond the body) are added where its
  opacity makes them drawable.

Geometry of the projection avatar stays as it is (the ``tiny`` decoder's core offsets are at most 2 mm).
"""

from __future__ import annotations

import torch

from uvatar.body.uv import uv_to_texel
from uvatar.dualuv.project import UVFeatures
from uvatar.model.bind import upsample_covered
from uvatar.model.decoder import UVGaussians

__all__ = ["COMPOSE_FULL_COS", "seen_weight", "color_map", "texel_of", "compose_over_projection"]

COMPOSE_FULL_COS = 0.3  # texels seen at least this frontally keep the photo's colour (as the dressing rule's sources)


def seen_weight(uv: UVFeatures, full_cos: float = COMPOSE_FULL_COS) -> torch.Tensor:
    """``(H, W)`` in [0, 1]: how much a texel's colour is the photo's (0 where unseen)."""
    return torch.where(uv.core_mask, (uv.core_cos / full_cos).clamp(0, 1), torch.zeros(()))


def color_map(colors: torch.Tensor, index: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-texel colours ``(N, 3)`` at linear texel ``index (N,)`` of a ``side``² atlas -> ``(3, side, side)``
    map and its ``(side, side)`` covered mask."""
    flat = torch.zeros(3, side * side, dtype=colors.dtype)
    flat[:, index] = colors.T
    covered = torch.zeros(side * side, dtype=torch.bool)
    covered[index] = True
    return flat.reshape(3, side, side), covered.reshape(side, side)


def texel_of(uv: torch.Tensor, side: int) -> torch.Tensor:
    """``(N,)`` linear index of the texel of a ``side``² atlas under atlas coordinates ``uv (N, 2)``
    (:func:`~uvatar.body.uv.uv_to_texel`'s convention; a point on a texel border goes to the later texel)."""
    texel = (uv_to_texel(uv, side, side) + 0.5).floor().long().clamp(0, side - 1)
    return texel[:, 1] * side + texel[:, 0]


def compose_over_projection(projection: UVGaussians, core_uv: torch.Tensor, weight: torch.Tensor, decoder_colors: torch.Tensor,
                            decoder_covered: torch.Tensor, decoder_shell: UVGaussians | None) -> UVGaussians:  # fmt: skip
    """The projection avatar with the decoder's colours where the photo did not see, and its shell.

    Args:
        projection: the projection decoder's Gaussians (``N``; its core Gaussians first, ``layer`` 0).
        core_uv: ``(N0, 2)`` atlas UV of its ``N0`` core Gaussians.
        weight: ``(H, W)`` :func:`seen_weight` at the projection's atlas.
        decoder_colors: ``(3, S, S)`` the decoder's core colours at its map side ``S`` (``H`` a multiple),
            meaningful on ``decoder_covered (S, S)``.
        decoder_shell: the decoder's Shell-UV texel Gaussians to add (or None).
    Returns:
        :class:`UVGaussians`: the projection's, recoloured, then ``decoder_shell``; the projection's meta
        with ``stats.n_decoder_colored`` (core Gaussians whose colour is at least half the decoder's) and
        ``stats.n_decoder_shell``.
    """
    side = weight.shape[-1]
    core = projection.layer == 0
    if int(core.sum()) != len(core_uv) or not bool(core[: len(core_uv)].all()):
        raise ValueError("the projection's core Gaussians must come first and match core_uv")
    fine = upsample_covered(decoder_colors, side, decoder_covered)  # (3, H, W)
    texel = texel_of(core_uv, side)
    w = weight.reshape(-1)[texel].to(projection.colors)[:, None]
    learned = fine.reshape(3, -1)[:, texel].T.to(projection.colors)
    colors = projection.colors.clone()
    colors[: len(core_uv)] = w * projection.colors[: len(core_uv)] + (1 - w) * learned
    composed = UVGaussians(projection.face_index, projection.barycentrics, projection.offsets, projection.rotations_wxyz,
                           projection.scales, colors, projection.opacities, projection.layer, meta=dict(projection.meta))  # fmt: skip
    n_shell = 0
    if decoder_shell is not None and len(decoder_shell):
        composed = composed.extend(decoder_shell)
        n_shell = len(decoder_shell)
    stats = dict(projection.meta.get("stats", {}))
    stats.update(n_decoder_colored=int((w[:, 0] < 0.5).sum()), n_decoder_shell=n_shell)
    composed.meta = {**projection.meta, "stats": stats}
    return composed
