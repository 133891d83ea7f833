import importlib.util
import math
from pathlib import Path

import pytest
import roma
import torch
from float_bounds import U32, gamma

from uvatar.animate.builtin import BUILTIN_MOTIONS, builtin_motion_path, load_motion
from uvatar.animate.limits import max_angles
from uvatar.errors import InputError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", BUILTIN_MOTIONS)
def test_builtin_motion_is_a_valid_short_loop(name, body):
    motion = load_motion(name)
    motion.check_rig(body)
    assert motion.fps == 30.0 and 2.0 <= motion.duration <= 4.0 and motion.loop
    # Clamped to the limits before the file rounds each component to 1e-5: |rotvec| grows by at most
    # sqrt(3) 5e-6, and this float32 norm adds gamma(3) pi (was + 1e-4)
    rounding = 3**0.5 * 5e-6 + 2 * gamma(3) * math.pi
    assert (motion.rotvecs.norm(dim=-1) <= max_angles(body.bone_labels) + rounding).all()
    assert builtin_motion_path(name).stat().st_size < 64 * 1024
    # looping: the step from the last frame back to the first is like any other step
    rot = motion.rotvecs[:, [body.bone_index(b) for b in motion.bones]]
    steps = (rot[1:] - rot[:-1]).norm(dim=-1).amax(-1)
    wrap = (rot[0] - rot[-1]).norm(dim=-1).max()
    if name != "turn":  # the turn's root angle wraps from +pi to -pi (the same rotation)
        # a smoothness rule (measured wrap <= 0.49 of twice the largest step); the file's 1e-5 rounding
        # moves each difference's norm by <= 2 sqrt(3) 5e-6 (was + 1e-4)
        assert wrap <= 2.0 * steps.max() + 3 * (2 * 3**0.5 * 5e-6) + gamma(4) * 2 * math.pi


def test_talk_moves_jaw_and_nods(body):
    motion = load_motion("talk")
    jaw = motion.facial[:, body.facial_labels.index("jawOpen")]
    # content checks of the motion (measured jaw 0 .. 0.555, nod span 0.132 rad), not float bounds
    assert jaw.max() > 0.3 and jaw.min() < 0.05 and motion.facial_mode == "add"
    assert {"neck02", "head"} <= set(motion.bones)
    nod = motion.rotvecs[:, body.bone_index("neck02"), 0]
    assert nod.max() - nod.min() > 0.05


def test_turn_goes_all_the_way_round(body):
    motion = load_motion("turn")
    forward = roma.rotvec_to_rotmat(motion.rotvecs[:, 0]) @ torch.tensor([0.0, -1.0, 0.0])
    yaw = torch.atan2(forward[:, 0], -forward[:, 1])
    closed = torch.cat([yaw, yaw[:1]])  # the loop comes back to frame 0
    steps = torch.remainder(closed[1:] - closed[:-1] + torch.pi, 2 * torch.pi) - torch.pi
    # Wrapped steps of a closed loop sum to a multiple of 2 pi exactly; in float32 each yaw is within
    # gamma(8) (rotation matrix, product, atan2), each step adds 4 roundings of <= 2 pi, and the sum
    # gamma(n) of sum |steps| (was 1e-3)
    n = len(steps)
    bound = n * (2 * gamma(8) + 4 * U32 * 2 * math.pi) + gamma(n) * float(steps.abs().sum())
    assert abs(abs(float(steps.sum())) - 2 * torch.pi) <= bound
    assert (steps.abs() < 0.1).all()  # a smooth turn: 2 pi / 120 frames = 0.052 rad per frame


def test_unknown_motion_name():
    with pytest.raises(InputError, match="built-in"):
        load_motion("dance")


def test_tool_rebuilds_the_shipped_files(body):
    spec = importlib.util.spec_from_file_location("make_builtin_motions", REPO / "tools" / "make_builtin_motions.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for name, motion in tool.build_all(body).items():
        shipped = load_motion(name)
        assert shipped.n_frames == motion.n_frames and shipped.bones == motion.bones
        # the file's 1e-5 rounding (5e-6), plus the tool's float32 chains on this machine and the one that
        # wrote the file: bone chains (3 D gamma(3) in the 2-norm, D = 16) and rotvec conversions (gamma(24))
        # (was atol 1e-4; measured 5.2e-6)
        tol = 5e-6 + 2 * (3 * 16 * gamma(3) + gamma(24)) + U32 * math.pi
        assert torch.allclose(shipped.rotvecs, motion.rotvecs, rtol=0, atol=tol), name


def test_turn_keeps_the_arms_by_the_sides(body):
    """Aims turn with the root: seen from the body, the upper arms hang the same way all turn long."""
    motion = load_motion("turn")
    params = body.default_params(motion.n_frames)
    params.rotvecs = motion.rotvecs.clone()
    with torch.no_grad():
        heads = body.forward(params).bone_poses[..., :3, 3]
    root = roma.rotvec_to_rotmat(motion.rotvecs[:, 0])
    for side in ("L", "R"):
        arm = heads[:, body.bone_index(f"lowerarm01.{side}")] - heads[:, body.bone_index(f"upperarm01.{side}")]
        local = torch.nn.functional.normalize((root.transpose(-1, -2) @ arm[..., None])[..., 0], dim=-1)
        spread = torch.rad2deg(torch.acos((local @ local.mean(0) / local.mean(0).norm()).clamp(-1, 1))).max()
        assert spread < 8.0, (side, float(spread))  # a motion property (measured 2.93 degrees)
