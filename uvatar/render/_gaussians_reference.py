"""Brute-force per-pixel Gaussian renderer: the test oracle of the tile rasterizer.

Twin of ``_gaussians_torch.rasterize_torch``. It never calls the tile code: it has its own EWA
projection (full 3x3 / 2x3 matrix products, rotation from roma), no footprint culling and no tiles.
For every pixel it walks ALL Gaussians in stable depth order with the literal 3DGS loop:

    for each Gaussian, front to back:
        alpha = min(0.99, o · exp(-½ dᵀ Σ2D⁻¹ d));  if alpha < 1/255: skip
        test_T = T · (1 - alpha);  if test_T < 1e-4: stop (this Gaussian is not blended)
        C += alpha · T · c;  T = test_T

Only the SH colour evaluation (``eval_sh``, tested on its own against the SH closed forms) is shared.
Memory and time grow as pixels x Gaussians: tiny scenes only (a few hundred Gaussians, 64x64 images).
Differentiable by autograd.
"""

from __future__ import annotations

import roma
import torch

from uvatar.quaternions import wxyz_to_xyzw
from uvatar.render._gaussians_torch import eval_sh

__all__ = ["rasterize_reference"]

_ALPHA_MAX = 0.99
_ALPHA_MIN = 1.0 / 255.0
_T_MIN = 1e-4
_BLUR_PX2 = 0.3


def _project(means, quats_wxyz, scales, K, R, t, width, height):
    """Pixel means ``(N, 2)``, 2D covariances ``(N, 2, 2)`` (with the 0.3 px² blur), camera z ``(N,)``."""
    quats_xyzw = wxyz_to_xyzw(quats_wxyz)
    rot = roma.unitquat_to_rotmat(quats_xyzw / quats_xyzw.norm(dim=-1, keepdim=True))  # (N, 3, 3)
    cov3d = rot @ torch.diag_embed(scales**2) @ rot.transpose(-1, -2)
    cov_cam = R @ cov3d @ R.T  # (N, 3, 3)
    cam = means @ R.T + t
    x, y, z = cam.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    # The Jacobian is taken at x/z, y/z clamped to 0.3 tan(half fov) beyond the image edges (3DGS, gsplat).
    tan_fov_x, tan_fov_y = 0.5 * width / fx, 0.5 * height / fy
    tan_x = torch.clamp(x / z, min=-(cx / fx + 0.3 * tan_fov_x), max=(width - cx) / fx + 0.3 * tan_fov_x)
    tan_y = torch.clamp(y / z, min=-(cy / fy + 0.3 * tan_fov_y), max=(height - cy) / fy + 0.3 * tan_fov_y)
    zero = torch.zeros_like(z)
    jac = torch.stack(
        [
            torch.stack([fx / z, zero, -fx * tan_x / z], dim=-1),
            torch.stack([zero, fy / z, -fy * tan_y / z], dim=-1),
        ],
        dim=-2,
    )  # (N, 2, 3)
    cov2d = jac @ cov_cam @ jac.transpose(-1, -2) + _BLUR_PX2 * torch.eye(2, dtype=means.dtype, device=means.device)
    homog = cam @ K.T  # (N, 3)
    means2d = homog[:, :2] / homog[:, 2:3]
    return means2d, cov2d, z


def rasterize_reference(
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
    """Render by brute force; same arguments and results as ``rasterize_torch`` (no ``compiled``).

    Returns image ``(H, W, 3)``, alpha ``(H, W)`` (``1 - T``), depth ``(H, W)`` (``Σ w z / alpha``, 0 where
    alpha is 0).
    """
    dtype, device = means.dtype, means.device
    means2d, cov2d, z = _project(means, quats_wxyz, scales, K, R, t, width, height)
    if colors.dim() == 3:
        rgb = eval_sh(colors, means - (-R.T @ t))
    else:
        rgb = colors
    conic = torch.linalg.inv(cov2d)  # (N, 2, 2)

    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device) + 0.5,
        torch.arange(width, dtype=dtype, device=device) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)  # (P, 2), x then y

    n_pix = pix.shape[0]
    trans = torch.ones(n_pix, dtype=dtype, device=device)
    color_acc = torch.zeros(n_pix, 3, dtype=dtype, device=device)
    depth_acc = torch.zeros(n_pix, dtype=dtype, device=device)
    done = torch.zeros(n_pix, dtype=torch.bool, device=device)
    z_sorted = z.detach()
    for i in torch.argsort(z_sorted, stable=True).tolist():
        if not (near <= float(z_sorted[i]) <= far):
            continue
        d = pix - means2d[i]  # (P, 2)
        mahal = torch.einsum("pi,ij,pj->p", d, conic[i], d)
        alpha = torch.clamp(opacities[i] * torch.exp(-0.5 * mahal), max=_ALPHA_MAX)
        test_t = trans * (1.0 - alpha)
        considered = (alpha >= _ALPHA_MIN) & ~done
        done = done | (considered & (test_t < _T_MIN))
        blend = considered & ~done
        weight = torch.where(blend, alpha * trans, torch.zeros_like(alpha))
        color_acc = color_acc + weight.unsqueeze(-1) * rgb[i]
        depth_acc = depth_acc + weight * z[i]
        trans = torch.where(blend, test_t, trans)

    alpha_img = 1.0 - trans
    image = color_acc + trans.unsqueeze(-1) * background
    depth = torch.where(alpha_img > 0, depth_acc / alpha_img.clamp_min(1e-10), torch.zeros_like(depth_acc))
    return image.reshape(height, width, 3), alpha_img.reshape(height, width), depth.reshape(height, width)
