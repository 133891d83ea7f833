import math

import numpy as np
import roma
import torch
from body_helpers import chain_depth
from float_bounds import U64, gamma

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
    # Norm-wise: each product of two (nearly) orthogonal 3x3 matrices rounds by <= gamma(3) |||A| |B|||_2
    # <= 3 gamma(3); a chain of D + 2 products (bones, then the reference frame) accumulates <= 3 (D + 2)
    # gamma(3) in the 2-norm, which bounds every entry; two implementations, twice that (was atol 1e-5;
    # an entrywise bound through |R1|...|Rk| would be 50x looser here: those products reach 123).
    tol = 2 * 3 * (chain_depth(body) + 2) * gamma(3)
    assert torch.allclose(world @ reference, posed, rtol=0, atol=tol)


def test_local_from_world_inverts_world_from_local(body):
    torch.manual_seed(1)
    local = roma.rotvec_to_rotmat(torch.randn(3, body.n_bones, 3))
    back = local_from_world(world_from_local(local, body.bone_parents), body.bone_parents)
    # the parent's and the child's world frames are each within 3 D gamma(3) (2-norm, as above), the product
    # P^T W adds 3 gamma(3), and P^T inverts P only up to the chain's non-orthogonality, D times that of
    # one float32 rotation matrix (was atol 1e-5)
    depth = chain_depth(body)
    orth = float((local.transpose(-1, -2) @ local - torch.eye(3)).double().abs().amax())
    assert torch.allclose(back, local, rtol=0, atol=(6 * depth + 3) * gamma(3) + 3 * depth * orth)


def test_aim_rotation_takes_source_to_target_including_opposite():
    torch.manual_seed(2)
    source = torch.randn(50, 3)
    target = torch.randn(50, 3)
    target[0] = -source[0]  # antiparallel
    target[1] = 2 * source[1]  # parallel
    rot = aim_rotation(source, target)
    moved = (rot @ torch.nn.functional.normalize(source, dim=-1)[..., None])[..., 0]
    # Per pair, float32: the axis a x b / |a x b| is off by gamma(4) / sin(theta) (a cross product of unit
    # vectors, relative to its length sin theta), which tilts the turn of angle theta: <= theta times that;
    # the angle (atan2), Rodrigues and the product add gamma(16); the (anti)parallel fallback takes over
    # below sin = 1e-6, off by at most that (was atol 1e-5 for all pairs).
    a64 = torch.nn.functional.normalize(source.double(), dim=-1)
    b64 = torch.nn.functional.normalize(target.double(), dim=-1)
    sin = torch.linalg.cross(a64, b64).norm(dim=-1)
    theta = torch.atan2(sin, (a64 * b64).sum(-1))
    tol = torch.where(sin > 2e-6, gamma(4) * theta / sin, 1e-6 * torch.ones_like(sin)) + gamma(16)
    err = (moved.double() - torch.nn.functional.normalize(target, dim=-1).double()).abs().amax(-1)
    assert (err <= tol).all()
    # parallel: the two normalised directions differ by rounding only (gamma(3) each): I within that
    assert torch.allclose(rot[1], torch.eye(3), rtol=0, atol=2 * gamma(8))


def test_euler_order_matches_scipy_intrinsic_convention():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    for order in ("ZXY", "XYZ", "ZYX", "YXZ"):
        angles = rng.uniform(-170, 170, size=(5, 3))
        ours = euler_to_rotmat(torch.tensor(angles), order).numpy()
        theirs = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()  # upper case: intrinsic
        # float64: cos/sin (1 ulp), two 3x3 products of rotations (3 gamma(3) each in the 2-norm), and
        # scipy's quaternion route likewise: a few tens of u (was atol 1e-9)
        assert np.allclose(ours, theirs, rtol=0, atol=2 * gamma(32, U64)), order


def test_interpolate_rotvecs_hits_keys_and_the_geodesic_middle():
    a = torch.tensor([[0.0, 0.0, 0.2]])
    b = torch.tensor([[0.0, 0.0, 1.0]])
    seq = torch.stack([a, b])  # (2, 1, 3)
    out = interpolate_rotvecs(seq, torch.tensor([0.0, 0.5, 1.0]))
    # float32 round trips through rotation matrices and roma's quaternion log map: the log map's vector part
    # (R_ij - R_ji) / 4w is absolute-accurate, so each conversion is within gamma(8) rad whatever the angle;
    # keys take 3 conversions and a product (gamma(24)), the middle 5 and 2 products (gamma(48))
    # (was atol 1e-6 and 1e-5)
    assert torch.allclose(out[0], a, rtol=0, atol=gamma(24)) and torch.allclose(out[2], b, rtol=0, atol=gamma(24))
    assert torch.allclose(out[1], torch.tensor([[0.0, 0.0, 0.6]]), rtol=0, atol=gamma(48))


def test_smooth_rotvecs_reduces_jitter_and_survives_quaternion_sign_flips():
    torch.manual_seed(4)
    t = torch.linspace(0, 2 * math.pi, 60)
    clean = torch.stack([0.3 * torch.sin(t), 0.2 * torch.cos(t), torch.full_like(t, 3.0)], -1)[:, None]  # near pi
    noisy = clean + 0.03 * torch.randn_like(clean)
    smoothed = smooth_rotvecs(noisy, window=9)

    def error(x):
        rel = roma.rotvec_to_rotmat(x).transpose(-1, -2) @ roma.rotvec_to_rotmat(clean)
        return roma.rotmat_to_rotvec(rel).norm(dim=-1).mean()

    assert error(smoothed) < 0.6 * error(noisy)  # a smoothing quality floor (measured 0.0172 vs 0.0382 rad: 0.45)


def test_clamp_rotvec_angles():
    rotvecs = torch.tensor([[0.0, 0.0, 2.0], [0.1, 0.0, 0.0]])
    out = clamp_rotvec_angles(rotvecs, torch.tensor([1.0, 1.0]))
    # exact: |(0, 0, 2)| = 2, 1 / 2 and 2 x 0.5 are exact; the other is scaled by 1 (was the default allclose)
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.0, 0.0]]))
