import json
import math

import pytest
import torch

from uvatar.camera import Camera, orbit
from uvatar.errors import InputError


def _random_camera(seed: int) -> Camera:
    gen = torch.Generator().manual_seed(seed)
    eye = torch.randn(3, generator=gen) * 3
    eye[1] = -abs(eye[1]) - 1.0
    return Camera.look_at(eye, torch.randn(3, generator=gen) * 0.2, 640, 480, fov_y_deg=35.0)


def test_project_backproject_round_trip():
    cam = _random_camera(0)
    gen = torch.Generator().manual_seed(1)
    points = torch.randn(1000, 3, generator=gen, dtype=torch.float64) * 0.5
    cam64 = Camera(cam.K, cam.R, cam.t, cam.width, cam.height)
    cam64.K, cam64.R, cam64.t = cam.K.double(), cam.R.double(), cam.t.double()
    pixels, depth = cam64.project(points)
    assert (cam64.backproject(pixels, depth) - points).abs().max() < 1e-6
    pixels32, depth32 = cam.project(points.float())
    assert (cam.backproject(pixels32, depth32) - points.float()).abs().max() < 1e-5


def test_look_at_conventions():
    cam = Camera.look_at([0.0, -3.0, 1.0], [0.0, 0.0, 1.0], 100, 80, fov_y_deg=40.0)
    centre, _ = cam.project(torch.tensor([0.0, 0.0, 1.0]))
    above, _ = cam.project(torch.tensor([0.0, 0.0, 1.5]))
    left_of_body, _ = cam.project(torch.tensor([0.3, 0.0, 1.0]))
    assert torch.allclose(centre, torch.tensor([50.0, 40.0]), atol=1e-4)
    assert above[1] < centre[1]  # world up is image up (y down)
    assert left_of_body[0] > centre[0]  # facing the body, its left (+X) appears on the image right
    assert torch.allclose(cam.center, torch.tensor([0.0, -3.0, 1.0]), atol=1e-5)
    assert math.isclose(cam.focal[1], 40 / math.tan(math.radians(20)), rel_tol=1e-5)


def test_orbit_and_json_round_trip(tmp_path):
    cams = orbit([0.0, 0.0, 0.0], 2.5, 8, 64, 64)
    assert len(cams) == 8
    for cam in cams:
        assert torch.allclose(cam.center.norm(), torch.tensor(2.5), atol=1e-5)
        assert cam.project(torch.zeros(3))[1] > 0
    assert cams[0].center[1] < 0  # azimuth 0 is in front of the body (-Y)
    cams[3].save(tmp_path / "cam.json")
    again = Camera.load(tmp_path / "cam.json")
    for name in ("K", "R", "t"):
        assert torch.equal(getattr(again, name), getattr(cams[3], name))
    assert json.loads((tmp_path / "cam.json").read_text())["width"] == 64


def test_bad_camera_input():
    with pytest.raises(InputError):
        Camera(torch.eye(2), torch.eye(3), torch.zeros(3), 10, 10)
    with pytest.raises(InputError):
        Camera.look_at([0, 0, 0], [0, 0, 0], 10, 10)
    with pytest.raises(InputError, match="lacks"):
        Camera.from_dict({"K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]})
