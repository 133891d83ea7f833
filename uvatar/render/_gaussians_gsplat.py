"""gsplat backend: nerfstudio's CUDA rasterizer (written against gsplat 1.5.3's ``gsplat.rasterization``).

Imported only when ``backend="gsplat"`` (or ``"auto"`` with CUDA tensors) is asked for; gsplat itself is
imported inside :func:`rasterize_gsplat`, so importing this module never loads CUDA code.

Conventions match ours: quaternions in WXYZ order ("wxyz convension" in gsplat's docstring), a
world-to-camera 4x4 ``viewmats``, OpenCV intrinsics ``Ks``, pixel centres at +0.5, 0.3 px² blur
(``eps2d``), SH as ``max(0, Σ Y c + 0.5)``, and ``render_mode="RGB+ED"`` giving the alpha-normalised depth.
Known differences from the torch tile renderer (tests compare the two with tolerances for them):

- gsplat caps alpha at 0.999 where 3DGS (and our torch renderer) caps at 0.99;
- gsplat stops a pixel when ``T·(1-alpha) <= 1e-4``, we when it is ``< 1e-4``;
- gsplat computes in float32 only: other dtypes are cast in and out here.
"""

from __future__ import annotations

import math

import torch

from uvatar.errors import DependencyError

__all__ = ["rasterize_gsplat"]


def rasterize_gsplat(
    means: torch.Tensor,
    quats_wxyz: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    width: int,
    height: int,
    background: torch.Tensor,
    near: float,
    far: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render with ``gsplat.rasterization``; same arguments and results as ``rasterize_torch``.

    Args:
        means ``(N, 3)``, quats_wxyz ``(N, 4)``, scales ``(N, 3)``, opacities ``(N,)``, colors ``(N, 3)``
        or ``(N, K, 3)`` SH, on CUDA; K ``(3, 3)``, R ``(3, 3)``, t ``(3,)`` the camera; background ``(3,)``.
    Returns:
        image ``(H, W, 3)``, alpha ``(H, W)``, depth ``(H, W)`` (0 where alpha is 0), in ``means.dtype``.
    """
    try:
        import gsplat
    except ImportError as exc:
        raise DependencyError(
            f"backend='gsplat' needs the gsplat package with its CUDA extension ({exc}); "
            "install gsplat==1.5.3 on a CUDA machine or use backend='torch'"
        ) from None
    if not means.is_cuda:
        raise DependencyError("backend='gsplat' needs CUDA tensors; move them with .cuda() or use backend='torch'")

    out_dtype = means.dtype
    f32 = lambda x: x.to(torch.float32)  # noqa: E731
    viewmat = torch.eye(4, dtype=torch.float32, device=means.device)
    viewmat[:3, :3] = f32(R)
    viewmat[:3, 3] = f32(t)
    sh_degree = None if colors.dim() == 2 else int(math.isqrt(colors.shape[1])) - 1
    render, alphas, _meta = gsplat.rasterization(
        f32(means),
        f32(quats_wxyz),
        f32(scales),
        f32(opacities),
        f32(colors),
        viewmats=viewmat[None],
        Ks=f32(K)[None],
        width=width,
        height=height,
        near_plane=near,
        far_plane=far,
        eps2d=0.3,
        sh_degree=sh_degree,
        packed=False,
        backgrounds=f32(background)[None],
        render_mode="RGB+ED",
        rasterize_mode="classic",
    )
    image = render[0, ..., :3]
    alpha = alphas[0, ..., 0]
    depth = torch.where(alpha > 0, render[0, ..., 3], torch.zeros_like(alpha))
    return image.to(out_dtype), alpha.to(out_dtype), depth.to(out_dtype)
