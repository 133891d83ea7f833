"""The training-free "projection" decoder: the baseline every learned decoder must beat.

* Core: colours from Core-UV (the photo's colours projected onto the body); unseen texels are filled
  from the mirrored side where that side was seen, then by push-pull inside each UV island. One flat,
  opaque Gaussian per covered texel, sized by the texel's footprint on the body surface.
* Shell: where the photo sees the person off the body (hair, hats, loose clothing, held objects), one
  Gaussian per off-body photo pixel (:mod:`uvatar.dualuv.shell_pixels`): as wide as the pixel spacing
  at its depth, elongated along the photo's ray by the shell's thickness there, bound to the body face at
  the nearest outline; without a person mask, one Gaussian per Shell-UV texel that was seen. Unseen
  shell gets no Gaussian.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from uvatar.avatar import Avatar
from uvatar.body.mirror import mirror_texels
from uvatar.body.parts import interior_faces
from uvatar.body.shell import shell_vertices
from uvatar.body.skinning import world_points_to_bound
from uvatar.dualuv.project import UVFeatures
from uvatar.model.inpaint import mirror_fill, push_pull_islands

__all__ = ["ProjectionConfig", "decode_projection", "texel_footprint"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectionConfig:
    core_opacity: float = 0.99
    shell_opacity: float = 0.97
    tangent_sigma: float = 0.5  # Gaussian sigma in texel sides: opaque neighbours one texel apart still leave
    # no holes (coverage >= 0.84 midway), and a wider splat blurs the photo (astronaut: 0.75 -> 22.0 dB,
    # 0.5 -> 24.4 dB on the body's interior pixels)
    shell_pixel_sigma: float = 0.6  # off-body Gaussians: width (sigma) in pixel spacings
    normal_sigma: float = 0.08  # flat: sigma along the normal, in texel sides
    mirror: bool = True
    scalp_fill: bool = True  # unseen scalp texels take the seen scalp's median colour (hair), not push-pull skin
    unseen_lod: bool = True  # 2x2 blocks of unseen texels become one Gaussian of the half-resolution atlas


def texel_footprint(rest_vertices: torch.Tensor, faces: torch.Tensor, uv_corners: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(F,)`` side length (metres) of one texel of a ``resolution``² atlas on each face of the surface."""
    corners = rest_vertices[faces]
    area3d = 0.5 * torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1)
    uv = uv_corners
    area_uv = 0.5 * ((uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1]) - (uv[:, 2, 0] - uv[:, 0, 0]) * (uv[:, 1, 1] - uv[:, 0, 1])).abs()
    return torch.sqrt(area3d / area_uv.clamp(min=1e-12)) / resolution


def _gaussians_on_raster(raster, keep_faces, footprint, config, colors_grid, mask=None):
    idx, face, bary = raster.covered()
    ok = keep_faces[face]
    if mask is not None:
        ok &= mask.reshape(-1)[idx]
    idx, face, bary = idx[ok], face[ok], bary[ok]
    side = footprint[face]
    if len(side):  # UV-degenerate faces give absurd footprints: cap them to the bulk of the atlas
        side = side.clamp(max=float(torch.quantile(side, 0.95)) * 1.5)
    scales = torch.stack([side * config.tangent_sigma, side * config.tangent_sigma, side * config.normal_sigma], -1)
    colors = colors_grid.reshape(3, -1)[:, idx].T.clamp(0, 1)
    return idx, face, bary, scales, colors


def unseen_blocks(raster, photo_texels: torch.Tensor, colors: torch.Tensor, body):
    """Level of detail for what the photo did not see.

    A 2x2 block of the ``(H, W)`` atlas whose four texels are all covered and none came from the photo
    (``photo_texels``: seen or mirrored) is drawn by one Gaussian at the block's centre, the centre of
    one texel of the ``H/2`` atlas, with the block's mean colour: the filled colours are smooth there,
    and the avatar needs ~half the Gaussians.

    Returns:
        fine ``(H, W)`` bool texels still drawn at full resolution, the half-resolution raster,
        coarse ``(H/2, W/2)`` bool blocks drawn coarse, their colours ``(3, H/2, W/2)``.
    """
    height, width = raster.mask.shape
    half_h, half_w = height // 2, width // 2
    coarse_raster = body.uv_raster(half_h)
    unseen = (raster.mask & ~photo_texels).reshape(half_h, 2, half_w, 2)
    coarse = unseen.all(3).all(1) & coarse_raster.mask
    fine = ~coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)
    coarse_colors = colors.reshape(colors.shape[0], half_h, 2, half_w, 2).mean((2, 4))
    return fine, coarse_raster, coarse, coarse_colors


def scalp_texels(raster, body, rest_vertices: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: head texels of the scalp (above the eyes, or behind the ears above the mouth),
    where hair grows; the face and the neck are excluded. ``rest_vertices (V, 3)`` in the reference pose."""
    from uvatar.body.parts import PART_NAMES

    idx, face, bary = raster.covered()
    points = (bary[:, :, None] * rest_vertices[body.faces[face]]).sum(1)
    out = body.forward(body.default_params(1)).bone_poses[0]
    eye_z = float(out[body.bone_index("eye.L"), 2, 3])
    head_y = float(out[body.bone_index("head"), 1, 3])
    is_head = body.face_parts[face] == PART_NAMES.index("head")
    above_eyes = points[:, 2] > eye_z + 0.01
    behind_ears = (points[:, 1] > head_y + 0.01) & (points[:, 2] > eye_z - 0.05)
    mask = torch.zeros(raster.face_index.numel(), dtype=torch.bool)
    mask[idx] = is_head & (above_eyes | behind_ears)
    return mask.reshape(raster.face_index.shape)


def _fill_scalp(colors, known, raster, body, rest):
    """Unseen scalp texels take the median colour of the seen scalp (the photo's hair, or skin when bald):
    push-pull would otherwise spread face skin over the back of the head."""
    scalp = scalp_texels(raster, body, rest)
    seen = scalp & known
    stats = {"scalp_texels": int(scalp.sum()), "scalp_seen_fraction": float(seen.sum() / scalp.sum().clamp(min=1))}
    if seen.sum() < 50:
        return colors, known, stats
    hair = colors[:, seen].median(dim=1).values
    fill = scalp & ~known
    colors = torch.where(fill[None], hair[:, None, None], colors)
    return colors, known | fill, stats


def decode_projection(uv: UVFeatures, body, phenotypes: torch.Tensor, facial: torch.Tensor, shell_offsets: torch.Tensor, config: ProjectionConfig = ProjectionConfig()) -> Avatar:
    """Build an :class:`~uvatar.avatar.Avatar` from RGB Dual-UV features.

    Args:
        uv: :class:`UVFeatures` whose features are RGB (``encoder == "rgb"``).
        body: BodyModel; phenotypes ``(6,)`` and facial ``(52,)``: the fitted shape and face.
        shell_offsets: ``(V,)`` the shell extrusion used for the projection, metres.
    """
    if uv.core.shape[0] != 3:
        raise ValueError(f"the projection decoder needs RGB features (3 channels); got {uv.core.shape[0]}")
    resolution = uv.core.shape[-1]
    raster = body.uv_raster(resolution)
    keep = ~interior_faces(body)
    params = body.default_params(1)
    params.phenotypes, params.facial = phenotypes.reshape(1, -1), facial.reshape(1, -1)
    rest = body.forward(params).vertices[0]  # the avatar's own shape, reference pose
    stats = {}

    # ---- core colours: seen, then mirrored, then push-pull per island
    known = uv.core_mask & raster.mask
    colors = uv.core.clone()
    stats["core_seen_fraction"] = float(known.sum() / raster.mask.sum())
    if config.mirror:
        mirror = mirror_texels(raster, body.mirror, body.uv_corners)
        colors, known = mirror_fill(colors, known, mirror)
    stats["core_seen_or_mirrored_fraction"] = float(known.sum() / raster.mask.sum())
    photo_texels = known.clone()  # seen or mirrored: full resolution; the rest is filled, smooth
    # islands nothing was seen on take the median seen colour (before the scalp fill adds hair to it)
    fallback = colors[:, known].median(dim=1).values if known.any() else torch.full((3,), 0.5)
    if config.scalp_fill:
        colors, known, scalp_stats = _fill_scalp(colors, known, raster, body, rest)
        stats.update(scalp_stats)
    colors = push_pull_islands(colors, known, raster.mask, fallback)

    footprint = texel_footprint(rest, body.faces, body.uv_corners, resolution)
    if config.unseen_lod and resolution >= 256:
        fine, coarse_raster, coarse, coarse_colors = unseen_blocks(raster, photo_texels, colors, body)
        idx, face, bary, scales, core_colors = _gaussians_on_raster(raster, keep, footprint, config, colors, fine)
        coarse_footprint = texel_footprint(rest, body.faces, body.uv_corners, resolution // 2)
        _, c_face, c_bary, c_scales, c_colors = _gaussians_on_raster(coarse_raster, keep, coarse_footprint, config, coarse_colors, coarse)
        stats.update(n_core_fine=len(face), n_core_coarse=len(c_face))
        face, bary, scales, core_colors = torch.cat([face, c_face]), torch.cat([bary, c_bary]), torch.cat([scales, c_scales]), torch.cat([core_colors, c_colors])
    else:
        idx, face, bary, scales, core_colors = _gaussians_on_raster(raster, keep, footprint, config, colors)
    n_core = len(face)

    # ---- shell: only where it was seen
    shell_res = uv.shell.shape[-1]
    meta = {"decoder": "projection", "core_resolution": resolution, "shell_resolution": shell_res}
    if uv.shell_pixels is not None:  # off-body photo pixels, elongated along their rays
        samples = uv.shell_pixels
        width = config.shell_pixel_sigma * samples.spacing
        s_face, s_bary, s_offsets, s_rotations = samples.face, samples.barycentrics, samples.offsets, samples.rotations_wxyz
        s_scales = torch.stack([width, width, torch.maximum(samples.thickness, width)], -1)
        s_colors = samples.features.clamp(0, 1)
        stats["shell_from"] = meta["shell"] = "photo pixels"
    else:  # seen Shell-UV texels, on the shell
        shell_raster = body.uv_raster(shell_res)
        shell_seen = uv.shell_mask & shell_raster.mask
        shell_rest = shell_vertices(rest[None], body.faces, shell_offsets)[0]
        shell_footprint = texel_footprint(shell_rest, body.faces, body.uv_corners, shell_res)
        _, s_face, s_bary, s_scales, s_colors = _gaussians_on_raster(shell_raster, keep, shell_footprint, config, uv.shell, shell_seen)
        shell_points = (s_bary[:, :, None] * shell_rest[body.faces[s_face]]).sum(1)
        s_offsets = world_points_to_bound(rest, body.faces, s_face, s_bary, shell_points)
        s_rotations = _identity_quaternions(len(s_face))
        stats["shell_seen_texels"] = int(shell_seen.sum())
    n_shell = len(s_face)
    stats.update(n_core=n_core, n_shell=n_shell)
    meta["stats"] = stats
    return Avatar(
        face_index=torch.cat([face, s_face]),
        barycentrics=torch.cat([bary, s_bary]),
        offsets=torch.cat([torch.zeros(n_core, 3), s_offsets]),
        rotations_wxyz=torch.cat([_identity_quaternions(n_core), s_rotations]),
        scales=torch.cat([scales, s_scales]),
        colors=torch.cat([core_colors, s_colors]),
        opacities=torch.cat([torch.full((n_core,), config.core_opacity), torch.full((n_shell,), config.shell_opacity)]),
        layer=torch.cat([torch.zeros(n_core, dtype=torch.uint8), torch.ones(n_shell, dtype=torch.uint8)]),
        phenotypes=phenotypes.reshape(-1).float(),
        facial=facial.reshape(-1).float(),
        meta=meta,
    )


def _identity_quaternions(n: int) -> torch.Tensor:
    """``(n, 4)`` WXYZ identity rotations."""
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return quats
