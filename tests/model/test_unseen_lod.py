"""Level of detail of the projection decoder: unseen 2x2 blocks become one half-resolution Gaussian."""

import torch
from float_bounds import gamma

from uvatar.model.projection import unseen_blocks


def test_unseen_blocks_partition_the_atlas(body):
    raster = body.uv_raster(128)
    generator = torch.Generator().manual_seed(0)
    photo = (torch.rand(raster.mask.shape, generator=generator) < 0.3) & raster.mask
    photo[:64] = False  # a large unseen region, so that whole blocks exist
    colors = torch.rand(3, 128, 128, generator=generator)
    fine, coarse_raster, coarse, coarse_colors = unseen_blocks(raster, photo, colors, body)
    assert coarse.shape == (64, 64) and coarse.sum() > 500  # test setup: many unseen blocks
    up = coarse.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert not (up & fine).any() and (fine | up).all()
    # a coarse block: all four texels covered and none from the photo; its centre is covered at 64
    blocks = (raster.mask & ~photo).reshape(64, 2, 64, 2).all(3).all(1)
    assert (coarse <= blocks).all() and (coarse <= coarse_raster.mask).all()
    # photo texels are always drawn at full resolution
    assert (fine | ~photo).all() and fine[photo].all()
    i, j = torch.nonzero(coarse)[0]
    # two float32 means of the same 4 texels (3 sums each, / 4 exact): gamma(3) of |colour| <= 1 each
    # (was the default allclose)
    block = colors[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean((1, 2))
    assert torch.allclose(coarse_colors[:, i, j], block, rtol=0, atol=2 * gamma(3))


def _sheet_coverage(sigma: float, opacity: float) -> float:
    """Least alpha of a flat sheet of Gaussians on a unit grid seen head-on: 1 - prod(1 - o g) over the
    centres within 3 cells, sampled over one cell (the compositing of non-overlapping-in-depth splats)."""
    offsets = torch.stack(torch.meshgrid(torch.arange(-3, 5.0), torch.arange(-3, 5.0), indexing="ij"), -1).reshape(-1, 2)
    samples = torch.stack(torch.meshgrid(torch.linspace(0, 1, 21), torch.linspace(0, 1, 21), indexing="ij"), -1).reshape(-1, 2)
    squared = ((samples[:, None] - offsets[None]) ** 2).sum(-1)
    transmittance = (1 - opacity * torch.exp(-squared / (2 * sigma**2))).prod(1)
    return float(1 - transmittance.max())


def test_unseen_blocks_leave_no_see_through_holes():
    """A back the photo did not see is drawn by the coarse blocks: at their sigma the sheet's thinnest
    spot (a cell's centre) lets at most 6 % of what lies behind through (the front's shirt and tie showed
    through a head photo's back at the fine texels' sigma, whose thinnest spot lets 15 % through)."""
    from uvatar.model.projection import ProjectionConfig

    config = ProjectionConfig()
    assert _sheet_coverage(config.unseen_tangent_sigma, config.core_opacity) >= 0.94
    assert _sheet_coverage(config.tangent_sigma, config.core_opacity) < 0.86  # why the unseen blocks differ
    # blocks far from what the photo coloured (no outline of its view near them) are wider: nothing shows
    assert _sheet_coverage(config.unseen_far_sigma, config.core_opacity) >= 0.985


def test_blocks_far_from_the_photo_are_far_on_the_body(body):
    """A head photo's back: the blocks more than ``unseen_far_m`` over the body from every block holding a
    photo texel are flagged far (drawn wider), those nearer are not; the atlas' own layout (the torso's back
    beside its front) does not count."""
    from uvatar.model.projection import ProjectionConfig, far_from_photo, rest_vertices

    config = ProjectionConfig()
    params = body.default_params(1)
    rest = rest_vertices(body, params.phenotypes[0], params.facial[0])
    raster = body.uv_raster(256)
    idx, face, bary = raster.covered()
    points = (bary[:, :, None] * rest[body.faces[face]]).sum(1)
    photo = torch.zeros(256 * 256, dtype=torch.bool)
    photo[idx[points[:, 1] < -0.08]] = True  # the front of the head and chest (the body faces -y)
    photo = photo.reshape(256, 256)
    _, coarse_raster, coarse, _ = unseen_blocks(raster, photo, torch.zeros(3, 256, 256), body)
    far = far_from_photo(coarse_raster, photo, body, rest, config.unseen_far_m)
    assert 0 < far.sum() < coarse_raster.mask.sum()  # test setup: some of each
    near_photo = photo.reshape(128, 2, 128, 2).any(3).any(1) & coarse_raster.mask
    c_idx, c_face, c_bary = coarse_raster.covered()
    centres = (c_bary[:, :, None] * rest[body.faces[c_face]]).sum(1)
    seen_centres = centres[near_photo.reshape(-1)[c_idx]]
    nearest = torch.cdist(centres.double(), seen_centres.double()).min(1).values
    flagged = far.reshape(-1)[c_idx]
    # the same float32 points (surface_distance rounds its float64 distances to float32: 2**-24 relative)
    assert (nearest[flagged] > config.unseen_far_m * (1 - 2**-23)).all()
    assert (nearest[~flagged] <= config.unseen_far_m * (1 + 2**-23)).all()
    assert not far[near_photo].any()


def test_the_face_backing_closes_the_skins_see_through_spots(body):
    """Beneath the head's frontally seen skin the half-resolution blocks are drawn again, 5 mm deeper: the
    fine sheet alone lets up to 15 % of what lies behind it through (the dark back of the head, the
    mouth's inside: a grid on the face), with the backing under 1 %; the backing is only on the head's
    blocks the photo saw frontally, beneath the skin along each face's normal."""
    from uvatar.dualuv.project import UVFeatures
    from uvatar.model.projection import ProjectionConfig, decode_projection

    config = ProjectionConfig()
    fine = 1 - _sheet_coverage(config.tangent_sigma, config.core_opacity)  # at its thinnest spot: 15.5 %
    backing = 1 - _sheet_coverage(config.unseen_tangent_sigma, config.core_opacity)  # on its own grid: 5.0 %
    assert fine > 0.1 and fine * backing < 0.01  # through both at their thinnest (a bound: the spots need not meet)

    resolution = 256
    raster = body.uv_raster(resolution)
    cos = torch.full((resolution, resolution), 0.9)
    cos[:, : resolution // 2] = 0.2  # the atlas's left half seen at a grazing angle, its right half frontally
    seen = raster.mask.float()
    uv = UVFeatures(core=torch.rand(3, resolution, resolution, generator=torch.Generator().manual_seed(0)), core_weight=seen, core_cos=cos,
                    shell=torch.zeros(3, 64, 64), shell_weight=torch.zeros(64, 64), shell_cos=torch.zeros(64, 64),
                    shell_offsets=torch.full((body.n_vertices,), 0.02))  # fmt: skip
    params = body.default_params(1)
    gaussians = decode_projection(uv, body, params.phenotypes[0], params.facial[0], config)
    backed = gaussians.offsets[:, 2] < 0
    n = gaussians.meta["stats"]["n_core_backing"]
    assert int(backed.sum()) == n > 100  # test setup: some head blocks are frontal
    assert (body.face_parts.cpu()[gaussians.face_index[backed]] == 0).all()
    assert torch.equal(gaussians.offsets[backed], torch.tensor([0.0, 0.0, -config.backing_depth_m]).expand(n, 3))
    assert (gaussians.layer[backed] == 0).all()
    # only frontally seen blocks: every backed Gaussian lies in the atlas's right half
    points_uv = (gaussians.barycentrics[backed][:, :, None] * body.uv_corners.cpu()[gaussians.face_index[backed]]).sum(1)
    assert (points_uv[:, 0] >= 0.5).all()
    without = decode_projection(uv, body, params.phenotypes[0], params.facial[0], ProjectionConfig(face_backing=False))
    assert len(without.face_index) == len(gaussians.face_index) - n
