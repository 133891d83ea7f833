"""The learned decoder at inference: a checkpoint in, Gaussians out (what ``--decoder PATH|default`` runs).

:class:`LearnedDecoder` loads a checkpoint (:mod:`uvatar.model.checkpoint`) and implements the
:class:`~uvatar.model.decoder.Decoder` interface: it asks for two projections, ``"avatar"`` (RGB at
the avatar's grid sides, the baseline its residuals sit on) and ``"inputs"`` (its encoder at its own map
sizes), and decodes them into :class:`~uvatar.model.decoder.UVGaussians`, the same kind the projection
decoder makes, so binding, posing, rendering and export are unchanged. :meth:`LearnedDecoder.decode_prepared`
decodes subjects prepared by :func:`uvatar.model.inputs.prepare_subject` (evaluation, training).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.views import uv_config
from uvatar.encode import get_encoder
from uvatar.model.bind import bind_gaussians
from uvatar.model.checkpoint import load_decoder, read_decoder, resolve_decoder
from uvatar.model.decoder import ProjectionRequest, UVGaussians
from uvatar.model.inputs import GaussianBase, build_base, decoder_inputs
from uvatar.model.mae import DecoderInputs
from uvatar.model.projection import filled_colors, rest_vertices, template_layer

__all__ = ["LearnedDecoder", "check_decoder_spec"]

log = logging.getLogger(__name__)

MAX_UPSAMPLE = 4  # the avatar's Core-UV side is at most this many times the decoder's map side


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
        """``"avatar"``: RGB at the avatar's sides when they line up with the decoder's maps (a multiple
        of its side, at most :data:`MAX_UPSAMPLE` times it, the same shell ratio), else at the nearest such
        side; ``"inputs"``: the decoder's encoder at its own sizes."""
        r, rs = self.config.resolution, self.config.shell_resolution
        side, shell_side = core_resolution, shell_resolution
        if side % r or shell_side * r != side * rs or side > MAX_UPSAMPLE * r:
            # grids not lined up, or much finer than the decoder's maps (measured on the astronaut with
            # the tiny decoder: 512² and 1024² avatars score the same, the 1024² one with 3.7x the Gaussians)
            side = min(MAX_UPSAMPLE * r, max(r, (side // r) * r))
            shell_side = side * rs // r
        return {"avatar": ProjectionRequest("rgb", uv_config(side, shell_side)), "inputs": ProjectionRequest(self.config.encoder, uv_config(r, rs))}

    def decode(self, uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor) -> UVGaussians:
        """Gaussians from the :meth:`projections` (several photos: already blended), with the fitted hair
        and garment templates' Gaussians of the projection decoder added as it makes them (no residuals on
        them yet; a garment's unseen parts coloured from the dressed fill, which this decoder's own
        baseline does not use)."""
        base, core_fill, shell_fill = build_base(uvs["avatar"], body, phenotypes, facial, self.config)
        gaussians = self.decode_prepared(decoder_inputs(uvs["inputs"], core_fill, shell_fill, self.config), base)
        templates = None
        if uvs["avatar"].templates:  # a garment's unseen parts take the colour of the dressed body under them, as in the baseline
            colors, _, _ = filled_colors(uvs["avatar"], body, rest_vertices(body, phenotypes, facial))
            templates = template_layer(uvs["avatar"], body.uv_raster(core_fill.shape[-1]), colors, len(body.faces))
        if templates is not None:
            names = [name for samples in uvs["avatar"].templates for name in samples.names]
            gaussians = _with_templates(gaussians, templates, names, self.config.shell_opacity)
        log.info("learned decoder %s (%s): %d Gaussians (%d on templates, as the baseline makes them)", self.config.name,
                 self.source, len(gaussians), 0 if templates is None else len(templates["face_index"]))  # fmt: skip
        return gaussians

    @torch.no_grad()
    def decode_prepared(self, inputs: DecoderInputs, base: GaussianBase) -> UVGaussians:
        """Batch-1 inputs and their baseline -> the Gaussians (CPU tensors, no gradients)."""
        t0 = time.perf_counter()
        core, shell = self.model(inputs.to(self.device))
        gaussians = bind_gaussians(core[0].float().cpu(), shell[0].float().cpu(), base, self.config)
        # Gaussians below the renderer's alpha floor (1/255) can never be drawn: leave them out
        keep = gaussians.opacities >= 1.0 / 255.0
        gaussians = gaussians.select(keep)
        gaussians.meta.update(decoder_source=self.source, decoder_s=round(time.perf_counter() - t0, 4), dropped_transparent=int((~keep).sum()))
        return gaussians


def _with_templates(gaussians: UVGaussians, templates: dict[str, torch.Tensor], names: list[str], opacity: float) -> UVGaussians:
    """``gaussians`` followed by the template Gaussians (:func:`~uvatar.model.projection.template_layer`) of
    the templates ``names``, as Shell-UV Gaussians of opacity ``opacity``; their count and names in the meta
    (as the projection decoder records them)."""
    n = len(templates["face_index"])
    extra = UVGaussians(**templates, opacities=torch.full((n,), opacity), layer=torch.ones(n, dtype=torch.uint8))
    joined = gaussians.extend(extra)
    joined.meta = {**gaussians.meta, "stats": {**gaussians.meta.get("stats", {}), "n_template": n}, "templates": names}
    return joined


def check_decoder_spec(spec: str) -> None:
    """Raise :class:`~uvatar.errors.InputError` now (before any tracking) if ``--decoder`` names no usable
    decoder: the file is read and its format and config checked (a few MB; the weights' match to the
    config is checked when the decoder is built)."""
    if spec == "projection":
        return

    read_decoder(resolve_decoder(spec))
