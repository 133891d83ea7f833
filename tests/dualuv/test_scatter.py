import torch
from float_bounds import U64, gamma

from uvatar.body.uv import texel_centers
from uvatar.dualuv.scatter import scatter_to_uv, scatter_to_uv_reference


def test_fast_scatter_matches_the_formula():
    gen = torch.Generator().manual_seed(0)
    uv = torch.rand(300, 2, generator=gen, dtype=torch.float64)
    features = torch.randn(300, 4, generator=gen, dtype=torch.float64)
    weights = (torch.rand(300, generator=gen) > 0.3).double()
    fast, fast_w = scatter_to_uv(uv, features, weights, 12, 10)
    ref, ref_w = scatter_to_uv_reference(uv, features, weights, 12, 10)
    # float64 sums of bilinear splats in two orders: per texel, gamma(n + 4) of the sum of |terms|, which is
    # the same scatter of |features| (n <= 300 points) (was atol 1e-10 / 1e-12)
    magnitude, magnitude_w = scatter_to_uv_reference(uv, features.abs(), weights, 12, 10)
    assert ((fast - ref).abs() <= 2 * gamma(304, U64) * magnitude).all()
    assert ((fast_w - ref_w).abs() <= 2 * gamma(304, U64) * magnitude_w).all()


def test_points_at_texel_centres_are_copied_exactly():
    centres = texel_centers(8, 8).reshape(-1, 2).double()
    features = torch.arange(64 * 3, dtype=torch.float64).reshape(64, 3)
    grid, weight = scatter_to_uv(centres, features, torch.ones(64, dtype=torch.float64), 8, 8, eps=0.0)
    # at a texel centre the bilinear weights are exactly 1 and 0: copied bit for bit (was the default allclose)
    assert torch.equal(grid.reshape(3, -1).T, features) and torch.equal(weight, torch.ones(8, 8, dtype=torch.float64))


def test_invisible_points_contribute_nothing():
    uv = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=torch.float64)
    features = torch.tensor([[1.0], [100.0]], dtype=torch.float64)
    grid, _ = scatter_to_uv(uv, features, torch.tensor([1.0, 0.0], dtype=torch.float64), 4, 4)
    assert grid.max() <= 1.0
