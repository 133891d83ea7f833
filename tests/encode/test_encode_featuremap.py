"""FeatureMap sampling (pixel-centre convention) and image validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from float_bounds import gamma

from uvatar.encode import FeatureMap, get_encoder, image_to_tensor
from uvatar.errors import InputError


def test_rgb_sampled_at_pixel_centres_is_exact():
    img = np.random.default_rng(0).random((37, 53, 3), dtype=np.float32)
    fm = get_encoder("rgb")(img)
    assert fm.features.shape == (3, 37, 53) and fm.stride == 1.0 and fm.image_size == (53, 37)
    assert fm.channels == ["r", "g", "b"]
    rows, cols = np.mgrid[0:37, 0:53]
    px = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)
    got = fm.sample(px).numpy()
    assert np.array_equal(got, img.reshape(-1, 3))


def test_sample_matches_grid_sample():
    """The explicit bilinear weights are the grid_sample(align_corners=False, border) reference."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(5, 7, 9, generator=g)
    fm = FeatureMap(feats, stride=4.0, image_size=(36, 28), encoder="test")
    px = torch.rand(500, 2, generator=g) * torch.tensor([46.0, 38.0]) - 5.0  # includes points outside
    ref_grid = (2 * px / torch.tensor([36.0, 28.0]) - 1)[None, None]
    ref = F.grid_sample(feats[None], ref_grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Both are float32 bilinear look-ups whose cell coordinates come from different formulas (px / stride -
    # 0.5 here, ((2 px / size - 1 + 1) W - 1) / 2 in grid_sample): each within 6 roundings of magnitude
    # <= W (|2 px / size| + 2), which moves the value by that times the largest step between neighbouring
    # cells; the two blends add gamma(6) |f|max each (was atol 1e-5)
    (_, h, w), reach = feats.shape, float((2 * px.abs() / torch.tensor([36.0, 28.0])).max()) + 2
    step = max(float((feats[:, :, 1:] - feats[:, :, :-1]).abs().max()), float((feats[:, 1:] - feats[:, :-1]).abs().max()))
    tol = gamma(6) * (w + h) * reach * step + 2 * gamma(6) * float(feats.abs().max())
    assert torch.allclose(fm.sample(px), ref[0, :, 0].T, rtol=0, atol=tol)


def test_cell_centres_return_cell_values():
    feats = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    fm = FeatureMap(feats, stride=8.0, image_size=(32, 24), encoder="test")
    i, j = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    px = torch.stack([(j.flatten() + 0.5) * 8, (i.flatten() + 0.5) * 8], dim=1)
    assert torch.equal(fm.sample(px), feats.flatten(1).T)


def test_bad_inputs():
    fm = FeatureMap(torch.zeros(2, 3, 4), stride=1.0, image_size=(4, 3), encoder="test")
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        fm.sample(torch.zeros(5, 3))
    with pytest.raises(InputError, match="channel names"):
        FeatureMap(torch.zeros(2, 3, 4), 1.0, (4, 3), "test", ["a"])
    with pytest.raises(InputError, match="stride"):
        FeatureMap(torch.zeros(2, 3, 4), 0.0, (4, 3), "test")
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        image_to_tensor(np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        image_to_tensor(np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(InputError, match="dtype"):
        image_to_tensor(np.zeros((4, 4, 3), np.int32))
    u8 = np.full((2, 2, 3), 255, np.uint8)
    assert torch.equal(image_to_tensor(u8), torch.ones(1, 3, 2, 2))
