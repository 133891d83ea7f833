"""The person mask's edge snapped to the photo's colours (uvatar.detect.mask_edges)."""

from __future__ import annotations

import numpy as np
import pytest

from uvatar.detect.mask_edges import snap_mask_edges, snap_mask_edges_reference

PERSON_RGB = (0.30, 0.20, 0.15)
BACKGROUND_RGB = (0.25, 0.45, 0.80)


def _scene(size: int = 200, radius: float = 60.0, overreach: float = 6.0):
    """A dark disc (the person) on blue, and a soft mask whose 0.5 contour lies ``overreach`` px outside
    the disc (an upsampled segmentation). Returns image ``(S, S, 3)``, mask ``(S, S)``, truth ``(S, S)`` bool."""
    rows, cols = np.mgrid[0:size, 0:size]
    r = np.hypot(rows - size / 2 + 0.5, cols - size / 2 + 0.5)
    truth = r <= radius
    image = np.where(truth[..., None], PERSON_RGB, BACKGROUND_RGB).astype(np.float32)
    mask = np.clip((radius + overreach - r) / 4.0 + 0.5, 0.0, 1.0).astype(np.float32)
    return image, mask, truth


@pytest.mark.parametrize("snap", [snap_mask_edges, snap_mask_edges_reference])
def test_overreaching_contour_snaps_to_the_person(snap):
    image, mask, truth = _scene()
    before = mask > 0.5
    assert (before & ~truth).sum() > 0.1 * truth.sum()  # the 6 px ring of background is a real share
    after = snap(image, mask, band=0.05) > 0.5  # band 10 px: wider than the overreach
    assert not (after & ~before).any()  # only removes
    assert (after == truth).all()  # the colours are exact, so the snapped mask is the disc itself


def test_fast_path_matches_the_reference():
    image, mask, _ = _scene()
    # a second region: a blue patch on the person's edge (removed) and one deep inside (kept either way)
    image[95:105, 35:43] = BACKGROUND_RGB
    image[95:105, 95:105] = BACKGROUND_RGB
    fast = snap_mask_edges(image, mask, band=0.05)
    reference = snap_mask_edges_reference(image, mask, band=0.05)
    assert np.array_equal(fast > 0.5, reference > 0.5)


def test_enclosed_background_coloured_patch_stays_person():
    # a logo in the background's colour on the person, inside the band but surrounded by the person
    image, mask, _ = _scene(overreach=0.0)
    image[100:104, 45:49] = BACKGROUND_RGB  # 5-10 px inside the mask's edge at radius 60 (band 10 px)
    after = snap_mask_edges(image, mask, band=0.05) > 0.5
    assert after[100:104, 45:49].all()
    # the same patch opened to the outside by a blue channel is background
    image[101:103, 38:45] = BACKGROUND_RGB
    opened = snap_mask_edges(image, mask, band=0.05) > 0.5
    assert not opened[100:104, 45:49].any()


def test_nothing_beyond_the_band_changes():
    from scipy.ndimage import distance_transform_edt

    _, mask, _ = _scene(overreach=6.0)
    depth = distance_transform_edt(mask > 0.5)
    # the whole band (4 px) in the background's colour, the person's colour deeper in
    image = np.where((depth > 4)[..., None], PERSON_RGB, BACKGROUND_RGB).astype(np.float32)
    after = snap_mask_edges(image, mask, band=0.02) > 0.5
    assert (after == (depth > 4)).all()


def test_no_interior_or_no_background_leaves_the_mask():
    image, mask, _ = _scene(size=40, radius=1.5, overreach=0.0)
    np.testing.assert_array_equal(snap_mask_edges(image, mask), mask)  # thinner than the band: no inside colour
    full = np.ones((50, 50), np.float32)
    np.testing.assert_array_equal(snap_mask_edges(np.zeros((50, 50, 3), np.float32), full), full)


def test_detect_snaps_the_blue_halo_off_obama_podium(realdata, monkeypatch):
    """MediaPipe's mask of this photo holds a band of the blue seal round the hair; detect's does not."""
    from uvatar.detect import detect
    from uvatar.io.image import load_image
    import uvatar.detect.mask_edges as mask_edges

    image = load_image(realdata / "head" / "obama_podium.jpg").rgb
    snapped = detect(image).mask > 0.5
    monkeypatch.setattr(mask_edges, "snap_mask_edges", lambda rgb, mask, **kw: mask)
    raw = detect(image).mask > 0.5
    blue = (image[..., 2] - image[..., 0] > 0.2) & (image.mean(-1) > 0.35)  # the seal; not the suit, skin or hair
    assert (blue & raw).sum() > 2000
    assert (blue & snapped).sum() < 0.5 * (blue & raw).sum()
    assert not (snapped & ~raw).any()
