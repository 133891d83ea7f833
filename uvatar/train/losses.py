"""Training losses of the decoder: photometric (L1, SSIM, ST-LPIPS), mask, and residual regularizers.

Per rendered view (images ``(H, W, 3)`` over white, alpha and coverage ``(H, W)``)::

    l1 * |render - truth|  +  ssim * (1 - SSIM)  +  perceptual * ST-LPIPS(vgg)  +  mask * |alpha - coverage|

summed over views with their directed-consistency weights and averaged; plus ``offset`` times the mean
squared offset residual in centimetres and ``scale`` times the mean squared log-scale residual (growth
counted 4x: big Gaussians blur and bleed over the silhouette), and ``opacity`` times the mean drop of
body-surface Gaussians below their baseline opacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from uvatar.metrics import ssim

__all__ = ["LossWeights", "PerceptualLoss", "view_loss", "residual_loss"]


@dataclass(frozen=True)
class LossWeights:
    l1: float = 1.0
    ssim: float = 0.2
    perceptual: float = 0.1
    mask: float = 0.5
    offset: float = 0.05
    scale: float = 0.01
    opacity: float = 0.1
    edge_aware: bool = True  # leave partly covered truth pixels to the mask term (view_loss)


class PerceptualLoss(torch.nn.Module):
    """ST-LPIPS (VGG, the project's frozen weights) between ``(B, 3, H, W)`` images in [0, 1] -> ``(B,)``.

    ``size``: images are area-resized so their longer side is at most this (0: as they are); the VGG
    trunk at stride 1 is the costliest part of a CPU training step.
    """

    def __init__(self, size: int = 0) -> None:
        super().__init__()
        from uvatar.encode.stlpips import STLPIPS

        self.metric = STLPIPS("vgg")
        self.size = int(size)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        if self.size and max(h, w) > self.size:
            scale = self.size / max(h, w)
            shape = (max(32, round(h * scale)), max(32, round(w * scale)))
            a = F.interpolate(a, size=shape, mode="area")
            b = F.interpolate(b, size=shape, mode="area")
        return self.metric(a, b)


def view_loss(render: torch.Tensor, alpha: torch.Tensor, truth: torch.Tensor, coverage: torch.Tensor, weights: LossWeights,
              perceptual: PerceptualLoss | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """Loss terms of one view.

    Photometric terms do not judge the silhouette's partly covered pixels: the truth there is the
    anti-aliased mix of person and white, which point-sampled Gaussians can only match by whitening the
    texels on that view's outline, and those texels are inside the body in every other view (white
    cracks along UV seams). There the truth is replaced by the render itself (no gradient), weighted by
    ``|2 coverage - 1|``; the mask term judges the outline.

    Args:
        render, truth: ``(H, W, 3)`` over white; alpha, coverage: ``(H, W)``.
        perceptual: the ST-LPIPS module, or None to skip that term for this view.
    Returns:
        ``{"total", "l1", "ssim", "mask"[, "perceptual"]}`` scalars (``total`` weighted).
    """
    if weights.edge_aware:
        solid = (2.0 * coverage - 1.0).abs()[..., None]  # 1 fully person or fully background, 0 at half coverage
        truth = solid * truth + (1.0 - solid) * render.detach()
    a = render.permute(2, 0, 1)[None]
    b = truth.permute(2, 0, 1)[None]
    terms = {"l1": (render - truth).abs().mean(), "ssim": 1.0 - ssim(a, b), "mask": (alpha - coverage).abs().mean()}
    total = weights.l1 * terms["l1"] + weights.ssim * terms["ssim"] + weights.mask * terms["mask"]
    if perceptual is not None and weights.perceptual > 0:
        terms["perceptual"] = perceptual(a.clamp(0, 1), b.clamp(0, 1))[0]
        total = total + weights.perceptual * terms["perceptual"]
    terms["total"] = total
    return terms


def residual_loss(residuals: dict[str, torch.Tensor], weights: LossWeights) -> dict[str, torch.Tensor]:
    """Regularizers on the decoder's residuals: ``offset_delta (N, 3)`` metres, ``log_scale (N, 3)``, and
    ``core_opacity_drop (Nc,)`` (the body surface is opaque: a see-through texel opens a crack in views
    the training views did not test, e.g. along UV seams); empty residuals cost nothing."""
    log_scale = residuals["log_scale"]
    if residuals["offset_delta"].numel():
        offset = (residuals["offset_delta"] * 100.0).pow(2).mean()
        scale = (log_scale.clamp(min=0).pow(2) * 3.0 + log_scale.pow(2)).mean()
    else:  # no Gaussian with geometry residuals (an over_projection decoder without its shell)
        offset = scale = log_scale.new_zeros(())
    drop = residuals.get("core_opacity_drop")
    opacity = drop.mean() if drop is not None and drop.numel() else offset.new_zeros(())
    total = weights.offset * offset + weights.scale * scale + weights.opacity * opacity
    return {"offset_reg": offset, "scale_reg": scale, "opacity_reg": opacity, "total": total}
