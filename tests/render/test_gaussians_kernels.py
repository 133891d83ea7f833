"""Pieces of the torch Gaussian rasterizer: chunk kernels vs their plain twin, SH, projection, tile lists."""

import math

import pytest
import torch
from float_bounds import U32, U64, gamma
from gaussian_bounds import chunk_bounds, projection_bounds

import uvatar.render._gaussians_torch as gt
from uvatar.render._gaussians_reference import _project as reference_project

UNIT_ROUNDOFF = {torch.float32: U32, torch.float64: U64}


def chunk_inputs(dtype, seed=0, n_tiles=4, n_rows=150):
    """A table of Gaussians near a tile, row ids with padding, and transmittances including stopped pixels."""
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.rand(*s, generator=gen, dtype=dtype)
    conic = torch.stack([rand(n_rows) * 0.3 + 0.05, (rand(n_rows) - 0.5) * 0.05, rand(n_rows) * 0.3 + 0.05], -1)
    table = torch.cat(
        [
            rand(n_rows, 2) * 24 - 12,  # pixel means around the tile
            conic,
            torch.log(rand(n_rows, 1) * 0.95 + 0.05),  # log opacity
            rand(n_rows, 4),  # rgb, depth
            torch.ones(n_rows, 1, dtype=dtype),
        ],
        dim=-1,
    )
    ids = torch.randint(0, n_rows, (n_tiles, gt.CHUNK), generator=gen)
    valid = torch.ones(n_tiles, gt.CHUNK, dtype=torch.bool)
    valid[0, 40:] = False  # a short list
    centres = (rand(n_tiles, 1, 2) - 0.5) * 4
    trans = rand(n_tiles, gt.TILE**2) * 0.9 + 0.1
    trans[1, :20] = 3e-4  # pixels about to stop
    trans[2, :10] = 0.5e-4  # stopped pixels
    trans[3, :5] = 0.0
    return table, ids, valid, centres, trans


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fast_chunk_kernels_match_the_plain_twin_and_its_autograd(dtype):
    table, ids, valid, centres, trans = chunk_inputs(dtype)
    basis = gt._tile_basis(dtype, torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    grad_out = torch.randn(4, gt.TILE**2, 5, generator=gen, dtype=dtype)
    grad_trans = torch.randn(4, gt.TILE**2, generator=gen, dtype=dtype)

    table_p, trans_p = table.clone().requires_grad_(True), trans.clone().requires_grad_(True)
    gathered = table_p[ids]
    coefs = gt._chunk_coefs(gathered[..., :6], centres, valid)
    out_p, t_out_p = gt.composite_chunk_plain(coefs, gathered[..., 6:], trans_p, basis)
    loss = (out_p * grad_out).sum() + (t_out_p * grad_trans).sum()
    g_table_p, g_trans_p = torch.autograd.grad(loss, [table_p, trans_p])
    out_p, t_out_p = out_p.detach(), t_out_p.detach()

    ws = gt._Workspace()
    out, t_out = gt._chunk_forward(table, ids, valid, centres, trans, basis.T.contiguous(), ws)
    basis_t = basis.T.contiguous()
    rows, g_trans = gt._chunk_backward(table, ids, valid, centres, trans, basis_t, t_out, grad_out, grad_trans, ws)
    g_table = torch.zeros_like(table).index_add_(0, ids.reshape(-1), rows.reshape(-1, table.shape[1]))

    assert float(out_p.abs().max()) > 0.1  # test setup: the chunk blends something
    # Per-element bounds on either kernel's rounding (gaussian_bounds.chunk_bounds: exponent magnitudes,
    # 2-ulp exp, transmittance and weight errors, the backward's sums over the whole chunk), so the two
    # kernels differ by at most twice that; pixels where alpha >= 1/255, the 0.99 cap or T >= 1e-4 is
    # within rounding (1 pixel in float32 here) and the table rows they reach are left out. (Was a flat
    # 1e-12 / 2e-5, scaled by max(1, |gradient|max).)
    b = chunk_bounds(table, ids, valid, centres, trans, grad_out, grad_trans, UNIT_ROUNDOFF[dtype])
    ok_pix, ok_rows = ~b["ambiguous"], ~b["g_rows_ambiguous"]
    assert ok_pix.float().mean() > 0.95 and ok_rows.float().mean() > 0.8  # test setup: most are compared
    for got, want, bound, ok in (
        (out, out_p, b["out_bound"], ok_pix.unsqueeze(-1)),
        (t_out, t_out_p, b["t_out_bound"], ok_pix),
        (g_table[:, :10], g_table_p[:, :10], b["g_table_bound"][:, :10], ok_rows.unsqueeze(-1)),
        (g_trans, g_trans_p, b["g_trans_bound"], ok_pix),
    ):
        over = ((got.double() - want.double()).abs() > 2 * bound) & ok
        assert not over.any(), (float((got.double() - want.double()).abs()[over].max()), float(bound[over].min()))


def test_chunk_coefficients_give_the_gaussian_exponent():
    dtype = torch.float64
    table, ids, valid, centres, _ = chunk_inputs(dtype)
    coefs = gt._chunk_coefs(table[ids][..., :6], centres, valid)
    basis = gt._tile_basis(dtype, torch.device("cpu"))
    power = coefs @ basis  # (A, G, P)
    # Direct: log o - ½ dᵀ Σ⁻¹ d, pixel centres of a tile around each centre.
    offs = torch.arange(gt.TILE, dtype=dtype) + 0.5 - gt.TILE / 2
    py, px = torch.meshgrid(offs, offs, indexing="ij")
    geo = table[ids]
    dx = px.reshape(1, 1, -1) + centres[..., 0:1] - geo[..., 0:1]
    dy = py.reshape(1, 1, -1) + centres[..., 1:2] - geo[..., 1:2]
    a, b, c, log_o = (geo[..., k : k + 1] for k in (2, 3, 4, 5))
    direct = log_o - 0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy)
    # float64, both sides within gamma(12) of the magnitudes of their terms: the coefficients' own
    # (|log o| + |mu| |k1| / 2 + ..., then |coefs| . |basis|) and the direct form's (was atol 1e-10)
    mu, mv = (geo[..., 0:1] - centres[..., 0:1]).abs(), (geo[..., 1:2] - centres[..., 1:2]).abs()
    k1, k2 = a.abs() * mu + b.abs() * mv, b.abs() * mu + c.abs() * mv
    coef_mag = torch.cat([log_o.abs() + 0.5 * (mu * k1 + mv * k2), k1, k2, 0.5 * a.abs(), b.abs(), 0.5 * c.abs()], -1)
    direct_mag = log_o.abs() + 0.5 * (a.abs() * dx * dx + 2 * (b * dx * dy).abs() + c.abs() * dy * dy)
    bound = gamma(12, U64) * (coef_mag @ basis.abs() + direct_mag)
    assert ((power - direct).abs() <= bound)[valid].all()
    assert bool((power[~valid] < -1e3).all())  # padding gets alpha 0


def _sh_basis(dirs: torch.Tensor) -> torch.Tensor:
    """``(N, 16)`` SH basis values from eval_sh, read through small unit coefficients (so no clamping)."""
    n = dirs.shape[0]
    eye = torch.eye(16, dtype=dirs.dtype)
    values = []
    for k in range(16):
        coeffs = (0.1 * eye[k]).reshape(1, 16, 1).expand(n, 16, 3)
        values.append((gt.eval_sh(coeffs, dirs)[:, 0] - 0.5) / 0.1)
    return torch.stack(values, dim=-1)


def test_sh_basis_is_orthonormal_on_the_sphere():
    # Gauss-Legendre in cos(theta) x uniform in phi integrates these degree <= 6 products exactly.
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(12)
    n_phi = 24
    phi = torch.arange(n_phi, dtype=torch.float64) * (2 * math.pi / n_phi)
    cos_t = torch.tensor(nodes)
    sin_t = torch.sqrt(1 - cos_t**2)
    dirs = torch.stack(
        [sin_t[:, None] * torch.cos(phi), sin_t[:, None] * torch.sin(phi), cos_t[:, None].expand(-1, n_phi)], dim=-1
    ).reshape(-1, 3)
    w = (torch.tensor(weights)[:, None] * (2 * math.pi / n_phi)).expand(-1, n_phi).reshape(-1)
    basis = _sh_basis(dirs)
    gram = basis.T @ (basis * w[:, None])
    # The quadrature is exact for these degree <= 6 products, so only float64 rounding remains: each basis
    # value comes back through (0.5 + 0.1 Y) - 0.5, divided by 0.1 (error <= 2u 0.6 / 0.1 + gamma(24) |Y|,
    # u = 2^-53), and the weighted sum of 288 products adds gamma(290) sum w |Y_i| |Y_j| (was atol 1e-10).
    y_max = float(basis.abs().max())
    e_y = 2 * U64 * 0.6 / 0.1 + gamma(24, U64) * y_max
    bound = gamma(290, U64) * float(w.sum()) * y_max**2 + 2 * e_y * float(w.sum()) * y_max
    assert torch.allclose(gram, torch.eye(16, dtype=torch.float64), rtol=0, atol=bound)


def test_sh_convention_of_3dgs():
    # 3DGS / gsplat order and signs: Y0 = C0, then -C1 y, C1 z, -C1 x; colour = SH + 0.5, clamped at 0.
    dirs = torch.tensor([[0.0, 0.0, 2.0], [3.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    basis = _sh_basis(dirs)
    c0, c1 = 0.28209479177387814, 0.4886025119029199
    # float64 round trip (0.5 + 0.1 Y) - 0.5, / 0.1 and the direction's normalisation: <= 2u 0.6 / 0.1 +
    # gamma(8) |Y| with u = 2^-53 (was the default allclose, rtol 1e-5)
    tol = 2 * U64 * 0.6 / 0.1 + gamma(8, U64) * c1
    assert torch.allclose(basis[:, 0], torch.full((3,), c0, dtype=torch.float64), rtol=0, atol=tol)
    expected = torch.tensor([[0, c1, 0], [0, 0, -c1], [c1, 0, 0]], dtype=torch.float64)
    assert torch.allclose(basis[:, 1:4], expected, rtol=0, atol=tol)
    dark = gt.eval_sh(torch.full((1, 1, 3), -5.0), torch.tensor([[0.0, 0.0, 1.0]]))
    assert torch.equal(dark, torch.zeros(1, 3))


def test_projection_matches_the_reference_matrices():
    gen = torch.Generator().manual_seed(0)
    n = 200
    means = torch.randn(n, 3, generator=gen, dtype=torch.float64) * torch.tensor([2.0, 0.5, 2.0], dtype=torch.float64)
    means[:, 1] += 3.0  # in front, many far outside the field of view (the Jacobian clamp acts)
    quats = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    scales = torch.rand(n, 3, generator=gen, dtype=torch.float64) * 0.1 + 0.01
    from uvatar.camera import Camera

    cam = Camera.look_at([0.2, -1.0, 0.1], [0.0, 3.0, 0.0], 80, 60, fov_y_deg=50.0)
    K, R, t = (x.double() for x in (cam.K, cam.R, cam.t))
    means2d, cov2d, depth = gt.project_gaussians(means, quats, scales, K, R, t, 80, 60)
    ref_means2d, ref_cov2d, ref_depth = reference_project(means, quats, scales, K, R, t, 80, 60)
    # Both within the per-Gaussian float64 rounding bounds of gaussian_bounds.projection_bounds (camera
    # frame, means, covariances with the clamped Jacobian), so within twice those of each other (was atol
    # 1e-9 / 1e-12 / rtol+atol 1e-9).
    pb = projection_bounds(means, quats, scales, K, R, t, 80, 60, U64)
    mean_bound = 2 * torch.stack([pb["e_mx"], pb["e_my"]], -1)
    assert ((means2d - ref_means2d).abs() <= mean_bound).all()
    assert ((depth - ref_depth).abs() <= 2 * pb["e_z"]).all()
    ref_cov_xx_xy_yy = torch.stack([ref_cov2d[:, 0, 0], ref_cov2d[:, 0, 1], ref_cov2d[:, 1, 1]], -1)
    cov_bound = 2 * torch.stack([pb["e_ca"], pb["e_cb"], pb["e_cc"]], -1)
    assert ((cov2d - ref_cov_xx_xy_yy).abs() <= cov_bound).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # one packed-key sort / two sorts
def test_tile_lists_hold_every_overlap_in_stable_depth_order(dtype):
    gen = torch.Generator().manual_seed(2)
    m, width, height = 300, 70, 50
    c0 = torch.randint(0, width, (m,), generator=gen)
    c1 = torch.clamp(c0 + torch.randint(0, 30, (m,), generator=gen), max=width - 1)
    r0 = torch.randint(0, height, (m,), generator=gen)
    r1 = torch.clamp(r0 + torch.randint(0, 30, (m,), generator=gen), max=height - 1)
    depth = (torch.randint(1, 20, (m,), generator=gen) * 0.37).to(dtype)  # many ties
    tiles_x, tiles_y = math.ceil(width / gt.TILE), math.ceil(height / gt.TILE)
    ids, counts, offsets = gt._tile_lists(c0, c1, r0, r1, depth, tiles_x, tiles_x * tiles_y)
    for tile in range(tiles_x * tiles_y):
        tx, ty = tile % tiles_x, tile // tiles_x
        x0, y0 = tx * gt.TILE, ty * gt.TILE
        overlap = (c0 <= x0 + gt.TILE - 1) & (c1 >= x0) & (r0 <= y0 + gt.TILE - 1) & (r1 >= y0)
        expected = torch.nonzero(overlap).squeeze(1)
        expected = expected[torch.argsort(depth[expected], stable=True)]  # by depth, ties by index
        got = ids[offsets[tile] : offsets[tile] + counts[tile]]
        assert torch.equal(got, expected), tile
