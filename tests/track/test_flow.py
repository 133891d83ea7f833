"""Dense surface registration (uvatar.track.flow): flow vertices, what a fit shows, flow targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.track.flow import flow_targets, flow_vertices, grey_frame, patch_texture, surface_pixels


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random grey texture (uint8): blurred noise, features a few pixels wide."""
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (height, width)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 4 - 384, 0, 255).astype(np.uint8)


def test_flow_vertices_are_spread_over_the_body_and_off_the_fingers(body):
    ids = flow_vertices(body, 800)
    assert len(ids) == 800 and len(torch.unique(ids)) == 800
    assert torch.equal(ids, flow_vertices(body, 800))  # deterministic
    labels = list(body.bone_labels)
    fingers = [i for i, name in enumerate(labels) if name.startswith(("finger", "metacarpal", "eye."))]
    assert (body.skinning_weight_matrix[ids][:, fingers].sum(1) <= 0.5).all()
    # farthest-point sampling: no two chosen vertices closer than the sampling radius reached (the last
    # pick's distance) -- the spread an even cover of the rest surface gives
    rest = body.rest_state(body.default_params(1).phenotypes).vertices[0].double()[ids]
    gaps = torch.cdist(rest, rest) + torch.eye(len(ids), dtype=torch.float64) * 10
    assert float(gaps.min()) > 0.02  # metres: 800 points on ~1.8 m² of skin are ~4.7 cm apart at best


def test_surface_pixels_sees_the_front_of_a_body_facing_the_camera_not_its_back(body):
    params = body.default_params(1)
    vertices = body.forward(params).vertices[0].detach()
    ids = flow_vertices(body, 1000)
    camera = Camera.look_at(eye=[0.0, -4.0, 0.9], target=[0.0, 0.0, 0.9], width=240, height=320, fov_y_deg=40.0)  # Anny faces -Y
    seen, pixels = surface_pixels(vertices, body.faces, camera.resized(480, 640), ids, 240, 320)
    assert 0.3 * len(ids) < len(seen) < 0.7 * len(ids)  # about half of a closed surface faces a camera
    expected, _ = camera.project(vertices[seen])
    torch.testing.assert_close(pixels, expected, rtol=0, atol=1e-4)  # pixels at the asked size, float32 projection error
    points = vertices[ids]
    torso = ids[(points[:, 0].abs() < 0.12) & (points[:, 2] > 0.95) & (points[:, 2] < 1.35)]  # chest and belly, nothing in front of them
    y = vertices[torso, 1]
    front, back = torso[y < y.median()], torso[y > y.median()]
    seen_set = set(seen.tolist())
    assert sum(int(i) in seen_set for i in front) >= 0.9 * len(front)
    assert sum(int(i) in seen_set for i in back) == 0


def test_flow_targets_follow_a_known_shift_and_drop_what_was_covered():
    previous = _texture(180, 240)
    shift = (3, -2)  # x, y pixels
    current = np.roll(previous, (shift[1], shift[0]), axis=(0, 1)).copy()
    covered = (slice(100, 140), slice(150, 200))  # rows, cols of current hidden by a flat occluder
    current[covered] = 128
    ys, xs = np.meshgrid(np.arange(30, 150, 6), np.arange(30, 210, 6), indexing="ij")
    pixels = torch.tensor(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5, dtype=torch.float32)
    targets, kept = flow_targets(previous, current, pixels)
    moved = pixels + torch.tensor(shift, dtype=torch.float32)
    hidden = (moved[:, 1] >= 100 - 3) & (moved[:, 1] < 140 + 3) & (moved[:, 0] >= 150 - 3) & (moved[:, 0] < 200 + 3)
    free = ~hidden & (torch.tensor(patch_texture(previous, pixels.numpy() - 0.5)) >= 1.0)
    # DIS on a smooth texture under a whole-pixel shift: measured error below 0.1 px; the bound, 0.3 px,
    # is a third of the 1 px forward-backward check
    assert kept[free].float().mean() > 0.9
    error = (targets - moved).norm(dim=1)[kept & free]
    assert float(error.max()) < 0.3, error.max()
    inner = (moved[:, 1] >= 100 + 8) & (moved[:, 1] < 140 - 8) & (moved[:, 0] >= 150 + 8) & (moved[:, 0] < 200 - 8)
    assert inner.sum() > 0 and not kept[inner].any()  # points that landed well inside the flat occluder


def test_no_points_give_no_targets():
    texture = _texture(60, 80)
    targets, kept = flow_targets(texture, texture, torch.zeros(0, 2))
    assert targets.shape == (0, 2) and kept.shape == (0,)
    tiny = texture[:8, :8].copy()  # under DIS's 12 px: nothing followed, no error
    _, kept = flow_targets(tiny, tiny, torch.tensor([[4.0, 4.0]]))
    assert not kept.any()


def test_a_blank_frame_gives_no_targets():
    blank = np.zeros((60, 80), np.uint8)
    pixels = torch.tensor([[20.5, 20.5], [40.5, 30.5]])
    _, kept = flow_targets(blank, blank, pixels)
    assert not kept.any()
    assert patch_texture(blank, pixels.numpy()).max() == 0.0


def test_patch_texture_is_the_weaker_gradient_direction():
    x = np.arange(40, dtype=np.float32)
    ramp = np.tile(x * 3, (40, 1)).astype(np.uint8)  # 3 levels a pixel along x only: an edge-like patch
    assert patch_texture(ramp, np.array([[20.0, 20.0]]))[0] == pytest.approx(0.0, abs=1e-4)
    cross = (np.add.outer(x, x) * 2).astype(np.uint8)  # 2 levels a pixel along x and along y
    # structure tensor [[4, 4], [4, 4]]: eigenvalues 8 and 0 -- a diagonal ramp pins only one direction
    assert patch_texture(cross, np.array([[20.0, 20.0]]))[0] == pytest.approx(0.0, abs=1e-4)
    checker = (np.indices((40, 40)).sum(0) % 2 * 40).astype(np.uint8)
    assert patch_texture(checker, np.array([[20.0, 20.0]]))[0] == pytest.approx(0.0, abs=1e-4)  # central differences skip a period-2 pattern
    blobs = _texture(40, 40, seed=3)
    assert patch_texture(blobs, np.array([[20.0, 20.0]]))[0] > 1.0


def test_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match="uint8"):
        grey_frame(np.zeros((10, 10, 3), np.float32), 64)
    with pytest.raises(InputError, match="one size"):
        flow_targets(np.zeros((10, 10), np.uint8), np.zeros((12, 10), np.uint8), torch.zeros(1, 2))


def test_grey_frame_scales_the_longer_side():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    assert grey_frame(frame, 640).shape == (360, 640)
    assert grey_frame(frame, 0).shape == (1080, 1920)
