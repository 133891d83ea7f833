"""Per-pixel bounds on how far the two mesh rasterizers may legitimately disagree (``from mesh_bounds import ...``).

Both backends start from the same float32 camera-frame vertices and the same float32 ``K``. Each
projects them to pixels in its own code: torch with ``verts_cam @ K.T`` (ATen: MKL sgemm on x86), the
moderngl path with numpy's ``@`` (OpenBLAS sgemm), then a division by z. The two BLAS kernels may round
the 3-term dot product differently (FMA or not, summation order; MKL takes another code path on AMD,
OpenBLAS picks a Zen, SkylakeX or Haswell kernel): on this Intel machine they agree bit for bit, but one
ulp (3e-5 px at x in [256, 512)) is allowed. A vertex moved by ``delta`` px moves the screen-space
barycentrics of a fixed pixel centre by up to ``delta / h_i`` (``h_i``: the triangle's altitude from
corner i), so on a sliver with ``h = 0.1 px`` one ulp becomes 3e-4. Re-rounding the projection here (a
correctly rounded dot product, or a plain left-to-right one, in the torch twin) gives 1.0e-4 to 3.2e-4
on the three Anny orbit views: the 2e-4 an AVX-512 AMD EPYC showed against a fixed 1e-4 bound. GL's
1/256-px vertex snapping decides coverage and the z-test only: the fragment shader recomputes
barycentrics and depth from the unsnapped corners (flat varyings), so snapping changes which face a
pixel gets, never the values at a pixel both backends give to the same face.

Every bound is derived in the standard rounding model (``float_bounds``); nothing here is measured.
"""

from __future__ import annotations

import math

import torch
from float_bounds import U32, gamma

# GLSL 4.x precision (spec 4.60, section 4.7.1): +, -, * are correctly rounded (or fused), a / b and 1 / x
# are within 2.5 ulp = 5 u. The torch twin's division is IEEE (u).
GL_DIV = 5.0 * U32
# GL snaps window positions to 1/2**SUBPIXEL_BITS px, round to nearest (llvmpipe: 8 bits, GL_SUBPIXEL_BITS).
SUBPIXEL_BITS = 8
DEPTH_BITS = 24  # the moderngl backend's depth renderbuffer (GL_DEPTH_COMPONENT24)


def vertex_error_px(verts_cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``(V,)`` bound (px, Euclidean) on |one backend's float32 pixel position - the exact projection|.

    x = (K[0] . c) / c_z with c the float32 camera-frame vertex (shared input, exact). The dot product has
    n = (non-zero entries of the K row) products; in any order, with or without FMA,
    |error| <= gamma(n) sum_k |K_rk c_k|; the division adds u |x|. Zero entries of K give exact zeros.
    """
    c = verts_cam.detach().double()
    k = K.detach().float().double()  # both backends cast K to float32 first
    z = c[:, 2].abs()
    err = []
    for r in range(2):
        n = int((k[r] != 0).sum())
        terms = (c * k[r]).abs().sum(-1)
        x = (c @ k[r]) / c[:, 2]
        err.append(gamma(n) * terms / z + U32 * (x.abs() + gamma(n) * terms / z))
    return torch.sqrt(err[0] ** 2 + err[1] ** 2)


def _edge(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def _edge_terms(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor, slack: torch.Tensor) -> torch.Tensor:
    """|the two products of the edge function|, each factor widened by ``slack`` (vertex error)."""
    t1 = ((b[..., 0] - a[..., 0]).abs() + 2 * slack) * ((p[..., 1] - a[..., 1]).abs() + slack)
    t2 = ((b[..., 1] - a[..., 1]).abs() + 2 * slack) * ((p[..., 0] - a[..., 0]).abs() + slack)
    return t1 + t2


def face_geometry(verts_cam, faces, K, face_ids, rows, cols):
    """float64 screen geometry of ``face_ids`` at pixel centres ``(cols + 0.5, rows + 0.5)``.

    Returns a dict: ``tri (N, 3, 2)`` exact corner pixels, ``z (N, 3)``, ``lam (N, 3)`` exact screen-space
    barycentrics of the centre, ``h (N, 3)`` altitudes (px), ``area2 (N,)`` |2 x area| (px^2),
    ``delta (N,)`` the largest corner position error of one backend (px), ``p (N, 2)`` the centre.
    """
    c = verts_cam.detach().double()
    k = K.detach().float().double()
    pix = (c @ k.T)[:, :2] / c[:, 2:3]
    corners = faces[face_ids]
    tri = pix[corners]
    z = c[:, 2][corners]
    p = torch.stack([cols.double() + 0.5, rows.double() + 0.5], -1)
    a, b, cc = tri[:, 0], tri[:, 1], tri[:, 2]
    area2 = _edge(a, b, cc)
    lam = torch.stack([_edge(b, cc, p), _edge(cc, a, p), _edge(a, b, p)], -1) / area2[:, None]
    lengths = torch.stack([(cc - b).norm(dim=-1), (a - cc).norm(dim=-1), (b - a).norm(dim=-1)], -1)
    h = area2.abs()[:, None] / lengths
    delta = vertex_error_px(verts_cam, K)[corners].amax(-1)
    return {"tri": tri, "z": z, "lam": lam, "h": h, "area2": area2.abs(), "delta": delta, "p": p, "lengths": lengths}


def screen_weight_bounds(geo: dict, against: str = "other") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1-3 of :func:`backend_value_bounds`: ``D (N, 3)`` bounds |s_torch - s_gl| (``against="exact"``:
    |s_either - lam|) for the screen-space weights before the perspective step, ``sum_gap (N, 1)`` bounds
    |sum s - 1| for either backend, and ``thin (N, 1)`` marks pixels with ``kappa >= 1/8``."""
    lam, h, delta = geo["lam"], geo["h"], geo["delta"][:, None]
    tri, p, area2 = geo["tri"], geo["p"], geo["area2"]
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    lam_abs = lam.abs()

    kappa = (delta / h).sum(-1, keepdim=True)
    # 2. rounding of the edge functions, area and the division (GL's 5u division covers torch's u)
    omega = gamma(4) * torch.stack(
        [_edge_terms(b, c, p, delta[:, 0]), _edge_terms(c, a, p, delta[:, 0]), _edge_terms(a, b, p, delta[:, 0])], -1
    )
    omega_area = gamma(4) * _edge_terms(a, b, c, delta[:, 0])[:, None]
    area_lo = (area2[:, None] * (1 - kappa) - 3 * delta**2 - omega_area).clamp_min(1e-300)
    geo_1 = delta / h  # first-order geometric term, before the factor g
    r = (omega + (lam_abs + geo_1) * omega_area) / area_lo * (1 + GL_DIV) + GL_DIV * (lam_abs + geo_1)
    g = (1 + 2 * r.sum(-1, keepdim=True)) / (1 - 4 * kappa).clamp_min(0.5)
    E = g * geo_1 + r  # per backend, |s_i - lam_i|
    sum_E = E.sum(-1, keepdim=True)
    # 3. GL's clamp + renormalisation: its sum of clamped weights is within 2 sum E (+ rounding) of 1
    renorm = (2 * sum_E + gamma(2)) / (1 - 2 * sum_E - gamma(2)).clamp_min(0.5) + GL_DIV
    gl_err = 2 * E + (lam.clamp_min(0) + 2 * E) * renorm
    # |s_torch - s_gl|; against the exact weights, GL's error (>= 2 E) covers torch's E as well
    D = E + gl_err if against == "other" else gl_err
    # the sums of both weight vectors: torch's is 1 +- sum r (exact part sums to 1), GL's 1 +- (gamma(2) + 2 GL_DIV)
    sum_gap = r.sum(-1, keepdim=True) + gamma(2) + 2 * GL_DIV
    return D, sum_gap, kappa >= 0.125


def backend_value_bounds(
    geo: dict, bary_ref: torch.Tensor, against: str = "other"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds ``(N, 3)`` on |bary_torch - bary_gl| and ``(N,)`` on |depth_torch - depth_gl| (metres).

    At pixels where both backends report the same face. With ``against="exact"``: bounds on
    |either backend - the exact (float64) perspective-correct values of the float32 input|. ``bary_ref``:
    either backend's barycentrics there (only to bound ``b_i``). Derivation, per pixel (float64 terms):

    1. Corner positions: each backend's is within ``delta`` of the exact one (:func:`vertex_error_px`).
       For exact barycentrics ``lam_b`` of the centre in a backend's triangle,
       ``lam_b - lam = -grad(lam) . sum_j lam_b_j delta_j`` (the centre is fixed, the triangle moves), so
       ``|lam_b_i - lam_i| <= g delta / h_i`` with ``g >= sum_j |lam_b_j|`` (1 plus twice the negative parts,
       which are themselves within the bound: ``g = (1 + 2 sum r) / (1 - 4 kappa)``, ``kappa = delta sum 1/h``).
    2. float32 edge functions ``w = (c-b)x(p-b)`` and area: 4 roundings per product term, so
       ``|w_hat - w| <= gamma(4) (|t1| + |t2|)``; then ``w / area`` (torch u, GLSL 5u): ``r_i`` below.
       Per backend: ``|s_i - lam_i| <= E_i = g delta / h_i + r_i``.
    3. GL clamps at 0 and renormalises (torch does not); clamping is 1-Lipschitz and ``lam_i >= -E_i``
       (torch's own ``s_i >= 0`` at a covered pixel), so GL's weight is within ``2 E_i`` of lam_i before the
       renormalisation, which moves it by ``s_i |sum s - 1| / sum s``.
    4. Perspective step ``b_i = (s_i / z_i) / Q``, ``Q = sum_k s_k / z_k``: with ``D_i`` the screen-weight
       difference, ``|db_i| <= D_i / (z_i Q) + b_i |dQ| / Q``, and since the exact parts of both weight vectors
       sum to 1, ``|dQ| <= (1/z_min - 1/z_max)/2 sum D + |sum_t - sum_g| (1/z_min + 1/z_max)/2``; the
       rounding of this step is gamma(5) (torch) + gamma(17) (GLSL) relative.
    5. Depth ``1 / Q``: ``|dz| <= |dQ| / Q_lo^2`` plus gamma(4) (torch) + gamma(12) (GLSL) relative.

    A pixel whose triangle is so thin that ``kappa >= 1/8`` (the inputs fix its barycentrics to no better
    than ~10%) gets the trivial bounds: 1 for barycentrics, the face's depth span for depth.
    """
    z = geo["z"]
    D, sum_gap, thin = screen_weight_bounds(geo, against)
    sum_D = D.sum(-1, keepdim=True)
    # 4. perspective step
    z_min, z_max = z.amin(-1, keepdim=True), z.amax(-1, keepdim=True)
    q_lo = (1 - sum_gap) / z_max  # Q >= (sum of non-negative weights) / z_max
    dq = (1 / z_min - 1 / z_max) / 2 * sum_D + sum_gap * (1 / z_min + 1 / z_max) / 2
    b_hi = (bary_ref.double() + D / (z_min * q_lo)).clamp(max=1.0)
    bary_bound = D / (z * q_lo) + b_hi * dq / q_lo + (gamma(5) + gamma(17)) * b_hi
    # 5. depth
    depth_bound = dq / q_lo**2 + (gamma(4) + gamma(12)) * z_max / (1 - sum_gap)
    bary_bound = torch.where(thin, torch.ones_like(bary_bound), bary_bound)
    depth_bound = torch.where(thin, (z_max - z_min) * (1 + gamma(16)) + gamma(16) * z_max, depth_bound)
    return bary_bound, depth_bound[:, 0]


def coverage_slack_px(geo: dict, width: int, height: int) -> torch.Tensor:
    """``(N,)`` distance (px) within which a pixel centre may fall on either side of a face's edge.

    GL: corner positions within ``delta`` (its own projection) + the viewport transform
    ``((2x/W - 1) z / z + 1) W / 2`` in float32 (about 6 roundings of magnitude <= W + |x|) + the snap
    to 1/256 px (<= 1/512 per coordinate, round to nearest: sqrt(2)/512 Euclidean). Torch: within
    ``delta`` plus its edge-function rounding (``gamma(4) (|t1| + |t2|) / edge length``).
    """
    tri, p, delta = geo["tri"], geo["p"], geo["delta"]
    extent = tri.abs().amax(dim=(1, 2)) + max(width, height)
    snap = math.sqrt(2) * 2.0 ** -(SUBPIXEL_BITS + 1)
    viewport = math.sqrt(2) * gamma(6) * extent
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    rounding = gamma(4) * torch.stack([_edge_terms(b, c, p, delta), _edge_terms(c, a, p, delta), _edge_terms(a, b, p, delta)], -1)
    rounding = (rounding / geo["lengths"]).amax(-1)
    return 2 * delta + snap + viewport + rounding


def signed_edge_distance(geo: dict) -> torch.Tensor:
    """``(N,)`` signed distance (px) from the centre to the nearest edge line: > 0 inside the face."""
    return (geo["lam"] * geo["h"]).amin(-1)


def depth_tie_m(geo: dict, slack_px: torch.Tensor, depth_ab: tuple[float, float]) -> torch.Tensor:
    """``(N,)`` how far (metres) GL's z-test may misjudge this face's depth at the centre.

    GL interpolates window depth ``d = (A + B / z + 1) / 2`` linearly in screen space from the SNAPPED
    corners, in float32, and stores it in 24 bits. Moving the corners by ``slack`` changes the plane's
    value by <= slack * sum_i |grad lam_i| * (d_max - d_min); the 24-bit store and the float32 plane
    evaluation add 2**-24 + gamma(4) (1 + |grad d| (W + H)). Converted to z with |dd/dz| = |B| / (2 z^2).
    The torch twin's own depth error is covered by the same geometric term (its corners are within delta).
    """
    A, B = depth_ab
    z = geo["z"]
    d = (A + B / z + 1) / 2
    d_span = d.amax(-1) - d.amin(-1)
    grad_sum = (1 / geo["h"]).sum(-1)
    plane = slack_px * grad_sum * d_span
    extent = geo["tri"].abs().amax(dim=(1, 2))
    store = 2.0**-DEPTH_BITS + gamma(4) * (1 + grad_sum * d_span * extent)
    z_hi = z.amax(-1)
    # + the torch twin's float32 depth rounding (gamma(4)) and GL's shader depth (gamma(12)), both relative
    return (plane + store) * 2 * z_hi**2 / abs(B) + gamma(16) * z_hi


def exact_depth(geo: dict) -> torch.Tensor:
    """``(N,)`` exact camera z of the face at the centre (perspective-correct)."""
    lam, z = geo["lam"], geo["z"]
    return 1.0 / (lam / z).sum(-1)


def gl_depth_mapping(verts_cam: torch.Tensor, faces: torch.Tensor, near: float = 1e-3) -> tuple[float, float]:
    """The moderngl backend's ``(A, B)`` depth mapping for these faces, chosen as it chooses it."""
    from uvatar.render._mesh_moderngl import depth_mapping

    z = verts_cam[:, 2][faces]
    ok = (z > near).all(1) & torch.isfinite(verts_cam[faces]).all(-1).all(-1)
    return depth_mapping(0.9 * float(z[ok].min()), 1.1 * float(z[ok].max()) + 1e-6)


def unexplained_face_mismatches(verts_cam, faces, K, width, height, face_a, face_b) -> list[tuple[int, int, int, int]]:
    """Pixels where two rasterizations ``face_a``, ``face_b (H, W)`` of the same input disagree for no reason.

    A disagreement is explained when the pixel centre is within the coverage slack of an edge of the face
    one of them chose (the other may legitimately miss that face and show what lies behind it, but never
    drop a solid nearer face), or when the two faces' exact depths there tie within the z-test's slack.
    Returns up to 5 ``(row, col, face_a, face_b)`` that are not explained.
    """
    rows, cols = torch.nonzero(face_a != face_b, as_tuple=True)
    if rows.numel() == 0:
        return []
    depth_ab = gl_depth_mapping(verts_cam, faces)

    def facts(face):
        has = face >= 0
        geo = face_geometry(verts_cam, faces, K, torch.where(has, face, torch.zeros_like(face)), rows, cols)
        slack = coverage_slack_px(geo, width, height)
        marginal = has & (signed_edge_distance(geo) <= slack)
        depth = torch.where(has, exact_depth(geo), torch.full_like(slack, float("inf")))
        tie = torch.where(has, depth_tie_m(geo, slack, depth_ab), torch.zeros_like(slack))
        return marginal, depth, tie

    fa, fb = face_a[rows, cols], face_b[rows, cols]
    m_a, z_a, tie_a = facts(fa)
    m_b, z_b, tie_b = facts(fb)
    tie = tie_a + tie_b
    explained = (m_a & (z_b >= z_a - tie)) | (m_b & (z_a >= z_b - tie)) | ((z_a - z_b).abs() <= tie)
    bad = torch.nonzero(~explained).squeeze(1)[:5].tolist()
    return [(int(rows[i]), int(cols[i]), int(fa[i]), int(fb[i])) for i in bad]


def reprojection_bounds(verts, faces, cam, raster, rows, cols, pix) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds ``(N,)`` (px, metres) for re-projecting the raster's interpolated 3D point ``sum_i b_i X_i``.

    Checks that the point lies on the ray through the pixel centre (``pix`` from ``cam.project``) at the
    raster's depth. The point's screen weights ``mu_i = b_i z_i / sum_j b_j z_j`` are the raster's screen
    weights ``s_i`` (:func:`screen_weight_bounds`: ``|s_i - lam_i| <= D_i``, ``|sum s - 1| <= gap``) up to
    the two divisions of the perspective step (2 x 5u each, GLSL), so ``sum |mu - lam| <= 2 sum D / (1 -
    sum D) + 20u``; as ``sum (mu - lam) = 0`` the pixel moves by that times ``max_i |p_i - centre|``. The
    depth ``sum b_i z_i = (sum s) / Q`` and the raster's ``1 / Q`` share ``Q``: they differ by ``gap`` plus
    6 divisions (30u) relative. Plus the float32 arithmetic between: the raster's camera-frame corners and
    the test's world-to-camera map of the point (gamma(4) (|R| |X| + |t|) each), the point itself (3
    products, gamma(3) |X|max), ``K x`` (gamma(3) k_max |x|max) and the division (u |pix|, and the
    point's z error relative to z).
    """
    verts_cam = cam.world_to_camera(verts.float())
    geo = face_geometry(verts_cam, faces, cam.K, raster.face_index[rows, cols], rows, cols)
    D, gap, thin = screen_weight_bounds(geo, against="exact")
    assert not thin.any(), "a sliver triangle: its barycentrics are not determined"
    z_min = geo["z"].amin(-1)
    reach = (geo["tri"] - geo["p"][:, None]).norm(dim=-1).amax(-1)
    x_max = float(verts.abs().max())
    r_max = float(cam.R.float().abs().sum(1).max())
    t_max = float(cam.t.float().abs().max())
    c_max = float(verts_cam.abs().max())
    k_max = float(cam.K.float().abs().sum(1).max())
    point_err = gamma(3) * x_max * r_max + 2 * gamma(4) * (r_max * x_max + t_max)  # camera frame, metres
    pix_abs = float(pix.abs().max())
    proj_err = k_max * (point_err + gamma(3) * c_max) / z_min + pix_abs * (point_err / z_min + U32)
    pix_bound = (2 * D.sum(-1) / (1 - D.sum(-1)) + 20 * U32) * reach + proj_err
    depth_bound = raster.depth[rows, cols].double() * (gap[:, 0] + 30 * U32) + point_err
    return pix_bound, depth_bound
