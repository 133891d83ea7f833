"""Every kind of bad image file is refused with a clear InputError; odd but valid images load right."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from float_bounds import U32
from PIL import Image

from uvatar.errors import InputError, UvatarError
from uvatar.io.image import load_image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw_rows: bytes) -> bytes:
    """A PNG written by hand (no Pillow), so that the header can claim anything."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw_rows)) + _chunk(b"IEND", b"")


def _png16(arr: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint16 -> 16-bit grayscale or RGB PNG bytes."""
    color_type = 0 if arr.ndim == 2 else 2
    rows = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(arr.shape[0]))
    return _png_bytes(arr.shape[1], arr.shape[0], 16, color_type, rows)


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _expect(path: Path, *words: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return info.value


# ---- bad files ---------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    _expect(tmp_path / "nope.jpg", "no such file", "nope.jpg", "pass the path of a photo")


def test_directory(tmp_path):
    _expect(tmp_path, "is a directory")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    _expect(p, "empty file")


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a photo\n" * 20)
    _expect(p, "not an image")


def test_heic_gets_a_hint(tmp_path):
    p = tmp_path / "IMG_0001.HEIC"
    p.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200)
    _expect(p, "HEIC", "JPEG")


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_noise(200, 300)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    _expect(p, "truncated")


def test_corrupt_png_data(tmp_path):
    rows = b"".join(b"\x00" + bytes(range(64)) * 3 for _ in range(64))
    good = _png_bytes(64, 64, 8, 2, rows)
    idat = good.index(b"IDAT") + 4
    bad = bytearray(good)
    bad[idat + 10 : idat + 30] = b"\xff" * 20  # garbage inside the compressed stream (CRC now wrong too)
    p = tmp_path / "broken.png"
    p.write_bytes(bytes(bad))
    _expect(p, "broken.png", "corrupt")


def test_too_small(tmp_path):
    p = tmp_path / "tiny.png"
    Image.fromarray(_noise(15, 20)).save(p)
    _expect(p, "20x15 px", "at least 32 px", "512+")


def test_decompression_bomb_header_far_over_limit(tmp_path):
    # 30000 x 30000 claimed in IHDR with one tiny row of data: the file is a few hundred bytes.
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_bytes(30000, 30000, 8, 2, b"\x00" * 100))
    assert p.stat().st_size < 1000
    _expect(p, "megapixels", "downsize")


def test_decompression_bomb_header_just_over_our_limit(tmp_path):
    # 10500 x 10000 = 105 MP: above our 100 MP limit but below Pillow's own hard error.
    p = tmp_path / "huge.png"
    p.write_bytes(_png_bytes(10500, 10000, 8, 2, b"\x00" * 100))
    _expect(p, "10500x10000", "megapixels")


def test_errors_share_the_hierarchy(tmp_path):
    with pytest.raises(UvatarError):
        load_image(tmp_path / "nope.png")


# ---- odd but valid images -------------------------------------------------------------------------


def test_grayscale(tmp_path):
    gray = (np.arange(40 * 50) % 256).astype(np.uint8).reshape(40, 50)
    p = tmp_path / "gray.png"
    Image.fromarray(gray, mode="L").save(p)
    img = load_image(p)
    assert img.rgb.shape == (40, 50, 3) and img.rgb.dtype == np.float32 and img.alpha is None
    for c in range(3):
        np.testing.assert_array_equal(img.rgb[..., c], gray / np.float32(255))
    assert any("grayscale" in n for n in img.notes)


def test_grayscale_alpha(tmp_path):
    la = np.stack([np.full((40, 40), 200, np.uint8), np.tile(np.arange(40, dtype=np.uint8) * 6, (40, 1))], axis=2)
    p = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(p)
    img = load_image(p)
    np.testing.assert_allclose(img.rgb, 200 / 255, rtol=0, atol=U32)  # v / 255 stored in float32 (was atol 1e-6)
    np.testing.assert_array_equal(img.alpha, la[..., 1] / np.float32(255))


def test_rgba_keeps_rgb_and_alpha_apart(tmp_path):
    rgba = np.concatenate([_noise(48, 64), np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (48, 1, 1))], 2)
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(p)
    img = load_image(p)
    np.testing.assert_array_equal(img.rgb, rgba[..., :3] / np.float32(255))  # not composited
    np.testing.assert_array_equal(img.alpha, rgba[..., 3] / np.float32(255))


def test_palette_with_transparency(tmp_path):
    idx = np.zeros((40, 40), np.uint8)
    idx[10:30, 10:30] = 1
    pal = Image.fromarray(idx, mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    p = tmp_path / "pal.png"
    pal.save(p, transparency=0)
    img = load_image(p)
    assert img.alpha is not None
    np.testing.assert_array_equal(img.alpha, (idx == 1).astype(np.float32))
    np.testing.assert_array_equal(img.rgb[20, 20], [1, 0, 0])
    assert any("palette" in n for n in img.notes)


def test_palette_without_transparency_has_no_alpha(tmp_path):
    p = tmp_path / "pal.gif"
    Image.fromarray(_noise(40, 40)).convert("P").save(p)
    img = load_image(p)
    assert img.alpha is None and img.rgb.shape == (40, 40, 3)


def test_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((48, 48, 4), np.uint8)
    cmyk[:, :24, 0] = 255  # pure cyan on the left
    cmyk[:, 24:, 1] = 255  # pure magenta on the right
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    img = load_image(p)
    # JPEG (quality 95) and Pillow's CMYK conversion on flat colours: a codec tolerance, not a float bound
    # (measured exact here; other libjpeg builds may differ by a few levels)
    np.testing.assert_allclose(img.rgb[24, 4], [0, 1, 1], atol=0.04)
    np.testing.assert_allclose(img.rgb[24, 44], [1, 0, 1], atol=0.04)
    assert "converted CMYK to RGB" in img.notes


def test_16bit_grayscale_png_keeps_precision(tmp_path):
    gray = (np.arange(40 * 40, dtype=np.uint32).reshape(40, 40) * 40 + 7).astype(np.uint16)
    p = tmp_path / "g16.png"
    p.write_bytes(_png16(gray))
    img = load_image(p)
    np.testing.assert_allclose(img.rgb[..., 1], gray / 65535.0, rtol=0, atol=U32)  # one float32 rounding (was 1e-7)
    assert any("16-bit" in n for n in img.notes)


def test_16bit_rgb_png(tmp_path):
    rgb = np.zeros((36, 40, 3), np.uint16)
    rgb[..., 0] = 65535
    rgb[..., 1] = 257 * 100
    p = tmp_path / "rgb16.png"
    p.write_bytes(_png16(rgb))
    img = load_image(p)
    np.testing.assert_allclose(img.rgb[0, 0], [1.0, 100 / 255, 0.0], rtol=0, atol=U32)  # 25700 / 65535 = 100 / 255 (was 1e-6)
    assert any("16-bit" in n for n in img.notes)


def test_exif_orientation_6_rotates(tmp_path):
    h, w = 40, 64
    stored = np.zeros((h, w, 3), np.uint8)
    stored[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]  # green ramp left -> right
    stored[:12, :12] = [255, 0, 0]  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    p = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(p, quality=95, exif=exif.tobytes())
    img = load_image(p)
    assert img.rgb.shape == (w, h, 3)  # W x H comes back H x W
    assert img.exif_rotated and "applied EXIF orientation 6" in img.notes
    assert img.original_size == (h, w)
    # Clockwise rotation sends the stored top-left to the displayed top-right.
    # JPEG (quality 95) codec tolerances, not float bounds (measured 0.008, 0.004 and a mean of 0.0036)
    np.testing.assert_allclose(img.rgb[2, h - 3], [1, 0, 0], atol=0.08)
    np.testing.assert_allclose(img.rgb[2, 2, 0], 0, atol=0.08)
    expected = np.rot90(stored, k=-1) / 255.0
    assert np.abs(img.rgb - expected).mean() < 0.02


def test_exif_orientation_1_is_untouched(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 1
    p = tmp_path / "upright.jpg"
    Image.fromarray(_noise(40, 64)).save(p, exif=exif.tobytes())
    img = load_image(p)
    assert img.rgb.shape == (40, 64, 3) and not img.exif_rotated and img.notes == []


def test_one_bit(tmp_path):
    bits = np.zeros((40, 40), bool)
    bits[:, 20:] = True
    p = tmp_path / "bw.png"
    Image.fromarray(bits).save(p)
    assert Image.open(p).mode == "1"
    img = load_image(p)
    np.testing.assert_array_equal(img.rgb[..., 0], bits.astype(np.float32))


def test_float_tiff_is_clipped(tmp_path):
    f = np.linspace(-0.5, 2.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    p = tmp_path / "hdr.tif"
    Image.fromarray(f, mode="F").save(p)
    img = load_image(p)
    np.testing.assert_array_equal(img.rgb[..., 2], np.clip(f, 0, 1))  # float32 read back and clipped: exact
    assert any("clipped" in n for n in img.notes)


def test_int32_tiff(tmp_path):
    i = (np.arange(40 * 40, dtype=np.int32).reshape(40, 40) * 40)
    p = tmp_path / "int.tif"
    Image.fromarray(i, mode="I").save(p)
    img = load_image(p)
    np.testing.assert_allclose(img.rgb[..., 0], i / 65535.0, rtol=0, atol=U32)  # one float32 rounding (was 1e-7)


def test_animated_gif_takes_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((40, 40, 3), v, np.uint8)) for v in (10, 200, 90)]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(p)
    np.testing.assert_allclose(img.rgb, 10 / 255, rtol=0, atol=U32)  # v / 255 in float32 (was 1e-6)
    assert any("3 frames" in n and "first" in n for n in img.notes)
