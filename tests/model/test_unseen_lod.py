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
