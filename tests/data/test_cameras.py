"""Views follow the configured distribution; labels; placed cameras keep their azimuth and framing."""

import math

import numpy as np
import pytest
import torch

from uvatar.data.cameras import FRAMINGS, VIEW_LABELS, ViewConfig, fov_from_focal_mm, sample_views, view_camera, view_label
from uvatar.errors import InputError


def test_view_labels():
    assert [view_label(a) for a in (0, 29, -31, 74, 76, -119, 121, 180, -180, 359)] == [
        "front", "front", "three_quarter", "three_quarter", "side", "side", "back", "back", "back", "front"]
    assert fov_from_focal_mm(24.0) == pytest.approx(2 * math.degrees(math.atan(0.5)), rel=4 * 2.0**-53)  # float64 (was rel 1e-6)


@pytest.mark.parametrize("probs", [(0.3, 0.45, 0.25), (0.0, 1.0, 0.0), (0.6, 0.1, 0.3)])
def test_framings_and_views_follow_the_configured_distribution(probs):
    config = ViewConfig(framing_probs=probs)
    rng = np.random.default_rng(0)
    n_subjects, k = 3000, 8
    specs = [s for _ in range(n_subjects) for s in sample_views(rng, config, k)]
    freq = np.array([sum(s.framing == f for s in specs) for f in FRAMINGS]) / len(specs)
    assert np.abs(freq - np.asarray(probs)).max() < 0.015  # 24000 draws: 3 sigma ~ 0.01
    # stratified azimuths: labels in proportion to their angular width (60, 90, 90, 120 of 360 degrees)
    labels = np.array([sum(view_label(s.azimuth_deg) == v for s in specs) for v in VIEW_LABELS]) / len(specs)
    assert np.abs(labels - np.array([60, 90, 90, 120]) / 360).max() < 0.01  # statistical, as above
    # every subject is seen from around: its k azimuths fall in k different sectors
    first = sample_views(np.random.default_rng(1), config, k)
    sectors = sorted(((s.azimuth_deg - first[0].azimuth_deg) % 360) // 45 for s in first)
    assert len(set(sectors)) >= k - 1
    for s in specs[:200]:
        lo, hi = getattr(config, f"focal_mm_{s.framing}")
        assert lo <= s.focal_mm <= hi


def test_sitting_subjects_get_no_full_body_view():
    rng = np.random.default_rng(0)
    specs = [s for _ in range(200) for s in sample_views(rng, ViewConfig(), 8, sitting=True)]
    assert {s.framing for s in specs} == {"head", "half"}


def test_bad_config_raises():
    with pytest.raises(InputError):
        ViewConfig(framing_probs=(0.5, -0.1, 0.6))
    with pytest.raises(InputError):
        sample_views(np.random.default_rng(0), ViewConfig(), 0)


def test_placed_cameras_keep_azimuth_and_framing(body):
    from uvatar.data.cameras import ViewSpec, camera_azimuth

    with torch.no_grad():
        out = body.forward(body.default_params(1))
    verts = out.vertices[0]
    coco = dict(zip(body.keypoints.coco_labels, body.keypoints.coco(out.vertices)[0].numpy().astype(np.float64)))
    rng = np.random.default_rng(0)
    for azimuth in (0.0, 60.0, 100.0, 180.0, -135.0):
        for framing in FRAMINGS:
            cam = view_camera(body, verts, coco, ViewSpec(framing, azimuth, 5.0, 3.0, 50.0), 128, rng)
            assert abs((camera_azimuth(cam, verts.numpy().mean(0)) - azimuth + 180) % 360 - 180) < 8
            px, depth = cam.project(torch.as_tensor(coco["nose"], dtype=torch.float32)[None])
            if framing != "head" or abs(azimuth) < 90:
                assert 0 <= px[0, 1] < 128  # the head is in the frame
            if framing == "full":
                pts = cam.project(verts)[0]
                assert pts.min() >= -1 and pts.max() <= 129  # the whole body fits
