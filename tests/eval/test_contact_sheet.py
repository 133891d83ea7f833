"""Contact sheet: the framing crops on a default body and the sheet writer on tiny synthetic avatars."""

import numpy as np
import torch

from avatar_helpers import small_avatar
from uvatar.camera import Camera
from uvatar.eval.contact_sheet import LABEL_HEIGHT, compose_sheet, crop_camera, framing_crop, photo_panels


def _rest(body):
    out = body.forward(body.default_params(1))
    return out.vertices[0], out.bone_poses[0]


def _inside(camera: Camera, points: torch.Tensor) -> torch.Tensor:
    pixels, depth = camera.project(points)
    return (depth > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < camera.width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < camera.height)


def test_framing_crops_hold_the_head_or_the_feet(body):
    vertices, bones = _rest(body)
    points = body.keypoints.mediapipe33(vertices[None], bones[None])[0]
    head_points = points[:11]  # nose, eyes, ears, mouth
    feet = points[27:]  # ankles, heels, toes
    crops = {f: framing_crop(body, vertices, bones, f) for f in ("head", "half", "full")}
    assert crops["head"].height < crops["half"].height < crops["full"].height
    for azimuth in (0.0, 90.0, 180.0):
        head_cam = crop_camera(crops["head"], azimuth, 100)
        assert _inside(head_cam, head_points).all()
        assert _inside(head_cam, vertices[vertices[:, 2] > vertices[:, 2].max() - 0.01]).all()  # the crown
        assert not _inside(head_cam, feet).any()
        full_cam = crop_camera(crops["full"], azimuth, 100)
        assert _inside(full_cam, feet).all() and _inside(full_cam, head_points).all()


def test_sheet_of_two_tiny_avatars_has_the_expected_size(body):
    vertices, _ = _rest(body)
    camera = Camera.look_at((0.0, -3.0, 0.9), (0.0, 0.0, 0.9), 60, 80, fov_y_deg=45.0)
    params = {k: v.tolist() for k, v in body.default_params(1).tensors().items()}
    rows = []
    for seed, (framing, photo_size) in enumerate((("head", (80, 60)), ("full", (40, 30)))):
        avatar = small_avatar(body, n=2000, seed=seed, shell=50)
        avatar.meta |= {"fit_camera": camera.to_dict(), "fit_params": params}
        photo = np.full((*photo_size, 3), 0.5, np.float32)
        panels = photo_panels(avatar, body, photo, framing, height=48)
        assert [p.shape[0] for p in panels] == [48] * 5 and panels[0].shape[1] == 36 == panels[1].shape[1]
        assert panels[1].min() < 0.99  # the avatar is in the re-render
        rows.append((f"{framing}/tiny{seed}.png", panels))
    sheet = compose_sheet(rows, gap=4)
    widths = [sum(p.shape[1] for p in panels) + 4 * 4 for _, panels in rows]
    assert sheet.shape == (LABEL_HEIGHT + 2 * (LABEL_HEIGHT + 48 + 4), max(widths), 3) and sheet.dtype == np.uint8
