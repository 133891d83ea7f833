"""load_image / save_image / to_uint8: round trips, downsizing, argument checks, and the real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from float_bounds import U32
from PIL import Image

from uvatar.errors import InputError
from uvatar.io.image import load_image, save_image, to_uint8

REAL = Path("/work/shared/realdata")
REAL_PHOTOS = sorted(p for sub in ("head", "half", "full") for p in (REAL / sub).glob("*") if p.is_file())


def _noise(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, c)) * 255).astype(np.uint8)


def test_to_uint8_round_trips_uint8_through_float():
    u = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(u.astype(np.float32) / 255), u)
    np.testing.assert_array_equal(to_uint8(u.astype(np.float64) / 255), u)
    assert to_uint8(u) is u


def test_to_uint8_clips_and_handles_nan_and_bool():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 7.0, np.nan], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 128, 255, 255, 0])
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])
    with pytest.raises(InputError):
        to_uint8(np.array(["a"]))


def test_to_uint8_accepts_torch():
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(to_uint8(torch.tensor([0.0, 1.0])), [0, 255])


def test_png_round_trip_is_exact(tmp_path):
    rgb = _noise(37, 53)
    alpha = _noise(37, 53, 1, seed=1)[..., 0]
    p = save_image(tmp_path / "sub" / "x.png", rgb / 255.0, alpha)
    img = load_image(p)
    np.testing.assert_array_equal(to_uint8(img.rgb), rgb)
    np.testing.assert_array_equal(to_uint8(img.alpha), alpha)
    assert img.size == (53, 37) and img.scale == 1.0 and img.original_size == (53, 37)
    assert [q.name for q in p.parent.iterdir()] == ["x.png"]  # no temporary left


def test_jpeg_save_is_close(tmp_path):
    rgb = np.zeros((64, 64, 3), np.float32)
    rgb[..., 0] = np.linspace(0, 1, 64)[None, :]
    rgb[..., 2] = 0.25
    img = load_image(save_image(tmp_path / "x.jpg", rgb))
    assert np.abs(img.rgb - rgb).max() < 0.03 and img.alpha is None  # a JPEG codec tolerance (measured 0.0088)


def test_save_rejects_bad_input(tmp_path):
    with pytest.raises(InputError, match="png"):
        save_image(tmp_path / "x.bmp", _noise(8, 8))
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        save_image(tmp_path / "x.png", np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(InputError, match="alpha"):
        save_image(tmp_path / "x.jpg", _noise(8, 8), np.zeros((8, 8)))
    with pytest.raises(InputError, match="alpha"):
        save_image(tmp_path / "x.png", _noise(8, 8), np.zeros((4, 8)))
    assert list(tmp_path.iterdir()) == []


def test_save_failure_leaves_old_file_alone(tmp_path, monkeypatch):
    p = save_image(tmp_path / "x.png", _noise(8, 8))
    before = p.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(RuntimeError):
        save_image(p, _noise(8, 8, seed=3))
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["x.png"]


def test_downsize_longer_side(tmp_path):
    rgb = _noise(200, 300)
    alpha = np.full((200, 300), 255, np.uint8)
    p = save_image(tmp_path / "big.png", rgb, alpha)
    img = load_image(p, max_side=64)
    assert img.rgb.shape == (43, 64, 3) and img.alpha.shape == (43, 64)
    assert img.original_size == (300, 200) and img.scale == pytest.approx(64 / 300, rel=2 * 2.0**-53)  # one float64 division
    assert "downsized 300x200 -> 64x43" in img.notes
    assert 0.0 <= img.rgb.min() and img.rgb.max() <= 1.0
    # Pillow's float Lanczos: two separable passes, each a double sum of weights summing to 1 stored in float32
    # (u times sum |w| <= 1.3 with the negative lobes): a constant stays within 4u (was atol 1e-5)
    np.testing.assert_allclose(img.alpha, 1.0, rtol=0, atol=4 * U32)
    # Lanczos of noise keeps the mean: a statistical check (measured 3.5e-5 off), not a float bound
    assert abs(float(img.rgb.mean()) - float(rgb.mean()) / 255) < 0.01
    full = load_image(p, max_side=None)
    assert full.rgb.shape == (200, 300, 3) and full.notes == []


def test_downsize_of_a_constant_is_constant(tmp_path):
    p = save_image(tmp_path / "c.png", np.full((100, 90, 3), 77, np.uint8))
    img = load_image(p, max_side=40)
    np.testing.assert_allclose(img.rgb, 77 / 255, rtol=0, atol=4 * U32 + U32)  # as above, plus 77 / 255 (was 1e-5)


@pytest.mark.parametrize("bad", [0, 10, 31, 100.0, "2048"])
def test_max_side_is_checked(tmp_path, bad):
    p = save_image(tmp_path / "x.png", _noise(40, 40))
    with pytest.raises(InputError, match="max_side"):
        load_image(p, max_side=bad)


@pytest.mark.skipif(not REAL_PHOTOS, reason="no real photos under /work/shared/realdata")
@pytest.mark.parametrize("path", REAL_PHOTOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_photos_load(path):
    img = load_image(path)
    h, w, c = img.rgb.shape
    assert c == 3 and min(h, w) >= 32 and max(h, w) <= 2048
    assert img.rgb.dtype == np.float32 and 0.0 <= img.rgb.min() and img.rgb.max() <= 1.0
    assert float(img.rgb.std()) > 0.02  # a real picture, not a blank
    with Image.open(path) as raw:
        assert img.original_size in (raw.size, raw.size[::-1])


def test_real_photo_set_is_there():
    """The three regimes each have photos (guards the parametrized test from silently running on none)."""
    if not REAL.exists():
        pytest.skip("no /work/shared/realdata on this machine")
    for sub in ("head", "half", "full"):
        assert any((REAL / sub).iterdir()), sub


def test_large_jpeg_reduced_decode_matches_full_decode(tmp_path):
    """Big JPEGs are decoded at a reduced DCT scale before Lanczos; the result matches a full decode."""
    yy, xx = np.mgrid[0:1000, 0:1600].astype(np.float32)
    rgb = np.stack([xx / 1600, yy / 1000, 0.5 + 0.4 * np.sin(xx / 90) * np.cos(yy / 70)], axis=2)
    p = save_image(tmp_path / "big.jpg", rgb)
    small = load_image(p, max_side=256)
    assert small.rgb.shape == (160, 256, 3) and small.original_size == (1600, 1000)
    assert small.scale == pytest.approx(0.16, rel=2 * 2.0**-53)  # 256 / 1600 in float64
    full = load_image(p, max_side=None).rgb
    ref = np.stack(
        [np.asarray(Image.fromarray(full[..., c], mode="F").resize((256, 160), Image.Resampling.LANCZOS)) for c in range(3)],
        axis=2,
    )
    diff = np.abs(small.rgb - np.clip(ref, 0, 1))
    # a reduced-DCT decode is another image than a full decode: a resampling-quality check, not a float bound
    assert diff.mean() < 0.005 and diff.max() < 0.06
