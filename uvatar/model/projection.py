"""The training-free "projection" decoder: the baseline every learned decoder must beat.

* Core: colours from Core-UV (the photo's colours projected onto the body), unseen texels filled by
  :func:`uvatar.model.fill.fill_core_colors` (mirror, scalp, push-pull). One flat, opaque Gaussian per
  covered texel, sized by the texel's footprint on the body surface. Beneath the face's frontally seen
  skin, a backing of the half-resolution blocks (:func:`face_backing_blocks`): the fine texels' sheet
  lets up to 15 % of what lies behind it through between its Gaussians, and on the face that was the
  dark hair of the back of the head and the mouth's inside, a grid over the skin. The mouth's inside
  where the photo showed it, and dark where it lies away from all it showed (:func:`dark_mouth_texels`):
  an opened mouth in another pose is dark.
* Shell: where the photo sees the person off the body (hair, hats, loose clothing, held objects), one
  Gaussian per off-body photo pixel (:func:`uvatar.model.offbody.off_body_gaussians`), on a fitted
  template's front where one explains the pixel, else at the body's outline depth, round, or deepened
  along the photo's ray by its reach where it is the outline of matter round a limb or the torso
  (:func:`uvatar.dualuv.offbody.matter_reach`: a sleeve, a trouser leg, a coat's flare is as deep from the
  side and as wide from behind as the photo shows it wide; matter far beside the body, a held bag, only as
  deep as it is thick); without a person mask, one Gaussian per
  Shell-UV texel that was seen. Fitted templates (hair) add their unseen sides
  and back, coloured from their seen part (:mod:`uvatar.model.template_gaussians`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch

from uvatar.body.model import rest_vertices
from uvatar.body.parts import PART_NAMES, interior_faces, mouth_faces
from uvatar.body.shell import shell_vertices
from uvatar.body.skinning import world_points_to_bound
from uvatar.body.uv import texel_footprint
from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.views import uv_config
from uvatar.model.decoder import ProjectionRequest, UVGaussians
from uvatar.model.fill import MIN_SCALP_TEXELS, fill_core_colors, surface_distance
from uvatar.model.offbody import off_body_gaussians
from uvatar.model.template_gaussians import template_gaussians
from uvatar.quaternions import identity_wxyz

__all__ = ["ProjectionConfig", "ProjectionDecoder", "dark_mouth_texels", "decode_projection", "far_from_photo", "filled_colors", "rest_vertices", "seen_hair_colour", "template_layer", "texel_scales"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectionConfig:
    core_opacity: float = 0.99
    shell_opacity: float = 0.97
    tangent_sigma: float = 0.5  # Gaussian sigma in texel sides: opaque neighbours one texel apart still leave
    # no holes (coverage >= 0.84 midway), and a wider splat blurs the photo (astronaut: 0.75 -> 22.0 dB,
    # 0.5 -> 24.4 dB on the body's interior pixels)
    unseen_tangent_sigma: float = 0.6  # the same for the unseen 2x2 blocks (unseen_lod), in their texel sides: a
    # back drawn at 0.5 let 15 % of the front through at its thinnest (a head photo's shirt and tie showed on
    # its back), 5 % at 0.6; 0.75 (under 1 %) spilled past the outline into the photo's own view (51 synthetic
    # subjects: input ST-LPIPS 0.054 -> 0.059, Biden's own view -0.13 dB)
    unseen_far_sigma: float = 0.75  # and for the blocks farther than unseen_far_m over the body from every texel the
    # photo coloured (far_from_photo): no outline of the photo's view is near them, and at 0.6 the front's shirt and
    # tie still showed on a head photo's back (at most 1 % through at 0.75)
    unseen_far_m: float = 0.05
    shell_pixel_sigma: float = 0.6  # off-body Gaussians: width (sigma) in pixel spacings
    shell_pixel_thickness: float = 0.0  # off-body Gaussians: extent along the ray, in shell offsets at their face
    # (at least their width). 0: round, not needles: the photo cannot see that extent, and stretched along
    # the photo's rays they were fans of needles from the side; the depth of hair comes from its template
    shell_pixel_reach: float = 0.5  # and at least this times their reach (sigma; uvatar.dualuv.offbody.matter_reach):
    # the turnaround clip's bins at 45-180 degrees +0.5 to +0.9 dB over round ones; 0.5 puts 0.14 opacity at the
    # tube's far side, so it fades there rather than ending in a hard cut
    template_tangent_sigma: float = 0.6  # template shell Gaussians: sigma in the surface, in sample spacings
    template_normal_sigma: float = 0.25  # and along the template's normal
    normal_sigma: float = 0.08  # flat: sigma along the normal, in texel sides
    mirror: bool = True
    scalp_fill: bool = True  # unseen scalp texels take the hair's colour (the hairstyle's seen points, else the seen scalp), not push-pull skin
    dress_unseen: bool = True  # unseen torso, arms, legs, feet and hands are dressed (uvatar.model.dress), not bare
    dress_source_cos: float = 0.3  # the dressing rule's colours come from texels seen at least this frontally (cos of
    # the view): at the outline one photo pixel smears over many texels and mixes in the background. (Those
    # texels still keep their photo colour: the fit is not exact, and without them the photo's own view
    # loses 2.9 dB on the astronaut at 0.3, 0.15 dB at 0.1.)
    unseen_lod: bool = True  # 2x2 blocks of unseen texels become one Gaussian of the half-resolution atlas
    face_backing: bool = True  # with unseen_lod: the head's frontally seen blocks also drawn beneath its skin (face_backing_blocks)
    backing_min_cos: float = 0.35  # a block is backed where the photo saw its four texels at least this frontally (at 2 mm
    # deep: the head's blocks seen at any angle, Obama arms crossed 32.08 -> 32.02 dB, Biden official 31.27 -> 31.41; frontal
    # only 32.05 and 31.47)
    mouth_unseen_colour: tuple[float, float, float] | None = (0.16, 0.06, 0.06)  # the mouth's inside the photo did not show,
    # drawn in this dark red (None: not drawn) where it lies at least mouth_unseen_gap_m from every seen texel: a mouth
    # the tracker opens in a re-posed frame is dark, not the grey of the head's filled inside seen through it
    mouth_unseen_gap_m: float = 0.004  # over the reference pose; the inside next to seen teeth and lips stays undrawn (drawn,
    # it darkened the teeth's edges: Biden official's own view 30.75 -> 30.68 dB; at 4 mm 30.73, at 10 mm 30.74 but the
    # opened mouths kept grey specks)
    backing_depth_m: float = 0.005  # how far beneath the skin the backing lies, along the face's normal: at 2 mm, on a face slanted
    # to the view, a block's centre was nearer the camera than some of the fine Gaussians over it and, sorted before them, blurred
    # them (synthetic head framing 29.03 -> 28.81 dB; at 5 mm 28.99, Biden official 31.27 -> 31.47 at 2 mm, 31.59 at 5 mm)


FOOTPRINT_CAP = 2.0  # texel sides above this many times the atlas's 0.95 quantile are capped (texel_scales): the
# eyeballs' sides are 1.7-1.9 times it (4.4-4.9 mm at 1024²), one degenerate head face 7 times


class ProjectionDecoder:
    """The projection baseline behind the :class:`~uvatar.model.decoder.Decoder` interface."""

    name = "projection"

    def __init__(self, config: ProjectionConfig = ProjectionConfig()) -> None:
        self.config = config

    def projections(self, core_resolution: int, shell_resolution: int) -> dict[str, ProjectionRequest]:
        """One projection at the avatar's grid sides, with the run's encoder (which must be RGB)."""
        return {"avatar": ProjectionRequest(None, uv_config(core_resolution, shell_resolution))}

    def decode(self, uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor) -> UVGaussians:
        return decode_projection(uvs["avatar"], body, phenotypes, facial, self.config)


def texel_scales(footprint: torch.Tensor, face: torch.Tensor, config) -> torch.Tensor:
    """``(N, 3)`` sigmas of flat texel Gaussians on faces ``face (N,)`` from the per-face texel side
    ``footprint (F,)`` (metres) and ``config``'s ``tangent_sigma`` / ``normal_sigma`` (in texel sides).

    UV-degenerate faces give absurd footprints: a side is capped at :data:`FOOTPRINT_CAP` times the 0.95
    quantile of all faces' sides (the whole atlas's, not the drawn texels': capped by the texels drawn in
    one call, the seen ones of a head photo, the eyeballs' small UV islands got dots 1.3 mm wide 4.4 mm
    apart, and the eyes rendered grey with the background through them)."""
    side = footprint[face]
    if len(side):
        side = side.clamp(max=float(torch.quantile(footprint, 0.95)) * FOOTPRINT_CAP)
    return torch.stack([side * config.tangent_sigma, side * config.tangent_sigma, side * config.normal_sigma], -1)


def _gaussians_on_raster(raster, keep_faces, footprint, config, colors_grid, mask=None):
    idx, face, bary = raster.covered()
    ok = keep_faces[face]
    if mask is not None:
        ok &= mask.reshape(-1)[idx]
    idx, face, bary = idx[ok], face[ok], bary[ok]
    scales = texel_scales(footprint, face, config)
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


def face_backing_blocks(coarse_raster, coarse: torch.Tensor, uv: UVFeatures, body, min_cos: float) -> torch.Tensor:
    """``(H/2, W/2)`` bool: the blocks of ``coarse_raster`` (:func:`unseen_blocks`) on the head (not its
    interior) whose four texels the photo saw at a view cosine of at least ``min_cos`` and that are not
    drawn coarse already (``coarse``): drawn a second time beneath the skin, as the unseen blocks are
    (their sigma lets at most 6 % through), they close the see-through spots of the fine texels' sheet."""
    half = coarse_raster.mask.shape[0]
    frontal = (uv.core_mask & (uv.core_cos >= min_cos)).cpu().reshape(half, 2, half, 2).all(3).all(1)
    head = (body.face_parts.cpu() == PART_NAMES.index("head")) & ~interior_faces(body).cpu()
    return coarse_raster.mask & ~coarse & frontal & head[coarse_raster.face_index.clamp(min=0)]


def dark_mouth_texels(raster, body, rest: torch.Tensor, photo_texels: torch.Tensor, gap_m: float) -> torch.Tensor:
    """``(R, R)`` bool: the texels of the mouth's inside (:func:`~uvatar.body.parts.mouth_faces`) of ``raster``
    that ``photo_texels (R, R)`` (seen or mirrored) do not hold and that lie at least ``gap_m`` metres from every
    one of them over the subject's reference pose ``rest (V, 3)`` (texel centres: :func:`surface_distance`)."""
    unseen_mouth = raster.mask & mouth_faces(body).cpu()[raster.face_index.clamp(min=0)] & ~photo_texels.cpu()
    distance = surface_distance(raster, body, rest.cpu(), photo_texels.cpu() & raster.mask, gap_m, where=unseen_mouth)
    return unseen_mouth & torch.isinf(distance)  # inf: none within the gap


def far_from_photo(coarse_raster, photo_texels: torch.Tensor, body, rest: torch.Tensor, distance_m: float) -> torch.Tensor:
    """``(H/2, W/2)`` bool: the blocks of ``coarse_raster`` (:func:`unseen_blocks`) farther than ``distance_m``
    over the subject's reference pose ``rest (V, 3)`` from every block holding a texel of ``photo_texels
    (H, W)`` (seen or mirrored); all of them when there is none."""
    half = coarse_raster.mask.shape[0]
    near_photo = photo_texels.reshape(half, 2, half, 2).any(3).any(1) & coarse_raster.mask
    return torch.isinf(surface_distance(coarse_raster, body, rest, near_photo, distance_m)) & coarse_raster.mask


def _face_colors(raster, colors: torch.Tensor, n_faces: int) -> torch.Tensor:
    """``(F, 3)`` mean colour of each face's covered texels of the ``(3, R, R)`` map (NaN: none)."""
    idx, face, _ = raster.covered()
    total = torch.zeros(n_faces, 3).index_add_(0, face, colors.reshape(3, -1)[:, idx].T)
    count = torch.zeros(n_faces).index_add_(0, face, torch.ones(len(face)))
    return total / count[:, None]  # 0/0: NaN where no texel


def filled_colors(uv: UVFeatures, body, rest: torch.Tensor, config: ProjectionConfig = ProjectionConfig()):
    """The baseline's Core-UV colours ``(3, R, R)``: the photo's, then mirrored, the scalp, the dressing rule
    and push-pull (:func:`~uvatar.model.fill.fill_core_colors` as ``config`` sets it), with the texels that
    hold the photo's colours and the fill's stats; ``rest (V, 3)``: the subject's reference-pose vertices."""
    sources = uv.core_mask & (uv.core_cos > config.dress_source_cos)
    return fill_core_colors(uv.core, uv.core_mask, body, rest, config.mirror, config.scalp_fill, config.dress_unseen, sources,
                            seen_hair_colour(uv.templates))  # fmt: skip


def seen_hair_colour(templates) -> torch.Tensor | None:
    """``(3,)`` median colour of the points the photo saw on the fitted hairstyle (``templates``: the
    projection's :class:`~uvatar.dualuv.template_shell.TemplateSamples`), or None (no hairstyle, or it
    saw fewer than :data:`~uvatar.model.fill.MIN_SCALP_TEXELS` of them)."""
    seen = [t.colors[t.seen] for t in templates or () if t.kind == "hair"]
    colours = torch.cat(seen) if seen else torch.zeros(0, 3)
    return colours.median(0).values if len(colours) >= MIN_SCALP_TEXELS else None


def template_layer(uv: UVFeatures, raster, colors: torch.Tensor, n_faces: int, config: ProjectionConfig = ProjectionConfig(),
                   face_parts: torch.Tensor | None = None) -> dict[str, torch.Tensor] | None:  # fmt: skip
    """The Gaussians of the fitted hair and garment templates that ``uv`` was projected on (None: none).

    Args:
        uv: the projection, with its :attr:`~uvatar.dualuv.project.UVFeatures.templates` samples.
        raster: the atlas raster of ``colors (3, R, R)``, the body's filled Core-UV colours (a garment's
            unseen parts take the colour of the body under them).
        n_faces: faces of the body; config: the templates' sigmas; face_parts: ``(F,)`` the body part of each
            face (a garment decides per part whether its back is its own cloth), or None.
    Returns:
        ``face_index (M,)``, ``barycentrics``, ``offsets``, ``rotations_wxyz``, ``scales``, ``colors`` of all
        templates together (:func:`~uvatar.model.template_gaussians.template_gaussians`).
    """
    if not uv.templates:
        return None
    face_colors = _face_colors(raster, colors, n_faces)
    skin = next((samples.skin for samples in uv.templates if samples.skin is not None), None)  # the hair's: the face's skin
    parts = [template_gaussians(samples, config.template_tangent_sigma, config.template_normal_sigma, face_colors, face_parts, skin)
             for samples in uv.templates]  # fmt: skip
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def decode_projection(uv: UVFeatures, body, phenotypes: torch.Tensor, facial: torch.Tensor, config: ProjectionConfig = ProjectionConfig()) -> UVGaussians:
    """The baseline's Gaussians from RGB Dual-UV features.

    Args:
        uv: :class:`UVFeatures` whose features are RGB (``encoder == "rgb"``), with the shell surface
            (``shell_offsets``) it was projected on.
        body: BodyModel; phenotypes ``(6,)`` and facial ``(52,)``: the fitted shape and face.
    """
    if uv.core.shape[0] != 3:
        raise ValueError(f"the projection decoder needs RGB features (3 channels); got {uv.core.shape[0]}")
    resolution = uv.core.shape[-1]
    raster = body.uv_raster(resolution)
    keep = ~interior_faces(body)
    rest = rest_vertices(body, phenotypes, facial)

    # ---- core colours: seen, then mirrored, then the scalp, then push-pull per island
    colors, photo_texels, stats = filled_colors(uv, body, rest, config)
    footprint = texel_footprint(rest, body.faces, body.uv_corners, resolution)
    # the mouth's inside is drawn where the photo showed it (an open mouth's teeth) and, dark, where it lies
    # away from all that the photo showed (config.mouth_unseen_colour); the rest of it is not drawn (next to the
    # seen teeth and lips its dark showed at their edges; docs/completion_eval.md)
    mouth = mouth_faces(body).cpu()
    unseen_mouth = raster.mask & mouth[raster.face_index.clamp(min=0)] & ~photo_texels.cpu()
    dark_mouth = torch.zeros_like(unseen_mouth)
    if config.mouth_unseen_colour is not None:
        dark_mouth = dark_mouth_texels(raster, body, rest, photo_texels, config.mouth_unseen_gap_m)
        colors = torch.where(dark_mouth[None], torch.tensor(config.mouth_unseen_colour).to(colors)[:, None, None], colors)
        unseen_mouth &= ~dark_mouth
        stats["n_mouth_dark_texels"] = int(dark_mouth.sum())
    fine_keep = keep | mouth.to(keep.device)
    if config.unseen_lod and resolution >= 256:
        fine, coarse_raster, coarse, coarse_colors = unseen_blocks(raster, photo_texels, colors, body)
        draw_fine = (fine & ~unseen_mouth) | dark_mouth
        _, face, bary, scales, core_colors = _gaussians_on_raster(raster, fine_keep, footprint, config, colors, draw_fine)
        coarse_footprint = texel_footprint(rest, body.faces, body.uv_corners, resolution // 2)
        coarse_config = replace(config, tangent_sigma=config.unseen_tangent_sigma)
        c_idx, c_face, c_bary, c_scales, c_colors = _gaussians_on_raster(coarse_raster, keep, coarse_footprint, coarse_config, coarse_colors, coarse)
        far = far_from_photo(coarse_raster, photo_texels, body, rest, config.unseen_far_m).reshape(-1)[c_idx]
        c_scales[far, :2] *= config.unseen_far_sigma / config.unseen_tangent_sigma
        stats.update(n_core_fine=len(face), n_core_coarse=len(c_face), n_core_coarse_far=int(far.sum()))
        # groups of core Gaussians: (face, barycentrics, scales, colours, offset along the face's normal)
        groups = [(face, bary, scales, core_colors, 0.0), (c_face, c_bary, c_scales, c_colors, 0.0)]
        if config.face_backing:
            backing = face_backing_blocks(coarse_raster, coarse, uv, body, config.backing_min_cos)
            _, b_face, b_bary, b_scales, b_colors = _gaussians_on_raster(coarse_raster, keep, coarse_footprint, coarse_config, coarse_colors, backing)
            stats["n_core_backing"] = len(b_face)
            groups.append((b_face, b_bary, b_scales, b_colors, -config.backing_depth_m))  # beneath the skin
    else:
        _, face, bary, scales, core_colors = _gaussians_on_raster(raster, fine_keep, footprint, config, colors, ~unseen_mouth)
        groups = [(face, bary, scales, core_colors, 0.0)]
    face, bary, scales, core_colors = (torch.cat([group[i] for group in groups]) for i in range(4))
    n_core = len(face)
    core_offsets = torch.zeros(n_core, 3)
    core_offsets[:, 2] = torch.cat([torch.full((len(group[0]),), group[4]) for group in groups])  # face frame: normal third

    # ---- shell: only where it was seen
    shell_res = uv.shell.shape[-1]
    meta = {"decoder": "projection", "core_resolution": resolution, "shell_resolution": shell_res}
    if uv.off_body is not None:  # off-body photo pixels, elongated along their rays
        shell = off_body_gaussians(uv.off_body, config.shell_pixel_sigma, config.shell_pixel_thickness, config.shell_pixel_reach)
        s_face, s_bary, s_offsets = shell["face_index"], shell["barycentrics"], shell["offsets"]
        s_rotations, s_scales, s_colors = shell["rotations_wxyz"], shell["scales"], shell["colors"]
        stats["shell_from"] = meta["shell"] = "photo pixels"
    else:  # seen Shell-UV texels, on the shell
        shell_raster = body.uv_raster(shell_res)
        shell_seen = uv.shell_mask & shell_raster.mask
        shell_rest = shell_vertices(rest[None], body.faces, uv.shell_offsets)[0]
        shell_footprint = texel_footprint(shell_rest, body.faces, body.uv_corners, shell_res)
        _, s_face, s_bary, s_scales, s_colors = _gaussians_on_raster(shell_raster, keep, shell_footprint, config, uv.shell, shell_seen)
        shell_points = (s_bary[:, :, None] * shell_rest[body.faces[s_face]]).sum(1)
        s_offsets = world_points_to_bound(rest, body.faces, s_face, s_bary, shell_points)
        s_rotations = identity_wxyz(len(s_face))
        stats["shell_seen_texels"] = int(shell_seen.sum())
    templates = template_layer(uv, raster, colors, len(body.faces), config, body.face_parts.cpu())
    if templates is not None:  # the fitted hair / garment surfaces: the unseen sides and back, coloured from the seen
        s_face = torch.cat([s_face, templates["face_index"]])
        s_bary = torch.cat([s_bary, templates["barycentrics"]])
        s_offsets = torch.cat([s_offsets, templates["offsets"]])
        s_rotations = torch.cat([s_rotations, templates["rotations_wxyz"]])
        s_scales = torch.cat([s_scales, templates["scales"]])
        s_colors = torch.cat([s_colors, templates["colors"]])
        stats["n_template"] = len(templates["face_index"])
        meta["templates"] = [name for samples in uv.templates for name in samples.names]
    n_shell = len(s_face)
    stats.update(n_core=n_core, n_shell=n_shell)
    meta["stats"] = stats
    return UVGaussians(
        face_index=torch.cat([face, s_face]),
        barycentrics=torch.cat([bary, s_bary]),
        offsets=torch.cat([core_offsets, s_offsets]),
        rotations_wxyz=torch.cat([identity_wxyz(n_core), s_rotations]),
        scales=torch.cat([scales, s_scales]),
        colors=torch.cat([core_colors, s_colors]),
        opacities=torch.cat([torch.full((n_core,), config.core_opacity), torch.full((n_shell,), config.shell_opacity)]),
        layer=torch.cat([torch.zeros(n_core, dtype=torch.uint8), torch.ones(n_shell, dtype=torch.uint8)]),
        meta=meta,
    )
