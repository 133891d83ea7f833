import torch

from uvatar.body.uv import texel_centers
from uvatar.dualuv.scatter import scatter_to_uv, scatter_to_uv_reference


def test_fast_scatter_matches_the_formula():
    gen = torch.Generator().manual_seed(0)
    uv = torch.rand(300, 2, generator=gen, dtype=torch.float64)
    features = torch.randn(300, 4, generator=gen, dtype=torch.float64)
    weights = (torch.rand(300, generator=gen) > 0.3).double()
    fast, fast_w = scatter_to_uv(uv, features, weights, 12, 10)
    ref, ref_w = scatter_to_uv_reference(uv, features, weights, 12, 10)
    assert torch.allclose(fast, ref, atol=1e-10) and torch.allclose(fast_w, ref_w, atol=1e-12)


def test_points_at_texel_centres_are_copied_exactly():
    centres = texel_centers(8, 8).reshape(-1, 2).double()
    features = torch.arange(64 * 3, dtype=torch.float64).reshape(64, 3)
    grid, weight = scatter_to_uv(centres, features, torch.ones(64, dtype=torch.float64), 8, 8, eps=0.0)
    assert torch.allclose(grid.reshape(3, -1).T, features) and torch.allclose(weight, torch.ones(8, 8, dtype=torch.float64))


def test_invisible_points_contribute_nothing():
    uv = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=torch.float64)
    features = torch.tensor([[1.0], [100.0]], dtype=torch.float64)
    grid, _ = scatter_to_uv(uv, features, torch.tensor([1.0, 0.0], dtype=torch.float64), 4, 4)
    assert grid.max() <= 1.0
