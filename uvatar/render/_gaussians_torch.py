"""Pure-PyTorch tile rasterizer for 3D Gaussians: differentiable, runs on the CPU and any torch device.

The fast CPU path of :func:`uvatar.render.gaussians.render_gaussians`. Its test oracle is the per-pixel
brute force in ``_gaussians_reference.py``, which shares only :func:`eval_sh` with this file.

Pipeline (3D Gaussian Splatting, Kerbl et al. 2023, with gsplat's conventions):

1. **Projection (EWA)**, autograd. ``Σ3D = M Mᵀ`` with ``M = R(q) diag(s)``; ``Σ2D = J W Σ3D Wᵀ Jᵀ +
   0.3 I`` with ``W`` the world-to-camera rotation and ``J`` the Jacobian of the perspective projection
   at the mean (its ``x/z, y/z`` clamped to 0.3 tan(half fov) beyond the image edges, as 3DGS and
   gsplat do). The +0.3 px² term is 3DGS's low-pass filter.
2. **Footprint culling.** A Gaussian can only pass the ``alpha >= 1/255`` test where its Mahalanobis
   distance is ``<= e = sqrt(2 ln(255 o))`` (3.33 sigma at ``o = 1``, less for fainter ones), so its
   pixels lie in the box ``mean ± e·sqrt(diag Σ2D)``. The box is exact (gsplat 1.5 bounds radii with
   opacity the same way), so the tiles change nothing: the image equals the brute force's. A fixed
   3-sigma box, as in 3DGS, would drop contributions up to 0.011·o. Gaussians outside ``[near, far]``
   (camera z) or whose box misses the image are dropped.
3. **Tile lists.** Every (Gaussian, tile) overlap becomes a key; keys are sorted by tile, then by
   depth with a STABLE sort (equal depths keep the input order, so float32 ties are deterministic).
4. **Compositing**, a hand-written backward. All non-empty tiles are processed at once, 64 Gaussians
   per tile per step along the depth axis, carrying each pixel's transmittance. 3DGS rules: ``alpha =
   min(0.99, o·exp(-½ dᵀ Σ2D⁻¹ d))``; alpha < 1/255 is skipped; a pixel stops at the first Gaussian
   that would take its transmittance below 1e-4 (that Gaussian is not blended). Tiles leave the batch
   once every pixel has stopped or their list is exhausted. The per-pixel exponent is a quadratic
   polynomial in tile-local pixel coordinates, so a chunk's ``(A, P, 64)`` exponents are one matrix
   product. The backward recomputes each chunk instead of storing it (memory stays O(tile lists)).

Tiles are 8x8 pixels, not 3DGS's 16x16: the result does not depend on the tile size (step 2), and on
the avatar benchmark (262K Gaussians, 512², 2 CPU threads) 8x8 ran forward+backward twice as fast,
because each Gaussian is evaluated on fewer pixels it cannot reach and tiles stop sooner.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "TILE",
    "CHUNK",
    "ALPHA_MIN",
    "ALPHA_MAX",
    "T_MIN",
    "BLUR_PX2",
    "quat_wxyz_to_rotmat",
    "eval_sh",
    "project_gaussians",
    "rasterize_torch",
    "composite_chunk_plain",
    "finish_outputs",
]

log = logging.getLogger(__name__)

TILE = 8  # tile side, pixels
CHUNK = 64  # Gaussians per tile per compositing step
ALPHA_MIN = 1.0 / 255.0  # alphas below this are skipped
ALPHA_MAX = 0.99  # alpha cap
T_MIN = 1e-4  # a pixel stops before its transmittance drops below this
BLUR_PX2 = 0.3  # low-pass filter added to the 2D covariance's diagonal, pixels²
# Exponents are clamped from below before exp: exp(-16) < 1/255 is skipped anyway, and the floor keeps
# exp away from denormal results (an order of magnitude slower on x86 CPUs).
_LOG_ALPHA_FLOOR = -16.0
CLAMP_FOV = 1.3  # the Jacobian is taken at x/z, y/z clamped to 30% of tan(half fov) beyond the image edges

# Real spherical harmonics up to degree 3, the constants and sign conventions of 3DGS / gsplat.
_SH_C0 = 0.28209479177387814
_SH_C1 = 0.4886025119029199
_SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def quat_wxyz_to_rotmat(quats_wxyz: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` from quaternions ``(..., 4)`` in WXYZ order (normalised here)."""
    q = quats_wxyz / torch.linalg.vector_norm(quats_wxyz, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def eval_sh(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """RGB ``(N, 3)`` from real SH coefficients ``(N, K, 3)``, ``K = (deg+1)² <= 16``, seen along ``dirs``.

    ``dirs`` ``(N, 3)`` are world-frame directions from the camera centre to each Gaussian (normalised
    here). 3DGS / gsplat convention: ``rgb = max(0, Σ_k Y_k(dir) c_k + 0.5)``.
    """
    k = coeffs.shape[-2]
    out = _SH_C0 * coeffs[..., 0, :]
    if k > 1:
        d = dirs / torch.linalg.vector_norm(dirs, dim=-1, keepdim=True)
        x, y, z = (d[..., i : i + 1] for i in range(3))
        out = out - _SH_C1 * y * coeffs[..., 1, :] + _SH_C1 * z * coeffs[..., 2, :] - _SH_C1 * x * coeffs[..., 3, :]
        if k > 4:
            xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
            out = (
                out
                + _SH_C2[0] * xy * coeffs[..., 4, :]
                + _SH_C2[1] * yz * coeffs[..., 5, :]
                + _SH_C2[2] * (2 * zz - xx - yy) * coeffs[..., 6, :]
                + _SH_C2[3] * xz * coeffs[..., 7, :]
                + _SH_C2[4] * (xx - yy) * coeffs[..., 8, :]
            )
            if k > 9:
                out = (
                    out
                    + _SH_C3[0] * y * (3 * xx - yy) * coeffs[..., 9, :]
                    + _SH_C3[1] * xy * z * coeffs[..., 10, :]
                    + _SH_C3[2] * y * (4 * zz - xx - yy) * coeffs[..., 11, :]
                    + _SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * coeffs[..., 12, :]
                    + _SH_C3[4] * x * (4 * zz - xx - yy) * coeffs[..., 13, :]
                    + _SH_C3[5] * z * (xx - yy) * coeffs[..., 14, :]
                    + _SH_C3[6] * x * (xx - 3 * yy) * coeffs[..., 15, :]
                )
    return torch.clamp_min(out + 0.5, 0.0)


def project_gaussians(
    means: torch.Tensor,
    quats_wxyz: torch.Tensor,
    scales: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    width: int,
    height: int,
    min_depth: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EWA projection of 3D Gaussians to the image.

    Args:
        means: ``(N, 3)`` world centres, metres. quats_wxyz: ``(N, 4)`` WXYZ. scales: ``(N, 3)`` metres.
        K, R, t: camera intrinsics ``(3, 3)`` (pixels, zero skew), world-to-camera ``(3, 3)``, ``(3,)``.
        min_depth: camera z below this (behind the camera, to be culled) is replaced by it in the
            projection, so that those Gaussians get finite values and gradients.
    Returns:
        means2d ``(N, 2)`` pixels (pixel centres at +0.5), cov2d ``(N, 3)`` as ``(xx, xy, yy)`` in px²
        including the 0.3 px² blur, depth ``(N,)`` camera z in metres.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam = means @ R.T + t
    x, y, depth = cam.unbind(-1)
    z = depth.clamp_min(min_depth)
    # x/z and y/z clamped a little beyond the field of view, for the Jacobian only (3DGS, gsplat).
    margin_x = (CLAMP_FOV - 1.0) * 0.5 * width / fx  # 0.3 tan(half fov), beyond each image edge
    margin_y = (CLAMP_FOV - 1.0) * 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + margin_x
    lim_x_neg = cx / fx + margin_x
    lim_y_pos = (height - cy) / fy + margin_y
    lim_y_neg = cy / fy + margin_y
    xz = torch.minimum(torch.maximum(x / z, -lim_x_neg), lim_x_pos)
    yz = torch.minimum(torch.maximum(y / z, -lim_y_neg), lim_y_pos)
    # Camera-frame square root of Σ3D: (W R(q) diag(s)), then the two rows of J (W R(q) diag(s)).
    m = quat_wxyz_to_rotmat(quats_wxyz) * scales.unsqueeze(-2)  # (N, 3, 3)
    wm = (m.transpose(-1, -2) @ R.T).transpose(-1, -2)  # R @ m[n], as one (3N, 3) @ (3, 3) product
    inv_z = 1.0 / z
    row0 = (fx * inv_z).unsqueeze(-1) * (wm[:, 0, :] - xz.unsqueeze(-1) * wm[:, 2, :])
    row1 = (fy * inv_z).unsqueeze(-1) * (wm[:, 1, :] - yz.unsqueeze(-1) * wm[:, 2, :])
    cov2d = torch.stack(
        [(row0 * row0).sum(-1) + BLUR_PX2, (row0 * row1).sum(-1), (row1 * row1).sum(-1) + BLUR_PX2], dim=-1
    )
    means2d = torch.stack([fx * x * inv_z + cx, fy * y * inv_z + cy], dim=-1)
    return means2d, cov2d, depth


def _project_with_conics(
    means: torch.Tensor,
    quats_wxyz: torch.Tensor,
    scales: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    width: int,
    height: int,
    near: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`project_gaussians` plus the conics ``(N, 3)``: ``Σ2D⁻¹`` as ``(a, b, c)`` = ``[[a, b], [b, c]]``.

    Gaussians nearer than ``near`` (culled later) are projected as if at ``near``, so that no value or
    gradient of theirs is infinite or NaN.
    """
    means2d, cov2d, depth = project_gaussians(means, quats_wxyz, scales, K, R, t, width, height, near)
    det = cov2d[:, 0] * cov2d[:, 2] - cov2d[:, 1] * cov2d[:, 1]
    conic = torch.stack([cov2d[:, 2], -cov2d[:, 1], cov2d[:, 0]], dim=-1) / det.unsqueeze(-1)
    return means2d, cov2d, conic, depth


def _pixel_footprint(
    means2d: torch.Tensor, cov2d: torch.Tensor, opacities: torch.Tensor, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inclusive pixel column/row ranges ``(N,)`` where alpha can reach 1/255, and a mask of non-empty ones.

    All detached: the footprint is a discrete decision.
    """
    with torch.no_grad():
        o = opacities
        ext2 = 2.0 * torch.log(torch.clamp_min(o * 255.0, 1.0))  # squared Mahalanobis extent
        rx = torch.sqrt(ext2 * cov2d[:, 0]) + 1e-3  # small pad: the box must contain the ellipse
        ry = torch.sqrt(ext2 * cov2d[:, 2]) + 1e-3
        u, v = means2d[:, 0], means2d[:, 1]
        c0 = torch.ceil(u - rx - 0.5)  # pixel centres c + 0.5 inside [u - rx, u + rx]
        c1 = torch.floor(u + rx - 0.5)
        r0 = torch.ceil(v - ry - 0.5)
        r1 = torch.floor(v + ry - 0.5)
        ok = (o >= ALPHA_MIN) & (c1 >= 0) & (c0 <= width - 1) & (r1 >= 0) & (r0 <= height - 1) & (c0 <= c1) & (r0 <= r1)
        ok &= torch.isfinite(u) & torch.isfinite(v) & torch.isfinite(rx) & torch.isfinite(ry)
        c0 = c0.clamp(0, width - 1)
        c1 = c1.clamp(0, width - 1)
        r0 = r0.clamp(0, height - 1)
        r1 = r1.clamp(0, height - 1)
        # NaN -> 0 before the integer cast; culled entries are masked out by `ok` anyway.
        cast = lambda a: torch.nan_to_num(a, nan=0.0).long()  # noqa: E731
        return cast(c0), cast(c1), cast(r0), cast(r1), ok


def _tile_lists(
    c0: torch.Tensor,
    c1: torch.Tensor,
    r0: torch.Tensor,
    r1: torch.Tensor,
    depth: torch.Tensor,
    tiles_x: int,
    n_tiles: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-tile Gaussian lists sorted front to back.

    Args: inclusive pixel ranges ``(M,)`` and camera depths ``(M,)`` (all > 0) of the visible Gaussians.
    Returns: ``gauss_ids (L,)`` (indices into the M visible Gaussians, grouped by tile, each group in
    stable depth order: equal depths keep the input order), ``counts (n_tiles,)`` and ``offsets
    (n_tiles,)`` into ``gauss_ids``.

    float32 depths take one sort: positive floats order like their bits read as integers, so the key
    ``tile << 32 | bits(depth)`` of pairs made in input order sorts by tile, then depth, then input
    index. Other dtypes sort by depth first, then stably by tile.
    """
    device = depth.device
    take = torch.index_select  # faster than advanced indexing on CPU
    tx0, ty0 = (c0 // TILE).int(), (r0 // TILE).int()
    nx = (c1 // TILE).int() - tx0 + 1
    per_gauss = nx * ((r1 // TILE).int() - ty0 + 1)
    packed = depth.dtype == torch.float32
    if packed:
        order = torch.arange(depth.shape[0], device=device)
    else:
        order = torch.argsort(depth, stable=True)  # front to back; ties keep input order
    per = take(per_gauss, 0, order)
    total = int(per.sum())
    gauss = torch.repeat_interleave(order, per, output_size=total)
    first = (torch.cumsum(per, 0) - per).int()
    k = torch.arange(total, device=device, dtype=torch.int32) - torch.repeat_interleave(first, per, output_size=total)
    nx_g = take(nx, 0, gauss)
    tile = (take(ty0, 0, gauss) + k // nx_g) * tiles_x + take(tx0, 0, gauss) + k % nx_g
    if packed:
        depth_bits = take(depth.view(torch.int32), 0, gauss).long()
        perm = torch.sort((tile.long() << 32) | depth_bits, stable=True).indices
        tile_sorted = take(tile, 0, perm)
    else:
        tile_sorted, perm = torch.sort(tile, stable=True)  # by tile; depth order kept inside each tile
    counts = torch.bincount(tile_sorted, minlength=n_tiles)
    offsets = torch.cumsum(counts, 0) - counts
    return take(gauss, 0, perm), counts, offsets


def composite_chunk_plain(
    coefs: torch.Tensor, feats: torch.Tensor, trans: torch.Tensor, basis: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend one chunk of G depth-sorted Gaussians into A tiles of P pixels: the readable twin.

    The fast kernels (:func:`_chunk_forward`, :func:`_chunk_backward`) compute the same thing on
    ``(A, P, G)`` tables in place with a hand-written backward; tests compare them with this function
    and its autograd gradients.

    Args:
        coefs: ``(A, G, 6)`` coefficients of ``P = log(o) - ½ dᵀΣ⁻¹d`` over ``basis``; padding rows
            hold ``(-1e4, 0, ...)`` so their alpha is 0.
        feats: ``(A, G, F)`` features blended with the weights (colour, depth, 1).
        trans: ``(A, P)`` transmittance before the chunk, counting every Gaussian met so far (a pixel
            has stopped once it is below ``T_MIN``).
        basis: ``(6, P)`` rows ``1, u, v, u², uv, v²`` of the tile-local pixel centres.
    Returns:
        ``(A, P, F)`` blended features and ``(A, P)`` transmittance after the chunk.
    """
    alpha = torch.exp(coefs @ basis).clamp(max=ALPHA_MAX)  # (A, G, P)
    alpha = torch.where(alpha >= ALPHA_MIN, alpha, torch.zeros_like(alpha))
    t_after = trans.unsqueeze(1) * torch.cumprod(1.0 - alpha, dim=1)  # transmittance after each Gaussian
    # Blended iff it leaves T >= T_MIN. Products only shrink, so every blended Gaussian is preceded only
    # by blended ones, and t_after / (1 - alpha) is its exact transmittance before it.
    weights = torch.where(t_after >= T_MIN, alpha * t_after / (1.0 - alpha), torch.zeros_like(alpha))
    return weights.transpose(1, 2) @ feats, t_after[:, -1, :]


def _chunk_coefs(geo: torch.Tensor, centres: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``(A, G, 6)`` coefficients of the exponent over the tile basis (see :func:`composite_chunk_plain`).

    Args:
        geo: ``(A, G, 6)`` rows ``u, v, conic a, b, c, log o`` (pixel mean, ``Σ2D⁻¹ = [[a, b], [b, c]]``).
        centres: ``(A, 1, 2)`` tile centres, pixels. valid: ``(A, G)``, False for padding.
    """
    mu = geo[..., 0] - centres[..., 0]
    mv = geo[..., 1] - centres[..., 1]
    a, b, c, log_o = geo[..., 2], geo[..., 3], geo[..., 4], geo[..., 5]
    k1 = a * mu + b * mv
    k2 = b * mu + c * mv
    k0 = log_o - 0.5 * (mu * k1 + mv * k2)
    coefs = torch.stack([k0, k1, k2, -0.5 * a, -b, -0.5 * c], dim=-1)
    pad = torch.tensor([-1e4, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=coefs.dtype, device=coefs.device)
    return torch.where(valid.unsqueeze(-1), coefs, pad)


def _chunk_coefs_backward(
    geo: torch.Tensor, centres: torch.Tensor, valid: torch.Tensor, grad: torch.Tensor
) -> torch.Tensor:
    """Gradient ``(A, G, 6)`` w.r.t. ``geo`` of :func:`_chunk_coefs` given ``grad`` ``(A, G, 6)`` on its output."""
    mu = geo[..., 0] - centres[..., 0]
    mv = geo[..., 1] - centres[..., 1]
    a, b, c = geo[..., 2], geo[..., 3], geo[..., 4]
    grad = grad * valid.unsqueeze(-1)
    g0, g1, g2, g3, g4, g5 = grad.unbind(-1)
    k1 = a * mu + b * mv
    k2 = b * mu + c * mv
    return torch.stack(
        [
            g1 * a + g2 * b - g0 * k1,
            g1 * b + g2 * c - g0 * k2,
            mu * (g1 - 0.5 * g0 * mu) - 0.5 * g3,
            g1 * mv + g2 * mu - g0 * mu * mv - g4,
            mv * (g2 - 0.5 * g0 * mv) - 0.5 * g5,
            g0,
        ],
        dim=-1,
    )


def _below(value: float, dtype: torch.dtype) -> float:
    """The largest number of ``dtype`` below ``value``: ``threshold(x, _below(v), 0)`` keeps ``x >= v``."""
    v = torch.tensor(value, dtype=dtype)
    return float(torch.nextafter(v, torch.zeros_like(v)))


# Thresholds for F.threshold (which keeps x > threshold), per dtype, so that x >= ALPHA_MIN / T_MIN is kept.
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_ALPHA_MIN_BELOW = {dt: _below(ALPHA_MIN, dt) for dt in _FLOAT_DTYPES}
_T_MIN_BELOW = {dt: _below(T_MIN, dt) for dt in _FLOAT_DTYPES}


class _Workspace:
    """Reusable scratch buffers for the eager kernels (fresh multi-MB tensors cost page faults on CPU).

    ``None`` is passed instead under ``torch.compile``, whose kernels allocate their own.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        n = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.numel() < n or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(n, dtype=like.dtype, device=like.device)
            self._bufs[name] = buf
        return buf[:n].view(shape)


def _new(ws: _Workspace | None, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
    return None if ws is None else ws.get(name, shape, like)


def _rows(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` by ``index_select`` (faster on CPU): ``(M, ...)`` rows at ``(A, G)`` ids -> ``(A, G, ...)``."""
    return torch.index_select(table, 0, ids.reshape(-1)).view(ids.shape + table.shape[1:])


def _alpha_table(coefs: torch.Tensor, basis_t: torch.Tensor, ws: _Workspace | None) -> torch.Tensor:
    """``(A, P, G)`` alphas ``min(0.99, exp(P))``, zeroed below 1/255."""
    shape = (coefs.shape[0], basis_t.shape[0], coefs.shape[1])
    alpha = torch.matmul(basis_t, coefs.transpose(1, 2), out=_new(ws, "alpha", shape, coefs))
    alpha.clamp_(min=_LOG_ALPHA_FLOOR).exp_().clamp_(max=ALPHA_MAX)
    return F.threshold_(alpha, _ALPHA_MIN_BELOW[alpha.dtype], 0.0)


def _chunk_forward(
    table: torch.Tensor,
    ids: torch.Tensor,
    valid: torch.Tensor,
    centres: torch.Tensor,
    trans: torch.Tensor,
    basis_t: torch.Tensor,
    ws: _Workspace | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fast forward of one chunk, no autograd (the twin of :func:`composite_chunk_plain`).

    Args:
        table: ``(M, 11)`` per-Gaussian rows ``u, v, a, b, c, log o, r, g, b, z, 1``.
        ids: ``(A, G)`` rows of ``table`` (front to back); valid: ``(A, G)``; centres: ``(A, 1, 2)``.
        trans: ``(A, P)``; basis_t: ``(P, 6)``; ws: scratch buffers or ``None``.
    Returns:
        ``(A, P, 5)`` blended features, ``(A, P)`` transmittance after the chunk.
    """
    gathered = _rows(table, ids)  # (A, G, 11)
    coefs = _chunk_coefs(gathered[..., :6], centres, valid)
    alpha = _alpha_table(coefs, basis_t, ws)
    one_minus = torch.sub(1.0, alpha, out=_new(ws, "one_minus", alpha.shape, alpha))
    weights = torch.cumprod(one_minus, dim=-1, out=_new(ws, "weights", alpha.shape, alpha))
    weights.mul_(trans.unsqueeze(-1))  # transmittance after each Gaussian
    trans_out = weights[..., -1].clone()
    # Blended iff it leaves T >= T_MIN; then t_after / (1 - alpha) is its transmittance before it.
    F.threshold_(weights, _T_MIN_BELOW[alpha.dtype], 0.0)
    weights.mul_(alpha).div_(one_minus)
    return torch.bmm(weights, gathered[..., 6:]), trans_out


def _chunk_backward(
    table: torch.Tensor,
    ids: torch.Tensor,
    valid: torch.Tensor,
    centres: torch.Tensor,
    trans: torch.Tensor,
    basis_t: torch.Tensor,
    trans_out: torch.Tensor,
    grad_out: torch.Tensor,
    grad_trans: torch.Tensor,
    ws: _Workspace | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of one chunk w.r.t. its gathered table rows ``(A, G, 11)`` and ``trans`` ``(A, P)``.

    Recomputes the forward. With ``w_i = keep_i α_i T_{i-1}``, ``T_{i-1} = T_in Π_{j<i}(1-α_j)``,
    ``out = Σ w_i f_i``, ``T_out = T_in Π_j (1-α_j)`` and ``g_i = f_i·ḡ_out``:

    - ``∂L/∂α_k = keep_k T_{k-1} g_k - (Σ_{i>k} g_i w_i + ḡ_T T_out) / (1-α_k)``,
    - ``∂α/∂P = α`` where ``1/255 <= exp(P) < 0.99``, else 0,
    - ``∂L/∂T_in = Σ_i g_i w_i / T_in + ḡ_T Π_j (1-α_j)`` (a stopped pixel blends nothing, so the
      first term is 0 there), and ``∂L/∂f_i = Σ_pixels w_i ḡ_out``.
    """
    gathered = _rows(table, ids)
    geo, feats = gathered[..., :6], gathered[..., 6:]
    coefs = _chunk_coefs(geo, centres, valid)
    alpha = _alpha_table(coefs, basis_t, ws)
    shape = alpha.shape
    # -∂α/∂P: -α where α < 0.99 (not capped), else 0; the sign is undone on grad_coefs.
    neg_dalpha = F.threshold(torch.neg(alpha, out=_new(ws, "neg_dalpha", shape, alpha)), -ALPHA_MAX, 0.0, inplace=True)
    one_minus = torch.sub(1.0, alpha, out=_new(ws, "one_minus", shape, alpha))
    t_before = torch.cumprod(one_minus, dim=-1, out=_new(ws, "t_before", shape, alpha))
    prod_all = t_before[..., -1].clone()  # Π_j (1 - α_j) = ∂T_out/∂T_in
    t_before.mul_(trans.unsqueeze(-1))  # t_after for now
    F.threshold_(t_before, _T_MIN_BELOW[alpha.dtype], 0.0)  # keep · t_after
    t_before.div_(one_minus)  # keep · T_{i-1}
    weights = alpha.mul_(t_before)  # alpha is not needed any more
    grad_w = torch.bmm(grad_out, feats.transpose(1, 2), out=_new(ws, "grad_w", shape, alpha))  # g_i per pixel
    grad_feats = torch.bmm(weights.transpose(1, 2), grad_out)  # (A, G, F)
    gw_w = weights.mul_(grad_w)
    prefix = torch.cumsum(gw_w, dim=-1, out=_new(ws, "prefix", shape, alpha))
    blended = prefix[..., -1].clone()  # Σ_i g_i w_i, (A, P)
    # Σ_{i>k} g_i w_i + ḡ_T T_out = (blended + ḡ_T T_out) - prefix_k
    later = torch.sub((blended + grad_trans * trans_out).unsqueeze(-1), prefix, out=prefix)
    grad_alpha = grad_w.mul_(t_before).sub_(later.div_(one_minus))
    neg_grad_p = grad_alpha.mul_(neg_dalpha)  # -∂L/∂P
    grad_coefs = torch.neg(torch.matmul(neg_grad_p.transpose(1, 2), basis_t))  # (A, G, 6)
    grad_geo = _chunk_coefs_backward(geo, centres, valid, grad_coefs)
    grad_trans_in = blended / trans.clamp_min(torch.finfo(trans.dtype).tiny) + grad_trans * prod_all
    return torch.cat([grad_geo, grad_feats], dim=-1), grad_trans_in


MAX_TILES_PER_CALL = 256  # tiles per kernel call: bounds each (A, P, G) scratch table to 16 MB in float32


@functools.lru_cache(maxsize=None)
def _compiled(which: str) -> Callable:
    """``torch.compile`` (dynamic shapes) of ``"forward"`` / ``"backward"`` (one chunk) or ``"project"``,
    built on first use."""
    log.info("compiling the Gaussian rasterizer's %s with torch.compile (first call takes a while)", which)
    fn = {"forward": _chunk_forward, "backward": _chunk_backward, "project": _project_with_conics}[which]
    return torch.compile(fn, dynamic=True)


def _tile_basis(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(6, TILE²)`` basis ``1, u, v, u², uv, v²`` of pixel centres relative to the tile centre."""
    coords = torch.arange(TILE, dtype=dtype, device=device) + 0.5 - TILE / 2
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    u, v = u.reshape(-1), v.reshape(-1)
    return torch.stack([torch.ones_like(u), u, v, u * u, u * v, v * v])


class _TileComposite(torch.autograd.Function):
    """All chunks of all tiles, front to back, as one autograd node.

    Forward keeps per step only the active tiles, the gathered row ids and the transmittance (small);
    backward walks the steps in reverse, recomputes each chunk and scatters its gradients into one
    ``(M, 11)`` gradient of the table.
    """

    @staticmethod
    def forward(ctx, table, gauss_ids, counts, offsets, centres, basis_t, compiled: bool):
        device, dtype = table.device, table.dtype
        n_tiles, n_pix = counts.shape[0], basis_t.shape[0]
        fwd = _compiled("forward") if compiled else _chunk_forward
        ws = None if compiled else _Workspace()
        acc = torch.zeros(n_tiles, n_pix, 5, dtype=dtype, device=device)
        step = torch.arange(CHUNK, device=device)
        last = gauss_ids.numel() - 1
        active = torch.nonzero(counts > 0).squeeze(1)
        trans = torch.ones(active.numel(), n_pix, dtype=dtype, device=device)
        saved = []  # per step: active tiles, row ids, valid mask, trans in, trans out, rows kept after
        start = 0
        while active.numel() > 0:
            left = counts[active] - start  # (A,) Gaussians not yet blended
            valid = step < left.unsqueeze(1)  # (A, G)
            ids = _rows(gauss_ids, (offsets[active].unsqueeze(1) + start + step).clamp(max=last))
            tile_centres = centres[active].unsqueeze(1)
            outs, t_outs = [], []
            for s in range(0, active.numel(), MAX_TILES_PER_CALL):
                sl = slice(s, s + MAX_TILES_PER_CALL)
                out, t_out = fwd(table, ids[sl], valid[sl], tile_centres[sl], trans[sl], basis_t, ws)
                outs.append(out)
                t_outs.append(t_out)
            t_out = torch.cat(t_outs)
            acc.index_add_(0, active, torch.cat(outs))
            keep = (left > CHUNK) & (t_out.amax(dim=1) >= T_MIN)  # tiles with Gaussians left and a live pixel
            saved.append((active, ids, valid, trans, t_out, keep))
            active, trans = active[keep], t_out[keep]
            start += CHUNK
        ctx.saved = saved
        ctx.compiled = compiled
        ctx.save_for_backward(table, centres, basis_t)
        return acc

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_acc):
        table, centres, basis_t = ctx.saved_tensors
        bwd = _compiled("backward") if ctx.compiled else _chunk_backward
        ws = None if ctx.compiled else _Workspace()
        grad_acc = grad_acc.contiguous()
        grad_table = torch.zeros_like(table)
        grad_next = None  # ∂L/∂trans of the step after, for its active tiles
        for active, ids, valid, trans, t_out, keep in reversed(ctx.saved):
            grad_trans = torch.zeros_like(t_out)
            if grad_next is not None:
                grad_trans[keep] = grad_next
            grad_out = grad_acc[active]
            tile_centres = centres[active].unsqueeze(1)
            rows, grad_in = [], []
            for s in range(0, active.numel(), MAX_TILES_PER_CALL):
                sl = slice(s, s + MAX_TILES_PER_CALL)
                g_rows, g_trans = bwd(
                    table, ids[sl], valid[sl], tile_centres[sl], trans[sl], basis_t,
                    t_out[sl], grad_out[sl], grad_trans[sl], ws,
                )  # fmt: skip
                rows.append(g_rows)
                grad_in.append(g_trans)
            grad_table.index_add_(0, ids.reshape(-1), torch.cat(rows).reshape(-1, table.shape[1]))
            grad_next = torch.cat(grad_in)
        return grad_table, None, None, None, None, None, None


def rasterize_torch(
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
    compiled: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render Gaussians with the tile rasterizer (inputs already validated, same dtype and device).

    Args:
        means ``(N, 3)``, quats_wxyz ``(N, 4)``, scales ``(N, 3)`` metres, opacities ``(N,)``,
        colors ``(N, 3)`` RGB or ``(N, K, 3)`` SH coefficients; K, R, t the camera (see
        :func:`project_gaussians`); background ``(3,)``; near/far clip planes on camera z, metres.
        compiled: run the ``torch.compile`` versions of the projection and compositing kernels.
    Returns:
        image ``(H, W, 3)``, alpha ``(H, W)``, depth ``(H, W)`` (alpha-weighted camera z; 0 where empty).
    """
    device, dtype = means.device, means.dtype
    tiles_x, tiles_y = -(-width // TILE), -(-height // TILE)
    n_tiles = tiles_x * tiles_y
    n_feats = 5  # r, g, b, depth, 1

    project = _compiled("project") if compiled else _project_with_conics
    means2d, cov2d, conic, depth = project(means, quats_wxyz, scales, K, R, t, width, height, near)
    c0, c1, r0, r1, ok = _pixel_footprint(means2d.detach(), cov2d.detach(), opacities.detach(), width, height)
    ok &= (depth >= near) & (depth <= far)
    vis = torch.nonzero(ok).squeeze(1)

    if vis.numel() == 0:
        acc = torch.zeros(n_tiles, TILE * TILE, n_feats, dtype=dtype, device=device)
        # Keep the outputs connected to the inputs (zero gradients, not an error) without reading any
        # value: sums of empty slices are exactly 0, even where culled Gaussians hold NaN.
        acc = acc + sum(p[:0].sum() for p in (means, quats_wxyz, scales, opacities, colors))
    else:
        take = lambda x: torch.index_select(x, 0, vis)  # noqa: E731
        if colors.dim() == 3:
            rgb = eval_sh(take(colors), take(means) + R.T @ t)  # means - camera centre (-Rᵀt)
        else:
            rgb = take(colors)
        z = take(depth)
        ones = torch.ones_like(z).unsqueeze(-1)
        log_o = torch.log(take(opacities)).unsqueeze(-1)
        table = torch.cat([take(means2d), take(conic), log_o, rgb, z.unsqueeze(-1), ones], dim=-1)  # (M, 11)

        gauss_ids, counts, offsets = _tile_lists(c0[vis], c1[vis], r0[vis], r1[vis], z.detach(), tiles_x, n_tiles)
        basis_t = _tile_basis(dtype, device).T.contiguous()
        tile_idx = torch.arange(n_tiles, device=device)
        centres = torch.stack([(tile_idx % tiles_x) * TILE, (tile_idx // tiles_x) * TILE], -1).to(dtype) + TILE / 2
        acc = _TileComposite.apply(table, gauss_ids, counts, offsets, centres, basis_t, compiled)

    # (tiles_y * tiles_x, TILE * TILE, F) -> (H, W, F)
    acc = acc.reshape(tiles_y, tiles_x, TILE, TILE, n_feats).permute(0, 2, 1, 3, 4)
    acc = acc.reshape(tiles_y * TILE, tiles_x * TILE, n_feats)[:height, :width]
    return finish_outputs(acc, background)


def finish_outputs(acc: torch.Tensor, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image ``(H, W, 3)``, alpha ``(H, W)`` and depth ``(H, W)`` from blended features ``acc (H, W, 5)`` =
    Σ w·(r, g, b, z, 1): the colour over ``background (3,)``, and depth ``Σ w z / Σ w`` (0 where empty)."""
    alpha = acc[..., 4]
    image = acc[..., :3] + (1.0 - alpha).unsqueeze(-1) * background
    depth_img = torch.where(alpha > 0, acc[..., 3] / alpha.clamp_min(1e-10), torch.zeros_like(alpha))
    return image, alpha, depth_img
