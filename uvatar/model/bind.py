"""Decoder raw maps + baseline -> :class:`~uvatar.model.decoder.UVGaussians` (differentiable).

Every attribute is a residual over the projection baseline (:class:`~uvatar.model.inputs.GaussianBase`);
with all-zero raw maps the avatar IS the baseline:

====================  =========================================================================
colour                ``sigmoid(logit(base) + raw)``  (base clamped to [1e-3, 1 - 1e-3])
opacity               ``sigmoid(logit(base) + raw)``
offset (face frame)   ``base + max_offset * tanh(raw)``  (metres; ``max_core_offset`` / ``max_shell_offset``)
rotation (face frame) ``normalize(base + raw)``  (WXYZ; the base is the identity on texels)
scale                 ``base * exp(M * tanh(raw / M))``  (``M = max_log_scale``)
====================  =========================================================================

Texel layers read the raw map at their texel (maps coarser than the baseline's atlas, for an avatar
built finer than the decoder's maps, are upsampled bilinearly first); the photo-pixel shell layer
(:attr:`~uvatar.model.mae.DecoderConfig.pixel_residuals`) reads the shell map bilinearly at each sample's
UV, or stays as the projection decoder makes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uvatar.model.decoder import UVGaussians
from uvatar.model.inputs import GaussianBase, LayerBase
from uvatar.model.mae import ATTRIBUTES, DecoderConfig

__all__ = ["bind_gaussians", "layer_attributes", "upsample_covered"]

_EPS = 1e-3


def _take(raw: torch.Tensor, name: str) -> torch.Tensor:
    start, count = ATTRIBUTES[name]
    return raw[:, start : start + count]


def _values(raw: torch.Tensor, base: LayerBase) -> torch.Tensor:
    """``(14, S, S)`` raw map -> ``(N, 14)`` values of the layer's Gaussians."""
    if base.index is None:  # bilinear at the samples' UV (row 0 of the map is v = 1)
        grid = torch.stack([2 * base.uv[:, 0] - 1, 1 - 2 * base.uv[:, 1]], -1).to(raw)
        return F.grid_sample(raw[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T
    if raw.shape[-1] != base.side:
        raw = upsample_covered(raw, base.side, base.map_covered)
    return raw.reshape(raw.shape[0], -1)[:, base.index].T


def upsample_covered(raw: torch.Tensor, side: int, covered: torch.Tensor | None) -> torch.Tensor:
    """``(C, S, S)`` -> ``(C, side, side)`` bilinear, normalised over the map's covered texels: a fine texel
    near a UV island's edge takes only the island's trained values, never the untrained ones outside it."""
    size = (side, side)
    if covered is None:
        return F.interpolate(raw[None], size=size, mode="bilinear", align_corners=False)[0]
    w = covered.to(raw)[None, None]
    num = F.interpolate(raw[None] * w, size=size, mode="bilinear", align_corners=False)[0]
    den = F.interpolate(w, size=size, mode="bilinear", align_corners=False)[0]
    nearest = F.interpolate(raw[None], size=size, mode="nearest")[0]
    return torch.where(den > 1e-6, num / den.clamp(min=1e-6), nearest)


def layer_attributes(raw: torch.Tensor, base: LayerBase, max_offset: float, max_log_scale: float) -> dict[str, torch.Tensor]:
    """Attributes of one layer's Gaussians.

    Args:
        raw: ``(14, S, S)`` raw decoder map (any ``S`` dividing ``base.side`` for texel layers).
        base: the layer's baseline (``N`` Gaussians).
    Returns:
        ``colors (N, 3)``, ``opacities (N,)``, ``offsets (N, 3)``, ``rotations_wxyz (N, 4)``, ``scales (N, 3)``
        and the residuals ``offset_delta (N, 3)`` (metres), ``log_scale (N, 3)``, ``opacity_drop (N,)``
        (baseline minus opacity, where positive) for regularizers.
    """
    values = _values(raw, base)  # (N, 14)
    color = torch.sigmoid(torch.logit(base.color.clamp(_EPS, 1 - _EPS)) + _take(values, "color"))
    opacity = torch.sigmoid(torch.logit(base.opacity.clamp(_EPS, 1 - _EPS)) + _take(values, "opacity")[:, 0])
    offset_delta = max_offset * torch.tanh(_take(values, "offset"))
    rotation = F.normalize(base.rotation + _take(values, "rotation"), dim=-1)
    log_scale = max_log_scale * torch.tanh(_take(values, "scale") / max_log_scale)
    return {
        "colors": color, "opacities": opacity, "offsets": base.offset + offset_delta, "rotations_wxyz": rotation,
        "scales": base.scale * torch.exp(log_scale), "offset_delta": offset_delta, "log_scale": log_scale,
        "opacity_drop": (base.opacity - opacity).clamp(min=0),
    }  # fmt: skip


def _fixed_attributes(base: LayerBase, device) -> dict[str, torch.Tensor]:
    """A layer's baseline attributes as they are (no residuals)."""
    n = len(base)
    return {
        "colors": base.color.to(device), "opacities": base.opacity.to(device), "offsets": base.offset.to(device),
        "rotations_wxyz": base.rotation.to(device), "scales": base.scale.to(device),
        "offset_delta": torch.zeros(n, 3, device=device), "log_scale": torch.zeros(n, 3, device=device),
        "opacity_drop": torch.zeros(n, device=device),
    }  # fmt: skip


def bind_gaussians(core_raw: torch.Tensor, shell_raw: torch.Tensor, base: GaussianBase, config: DecoderConfig,
                   return_residuals: bool = False):  # fmt: skip
    """The Gaussians of one subject.

    Args:
        core_raw: ``(14, H, W)`` and shell_raw ``(14, Hs, Ws)``: one sample of the decoder's output.
        base: the subject's :class:`GaussianBase`.
        return_residuals: also return ``{"offset_delta": (N, 3), "log_scale": (N, 3)}`` over all Gaussians
            and ``"core_opacity_drop": (Nc,)`` (how far each body-surface Gaussian fell below its baseline opacity).
    Returns:
        :class:`UVGaussians` (tensors carry gradients to the raw maps; bind them with
        :meth:`uvatar.avatar.Avatar.from_gaussians` and ``base.phenotypes``, ``base.facial``); with
        ``return_residuals``, ``(gaussians, residuals)``.
    """
    layers = [(core_raw, base.core, config.max_core_offset, 0), (shell_raw, base.shell, config.max_shell_offset, 1)]
    parts = [layer_attributes(raw, layer, max_offset, config.max_log_scale) for raw, layer, max_offset, _ in layers]
    if base.pixels is not None:
        layers.append((shell_raw, base.pixels, config.max_shell_offset, 1))
        parts.append(layer_attributes(shell_raw, base.pixels, config.max_shell_offset, config.max_log_scale)
                     if config.pixel_residuals else _fixed_attributes(base.pixels, core_raw.device))  # fmt: skip
    device = core_raw.device

    def cat(name):
        return torch.cat([p[name] for p in parts])

    def cat_base(name):
        return torch.cat([getattr(layer, name).to(device) for _, layer, _, _ in layers])

    gaussians = UVGaussians(
        face_index=cat_base("face"),
        barycentrics=cat_base("barycentrics"),
        offsets=cat("offsets"),
        rotations_wxyz=cat("rotations_wxyz"),
        scales=cat("scales"),
        colors=cat("colors"),
        opacities=cat("opacities"),
        layer=torch.cat([torch.full((len(layer),), k, dtype=torch.uint8, device=device) for _, layer, _, k in layers]),
        meta={
            "decoder": config.name, "decoder_config": config.to_json(), "core_resolution": base.core.side,
            "shell_resolution": base.shell.side, "n_core": len(base.core), "n_shell_uv": len(base.shell),
            "n_shell_pixels": 0 if base.pixels is None else len(base.pixels),
        },  # fmt: skip
    )
    if not return_residuals:
        return gaussians
    residuals = {k: cat(k) for k in ("offset_delta", "log_scale")}
    residuals["core_opacity_drop"] = parts[0]["opacity_drop"]
    return gaussians, residuals
