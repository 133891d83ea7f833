"""Image metrics, the only home of PSNR and SSIM: training losses, reconstruction reports and every
evaluation (:mod:`uvatar.eval`) use these functions. A top-level module with no UVatar imports: the
evaluations run the whole reconstruction, and the reconstruction reports its input-view PSNR, so these
functions cannot live in either package without the two importing each other.

SSIM is the standard 11x11 Gaussian-window SSIM (sigma 1.5, C1 = 0.01², C2 = 0.03²) on values in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gaussian_window", "ssim_map", "ssim", "masked_psnr_ssim"]


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """``(size, size)`` normalised Gaussian window."""
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of ``(B, C, H, W)`` images in [0, 1] -> ``(B, C, H, W)``; differentiable."""
    c = a.shape[1]
    window = gaussian_window().to(a)[None, None].expand(c, 1, -1, -1)

    def blur(x):
        return F.conv2d(x, window, padding=5, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of ``(B, C, H, W)`` images in [0, 1] (a scalar tensor); differentiable."""
    return ssim_map(a, b).mean()


def masked_psnr_ssim(render: torch.Tensor, photo: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``render`` vs ``photo`` (both ``(H, W, 3)`` in [0, 1]) inside ``mask (H, W)``.

    SSIM is averaged over the channels, then over the mask's pixels. Both are NaN for an empty mask.
    """
    mask = mask.bool()
    if not mask.any():
        return float("nan"), float("nan")
    mse = ((render - photo) ** 2).mean(-1)[mask].mean().clamp(min=1e-10)
    psnr = float(10 * torch.log10(1.0 / mse))
    value = ssim_map(render.permute(2, 0, 1)[None], photo.permute(2, 0, 1)[None])
    return psnr, float(value[0].mean(0)[mask].mean())
