"""Baking the avatar's surface Gaussians into the UV texture."""

import io

import numpy as np
import pytest
import torch
from avatar_helpers import small_avatar
from float_bounds import U32, U64, gamma
from PIL import Image

from uvatar.body.uv import texel_centers
from uvatar.errors import InputError
from uvatar.export.texture import (
    bake_base_color,
    gaussian_uvs,
    splat_to_texture,
    texture_png,
)


def test_splat_lands_on_the_right_texel():
    size = 8
    uv = torch.tensor([[(2 + 0.5) / size, 1 - (5 + 0.5) / size]])  # centre of texel row 5, col 2
    color, weight = splat_to_texture(uv, torch.tensor([[0.2, 0.4, 0.6]]), torch.tensor([0.5]), size)
    # float64 bilinear splat at a float32 texel centre: the centre is off by <= u size (float32 uv), which
    # moves weight between neighbours by that; colours are float32 (u) (was the default isclose/allclose)
    moved = 0.5 * 2 * U32 * size
    assert abs(weight[5, 2] - 0.5) <= moved and abs(weight.sum() - 0.5) <= gamma(4, U64)
    assert np.allclose(color[5, 2], [0.1, 0.2, 0.3], rtol=0, atol=moved + U32 * 0.3)


def test_baked_texture_matches_the_colour_field(body):
    """Surface Gaussians coloured (u, v, 0.5) must bake into texels whose colour is their own UV; the
    red shell Gaussians must not leak in; every texel is filled."""
    avatar = small_avatar(body, n=60_000, shell=2000)
    size = 128
    texture = bake_base_color(avatar, body, size)
    assert texture.shape == (size, size, 3) and np.isfinite(texture).all()
    domain = body.uv_raster(size).mask.numpy()
    centres = texel_centers(size, size).numpy()
    error = np.abs(texture[..., :2] - centres)[domain]
    # quality floors of the bake (measured 0.0009 and 0.0047), not float bounds
    assert np.median(error) < 0.01 and np.percentile(error, 95) < 0.03
    # every surface Gaussian's blue is 0.5: float64 sums of 0.5 w and of w in the same order are exactly
    # half of each other (scaling by 0.5 is exact), so the ratio is 0.5 up to the division (measured
    # exactly 0.5; was 1e-4)
    assert np.abs(texture[..., 2][domain] - 0.5).max() <= gamma(2, U64) * 0.5
    # gaps between islands are filled with nearby island colours, never black or shell red
    outside = texture[~domain]
    assert outside.min() >= 0 and np.abs(outside[:, 2] - 0.5).max() <= gamma(4, U64) * 0.5  # averages of 0.5, as above


def test_gaussian_uvs_are_inside_the_atlas(body):
    avatar = small_avatar(body, n=500, shell=0)
    uv = gaussian_uvs(avatar, body)
    assert uv.shape == (500, 2) and bool(((uv >= 0) & (uv <= 1)).all())


def test_texture_png_round_trip():
    texture = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    image = np.asarray(Image.open(io.BytesIO(texture_png(texture))))
    # 8-bit quantisation (half a level) plus the rounding of x 255 and / 255 (was + 1e-6)
    assert image.shape == (16, 16, 3) and np.abs(image / 255.0 - texture).max() <= 0.5 / 255 + gamma(3)


def test_bad_inputs(body):
    avatar = small_avatar(body, n=100, shell=0)
    with pytest.raises(InputError, match="texture size"):
        bake_base_color(avatar, body, 4)
    avatar.layer[:] = 1
    with pytest.raises(InputError, match="no surface"):
        bake_base_color(avatar, body, 64)
