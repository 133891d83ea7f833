"""The learned decoder at inference: a checkpoint in, avatars out (what ``--decoder PATH|default`` runs).

:class:`LearnedDecoder` loads a checkpoint (:mod:`uvatar.model.checkpoint`) and decodes prepared
subjects (:func:`uvatar.model.inputs.prepare_subject`) into :class:`~uvatar.avatar.Avatar` objects, the
same kind the projection decoder makes, so posing, rendering and export are unchanged.
:func:`decode_reconstruction` is the entry point of :func:`uvatar.reconstruct.reconstruct`: one or
several tracked photos (their UV features blended as the projection decoder blends them).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from uvatar.avatar import Avatar
from uvatar.model.bind import bind_gaussians
from uvatar.model.inputs import GaussianBase, build_base, decoder_inputs, project_for_decoder
from uvatar.model.mae import DecoderInputs

__all__ = ["LearnedDecoder", "decode_reconstruction", "check_decoder_spec"]

log = logging.getLogger(__name__)

MAX_UPSAMPLE = 4  # the avatar's Core-UV side is at most this many times the decoder's map side


class LearnedDecoder:
    """A trained :class:`~uvatar.model.mae.UVDecoder` with its config and where it came from."""

    def __init__(self, model, source: str, meta: dict | None = None) -> None:
        self.model, self.source, self.meta = model, source, meta or {}
        self.config = model.config
        self._encoder = None

    @classmethod
    def load(cls, spec: str | Path, body, device: str = "cpu") -> "LearnedDecoder":
        """From ``"default"``, a decoder ``.safetensors`` or a run folder (:func:`~uvatar.model.checkpoint.resolve_decoder`)."""
        from uvatar.model.checkpoint import load_decoder, resolve_decoder

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
            from uvatar.encode import get_encoder

            self._encoder = get_encoder(self.config.encoder, device=self.device)
        return self._encoder

    @torch.no_grad()
    def decode(self, inputs: DecoderInputs, base: GaussianBase) -> Avatar:
        """Batch-1 inputs and their baseline -> the avatar (CPU tensors, no gradients)."""
        t0 = time.perf_counter()
        core, shell = self.model(inputs.to(self.device))
        avatar = bind_gaussians(core[0].float().cpu(), shell[0].float().cpu(), base, self.config)
        # Gaussians below the renderer's alpha floor (1/255) can never be drawn: leave them out
        keep = avatar.opacities >= 1.0 / 255.0
        fields = {k: v for k, v in vars(avatar).items() if k != "meta"}
        per_gaussian = ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer")
        avatar = Avatar(**{k: (v.detach()[keep] if k in per_gaussian else v.detach()) for k, v in fields.items()}, meta=avatar.meta)
        avatar.meta.update(decoder_source=self.source, decoder_s=round(time.perf_counter() - t0, 4), dropped_transparent=int((~keep).sum()))
        return avatar


def check_decoder_spec(spec: str) -> None:
    """Raise :class:`~uvatar.errors.InputError` now (before any tracking) if ``--decoder`` names no usable
    decoder: the file is read and its format and config checked (a few MB; the weights' match to the
    config is checked when the decoder is built)."""
    if spec == "projection":
        return
    from uvatar.model.checkpoint import read_decoder, resolve_decoder

    read_decoder(resolve_decoder(spec))


def decode_reconstruction(spec: str, body, photos: list, uv_big, phenotypes, facial, shell_offsets, device: str = "cpu") -> Avatar:
    """The learned decoder's avatar for :func:`uvatar.reconstruct.reconstruct`.

    Args:
        spec: ``--decoder`` value (``"default"``, a file or a run folder).
        photos: per photo ``(image (H, W, 3), posed vertices (V, 3), camera, person mask (H, W) or None,
            shell offsets (V,))`` of the fit.
        uv_big: the reconstruction's blended RGB Dual-UV (its chosen resolution): the avatar's baseline
            when its side is a multiple of the decoder's, at most :data:`MAX_UPSAMPLE` times it (else the
            photos are projected again at the nearest such side).
        phenotypes ``(6,)``, facial ``(52,)``: the fitted shape and face; shell_offsets ``(V,)`` of the first photo.
    """
    from uvatar.dualuv.blend import blend_uv_features
    from uvatar.encode import get_encoder

    decoder = LearnedDecoder.load(spec, body, device)
    cfg = decoder.config
    r, rs = cfg.resolution, cfg.shell_resolution
    rgb = get_encoder("rgb")
    side, shell_side = uv_big.core.shape[-1], uv_big.shell.shape[-1]
    if uv_big.core.shape[0] != 3 or side % r or shell_side * r != side * rs or side > MAX_UPSAMPLE * r:
        # not RGB, grids not lined up, or much finer than the decoder's maps (measured on the astronaut with
        # the tiny decoder: 512² and 1024² avatars score the same, the 1024² one with 3.7x the Gaussians)
        big = min(MAX_UPSAMPLE * r, max(r, (side // r) * r))
        per = [project_for_decoder(rgb(img), body, v, cam, m, off, big, big * rs // r) for img, v, cam, m, off in photos]
        uv_big = blend_uv_features(per) if len(per) > 1 else per[0]
    small = [project_for_decoder(rgb(img), body, v, cam, m, off, r, rs) for img, v, cam, m, off in photos]
    features = blend_uv_features(small) if len(small) > 1 else small[0]
    if cfg.encoder != "rgb":
        enc = decoder.encoder()
        per = [project_for_decoder(enc(img), body, v, cam, m, off, r, rs) for img, v, cam, m, off in photos]
        features = blend_uv_features(per) if len(per) > 1 else per[0]
    base, core_fill, shell_fill = build_base(uv_big, body, phenotypes, facial, shell_offsets, cfg)
    avatar = decoder.decode(decoder_inputs(features, core_fill, shell_fill, cfg), base)
    log.info("learned decoder %s (%s): %d Gaussians", cfg.name, decoder.source, len(avatar))
    return avatar
