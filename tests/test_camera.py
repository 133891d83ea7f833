import json
import math

import pytest
import torch
from float_bounds import U32, U64, gamma

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
    # backproject applies R^T: exact only for an orthonormal R, and this one was built in float32, so the
    # round trip is off by |R^T R - I| 3 |X| (~2e-7 here) plus the arithmetic's rounding: world to
    # camera and back (3-term products, gamma(8) of |X| + |t|), the pixel's K x / z and back ((p - c) / f
    # z: gamma(8) of (|x| + |c| z / f) relative), about 20 roundings on magnitudes <= (3 |X| + |t|)
    # (1 + |p - c| / f). Was 1e-6 (float64) and 1e-5 (float32), not derived.
    R = cam.R.double()
    x_max, t_max = float(points.abs().max()), float(cam.t.abs().max())
    reach = 1 + float((pixels - cam64.K[:2, 2]).abs().max()) / float(cam64.K[0, 0])
    orth = float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max()) * 3 * x_max
    magnitude = (3 * x_max + t_max) * reach
    assert (cam64.backproject(pixels, depth) - points).abs().max() <= orth + gamma(20, U64) * magnitude
    pixels32, depth32 = cam.project(points.float())
    assert (cam.backproject(pixels32, depth32).double() - points.float().double()).abs().max() <= orth + gamma(20) * magnitude


def test_look_at_conventions():
    cam = Camera.look_at([0.0, -3.0, 1.0], [0.0, 0.0, 1.0], 100, 80, fov_y_deg=40.0)
    centre, _ = cam.project(torch.tensor([0.0, 0.0, 1.0]))
    above, _ = cam.project(torch.tensor([0.0, 0.0, 1.5]))
    left_of_body, _ = cam.project(torch.tensor([0.3, 0.0, 1.0]))
    # the target is on the optical axis: x_cam = R (target - eye) is 0 up to gamma(4) (|R| |X| + |t|), f x / z
    # carries that to pixels, plus the principal point's own rounding (was atol 1e-4)
    f, z = cam.focal[0], 3.0
    on_axis = f * gamma(4) * (float(cam.R.abs().sum(1).max()) * 1.0 + float(cam.t.abs().max())) / z + gamma(2) * 50
    assert torch.allclose(centre, torch.tensor([50.0, 40.0]), rtol=0, atol=on_axis)
    assert above[1] < centre[1]  # world up is image up (y down)
    assert left_of_body[0] > centre[0]  # facing the body, its left (+X) appears on the image right
    # center = -R^T t = R^T R eye: off by |R^T R - I| 3 |eye| and gamma(6) 3 |eye| (two 3-term products)
    R = cam.R.double()
    orth = float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max())
    assert torch.allclose(cam.center, torch.tensor([0.0, -3.0, 1.0]), rtol=0, atol=(orth + gamma(6)) * 3 * 3.0)
    # the focal length is computed in float64 and stored in float32: one rounding (was rel 1e-5)
    assert math.isclose(cam.focal[1], 40 / math.tan(math.radians(20)), rel_tol=U32)


def test_orbit_and_json_round_trip(tmp_path):
    cams = orbit([0.0, 0.0, 0.0], 2.5, 8, 64, 64)
    assert len(cams) == 8
    for cam in cams:
        # eye = target + 2.5 offset in float32 (offset rounded: u; the sum: u), then center = R^T R eye as
        # above, then the norm (gamma(3)): about 12 roundings of 3 x 2.5 (was atol 1e-5)
        R = cam.R.double()
        orth = float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max())
        assert abs(float(cam.center.norm()) - 2.5) <= (orth + gamma(12)) * 3 * 2.5
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
