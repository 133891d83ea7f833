"""The viewer's server side without a browser: binding, playback steps, auto splat size."""

import socket
import types

import numpy as np
import pytest
from avatar_helpers import small_avatar
from float_bounds import U32, U64, gamma

from uvatar.view.viewer import start_viewer


@pytest.fixture(scope="module")
def viewer(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("viewer") / "avatar.uvatar"
    small_avatar(body, n=2000, shell=0).save(path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    viewer = start_viewer(path, port=port, motion="procedural", body=body)
    yield viewer
    viewer.stop()


def test_defaults_to_localhost(viewer):
    assert viewer.host == "127.0.0.1" and viewer.port > 0


def test_playback_steps_through_the_motion(viewer):
    sent = []
    original = viewer.splats.set_gaussians
    viewer.splats.set_gaussians = lambda **kw: sent.append(kw["centers"].copy())
    try:
        viewer.playing.clear()
        viewer.step()
        assert sent == []  # paused: nothing is sent
        viewer.playing.set()
        n = viewer.scene.n_frames
        viewer.frame_index = 0
        for _ in range(n + 1):
            viewer.step()
        assert viewer.frame_index == 1 and viewer.slider.value == 1  # n + 1 steps wrap round to frame 1
        assert len(sent) == n + 1 and np.abs(sent[0] - sent[1]).max() > 0  # frames differ
        assert np.array_equal(sent[0], sent[n])  # frame 1 again after the loop: the same computation, bit for bit
    finally:
        viewer.playing.clear()
        viewer.splats.set_gaussians = original


def test_auto_splat_size_follows_the_camera(viewer):
    camera = types.SimpleNamespace(image_height=600, fov=np.radians(60.0), position=np.array(viewer.look_at) + [0, -3.0, 0])
    viewer.auto_size.value = True
    viewer._auto_size(camera)
    focal = 300 / np.tan(np.radians(30))
    # float64 geometry on both sides (a distance, a tangent, products): a few ulps (was rtol 1e-6)
    assert np.isclose(viewer.min_scale, 0.6 * 3.0 / focal, rtol=gamma(16, U64), atol=0)  # from the 2 mm default
    far = types.SimpleNamespace(image_height=600, fov=np.radians(60.0), position=np.array(viewer.look_at) + [0, -8.0, 0])
    viewer._auto_size(far)
    assert np.isclose(viewer.min_scale, 0.6 * 8.0 / focal, rtol=gamma(16, U64), atol=0)
    viewer.auto_size.value = False
    viewer._auto_size(camera)  # manual mode: the camera does not change it
    assert np.isclose(viewer.min_scale, 0.6 * 8.0 / focal, rtol=gamma(16, U64), atol=0)


def test_auto_splat_size_ignores_small_changes(viewer):
    viewer.auto_size.value = True
    viewer.min_scale = 0.004
    near = types.SimpleNamespace(image_height=600, fov=np.radians(60.0), position=np.array(viewer.look_at) + [0, -3.3, 0])
    viewer._auto_size(near)  # 3.8 mm wanted: within 20 %, no re-send
    assert viewer.min_scale == 0.004


def test_switching_motion(viewer):
    from uvatar.view.scene import motion_names

    names = motion_names()
    other = names[0] if names[0] != viewer.scene.motion_name else names[-1]
    viewer.set_motion(other)
    assert viewer.scene.motion_name == other and viewer.slider.max == max(viewer.scene.n_frames - 1, 1)
    assert viewer.fps.value == round(viewer.scene.fps) and viewer.shown == 0


def test_ply_viewer_has_no_motion_panel(tmp_path, body):
    avatar = small_avatar(body, n=500, shell=0)
    avatar.export_ply(tmp_path / "a.ply", body)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    viewer = start_viewer(tmp_path / "a.ply", port=port)
    try:
        assert viewer.scene.avatar is None and viewer.scene.n_gaussians == 500
        assert not hasattr(viewer, "play") and viewer.step() == 0.05
        # the viewer's float64 target, held by viser in float32 (u) (was the default allclose)
        assert np.allclose(viewer.server.initial_camera.look_at, viewer.look_at, rtol=U32, atol=U32)
    finally:
        viewer.stop()
