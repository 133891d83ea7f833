"""What the learned decoder needs for one subject: its inputs and the baseline its outputs are residuals over.

Two things are built from Dual-UV projections of one photo (or several, blended):

* :class:`~uvatar.model.mae.DecoderInputs` at the decoder's own map sizes (``resolution`` and
  ``shell_resolution`` of its :class:`~uvatar.model.mae.DecoderConfig`): the projected features, the
  seen flags and view cosines, and the baseline's filled colours;
* :class:`GaussianBase` at the avatar's resolution ``R`` (the decoder's, or a multiple of it at
  inference): one Gaussian per covered, non-interior texel of the Core-UV atlas and of the coarser
  Shell-UV atlas, with the projection baseline's colour, opacity, offset (0 on the body, the shell's
  extrusion on the shell) and texel-footprint scale; plus, when the photo has a person mask, the
  projection decoder's off-body photo-pixel Gaussians (:mod:`uvatar.model.offbody`), kept as they
  are or, with ``pixel_residuals``, corrected by the decoder's shell map at their UV.

:func:`uvatar.model.bind.bind_gaussians` combines the decoder's raw maps with a ``GaussianBase``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from uvatar.body.parts import interior_faces
from uvatar.body.shell import shell_vertices
from uvatar.body.skinning import world_points_to_bound
from uvatar.body.uv import surface_uv, texel_footprint
from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.views import project_view, uv_config, view_shell_offsets
from uvatar.encode import get_encoder
from uvatar.errors import InputError
from uvatar.model.fill import fill_core_colors, pool_colors
from uvatar.model.mae import DecoderConfig, DecoderInputs
from uvatar.model.offbody import off_body_gaussians
from uvatar.model.projection import ProjectionConfig, rest_vertices, texel_scales
from uvatar.quaternions import identity_wxyz
from uvatar.track.view import FittedView

__all__ = ["LayerBase", "GaussianBase", "build_base", "decoder_inputs", "pool_fill", "prepare_subject"]


@dataclass
class LayerBase:
    """Baseline Gaussians of one layer.

    Texel layers hold one Gaussian per covered texel of a ``side x side`` atlas and read the decoder's
    raw map at ``index``; the photo-pixel layer (``index`` None) reads the shell map bilinearly at ``uv``.

    Attributes:
        side: atlas side (texels) the layer lives on. index: ``(N,)`` int64 linear texel index or None.
        uv: ``(N, 2)`` atlas (u, v) of each Gaussian's surface point.
        face: ``(N,)`` int64; barycentrics: ``(N, 3)``.
        color: ``(N, 3)`` in [0, 1]; opacity: ``(N,)`` in (0, 1); offset: ``(N, 3)`` metres in the face
        frame; rotation: ``(N, 4)`` WXYZ in the face frame; scale: ``(N, 3)`` metres (sigmas).
        map_covered: ``(S, S)`` bool, the covered texels of the decoder's map that feeds this layer (its
            values elsewhere are never trained: upsampling must not mix them in), or None.
    """

    side: int
    index: torch.Tensor | None
    uv: torch.Tensor
    face: torch.Tensor
    barycentrics: torch.Tensor
    color: torch.Tensor
    opacity: torch.Tensor
    offset: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    map_covered: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.face.shape[0])

    def to(self, device) -> "LayerBase":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device)
        return LayerBase(**moved)


@dataclass
class GaussianBase:
    """Everything :func:`~uvatar.model.bind.bind_gaussians` needs besides the decoder's raw maps.

    Attributes:
        core, shell: :class:`LayerBase` on the Core-UV and Shell-UV atlases.
        pixels: the photo-pixel shell Gaussians (a :class:`LayerBase` read from the shell map), or None.
        phenotypes: ``(6,)``; facial: ``(52,)`` of the subject.
    """

    core: LayerBase
    shell: LayerBase
    pixels: LayerBase | None
    phenotypes: torch.Tensor
    facial: torch.Tensor

    def to(self, device) -> "GaussianBase":
        pixels = None if self.pixels is None else self.pixels.to(device)
        return GaussianBase(self.core.to(device), self.shell.to(device), pixels, self.phenotypes.to(device), self.facial.to(device))


def _texels(body, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    raster = body.uv_raster(side)
    idx, face, bary = raster.covered()
    keep = ~interior_faces(body).cpu()
    ok = keep[face.cpu()]
    return idx.cpu()[ok], face.cpu()[ok], bary.cpu()[ok]


def build_base(
    uv: UVFeatures, body, phenotypes: torch.Tensor, facial: torch.Tensor, config: DecoderConfig, pixel_shell: bool = True,
) -> tuple[GaussianBase, torch.Tensor, torch.Tensor]:
    """The baseline Gaussians from RGB Dual-UV features at the avatar's resolution.

    Args:
        uv: RGB :class:`UVFeatures` (``core (3, R, R)``, ``shell (3, Rs, Rs)``) with the shell surface
            (``shell_offsets``) it was projected on.
        body: BodyModel. phenotypes ``(6,)``, facial ``(52,)``: the subject's shape and face.
        pixel_shell: add the photo-pixel shell Gaussians (when ``uv`` has them).
    Returns:
        the :class:`GaussianBase`, and the baseline maps ``core_fill (4, R, R)`` and ``shell_fill
        (4, Rs, Rs)`` (filled colour + "colour from the photo" flag) that :func:`decoder_inputs` pools.
    """
    if uv.core.shape[0] != 3:
        raise InputError(f"the decoder's baseline needs RGB Dual-UV features (3 channels); got {uv.core.shape[0]}")
    side, shell_side = uv.core.shape[-1], uv.shell.shape[-1]
    if side % shell_side:
        raise InputError(f"Core-UV side {side} must be a multiple of the Shell-UV side {shell_side}")
    rest = rest_vertices(body, phenotypes, facial)
    faces = body.faces.cpu()
    seen = uv.core_mask.cpu()
    # the shipped checkpoints learned residuals over the fill without dressing (uvatar.model.dress)
    colors, from_photo, _ = fill_core_colors(uv.core.cpu(), seen, body, rest, dress=False)
    core_fill = torch.cat([colors, from_photo.float()[None]])

    # ---- core: one Gaussian per covered texel, flat on the surface
    idx, face, bary = _texels(body, side)
    scales = texel_scales(texel_footprint(rest, faces, body.uv_corners.cpu(), side), face, config)
    n = len(idx)
    uv_corners = body.uv_corners.cpu()
    core = LayerBase(side, idx, surface_uv(uv_corners, face, bary), face, bary, colors.reshape(3, -1)[:, idx].T.contiguous(),
                     torch.full((n,), config.core_opacity), torch.zeros(n, 3), identity_wxyz(n), scales,
                     body.uv_raster(config.resolution).mask.cpu())  # fmt: skip

    # ---- shell: one Gaussian per covered texel of the coarser atlas, on the extruded shell
    s_idx, s_face, s_bary = _texels(body, shell_side)
    shell_rest = shell_vertices(rest[None], faces, uv.shell_offsets.cpu())[0]
    points = (s_bary[:, :, None] * shell_rest[faces[s_face]]).sum(1)
    s_offset = world_points_to_bound(rest, faces, s_face, s_bary, points)
    s_scales = texel_scales(texel_footprint(shell_rest, faces, body.uv_corners.cpu(), shell_side), s_face, config)
    shell_seen = uv.shell_mask.cpu() & body.uv_raster(shell_side).mask.cpu()
    under = pool_colors(colors, body.uv_raster(side).mask.cpu(), shell_side)  # the filled core under the shell
    shell_colors = torch.where(shell_seen[None], uv.shell.cpu().clamp(0, 1), under)
    shell_fill = torch.cat([shell_colors, shell_seen.float()[None]])
    pixels = _pixel_layer(uv, uv_corners, shell_side, config) if pixel_shell else None
    # with photo-pixel Gaussians the seen shell is drawn by them: the UV shell starts faint everywhere
    s_opacity = torch.where(shell_seen.reshape(-1)[s_idx] & (pixels is None), config.shell_opacity, config.shell_unseen_opacity)
    shell = LayerBase(shell_side, s_idx, surface_uv(uv_corners, s_face, s_bary), s_face, s_bary,
                      shell_colors.reshape(3, -1)[:, s_idx].T.contiguous(), s_opacity.float(), s_offset, identity_wxyz(len(s_idx)), s_scales,
                      body.uv_raster(config.shell_resolution).mask.cpu())  # fmt: skip
    base = GaussianBase(core, shell, pixels, phenotypes.reshape(-1).float().cpu(), facial.reshape(-1).float().cpu())
    return base, core_fill, shell_fill


def _pixel_layer(uv: UVFeatures, uv_corners: torch.Tensor, shell_side: int, config: DecoderConfig) -> LayerBase | None:
    """The projection decoder's off-body Gaussians as a layer read from the shell map."""
    if uv.off_body is None or len(uv.off_body) == 0:
        return None
    baseline = ProjectionConfig()
    g = {k: v.cpu() for k, v in off_body_gaussians(uv.off_body, baseline.shell_pixel_sigma, baseline.shell_pixel_thickness, baseline.shell_pixel_reach).items()}
    face, bary = g["face_index"], g["barycentrics"]
    return LayerBase(shell_side, None, surface_uv(uv_corners, face, bary), face, bary, g["colors"], torch.full((len(face),), config.shell_opacity),
                     g["offsets"], g["rotations_wxyz"], g["scales"])  # fmt: skip


def decoder_inputs(features: UVFeatures, core_fill: torch.Tensor, shell_fill: torch.Tensor, config: DecoderConfig) -> DecoderInputs:
    """Batch-1 :class:`DecoderInputs` from features projected at the decoder's own sizes.

    Args:
        features: :class:`UVFeatures` of the decoder's encoder at ``(resolution, shell_resolution)``.
        core_fill: ``(4, R, R)``, shell_fill ``(4, Rs, Rs)`` from :func:`build_base` (any multiple of the
            decoder's sizes; averaged down over covered texels).
    """
    r, rs = config.resolution, config.shell_resolution
    if features.core.shape[-1] != r or features.shell.shape[-1] != rs:
        raise InputError(f"decoder inputs must be projected at {r}² / {rs}²; got {features.core.shape[-1]}² / {features.shell.shape[-1]}²")
    core_seen = features.core_mask.float()
    shell_seen = features.shell_mask.float()
    core_base = pool_fill(core_fill, r)
    shell_base = pool_fill(shell_fill, rs)
    return DecoderInputs(
        core=(features.core * core_seen[None]).float()[None],
        core_seen=core_seen[None],
        core_cos=(features.core_cos.clamp(0, 1) * core_seen).float()[None],
        core_base=core_base[None],
        shell=(features.shell * shell_seen[None]).float()[None],
        shell_seen=shell_seen[None],
        shell_cos=(features.shell_cos.clamp(0, 1) * shell_seen).float()[None],
        shell_base=shell_base[None],
    )


def pool_fill(fill: torch.Tensor, side: int) -> torch.Tensor:
    """A baseline map ``fill (4, R, R)`` (colour and "colour from the photo" flag) averaged down to ``(4, side,
    side)`` (``R`` a multiple of ``side``; the flag where at least half its texels have it)."""
    if fill.shape[-1] == side:
        return fill.float()
    if fill.shape[-1] % side:
        raise InputError(f"baseline map side {fill.shape[-1]} must be a multiple of {side}")
    pooled = torch.nn.functional.avg_pool2d(fill[None].float(), fill.shape[-1] // side)[0]
    return torch.cat([pooled[:3], (pooled[3:] >= 0.5).float()])


def prepare_subject(
    body, view: FittedView, config: DecoderConfig, avatar_resolution: int | None = None, encoder=None, pixel_shell: bool = True,
) -> tuple[DecoderInputs, GaussianBase]:
    """Decoder inputs and baseline of one fitted view (its body and camera known or fitted).

    Args:
        view: the :class:`~uvatar.track.view.FittedView` (photo, person mask, posed body, camera).
        avatar_resolution: Core-UV side of the avatar (a multiple of ``config.resolution``; default the
            decoder's own): at a finer side, seen texels keep the photo's detail and the decoder's
            corrections are upsampled.
        encoder: the decoder's encoder when it is not "rgb" (built by the caller, reused across calls).
        pixel_shell: add the photo-pixel shell Gaussians (see :func:`build_base`).
    """
    r, rs = config.resolution, config.shell_resolution
    big = avatar_resolution or r
    if big % r:
        raise InputError(f"avatar resolution {big} must be a multiple of the decoder's {r}")
    offsets = view_shell_offsets(body, view)
    rgb = get_encoder("rgb")(view.image)
    uv_small = project_view(body, view, rgb, uv_config(r, rs), offsets)
    uv_big = uv_small if big == r else project_view(body, view, rgb, uv_config(big, big * rs // r), offsets)
    base, core_fill, shell_fill = build_base(uv_big, body, view.phenotypes, view.facial, config, pixel_shell)
    features = uv_small
    if config.encoder != "rgb":
        enc = encoder or get_encoder(config.encoder)
        features = project_view(body, view, enc(view.image), uv_config(r, rs), offsets)
    return decoder_inputs(features, core_fill, shell_fill, config), base
