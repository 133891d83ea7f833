import subprocess
import sys

import numpy as np
import pytest
import torch
from avatar_samples import small_avatar

from uvatar.animate.builtin import load_motion
from uvatar.animate.motion import Motion
from uvatar.animate.render import AnimateConfig, animate_avatar, motion_params
from uvatar.errors import InputError
from uvatar.io.video import read_video

VIDEO = "realdata/video/obama_address_head.mp4"


@pytest.fixture(scope="module")
def avatar(body):
    return small_avatar(body)


def _background_border(frame: np.ndarray) -> bool:
    border = np.concatenate([frame[:2].reshape(-1, 3), frame[-2:].reshape(-1, 3), frame[:, :2].reshape(-1, 3), frame[:, -2:].reshape(-1, 3)])
    return bool((border > 235).all())


def test_animate_writes_video_with_the_body_in_view(tmp_path, body, avatar):
    out = tmp_path / "walk.mp4"
    motion = load_motion("walk")
    report = animate_avatar(avatar, motion, body, out, AnimateConfig(size=64, frames=4))
    frames, fps = read_video(out)
    assert frames.shape == (4, 64, 64, 3) and abs(fps - 30.0) < 0.1
    assert report["frames"] == 4 and report["s_per_frame"] > 0 and report["gaussians"] == len(avatar) - 10
    for frame in frames:
        assert (frame < 200).any(axis=-1).mean() > 0.03  # the body is drawn
        assert _background_border(frame)  # ... and nothing of it touches the image border


def test_orbit_and_frames_ply(tmp_path, body, avatar):
    from uvatar.io.ply import read_gaussian_ply

    motion = load_motion("turn")
    out, plys = tmp_path / "orbit.mp4", tmp_path / "plys"
    animate_avatar(avatar, motion, body, out, AnimateConfig(camera="orbit", size=48, frames=3), frames_ply=plys)
    files = sorted(p for p in plys.iterdir() if p.name != ".uvatar-output.json")
    assert [f.name for f in files] == ["frame_00000.ply", "frame_00001.ply", "frame_00002.ply"]
    assert len(read_gaussian_ply(files[1])) == len(avatar) - 10


def test_input_camera_uses_photo_camera_and_pose(tmp_path, body, avatar):
    motion = load_motion("talk")
    out = tmp_path / "input.mp4"
    animate_avatar(avatar, motion, body, out, AnimateConfig(camera="input", size=64, frames=2))
    frames, _ = read_video(out)
    assert frames.shape[1:3] == (64, 48)  # the photo's 96x128 aspect
    from uvatar.animate.render import _fit_base

    params = motion_params(motion, body, avatar.phenotypes, avatar.facial, _fit_base(avatar, body))
    # bones the motion does not drive keep the photo's pose; the photo's translation is applied
    assert torch.allclose(params.rotvecs[:, body.bone_index("lowerleg01.L")], torch.tensor([0.0, -0.5, 0.0]).expand(motion.n_frames, 3))
    assert torch.allclose(params.translation[:, 1], torch.full((motion.n_frames,), 2.6), atol=1e-5)
    # 'add' facial: the avatar's expression plus the motion's
    assert torch.allclose(params.facial, motion.facial.clamp(0, 1))


def test_side_by_side_needs_a_video_motion(tmp_path, body, avatar):
    with pytest.raises(InputError, match="side-by-side"):
        animate_avatar(avatar, load_motion("wave"), body, tmp_path / "x.mp4", AnimateConfig(size=32, frames=1, side_by_side=True))
    assert not (tmp_path / "x.mp4").exists()


def test_side_by_side_with_a_video_motion(tmp_path, body, avatar, shared_dir):
    frames = 3
    motion = Motion(
        fps=25.0, rotvecs=torch.zeros(frames, body.n_bones, 3), translation=torch.zeros(frames, 3),
        bone_labels=list(body.bone_labels), bones=["head"], facial_labels=list(body.facial_labels),
        meta={"source_video": str(shared_dir / VIDEO), "source_frames": [0, 5, 10]},
    )  # fmt: skip
    out = tmp_path / "sbs.mp4"
    report = animate_avatar(avatar, motion, body, out, AnimateConfig(size=64, side_by_side=True))
    video, _ = read_video(out)
    assert video.shape[0] == 3 and video.shape[1] == 64 and video.shape[2] == report["size"][0] > 64


def test_cli_animate_errors_are_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "uvatar.cli", "animate", str(tmp_path / "none.uvatar"), "--motion", "wave", "-o", str(tmp_path / "o.mp4")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_motion_params_is_the_motion_on_a_reference_base_and_turns_with_the_base_root(body, avatar):
    motion = load_motion("wave")
    plain = motion_params(motion, body, avatar.phenotypes, avatar.facial)
    assert torch.allclose(plain.rotvecs, motion.rotvecs, atol=1e-5)
    base = body.default_params(1)
    base.rotvecs[0, 0] = torch.tensor([0.0, 0.0, 0.5])  # the photo's body turned 0.5 rad
    base.rotvecs[0, body.bone_index("spine01")] = torch.tensor([0.3, 0.0, 0.0])  # and leaning
    turned = motion_params(motion, body, avatar.phenotypes, avatar.facial, base)
    import roma

    from uvatar.animate.rotations import world_from_local

    head = body.bone_index("head")
    world = lambda r: world_from_local(roma.rotvec_to_rotmat(r), body.bone_parents)[:, head]  # noqa: E731
    expected = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, 0.5])) @ world(motion.rotvecs)
    assert torch.allclose(world(turned.rotvecs), expected, atol=1e-5)  # the lean does not tilt the driven head


def test_relative_motion_starts_at_the_base_pose(body, avatar):
    motion = load_motion("talk")
    base = body.default_params(1)
    base.rotvecs[0, body.bone_index("head")] = torch.tensor([0.2, 0.1, -0.3])
    params = motion_params(motion, body, avatar.phenotypes, torch.full((52,), 0.2), base, relative=True)
    assert torch.allclose(params.rotvecs[0], base.rotvecs[0], atol=1e-5)
    assert torch.allclose(params.facial[0], torch.full((52,), 0.2), atol=1e-6)
    assert (params.rotvecs[1:] - params.rotvecs[:1]).abs().max() > 0.01  # and then moves
