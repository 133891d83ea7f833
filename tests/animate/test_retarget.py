import math

import numpy as np
import pytest
import torch
from body_helpers import chain_depth
from bvh_samples import expected_direction, make_bvh
from float_bounds import gamma

from uvatar.animate.bvh import parse_bvh
from uvatar.animate.limits import max_angles
from uvatar.animate.retarget import canonical_joint_name, detect_naming, retarget_bvh
from uvatar.errors import InputError

POSES = ("tpose", "arms_up", "knee_bend", "mixed", "crouch")
# (BVH joint, its child) -> (Anny bone, the bone whose head ends the segment)
SEGMENTS = {
    ("LeftArm", "LeftForeArm"): ("upperarm01.L", "lowerarm01.L"),
    ("LeftForeArm", "LeftHand"): ("lowerarm01.L", "wrist.L"),
    ("RightArm", "RightForeArm"): ("upperarm01.R", "lowerarm01.R"),
    ("RightForeArm", "RightHand"): ("lowerarm01.R", "wrist.R"),
    ("LeftUpLeg", "LeftLeg"): ("upperleg01.L", "lowerleg01.L"),
    ("LeftLeg", "LeftFoot"): ("lowerleg01.L", "foot.L"),
    ("RightUpLeg", "RightLeg"): ("upperleg01.R", "lowerleg01.R"),
    ("RightLeg", "RightFoot"): ("lowerleg01.R", "foot.R"),
}


def _heads(body, motion):
    params = body.default_params(motion.n_frames)
    params.rotvecs = motion.rotvecs.clone()
    params.translation = motion.translation.clone()
    with torch.no_grad():
        return body.forward(params).bone_poses[..., :3, 3]


def _angle_deg(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


@pytest.fixture(scope="module", params=["mixamo", "cmu"])
def retargeted(request, body):
    clip = parse_bvh(make_bvh(request.param, POSES))
    return request.param, retarget_bvh(clip, body)


def test_naming_is_detected(retargeted):
    style, motion = retargeted
    assert motion.meta["naming"] == style
    assert detect_naming(["mixamorig:Hips", "mixamorig:Spine2"]) == "mixamo"
    assert canonical_joint_name("mixamorig1:LeftForeArm") == "leftforearm"


def test_limb_directions_follow_the_bvh(retargeted, body):
    """Every arm and leg segment of the Anny result points where the BVH's does (within 3 degrees)."""
    _, motion = retargeted
    heads = _heads(body, motion)
    worst = 0.0
    for f, pose in enumerate(POSES):
        for (joint, child), (bone, end) in SEGMENTS.items():
            got = (heads[f, body.bone_index(end)] - heads[f, body.bone_index(bone)]).numpy()
            worst = max(worst, _angle_deg(got, expected_direction(pose, joint, child)))
    # a retargeting quality floor, not a float bound: the sample skeleton lets aims match exactly (measured
    # 3.4e-5 degrees); 3 degrees leaves room for joint limits and proportion differences
    assert worst < 3.0, worst


def test_rest_frame_gives_anny_tpose_arms(retargeted, body):
    """The BVH T-pose frame lays Anny's arms out like body.tpose_params (shoulder to wrist along +-X)."""
    _, motion = retargeted
    heads = _heads(body, motion)[0]
    with torch.no_grad():
        tpose = body.forward(body.tpose_params()).bone_poses[0, :, :3, 3]
    for side in ("L", "R"):
        i, j = body.bone_index(f"upperarm01.{side}"), body.bone_index(f"wrist.{side}")
        assert _angle_deg(heads[j] - heads[i], tpose[j] - tpose[i]) < 3.0  # quality floor (measured 1.5e-5 deg)
    # torso and head untouched by a rest frame: spine and head bones at their reference rotation, up to the
    # float32 chains that produce them (bone chains 3 D gamma(3) in the 2-norm, twice; the log map's
    # gamma(24)) (was 1e-4; measured exactly 0)
    for bone in ("spine05", "spine03", "spine01", "neck01", "head"):
        assert motion.rotvecs[0, body.bone_index(bone)].norm() <= 2 * 3 * 16 * gamma(3) + gamma(24), bone


def test_angles_within_limits_and_translation(retargeted, body):
    style, motion = retargeted
    # clamped by limit / |rotvec|: the clamped norm is the limit within gamma(5), pi at most (was + 1e-4)
    assert (motion.rotvecs.norm(dim=-1) <= max_angles(body.bone_labels) + gamma(6) * math.pi).all()
    # 'mixed' moves the hips 10 cm forward (body -Y) and 5 cm to their left (+X); 'crouch' lowers
    # them by 24 cm with the feet on the ground: scaled to Anny (about 0.9 cm per BVH cm)
    unit = 1.0 if style == "mixamo" else 0.4
    scale = motion.meta["scale"] * unit  # metres per BVH centimetre
    # The metadata's scale is rounded to 6 decimals (<= 5e-7 per BVH unit), the translations use the exact
    # one: |displacement| x 5e-7 x unit; plus float32 (hip positions of <= 200 BVH units: gamma(8)) (was
    # atol 1e-5, 1e-4, 1e-4)
    float_part = gamma(8) * 200 * scale
    assert torch.allclose(motion.translation[0], torch.zeros(3), rtol=0, atol=float_part)
    assert torch.allclose(motion.translation[3], torch.tensor([5.0, -10.0, 0.0]) * scale, rtol=0, atol=125**0.5 * 5e-7 * unit + float_part)
    assert torch.allclose(motion.translation[4], torch.tensor([0.0, 0.0, -24.0]) * scale, rtol=0, atol=24 * 5e-7 * unit + float_part)
    assert 0.008 < scale < 0.01  # Anny's hip height over the sample's (0.009 m per BVH cm): a size check


def test_wild_rotations_stay_finite_and_within_limits(body):
    clip = parse_bvh(make_bvh("cmu", ("tpose",), random_frames=12, seed=5))
    motion = retarget_bvh(clip, body)
    assert torch.isfinite(motion.rotvecs).all()
    assert (motion.rotvecs.norm(dim=-1) <= max_angles(body.bone_labels) + gamma(6) * math.pi).all()  # as above
    heads = _heads(body, motion)
    # Limbs keep their length whatever the pose (rigid bones, no exploding limbs): each head is within the
    # chain's 3 (D + 2) gamma(3) of |heads|max (2-norm bound), so a length moves by twice that, and two
    # lengths differ by twice again (was 1e-3; measured 1.8e-7)
    tol = 4 * 3 * (chain_depth(body) + 2) * gamma(3) * float(heads.abs().max()) * 3**0.5
    for bone, end in SEGMENTS.values():
        lengths = (heads[:, body.bone_index(end)] - heads[:, body.bone_index(bone)]).norm(dim=-1)
        assert (lengths.max() - lengths.min()) <= tol, bone


def test_unknown_names_raise(body):
    text = make_bvh("mixamo", ("tpose",)).replace("mixamorig:", "bone_").replace("Left", "Lx").replace("Right", "Rx").replace("Spine", "Sp").replace("Hips", "Pelvis").replace("Head", "Hd").replace("Neck", "Nk")
    with pytest.raises(InputError, match="Mixamo or CMU"):
        retarget_bvh(parse_bvh(text), body)


def test_a_root_path_far_beyond_any_capture_is_refused_naming_the_file(tmp_path, body):
    from uvatar.animate.builtin import load_motion

    lines = make_bvh("mixamo", ("tpose", "arms_up")).splitlines()
    values = lines[-1].split()
    lines[-1] = " ".join(["1e9"] + values[1:])  # the hips 10,000 km to the side in the last frame
    path = tmp_path / "far.bvh"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        load_motion(path, body)
    message = str(info.value)
    assert str(path) in message and "translation" in message and "\n" not in message, message
