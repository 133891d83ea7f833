"""The learned decoder at inference: a checkpoint in, Gaussians out (what ``--decoder PATH|default`` runs).

:class:`LearnedDecoder` loads a checkpoint (:mod:`uvatar.model.checkpoint`) and implements the
:class:`~uvatar.model.decoder.Decoder` interface: it asks for three projections, ``"avatar"`` (RGB at
the avatar's grid sides: the projection decoder's avatar), ``"base"`` (RGB at its own map sizes: the
baseline its residuals sit on) and ``"inputs"`` (its encoder at its own map sizes), and composes its
output over the projection avatar (:mod:`uvatar.model.compose`): the photo's texels at full resolution,
the decoder's colours where the photo did not see. The result is a
:class:`~uvatar.model.decoder.UVGaussians` like the projection decoder's, so binding, posing, rendering
and export are unchanged. :meth:`LearnedDecoder.decode_prepared` decodes subjects prepared by
:func:`uvatar.model.inputs.prepare_subject` into the decoder's own avatar (training, benchmark).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from uvatar.body.uv import surface_uv
from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.views import uv_config
from uvatar.encode import get_encoder
from uvatar.model.bind import bind_gaussians
from uvatar.model.checkpoint import load_decoder, read_decoder, resolve_decoder
from uvatar.model.compose import Composition, color_map, compose_over_projection, compose_residual, composition_of, projection_color_map, seen_weight
from uvatar.model.decoder import ProjectionRequest, UVGaussians
from uvatar.model.fill import pool_colors
from uvatar.model.inputs import GaussianBase, build_base, decoder_inputs, pool_fill
from uvatar.model.mae import ATTRIBUTES, DecoderConfig, DecoderInputs
from uvatar.model.projection import decode_projection

__all__ = ["LearnedDecoder", "check_decoder_spec", "decoder_projections", "over_projection_parts", "compose_decoded"]

log = logging.getLogger(__name__)


class LearnedDecoder:
    """A trained :class:`~uvatar.model.mae.UVDecoder` with its config and where it came from."""

    def __init__(self, model, source: str, meta: dict | None = None) -> None:
        self.model, self.source, self.meta = model, source, meta or {}
        self.config = model.config
        self.name = self.config.name
        self._encoder = None

    @classmethod
    def load(cls, spec: str | Path, body, device: str = "cpu") -> "LearnedDecoder":
        """From ``"default"``, a decoder ``.safetensors`` or a run folder (:func:`~uvatar.model.checkpoint.resolve_decoder`)."""
        path = resolve_decoder(spec)
        model, meta = load_decoder(path, body, device)
        return cls(model, str(path), meta)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encoder(self):
        """The frozen encoder of the decoder's input features (None for "rgb")."""
        if self.config.encoder == "rgb":
            return None
        if self._encoder is None:

            self._encoder = get_encoder(self.config.encoder, device=self.device)
        return self._encoder

    def projections(self, core_resolution: int, shell_resolution: int) -> dict[str, ProjectionRequest]:
        """:func:`decoder_projections` of this decoder's config."""
        return decoder_projections(self.config, core_resolution, shell_resolution)

    def decode(self, uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor) -> UVGaussians:
        """The projection decoder's avatar at the avatar's atlas (photo detail, dressing, off-body pixels,
        fitted templates) with this decoder's colours where the photo did not see and its Shell-UV
        Gaussians (:func:`~uvatar.model.compose.compose_over_projection`; an ``over_projection`` decoder's
        colour residuals on that avatar's own colours, :func:`compose_decoded`)."""
        t0 = time.perf_counter()
        if self.config.over_projection:
            inputs, base, composition = over_projection_parts(uvs, body, phenotypes, facial, self.config)
            with torch.no_grad():
                t1 = time.perf_counter()
                core_raw, shell_raw = self.model(inputs.to(self.device))
                gaussians, _ = compose_decoded(core_raw[0].float().cpu(), shell_raw[0].float().cpu(), base, composition, self.config, drawable_only=True)
                decoder_s = round(time.perf_counter() - t1, 4)
            gaussians.meta.update(decoder=self.config.name, decoder_config=self.config.to_json(), decoder_source=self.source,
                                  decoder_s=decoder_s, decode_s=round(time.perf_counter() - t0, 4))  # fmt: skip
            stats = gaussians.meta["stats"]
            log.info("learned decoder %s (%s), residuals over the projection avatar: %d Gaussians (%d core it may recolour, %d of its shell)",
                     self.config.name, self.source, len(gaussians), stats["n_decoder_colored"], stats["n_decoder_shell"])  # fmt: skip
            return gaussians
        full = uvs["avatar"]
        projection = decode_projection(full, body, phenotypes, facial)
        base, core_fill, shell_fill = build_base(uvs["base"], body, phenotypes, facial, self.config)
        learned = self.decode_prepared(decoder_inputs(uvs["inputs"], core_fill, shell_fill, self.config), base, drop_transparent=False)
        n_core, n_shell = len(base.core), len(base.shell)
        colors, covered = color_map(learned.colors[:n_core], base.core.index, base.core.side)
        # the decoder's drawable Shell-UV texels (not its copy of the photo-pixel layer: the projection avatar has it)
        order = torch.arange(len(learned))
        shell = learned.select((order >= n_core) & (order < n_core + n_shell) & (learned.opacities >= 1.0 / 255.0))
        core = projection.layer == 0
        core_uv = surface_uv(body.uv_corners.cpu(), projection.face_index[core], projection.barycentrics[core])
        gaussians = compose_over_projection(projection, core_uv, seen_weight(full), colors, covered, shell)
        gaussians.meta.update(decoder=self.config.name, decoder_config=self.config.to_json(), decoder_source=self.source,
                              decoder_s=learned.meta["decoder_s"], decode_s=round(time.perf_counter() - t0, 4))  # fmt: skip
        stats = gaussians.meta["stats"]
        log.info("learned decoder %s (%s) over the projection avatar: %d Gaussians (%d core coloured by the decoder, %d of its shell)",
                 self.config.name, self.source, len(gaussians), stats["n_decoder_colored"], stats["n_decoder_shell"])  # fmt: skip
        return gaussians

    @torch.no_grad()
    def decode_prepared(self, inputs: DecoderInputs, base: GaussianBase, drop_transparent: bool = True) -> UVGaussians:
        """Batch-1 inputs and their baseline -> the decoder's own avatar at its map sizes (CPU tensors, no
        gradients; training and the decoder benchmark). ``drop_transparent``: leave out the Gaussians below
        the renderer's alpha floor (1/255); off, they keep the base's order (core, shell, photo pixels)."""
        t0 = time.perf_counter()
        core, shell = self.model(inputs.to(self.device))
        gaussians = bind_gaussians(core[0].float().cpu(), shell[0].float().cpu(), base, self.config)
        # Gaussians below the renderer's alpha floor (1/255) can never be drawn: leave them out
        keep = gaussians.opacities >= (1.0 / 255.0 if drop_transparent else 0.0)
        gaussians = gaussians.select(keep)
        gaussians.meta.update(decoder_source=self.source, decoder_s=round(time.perf_counter() - t0, 4), dropped_transparent=int((~keep).sum()))
        return gaussians


def decoder_projections(config: DecoderConfig, core_resolution: int, shell_resolution: int) -> dict[str, ProjectionRequest]:
    """The projections a learned decoder reads: ``"avatar"``: RGB at the avatar's sides (the projection
    avatar the decoder's colours go onto); ``"base"``: RGB at the decoder's own map sizes (its baseline);
    ``"inputs"``: its encoder at those sizes (the same projection as ``"base"`` for an RGB decoder: projected
    once)."""
    r, rs = config.resolution, config.shell_resolution
    return {"avatar": ProjectionRequest("rgb", uv_config(core_resolution, shell_resolution)),
            "base": ProjectionRequest("rgb", uv_config(r, rs)), "inputs": ProjectionRequest(config.encoder, uv_config(r, rs))}  # fmt: skip


def _pooled_projection_fill(composition: Composition, fallback: torch.Tensor, side: int) -> torch.Tensor:
    """``(4, side, side)``: the projection avatar's core colours averaged over each decoder texel's covered
    atlas texels, and "colour from the photo" (their mean seen weight at least 0.5); ``fallback (4, R, R)``
    (the decoder's own fill, ``R`` a multiple of ``side`` or equal) where no core Gaussian lies."""
    colors, weight, covered = projection_color_map(composition)
    factor = composition.side // side
    if factor * side != composition.side:
        raise ValueError(f"the projection avatar's side {composition.side} must be a multiple of the decoder's {side}")
    pooled = pool_colors(torch.cat([colors, weight[None]]), covered, side)
    pooled = torch.cat([pooled[:3], (pooled[3:] >= 0.5).float()])
    any_covered = torch.nn.functional.max_pool2d(covered.float()[None, None], factor)[0] > 0
    return torch.where(any_covered, pooled, pool_fill(fallback, side))


def over_projection_parts(uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor,
                          config: DecoderConfig) -> tuple[DecoderInputs, GaussianBase, Composition]:  # fmt: skip
    """An ``over_projection`` decoder's inputs, baseline and the projection avatar it composes over, from the
    projections of :func:`decoder_projections` (``uvs``: ``"avatar"``, ``"base"``, ``"inputs"``): the projection
    decoder's avatar at the ``"avatar"`` atlas (dressing rule, fitted templates, off-body photo pixels), its
    core colours pooled to the decoder's side as the baseline colours it reads (undressed fill where no core
    Gaussian lies), and the decoder's own baseline for its Shell-UV texels (:func:`build_base`, without the
    photo-pixel layer: the projection avatar has it). With ``config.over_projection_templates`` the fitted
    templates' Gaussians (all of them unseen) take the residual of the body point they are bound to."""
    full = uvs["avatar"]
    projection = decode_projection(full, body, phenotypes, facial)
    core = projection.layer == 0
    corners = body.uv_corners.cpu()
    core_uv = surface_uv(corners, projection.face_index[core], projection.barycentrics[core])
    template_uv = None
    n_template = projection.meta.get("stats", {}).get("n_template", 0)
    if config.over_projection_templates and n_template:
        last = slice(len(projection) - n_template, None)
        template_uv = surface_uv(corners, projection.face_index[last], projection.barycentrics[last])
    composition = composition_of(projection, core_uv, seen_weight(full), template_uv)
    base, core_fill, shell_fill = build_base(uvs["base"], body, phenotypes, facial, config, pixel_shell=False)
    core_fill = _pooled_projection_fill(composition, core_fill, config.resolution)
    return decoder_inputs(uvs["inputs"], core_fill, shell_fill, config), base, composition


def compose_decoded(core_raw: torch.Tensor, shell_raw: torch.Tensor, base: GaussianBase, composition: Composition, config: DecoderConfig,
                    drawable_only: bool = False) -> tuple[UVGaussians, dict]:  # fmt: skip
    """An ``over_projection`` decoder's raw maps (``core_raw (14, H, W)``, ``shell_raw (14, Hs, Ws)``) over
    the projection avatar (:func:`~uvatar.model.compose.compose_residual`; differentiable): the core map's
    colour channels as residuals on the avatar's colours; with ``config.over_projection_shell`` the
    decoder's Shell-UV texel Gaussians added (``drawable_only``: those at or above the renderer's alpha
    floor, 1/255). Returns the Gaussians and the shell's residuals (``offset_delta``, ``log_scale``, empty
    without the shell; ``core_opacity_drop`` empty) for the regularizers."""
    device = core_raw.device
    residuals = {"offset_delta": torch.zeros(0, 3, device=device), "log_scale": torch.zeros(0, 3, device=device),
                 "core_opacity_drop": torch.zeros(0, device=device)}  # fmt: skip
    shell = None
    if config.over_projection_shell:
        gaussians, bound = bind_gaussians(core_raw, shell_raw, base, config, return_residuals=True)
        n_core, n_shell = len(base.core), len(base.shell)
        order = torch.arange(len(gaussians), device=device)
        keep = (order >= n_core) & (order < n_core + n_shell)
        if drawable_only:
            keep &= gaussians.opacities >= 1.0 / 255.0
        shell = gaussians.select(keep, detach=False)
        residuals.update({k: bound[k][n_core : n_core + n_shell] for k in ("offset_delta", "log_scale")})
    start, count = ATTRIBUTES["color"]
    composed = compose_residual(composition, core_raw[start : start + count], base.core.map_covered.to(device), shell)
    return composed, residuals


def check_decoder_spec(spec: str) -> None:
    """Raise :class:`~uvatar.errors.InputError` now (before any tracking) if ``--decoder`` names no usable
    decoder: the file is read and its format and config checked (a few MB; the weights' match to the
    config is checked when the decoder is built)."""
    if spec == "projection":
        return

    read_decoder(resolve_decoder(spec))
