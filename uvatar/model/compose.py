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

A decoder trained over the projection avatar (``DecoderConfig.over_projection``) predicts a colour
*residual* instead (:func:`compose_residual`): where the photo did not see, a core Gaussian's colour is
``sigmoid(logit(projection) + residual)`` (the residual map upsampled from the decoder's side), so a zero
residual leaves the projection avatar exactly as it is (its dressing rule, hair and garment colours) and
training (:mod:`uvatar.train.loop`) renders this same composition: the decoder learns what to change in
the avatar that ships, not in an avatar of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from uvatar.body.uv import uv_to_texel
from uvatar.dualuv.project import UVFeatures
from uvatar.model.bind import upsample_covered
from uvatar.model.decoder import UVGaussians

__all__ = ["COMPOSE_FULL_COS", "seen_weight", "color_map", "texel_of", "compose_over_projection", "Composition", "composition_of",
           "projection_color_map", "compose_residual"]  # fmt: skip

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
    return _recoloured(projection, colors, decoder_shell, int((w[:, 0] < 0.5).sum()))


def _recoloured(projection: UVGaussians, colors: torch.Tensor, decoder_shell: UVGaussians | None, n_decoder_colored: int) -> UVGaussians:
    """The projection's Gaussians with ``colors (N, 3)``, then ``decoder_shell``; its meta with
    ``stats.n_decoder_colored`` and ``stats.n_decoder_shell``."""
    composed = UVGaussians(projection.face_index, projection.barycentrics, projection.offsets, projection.rotations_wxyz,
                           projection.scales, colors, projection.opacities, projection.layer, meta=dict(projection.meta))  # fmt: skip
    n_shell = 0
    if decoder_shell is not None and len(decoder_shell):
        composed = composed.extend(decoder_shell)
        n_shell = len(decoder_shell)
    stats = dict(projection.meta.get("stats", {}))
    stats.update(n_decoder_colored=n_decoder_colored, n_decoder_shell=n_shell)
    composed.meta = {**projection.meta, "stats": stats}
    return composed


@dataclass
class Composition:
    """What :func:`compose_residual` needs of a projection avatar, computed once per photo.

    Attributes:
        projection: the projection decoder's Gaussians (``N``; its ``n_core`` core Gaussians first).
        index: ``(M,)`` the Gaussians the decoder's residual may recolour: the core ones (``0 .. n_core - 1``),
            then, where asked, the fitted templates' (the last ones).
        texel: ``(M,)`` linear texel of the body point each is bound to, in the ``side``² atlas.
        weight: ``(M,)`` how much its colour stays the photo's: :func:`seen_weight` at a core Gaussian's
            texel; 0 for a template Gaussian.
        side: the projection avatar's atlas side.
        n_core: the projection's core Gaussians.
    """

    projection: UVGaussians
    index: torch.Tensor
    texel: torch.Tensor
    weight: torch.Tensor
    side: int
    n_core: int

    def to(self, device) -> "Composition":
        p = self.projection
        moved = UVGaussians(p.face_index.to(device), p.barycentrics.to(device), p.offsets.to(device), p.rotations_wxyz.to(device),
                            p.scales.to(device), p.colors.to(device), p.opacities.to(device), p.layer.to(device), meta=p.meta)  # fmt: skip
        return Composition(moved, self.index.to(device), self.texel.to(device), self.weight.to(device), self.side, self.n_core)


def composition_of(projection: UVGaussians, core_uv: torch.Tensor, weight: torch.Tensor, template_uv: torch.Tensor | None = None) -> Composition:
    """The :class:`Composition` of a projection avatar whose core Gaussians (first, ``layer`` 0) sit at atlas
    coordinates ``core_uv (N0, 2)``; ``weight (H, W)``: :func:`seen_weight` at its atlas. With
    ``template_uv (T, 2)`` (the atlas coordinates of the body points its last ``T`` Gaussians, the fitted
    templates', are bound to) those take the residual too, all of them: a template's drawn Gaussians are
    what the photo did not see (its seen part is drawn by the photo's off-body pixels,
    :mod:`uvatar.dualuv.template_shell`)."""
    core = projection.layer == 0
    n0 = len(core_uv)
    if int(core.sum()) != n0 or not bool(core[:n0].all()):
        raise ValueError("the projection's core Gaussians must come first and match core_uv")
    side = weight.shape[-1]
    index, texel = torch.arange(n0), texel_of(core_uv, side)
    weights = weight.reshape(-1)[texel].to(projection.colors)
    if template_uv is not None and len(template_uv):
        n, t = len(projection), len(template_uv)
        index = torch.cat([index, torch.arange(n - t, n)])
        texel = torch.cat([texel, texel_of(template_uv, side)])
        weights = torch.cat([weights, weights.new_zeros(t)])
    return Composition(projection, index, texel, weights, side, n0)


def projection_color_map(composition: Composition) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The projection avatar's core colours as maps at its atlas: ``(3, side, side)`` colours, ``(side,
    side)`` seen weight and ``(side, side)`` covered mask (the decoder's baseline input; where several core
    Gaussians share a texel, one of them)."""
    n0 = composition.n_core
    texel = composition.texel[:n0]
    colors, covered = color_map(composition.projection.colors[:n0], texel, composition.side)
    weight, _ = color_map(composition.weight[:n0, None].expand(n0, 3), texel, composition.side)
    return colors, weight[0], covered


def compose_residual(composition: Composition, residual: torch.Tensor, covered: torch.Tensor, decoder_shell: UVGaussians | None) -> UVGaussians:
    """The projection avatar with the decoder's colour residual where the photo did not see, and its shell
    (differentiable in ``residual`` and the shell's attributes).

    Args:
        composition: the projection avatar (:func:`composition_of`).
        residual: ``(3, S, S)`` logit residuals at the decoder's map side ``S`` (the atlas side a multiple),
            meaningful on ``covered (S, S)``.
        decoder_shell: the decoder's Shell-UV Gaussians to add (or None).
    Returns:
        :class:`UVGaussians`: each of ``composition.index``'s colour ``c + (1 - w) * (sigmoid(l + r) -
        sigmoid(l))``, ``l = logit(c)`` (``c`` the projection's, clamped to [1e-3, 1 - 1e-3] inside the logit;
        ``w`` its weight, ``r`` the residual at its texel), clamped to [0, 1]: exactly ``c`` where ``w`` = 1 or
        ``r`` = 0; every other colour, attribute and Gaussian the projection's; then ``decoder_shell``. Meta
        as :func:`compose_over_projection`'s (``n_decoder_colored``: those of weight below 0.5).
    """
    projection = composition.projection
    fine = upsample_covered(residual, composition.side, covered)  # (3, side, side)
    r = fine.reshape(3, -1)[:, composition.texel].T.to(projection.colors)
    base = projection.colors[composition.index]
    eps = 1e-3  # as the decoder's own binding (uvatar.model.bind): logit of a clamped colour
    logit = torch.logit(base.clamp(eps, 1 - eps))
    # the change the residual makes, added to the colour itself: exactly zero where r = 0, also for colours
    # beyond the clamp (a white shirt stays 1.0)
    delta = torch.sigmoid(logit + r) - torch.sigmoid(logit)
    w = composition.weight[:, None]
    colors = projection.colors.index_put((composition.index,), (base + (1 - w) * delta).clamp(0, 1))
    return _recoloured(projection, colors, decoder_shell, int((composition.weight < 0.5).sum()))
