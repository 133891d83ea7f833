"""Framing crops (uvatar.export.framing) on the default body, the turntable around a crop, the preview's
choice of framing, and the refusal of an unknown framing by the config and the CLI."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from avatar_helpers import small_avatar
from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.export.framing import crop_camera, crop_turntable_cameras, framing_crop, preview_framing


@pytest.fixture(scope="module")
def rest(body):
    out = body.forward(body.default_params(1))
    return out.vertices[0], out.bone_poses[0]


def _joints(body, rest, *labels) -> torch.Tensor:
    """``(n, 3)`` the rest body's joint positions of bone ``labels``."""
    return torch.stack([rest[1][body.bone_index(label), :3, 3] for label in labels])


def _inside(camera: Camera, points: torch.Tensor) -> torch.Tensor:
    pixels, depth = camera.project(points)
    return (depth > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < camera.width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < camera.height)


def test_each_framing_holds_its_part_of_the_body(body, rest):
    head, pelvis = _joints(body, rest, "head"), _joints(body, rest, "root")
    shoulders, feet = _joints(body, rest, "upperarm01.L", "upperarm01.R"), _joints(body, rest, "foot.L", "foot.R")
    crops = {f: framing_crop(body, *rest, f) for f in ("head", "half", "full")}
    for azimuth in (0.0, 90.0, 180.0):
        cams = {f: crop_camera(crop, azimuth, 100) for f, crop in crops.items()}
        assert _inside(cams["head"], head).all() and not _inside(cams["head"], pelvis).any()
        assert _inside(cams["half"], shoulders).all() and not _inside(cams["half"], feet).any()
        assert _inside(cams["full"], head).all() and _inside(cams["full"], feet).all()


def test_a_half_crop_ends_where_the_photo_did(body, rest):
    knees = _joints(body, rest, "lowerleg01.L", "lowerleg01.R")
    crops = {extent: framing_crop(body, *rest, "half", lower_extent=extent) for extent in ("waist", "thigh", "knee", None)}
    bottoms = {extent: float(crop.centre[2]) - crop.height / 2 for extent, crop in crops.items()}
    assert bottoms["waist"] > bottoms["thigh"] == bottoms[None] > bottoms["knee"]
    for azimuth in (0.0, 90.0):
        assert _inside(crop_camera(crops["knee"], azimuth, 100), knees).all()
        assert not _inside(crop_camera(crops["waist"], azimuth, 100), knees).any()
    with pytest.raises(InputError, match="lower extent"):
        framing_crop(body, *rest, "half", lower_extent="ankle")


def test_the_turntable_keeps_the_crop_in_frame_at_every_azimuth(body, rest):
    for framing in ("head", "half", "full"):
        crop = framing_crop(body, *rest, framing)
        # the crop's four corners, turned about its vertical axis (all the places a corner can be)
        angles = torch.linspace(0, 2 * torch.pi, 73)[:-1]
        rim = torch.stack([torch.cos(angles), torch.sin(angles)], 1) * crop.width / 2
        corners = torch.cat([torch.cat([rim, torch.full_like(rim[:, :1], s * crop.height / 2)], 1) for s in (-1, 1)]) + crop.centre
        cameras = crop_turntable_cameras(crop, 24, 64)
        assert all(cam.width == cam.height == 64 for cam in cameras)
        for cam in cameras:
            assert _inside(cam, corners).all(), framing
        # and not from afar: the crop's height fills most of the front frame
        (top, bottom), _ = cameras[0].project(torch.stack([crop.centre + torch.tensor([0, 0, s * crop.height / 2]) for s in (1, -1)]))
        assert float(bottom[1] - top[1]) > 0.6 * 64, framing


def test_auto_framing_is_the_photos():
    head_fit = SimpleNamespace(regime="head", lower_extent=None)
    half_fit = SimpleNamespace(regime="half", lower_extent="knee")
    assert preview_framing("auto", head_fit) == ("head", None)
    assert preview_framing("auto", half_fit) == ("half", "knee")
    assert preview_framing("full", half_fit) == ("full", None)
    assert preview_framing("half", head_fit) == ("half", None)
    assert preview_framing("auto", None) == ("full", None)  # synthetic truth: the whole body
    with pytest.raises(InputError, match="preview framing"):
        preview_framing("torso", head_fit)


def test_the_preview_panels_show_the_crop(body, tmp_path):
    from uvatar.export.preview import canonical_pose, preview_crop, write_preview
    from uvatar.track.view import FittedView

    avatar = small_avatar(body, n=3000, shell=0)
    canonical, vertices, bones = canonical_pose(avatar, body)
    camera = Camera.look_at((0.0, -3.0, 0.0), (0.0, 0.0, 0.0), 30, 40, fov_y_deg=45.0)
    view = FittedView(np.full((40, 30, 3), 0.5, np.float32), None, avatar.params(body), vertices, camera, fit=SimpleNamespace(regime="head"))
    framing, crop = preview_crop(body, vertices, bones, view.fit)
    assert framing == "head"
    write_preview(tmp_path / "preview.png", canonical, view, canonical, crop, 40)
    strip = np.asarray(Image.open(tmp_path / "preview.png"))
    side_width = round(40 * crop.width / crop.height)
    assert strip.shape == (40, 30 + 30 + 2 * side_width, 3)
    side = strip[:, 60 : 60 + side_width]
    assert (side < 250).any(axis=-1).mean() > 0.1  # the head fills the panel, not a small whole body


def test_a_bad_framing_is_refused_before_any_work(tmp_path):
    from uvatar.reconstruct import ReconstructConfig

    with pytest.raises(InputError, match="preview framing 'side'"):
        ReconstructConfig(preview_framing="side")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "uvatar.cli", "reconstruct", str(tmp_path / "missing.jpg"), "-o", str(out),
                             "--preview-framing", "sideways"], capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: unknown preview framing 'sideways'; use auto (what the photo framed), head, half or full (the whole body)"
    ]
    assert not out.exists()
