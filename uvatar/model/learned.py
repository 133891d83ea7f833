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
from uvatar.model.compose import color_map, compose_over_projection, seen_weight
from uvatar.model.decoder import ProjectionRequest, UVGaussians
from uvatar.model.inputs import GaussianBase, build_base, decoder_inputs
from uvatar.model.mae import DecoderInputs
from uvatar.model.projection import decode_projection

__all__ = ["LearnedDecoder", "check_decoder_spec"]

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
        """``"avatar"``: RGB at the avatar's sides (the projection avatar the decoder's colours go onto);
        ``"base"``: RGB at the decoder's own map sizes (its baseline); ``"inputs"``: its encoder at those
        sizes (the same projection as ``"base"`` for an RGB decoder: projected once)."""
        r, rs = self.config.resolution, self.config.shell_resolution
        return {"avatar": ProjectionRequest("rgb", uv_config(core_resolution, shell_resolution)),
                "base": ProjectionRequest("rgb", uv_config(r, rs)), "inputs": ProjectionRequest(self.config.encoder, uv_config(r, rs))}  # fmt: skip

    def decode(self, uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor) -> UVGaussians:
        """The projection decoder's avatar at the avatar's atlas (photo detail, dressing, off-body pixels,
        fitted templates) with this decoder's colours where the photo did not see and its Shell-UV
        Gaussians (:func:`~uvatar.model.compose.compose_over_projection`)."""
        t0 = time.perf_counter()
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


def check_decoder_spec(spec: str) -> None:
    """Raise :class:`~uvatar.errors.InputError` now (before any tracking) if ``--decoder`` names no usable
    decoder: the file is read and its format and config checked (a few MB; the weights' match to the
    config is checked when the decoder is built)."""
    if spec == "projection":
        return

    read_decoder(resolve_decoder(spec))
