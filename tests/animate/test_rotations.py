import math

import numpy as np
import roma
import torch

from uvatar.animate.rotations import (
    aim_rotation,
    clamp_rotvec_angles,
    euler_to_rotmat,
    interpolate_rotvecs,
    local_from_world,
    smooth_rotvecs,
    world_from_local,
)


def test_world_from_local_matches_anny_forward_kinematics(body):
    """G_c = G_parent D_c: the posed bone frames are the chained rotations times the reference frames."""
    torch.manual_seed(0)
    params = body.default_params(2)
    params.rotvecs = torch.randn(2, body.n_bones, 3) * 0.3
    with torch.no_grad():
        posed = body.forward(params).bone_poses[..., :3, :3]
        reference = body.forward(body.default_params(1)).bone_poses[..., :3, :3]
    world = world_from_local(roma.rotvec_to_rotmat(params.rotvecs), body.bone_parents)
    assert torch.allclose(world @ reference, posed, atol=1e-5)


def test_local_from_world_inverts_world_from_local(body):
    torch.manual_seed(1)
    local = roma.rotvec_to_rotmat(torch.randn(3, body.n_bones, 3))
    back = local_from_world(world_from_local(local, body.bone_parents), body.bone_parents)
    assert torch.allclose(back, local, atol=1e-5)


def test_aim_rotation_takes_source_to_target_including_opposite():
    torch.manual_seed(2)
    source = torch.randn(50, 3)
    target = torch.randn(50, 3)
    target[0] = -source[0]  # antiparallel
    target[1] = 2 * source[1]  # parallel
    rot = aim_rotation(source, target)
    moved = (rot @ torch.nn.functional.normalize(source, dim=-1)[..., None])[..., 0]
    assert torch.allclose(moved, torch.nn.functional.normalize(target, dim=-1), atol=1e-5)
    assert torch.allclose(rot[1], torch.eye(3), atol=1e-6)


def test_euler_order_matches_scipy_intrinsic_convention():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    for order in ("ZXY", "XYZ", "ZYX", "YXZ"):
        angles = rng.uniform(-170, 170, size=(5, 3))
        ours = euler_to_rotmat(torch.tensor(angles), order).numpy()
        theirs = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()  # upper case: intrinsic
        assert np.allclose(ours, theirs, atol=1e-9), order


def test_interpolate_rotvecs_hits_keys_and_the_geodesic_middle():
    a = torch.tensor([[0.0, 0.0, 0.2]])
    b = torch.tensor([[0.0, 0.0, 1.0]])
    seq = torch.stack([a, b])  # (2, 1, 3)
    out = interpolate_rotvecs(seq, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(out[0], a, atol=1e-6) and torch.allclose(out[2], b, atol=1e-6)
    assert torch.allclose(out[1], torch.tensor([[0.0, 0.0, 0.6]]), atol=1e-5)


def test_smooth_rotvecs_reduces_jitter_and_survives_quaternion_sign_flips():
    torch.manual_seed(4)
    t = torch.linspace(0, 2 * math.pi, 60)
    clean = torch.stack([0.3 * torch.sin(t), 0.2 * torch.cos(t), torch.full_like(t, 3.0)], -1)[:, None]  # near pi
    noisy = clean + 0.03 * torch.randn_like(clean)
    smoothed = smooth_rotvecs(noisy, window=9)

    def error(x):
        rel = roma.rotvec_to_rotmat(x).transpose(-1, -2) @ roma.rotvec_to_rotmat(clean)
        return roma.rotmat_to_rotvec(rel).norm(dim=-1).mean()

    assert error(smoothed) < 0.6 * error(noisy)


def test_clamp_rotvec_angles():
    rotvecs = torch.tensor([[0.0, 0.0, 2.0], [0.1, 0.0, 0.0]])
    out = clamp_rotvec_angles(rotvecs, torch.tensor([1.0, 1.0]))
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.0, 0.0]]))
