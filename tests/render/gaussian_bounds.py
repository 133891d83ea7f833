"""Per-pixel bounds on a Gaussian renderer's rounding error (``from gaussian_bounds import render_bounds``).

The tile renderer and the brute-force reference compute the same image in a different order (tile-local
exponent polynomials and matrix products against direct Mahalanobis distances; cumulative products
against a running transmittance), so in float32 they differ by rounding, and how much depends on each
pixel: on how many Gaussians it blends, on alphas near the 0.99 cap (a factor 1/(1-alpha) in the
transmittance), on elongated footprints (ill-conditioned 2D covariances). Worse, three discrete rules
(skip alpha < 1/255, stop before T < 1e-4, depth order) may go either way when the exact value is within
rounding of the threshold, and then the outputs differ by up to alpha*T (0.004 to 0.01): no fixed
tolerance is right for every machine's exp() and SIMD summation order.

:func:`render_bounds` evaluates the scene in float64 (standing in for exact: its own error is ~1e-9 of
the float32 bounds) and propagates the standard rounding model (``float_bounds``) for unit roundoff ``u``
through every stage both renderers share, bounding each by the larger of the two implementations. It
returns, per pixel, a bound on |renderer - exact| for image, alpha and depth, and a mask of the pixels
where a discrete decision is within rounding of its threshold (those are not compared).
"""

from __future__ import annotations

import math

import torch
from float_bounds import gamma as _gamma

from uvatar.render import _gaussians_torch as gt

EXP_ULPS = 2.0  # exp(): Sleef's u10 kernels and glibc are within 1 ulp; allow 2 (any libm, any SIMD path)


def _sh_abs_basis(d: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, k)`` upper bounds of |Y_j(d)| for unit ``d``: each SH polynomial with |coefficients| and |x|, |y|, |z|."""
    x, y, z = d.abs().unbind(-1)
    c1, c2, c3 = gt._SH_C1, [abs(c) for c in gt._SH_C2], [abs(c) for c in gt._SH_C3]
    xx, yy, zz = x * x, y * y, z * z
    cols = [torch.full_like(x, gt._SH_C0), c1 * y, c1 * z, c1 * x]
    cols += [c2[0] * x * y, c2[1] * y * z, c2[2] * (2 * zz + xx + yy), c2[3] * x * z, c2[4] * (xx + yy)]
    cols += [
        c3[0] * y * (3 * xx + yy), c3[1] * x * y * z, c3[2] * y * (4 * zz + xx + yy),
        c3[3] * z * (2 * zz + 3 * xx + 3 * yy), c3[4] * x * (4 * zz + xx + yy), c3[5] * z * (xx + yy),
        c3[6] * x * (xx + 3 * yy),
    ]  # fmt: skip
    return torch.stack(cols[:k], dim=-1)


def projection_bounds(X, q, s, K, R, t, W, H, u):
    """Steps 1-3 of :func:`render_bounds` on float64 copies of the renderer's inputs: exact camera-frame
    ``x, y, z``, pixel means ``mx, my``, covariance ``ca, cb, cc`` (xx, xy, yy with the blur) and conic
    ``Ca, Cb, Cc``, each with its bound ``e_*`` on either implementation's rounding error (unit roundoff u)."""

    def gamma(n):
        return _gamma(n, u)

    fx, fy, cx, cy = (float(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    # 1. camera frame
    cam = X @ R.T + t
    x, y, z = cam.unbind(-1)
    e_cam = gamma(4) * (X.abs() @ R.abs().T + t.abs())
    ex, ey, ez = e_cam.unbind(-1)
    # 2. pixel means
    mx, my = fx * x / z + cx, fy * y / z + cy
    e_mx = fx * (ex + (x / z).abs() * ez) / z + gamma(4) * (fx * x.abs() / z + abs(cx)) + u * mx.abs()
    e_my = fy * (ey + (y / z).abs() * ez) / z + gamma(4) * (fy * y.abs() / z + abs(cy)) + u * my.abs()
    # 3. covariance and conic
    lim = gt.CLAMP_FOV - 1.0
    xz = torch.clamp(x / z, -(cx / fx + lim * 0.5 * W / fx), (W - cx) / fx + lim * 0.5 * W / fx)
    yz = torch.clamp(y / z, -(cy / fy + lim * 0.5 * H / fy), (H - cy) / fy + lim * 0.5 * H / fy)
    e_xz = (ex + (x / z).abs() * ez) / z + gamma(4) * xz.abs()
    e_yz = (ey + (y / z).abs() * ez) / z + gamma(4) * yz.abs()
    rot = gt.quat_wxyz_to_rotmat(q)
    m = rot * s.unsqueeze(-2)
    wm = R @ m
    wm_abs = R.abs() @ m.abs()
    row0 = (fx / z).unsqueeze(-1) * (wm[:, 0] - xz.unsqueeze(-1) * wm[:, 2])
    row1 = (fy / z).unsqueeze(-1) * (wm[:, 1] - yz.unsqueeze(-1) * wm[:, 2])
    a0 = (fx / z).unsqueeze(-1) * (wm_abs[:, 0] + xz.abs().unsqueeze(-1) * wm_abs[:, 2])
    a1 = (fy / z).unsqueeze(-1) * (wm_abs[:, 1] + yz.abs().unsqueeze(-1) * wm_abs[:, 2])
    d0 = (gamma(24) + (ez / z).unsqueeze(-1)) * a0 + (fx / z * e_xz).unsqueeze(-1) * wm_abs[:, 2]
    d1 = (gamma(24) + (ez / z).unsqueeze(-1)) * a1 + (fy / z * e_yz).unsqueeze(-1) * wm_abs[:, 2]
    ca = (row0 * row0).sum(-1) + gt.BLUR_PX2
    cb = (row0 * row1).sum(-1)
    cc = (row1 * row1).sum(-1) + gt.BLUR_PX2
    e_ca = (2 * a0 * d0 + d0 * d0).sum(-1) + gamma(4) * (a0 * a0).sum(-1) + u * ca
    e_cb = (a0 * d1 + a1 * d0 + d0 * d1).sum(-1) + gamma(4) * (a0 * a1).sum(-1)
    e_cc = (2 * a1 * d1 + d1 * d1).sum(-1) + gamma(4) * (a1 * a1).sum(-1) + u * cc
    det = ca * cc - cb * cb
    e_det = ca * e_cc + cc * e_ca + 2 * cb.abs() * e_cb + e_ca * e_cc + e_cb**2 + gamma(3) * (ca * cc + cb * cb)
    det_lo = det - e_det
    assert (det_lo > 0).all(), "test scene: a 2D covariance is singular within rounding"
    Ca, Cb, Cc = cc / det, -cb / det, ca / det
    cov_abs = torch.stack([torch.stack([ca, cb.abs()], -1), torch.stack([cb.abs(), cc], -1)], -2)
    C_abs = torch.stack([torch.stack([Ca, Cb.abs()], -1), torch.stack([Cb.abs(), Cc], -1)], -2)
    lu = gamma(8) * 2 * (C_abs @ cov_abs @ C_abs)  # inverse by LU (the reference)
    e_Ca = (e_cc + cc * e_det / det_lo) / det_lo + gamma(2) * Ca + lu[:, 0, 0]
    e_Cb = (e_cb + cb.abs() * e_det / det_lo) / det_lo + gamma(2) * Cb.abs() + lu[:, 0, 1]
    e_Cc = (e_ca + ca * e_det / det_lo) / det_lo + gamma(2) * Cc + lu[:, 1, 1]

    return {
        "x": x, "y": y, "z": z, "e_x": ex, "e_y": ey, "e_z": ez, "mx": mx, "my": my, "e_mx": e_mx, "e_my": e_my,
        "ca": ca, "cb": cb, "cc": cc, "e_ca": e_ca, "e_cb": e_cb, "e_cc": e_cc,
        "Ca": Ca, "Cb": Cb, "Cc": Cc, "e_Ca": e_Ca, "e_Cb": e_Cb, "e_Cc": e_Cc,
    }  # fmt: skip


def render_bounds(means, quats_wxyz, scales, opacities, colors, camera, background, u, near=0.01, far=100.0):
    """Bounds on |rendered - exact| for a renderer working with unit roundoff ``u`` (either backend).

    Args: the scene as given to ``render_gaussians`` (any float dtype; the renderer sees it in its own
    dtype, and so do K, R, t), ``background (3,)`` and ``u`` (``U32`` or ``U64``).
    Returns a dict of float64 tensors: ``image (H, W, 3)``, ``alpha (H, W)``, ``depth (H, W)`` exact values;
    ``image_bound``, ``alpha_bound``, ``depth_bound`` of the same shapes; ``ambiguous (H, W)`` bool;
    ``alpha_raw (H, W, N)`` each Gaussian's ``o exp(-q/2)`` at each pixel centre.

    Derivation (first order in u; second-order terms are kept where they are cheap):

    1. Camera frame ``x = R X + t``: ``gamma(4) (|R| |X| + |t|)`` per coordinate (3 products, 3 sums).
    2. Pixel mean ``fx x / z + cx``: the camera-frame errors through the division, plus ``gamma(4)``
       relative to ``fx |x| / z + |cx|`` for either implementation's own rounding.
    3. 2D covariance ``(J W M)(J W M)^T + 0.3``, ``M = R(q) diag(s)``: each factor entry is within
       ``gamma(24)`` of its magnitude (|J| |W| |M|, entrywise), plus J's dependence on the camera-frame
       errors through ``x / z``; a product row . row adds ``gamma(4)`` of the magnitudes' product.
       Conic ``C = adj / det``: the determinant's error relative to ``det`` carries the condition of the
       covariance; ``torch.linalg.inv`` (LU, the reference) adds ``gamma(8) 2 |C| |cov| |C|``.
    4. Exponent ``P = log o - d^T C d / 2``, ``d = pixel - mean``: ``gamma(12)`` of the magnitudes of both
       evaluations (the reference's einsum over ``|C| |d| |d|``; the tile's coefficients
       ``k0 .. k5`` against the tile basis, whose large terms cancel for far-away tiles), plus the
       errors of ``C`` and of the mean through ``d^T |dC| d / 2`` and ``|C d| |dd|``.
    5. ``alpha = min(0.99, exp(P))``: relative error ``expm1(dP + (2 EXP_ULPS + 2) u)``.
    6. Compositing front to back: the computed transmittance's relative error grows by
       ``(|d alpha| + u) / (1 - alpha - |d alpha|) + 2u`` per blended Gaussian (the reference's running
       product and the tile's cumulative product with carried transmittance alike); each weight
       ``alpha T`` (or ``t_after / (1 - alpha) * alpha``, where the error of ``1 - alpha`` cancels) by
       ``eps_T + |d alpha| / alpha + 4u``; the sums over ``n`` blended terms (bmm, index_add, or the
       reference's running sums) add ``gamma(n + 3)``; ``alpha`` is ``sum w`` (tile) or ``1 - T``
       (reference); depth is ``sum w z / alpha``.
    7. Colours: RGB inputs are exact; SH ``eval_sh`` is within ``gamma(24) sum |Y_k| |c_k|`` plus 3x the
       direction's relative error times the same magnitude (polynomials of degree <= 3).

    A pixel is ``ambiguous`` where, before it stops: a Gaussian's exact alpha is within its error of
    1/255; a transmittance test is within its error of 1e-4; two consecutive Gaussians' depths are
    within their errors (their order may swap); or a depth is within its error of near / far.
    """
    f64 = torch.float64
    dtype = means.dtype

    def gamma(n):
        return _gamma(n, u)

    as_exact = lambda v: torch.as_tensor(v).to(dtype).to(f64)  # the renderer's own inputs
    X, q, s, o = (as_exact(v) for v in (means, quats_wxyz, scales, opacities))
    colors = as_exact(colors)
    K, R, t = (as_exact(v) for v in (camera.K, camera.R, camera.t))
    bg = as_exact(background)
    W, H = camera.width, camera.height

    pr = projection_bounds(X, q, s, K, R, t, W, H, u)
    z, ez = pr["z"], pr["e_z"]
    mx, my, e_mx, e_my = pr["mx"], pr["my"], pr["e_mx"], pr["e_my"]
    Ca, Cb, Cc, e_Ca, e_Cb, e_Cc = (pr[k] for k in ("Ca", "Cb", "Cc", "e_Ca", "e_Cb", "e_Cc"))

    # 4. exponents, (P, N): pixels x Gaussians
    rows, cols = torch.meshgrid(torch.arange(H, dtype=f64), torch.arange(W, dtype=f64), indexing="ij")
    px, py = (cols.reshape(-1, 1) + 0.5), (rows.reshape(-1, 1) + 0.5)
    tcx = torch.div(px, gt.TILE, rounding_mode="floor") * gt.TILE + gt.TILE / 2  # tile centres
    tcy = torch.div(py, gt.TILE, rounding_mode="floor") * gt.TILE + gt.TILE / 2
    dx, dy = px - mx, py - my
    mahal = Ca * dx * dx + 2 * Cb * dx * dy + Cc * dy * dy
    log_o = torch.log(o)
    P = log_o - 0.5 * mahal
    mu, mv, lu_, lv = mx - tcx, my - tcy, px - tcx, py - tcy
    k1_abs = Ca * mu.abs() + Cb.abs() * mv.abs()
    k2_abs = Cb.abs() * mu.abs() + Cc * mv.abs()
    mag_tile = log_o.abs() + 0.5 * (mu.abs() * k1_abs + mv.abs() * k2_abs) + k1_abs * lu_.abs() + k2_abs * lv.abs()
    mag_tile = mag_tile + 0.5 * Ca * lu_ * lu_ + Cb.abs() * (lu_ * lv).abs() + 0.5 * Cc * lv * lv
    mag_ref = log_o.abs() + 0.5 * (Ca * dx * dx + 2 * Cb.abs() * (dx * dy).abs() + Cc * dy * dy)
    e_dx = e_mx + u * (px.abs() + mx.abs() + mu.abs())
    e_dy = e_my + u * (py.abs() + my.abs() + mv.abs())
    Cd_x, Cd_y = (Ca * dx + Cb * dy).abs(), (Cb * dx + Cc * dy).abs()
    c_norm = Ca + Cc + 2 * Cb.abs()
    dP = (
        gamma(12) * (mag_tile + mag_ref)
        + 0.5 * (e_Ca * dx * dx + 2 * e_Cb * (dx * dy).abs() + e_Cc * dy * dy)
        + Cd_x * e_dx + Cd_y * e_dy + 0.5 * c_norm * (e_dx + e_dy) ** 2
    )  # fmt: skip
    # 5. alphas
    alpha_raw = torch.exp(P)
    rho = torch.expm1(dP + (2 * EXP_ULPS + 2) * u)

    # 7. colours (P-independent), (N, 3)
    if colors.dim() == 3:
        dirs = X + R.T @ t
        dir_norm = dirs.norm(dim=-1)
        d_unit = dirs / dir_norm.unsqueeze(-1)
        rgb = gt.eval_sh(colors, dirs)
        mag_sh = (_sh_abs_basis(d_unit, colors.shape[1]).unsqueeze(-1) * colors.abs()).sum(1)
        e_dir = gamma(4) * (X.abs() + (R.abs().T @ t.abs())).norm(dim=-1) / dir_norm + gamma(4)
        e_rgb = (gamma(24) + 3 * e_dir).unsqueeze(-1) * mag_sh + u * 0.5
    else:
        rgb = colors
        e_rgb = torch.zeros_like(rgb)

    # 6. compositing in exact depth order
    n_pix = H * W
    T = torch.ones(n_pix, dtype=f64)
    eps_T = torch.zeros(n_pix, dtype=f64)
    done = torch.zeros(n_pix, dtype=torch.bool)
    ambiguous = torch.zeros(n_pix, dtype=torch.bool)
    sum_w, sum_dw, n_blend = (torch.zeros(n_pix, dtype=f64) for _ in range(3))
    sum_wc, sum_dwc = torch.zeros(n_pix, 3, dtype=f64), torch.zeros(n_pix, 3, dtype=f64)
    colour = torch.zeros(n_pix, 3, dtype=f64)
    sum_wz, sum_dwz = torch.zeros(n_pix, dtype=f64), torch.zeros(n_pix, dtype=f64)
    last_z = torch.full((n_pix,), -math.inf, dtype=f64)
    last_ez = torch.zeros(n_pix, dtype=f64)
    a_min, t_min, a_max = gt.ALPHA_MIN, gt.T_MIN, gt.ALPHA_MAX
    for i in torch.argsort(z, stable=True).tolist():
        zi, ezi = float(z[i]), float(ez[i])
        a, r = alpha_raw[:, i], rho[:, i]
        reach = a * (1 + r) >= a_min * (1 - u)  # may pass the alpha test in some implementation
        live = reach & ~done
        if abs(zi - near) <= ezi or abs(zi - far) <= ezi:
            ambiguous |= live
        if not (near <= zi <= far):
            continue
        ambiguous |= live & ((a - a_min).abs() <= a * r + a_min * u)
        ambiguous |= live & ((zi - last_z).abs() <= ezi + last_ez)
        last_z = torch.where(live, zi, last_z)
        last_ez = torch.where(live, ezi, last_ez)
        considered = (a >= a_min) & ~done
        alpha = a.clamp(max=a_max)
        e_alpha = torch.where(a * (1 - r) >= a_max, u * a_max, a * r + u)
        test = T * (1 - alpha)
        eps_test = eps_T + (e_alpha + u) / (1 - alpha - e_alpha).clamp_min(1e-300) + 2 * u
        ambiguous |= considered & ((test - t_min).abs() <= test * eps_test + t_min * u)
        stop = considered & (test < t_min)
        blend = considered & ~stop
        w = torch.where(blend, alpha * T, torch.zeros_like(T))
        dw = torch.where(blend, w * (eps_T + e_alpha / alpha.clamp_min(a_min) + 4 * u), torch.zeros_like(w))
        sum_w += w
        sum_dw += dw
        n_blend += blend.double()
        colour += w.unsqueeze(-1) * rgb[i]
        sum_wc += w.unsqueeze(-1) * rgb[i].abs()
        sum_dwc += dw.unsqueeze(-1) * rgb[i].abs() + w.unsqueeze(-1) * e_rgb[i]
        sum_wz += w * zi
        sum_dwz += dw * zi + w * ezi
        T = torch.where(blend, test, T)
        eps_T = torch.where(blend, eps_test, eps_T)
        done |= stop

    g = (n_blend + 3) * u / (1 - (n_blend + 3) * u)  # gamma(n + 3), per pixel
    alpha_img = 1.0 - T
    alpha_bound = sum_dw + g * sum_w + T * eps_T + 2 * u
    image = colour + T.unsqueeze(-1) * bg
    image_bound = sum_dwc + g.unsqueeze(-1) * sum_wc + bg.abs() * (alpha_bound + u).unsqueeze(-1) + u
    depth = torch.where(alpha_img > 0, sum_wz / alpha_img.clamp_min(1e-300), torch.zeros_like(alpha_img))
    denom = alpha_img - alpha_bound
    depth_bound = torch.where(
        sum_w > 0,
        (sum_dwz + g * sum_wz + depth * alpha_bound) / denom.clamp_min(1e-300) + u * depth,
        torch.zeros_like(depth),
    )
    ambiguous |= (sum_w > 0) & (denom <= 0)
    shape = (H, W)
    return {
        "image": image.view(H, W, 3),
        "alpha": alpha_img.view(shape),
        "depth": depth.view(shape),
        "image_bound": image_bound.view(H, W, 3),
        "alpha_bound": alpha_bound.view(shape),
        "depth_bound": depth_bound.view(shape),
        "ambiguous": ambiguous.view(shape),
        "alpha_raw": alpha_raw.view(H, W, -1),  # o exp(-q/2) per pixel and Gaussian, before cap and cut
    }


def chunk_bounds(table, ids, valid, centres, trans, grad_out, grad_trans, u):
    """Bounds on one compositing chunk's float rounding (either kernel: the fast one or the plain twin).

    Inputs as for ``_chunk_forward`` / ``_chunk_backward`` (any float dtype: the kernels see them in
    their own dtype). Returns a dict of float64 tensors: exact ``out (A, P, 5)``, ``t_out (A, P)``,
    ``g_table (M, 11)``, ``g_trans (A, P)`` and their bounds ``*_bound``; ``ambiguous (A, P)`` marks
    pixels where a discrete rule (alpha >= 1/255, the 0.99 cap's derivative, T >= 1e-4) is within
    rounding, and ``g_rows_ambiguous (M,)`` the table rows whose gradient such a pixel touches.

    Forward as in :func:`render_bounds` (steps 4-6: the exponent's magnitude ``|coefs| |basis|`` and
    the coefficients' own, exp to EXP_ULPS, transmittance and weight errors). Backward, first order: the
    derivative w.r.t. alpha_k, ``T_{k-1} g_k - (sum_{i>k} g_i w_i + gT T_out) / (1 - alpha_k)``, is evaluated
    by both kernels through sums over ALL i (the fast one subtracts prefix sums, autograd's cumprod
    backward uses reverse cumulative sums), so its rounding is ``gamma(G + 8)`` times
    ``T |g_k| + (sum_i |g_i| w_i + |gT| T_out) / (1 - alpha_k)``; the forward errors of alpha, T and w
    propagate through the same expression; then times alpha (dP), the (G, 6) x (6, P) products (gamma(P)
    of their magnitudes), the coefficients' chain rule (6 terms) and the index_add over the rows' uses.
    """
    f64 = torch.float64

    def gamma(n):
        return _gamma(n, u)

    dtype = table.dtype
    as_exact = lambda v: v.to(dtype).to(f64)
    table, centres, trans, grad_out, grad_trans = (as_exact(v) for v in (table, centres, trans, grad_out, grad_trans))
    basis = gt._tile_basis(f64, torch.device("cpu"))  # (6, P): exact small numbers
    rows = table[ids]  # (A, G, 11)
    geo, feats = rows[..., :6], rows[..., 6:]
    coefs = gt._chunk_coefs(geo, centres, valid)  # (A, G, 6)
    mu, mv = (geo[..., 0] - centres[..., 0]).abs(), (geo[..., 1] - centres[..., 1]).abs()
    a_, b_, c_, log_o = geo[..., 2].abs(), geo[..., 3].abs(), geo[..., 4].abs(), geo[..., 5].abs()
    k1, k2 = a_ * mu + b_ * mv, b_ * mu + c_ * mv
    coef_mag = torch.stack([log_o + 0.5 * (mu * k1 + mv * k2), k1, k2, 0.5 * a_, b_, 0.5 * c_], -1)
    P = coefs @ basis  # (A, G, P)
    dP = gamma(12) * (coef_mag @ basis.abs())
    dP = torch.where(valid.unsqueeze(-1), dP, torch.zeros_like(dP))
    alpha_raw = torch.exp(P)
    rho = torch.expm1(dP + (2 * EXP_ULPS + 2) * u)
    a_min, t_min, a_max = gt.ALPHA_MIN, gt.T_MIN, gt.ALPHA_MAX
    _, G, n_pix = P.shape
    ambiguous = ((alpha_raw - a_min).abs() <= alpha_raw * rho + a_min * u).any(1)
    ambiguous |= ((alpha_raw - a_max).abs() <= alpha_raw * rho + a_max * u).any(1)  # cap: dalpha/dP switches
    alpha = torch.where(alpha_raw >= a_min, alpha_raw.clamp(max=a_max), torch.zeros_like(alpha_raw))
    e_alpha = torch.where(alpha_raw * (1 - rho) >= a_max, u * a_max, alpha_raw * rho + u)
    e_alpha = torch.where(alpha > 0, e_alpha, torch.zeros_like(e_alpha))

    # forward, front to back along G; T and its relative error per (A, P)
    T = trans.clone()
    eps_T = torch.zeros_like(T)
    Ts, eps_Ts, ws, dws, keeps = [], [], [], [], []
    for k in range(G):
        ak, ek = alpha[:, k], e_alpha[:, k]
        after = T * (1 - ak)
        eps_after = eps_T + (ek + u) / (1 - ak - ek) + 2 * u
        ambiguous |= (after - t_min).abs() <= after * eps_after + t_min * u
        keep = after >= t_min
        w = torch.where(keep, ak * T, torch.zeros_like(T))
        dw = torch.where(keep & (ak > 0), w * (eps_T + ek / ak.clamp_min(a_min) + 4 * u), torch.zeros_like(T))
        Ts.append(T)
        eps_Ts.append(eps_T)
        ws.append(w)
        dws.append(dw)
        keeps.append(keep)
        T, eps_T = after, eps_after
    T_in = trans
    Tb, eps_Tb, W, dW = (torch.stack(v, 1) for v in (Ts, eps_Ts, ws, dws))  # (A, G, P)
    feat_abs = feats.abs()
    out = torch.einsum("agp,agf->apf", W, feats)
    out_bound = torch.einsum("agp,agf->apf", dW, feat_abs) + gamma(G + 2) * torch.einsum("agp,agf->apf", W, feat_abs)
    t_out = T
    t_out_bound = T * eps_T + u

    # backward
    g = torch.einsum("agf,apf->agp", feats, grad_out)  # g_k per pixel
    G_abs = torch.einsum("agf,apf->agp", feat_abs, grad_out.abs())
    dG = gamma(6) * G_abs
    gT = grad_trans.abs()
    total = (G_abs * W).sum(1) + gT * t_out  # (A, P)
    total_err = (G_abs * dW + dG * W).sum(1) + gT * t_out_bound
    one_m = (1 - alpha).clamp_min(1 - a_max)
    Kp = torch.stack(keeps, 1).double()
    mag_alpha = Kp * Tb * G_abs + total.unsqueeze(1) / one_m
    gw = g * W
    later = gw.flip(1).cumsum(1).flip(1) - gw  # sum_{i>k} g_i w_i
    dL_dalpha = Kp * Tb * g - (later + (grad_trans * t_out).unsqueeze(1)) / one_m
    e_dalpha = (
        gamma(G + 8) * mag_alpha
        + Kp * (Tb * eps_Tb * G_abs + Tb * dG)
        + total_err.unsqueeze(1) / one_m
        + total.unsqueeze(1) * e_alpha / one_m**2
    )
    off = (alpha_raw >= a_max) | (alpha == 0)  # dalpha/dP = 0 there (flagged when within rounding of either edge)
    zero = torch.zeros_like(alpha)
    dP_val = torch.where(off, zero, alpha * dL_dalpha)
    e_dPval = torch.where(off, zero, alpha * e_dalpha + dL_dalpha.abs() * e_alpha)
    mag_dP = torch.where(off, zero, alpha * (mag_alpha + e_dalpha))
    gc = dP_val @ basis.T  # (A, G, 6): dL/dcoefs
    e_gc = e_dPval @ basis.abs().T + gamma(n_pix) * (mag_dP @ basis.abs().T)
    gc_mag = mag_dP @ basis.abs().T

    def coefs_backward_abs(gabs):
        """|_chunk_coefs_backward| with every factor replaced by its absolute value."""
        g0, g1, g2, g3, g4, g5 = gabs.unbind(-1)
        return torch.stack(
            [
                g1 * a_ + g2 * b_ + g0 * k1,
                g1 * b_ + g2 * c_ + g0 * k2,
                mu * g1 + 0.5 * g0 * mu * mu + 0.5 * g3,
                g1 * mv + g2 * mu + g0 * mu * mv + g4,
                mv * g2 + 0.5 * g0 * mv * mv + 0.5 * g5,
                g0,
            ],
            -1,
        )

    g_geo = gt._chunk_coefs_backward(geo, centres, valid, gc)
    e_geo = coefs_backward_abs(e_gc) + gamma(8) * coefs_backward_abs(gc_mag)
    mag_geo = coefs_backward_abs(gc_mag + e_gc)
    g_feats = torch.einsum("agp,apf->agf", W, grad_out)
    e_feats = torch.einsum("agp,apf->agf", dW, grad_out.abs()) + gamma(n_pix) * torch.einsum("agp,apf->agf", W, grad_out.abs())
    grad_rows = torch.cat([g_geo, g_feats], -1).reshape(-1, 11)
    err_rows = torch.cat([e_geo, e_feats], -1).reshape(-1, 11)
    mag_rows = torch.cat([mag_geo, torch.einsum("agp,apf->agf", W, grad_out.abs())], -1).reshape(-1, 11)
    M = table.shape[0]
    flat_ids = ids.reshape(-1)
    g_table = torch.zeros(M, 11, dtype=f64).index_add_(0, flat_ids, grad_rows)
    uses = torch.bincount(flat_ids, minlength=M).double().unsqueeze(-1)
    g_table_bound = torch.zeros(M, 11, dtype=f64).index_add_(0, flat_ids, err_rows)
    g_table_bound += (uses + 1) * u / (1 - (uses + 1) * u) * torch.zeros(M, 11, dtype=f64).index_add_(0, flat_ids, mag_rows)
    # dL/dT_in = sum_i g_i w_i / T_in + gT prod(1 - alpha) (the kernel divides by max(T_in, tiny))
    t_in = T_in.clamp_min(torch.finfo(dtype).tiny)
    prod_all = (1 - alpha).prod(1)
    eps_prod = ((e_alpha + u) / (1 - alpha - e_alpha)).sum(1) + (G + 1) * u
    blended = (g * W).sum(1)
    g_trans = blended / t_in + grad_trans * prod_all
    g_trans_bound = ((G_abs * dW + dG * W).sum(1) + gamma(G + 2) * (G_abs * W).sum(1)) / t_in
    g_trans_bound += gT * prod_all * (eps_prod + 2 * u)
    # rows whose gradient an ambiguous pixel reaches (their alpha there may pass 1/255)
    reach = ambiguous.unsqueeze(1) & (alpha_raw * (1 + rho) >= a_min * (1 - u))  # (A, G, P)
    touched = torch.zeros(M, dtype=torch.bool)
    touched[ids[reach.any(-1)]] = True
    return {
        "out": out, "out_bound": out_bound, "t_out": t_out, "t_out_bound": t_out_bound,
        "g_table": g_table, "g_table_bound": g_table_bound, "g_trans": g_trans, "g_trans_bound": g_trans_bound,
        "ambiguous": ambiguous, "g_rows_ambiguous": touched,
    }  # fmt: skip
