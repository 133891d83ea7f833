import numpy as np
import pytest
import torch
from bvh_samples import expected_direction, make_bvh

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
    assert worst < 3.0, worst


def test_rest_frame_gives_anny_tpose_arms(retargeted, body):
    """The BVH T-pose frame lays Anny's arms out like body.tpose_params (shoulder to wrist along +-X)."""
    _, motion = retargeted
    heads = _heads(body, motion)[0]
    with torch.no_grad():
        tpose = body.forward(body.tpose_params()).bone_poses[0, :, :3, 3]
    for side in ("L", "R"):
        i, j = body.bone_index(f"upperarm01.{side}"), body.bone_index(f"wrist.{side}")
        assert _angle_deg(heads[j] - heads[i], tpose[j] - tpose[i]) < 3.0
    # torso and head untouched by a rest frame: spine and head bones at their reference rotation
    for bone in ("spine05", "spine03", "spine01", "neck01", "head"):
        assert motion.rotvecs[0, body.bone_index(bone)].norm() < 1e-4, bone


def test_angles_within_limits_and_translation(retargeted, body):
    style, motion = retargeted
    assert (motion.rotvecs.norm(dim=-1) <= max_angles(body.bone_labels) + 1e-4).all()
    # 'mixed' moves the hips 10 cm forward (body -Y) and 5 cm to their left (+X); 'crouch' lowers
    # them by 24 cm with the feet on the ground: scaled to Anny (about 0.9 cm per BVH cm)
    scale = motion.meta["scale"] * (1.0 if style == "mixamo" else 0.4)  # metres per BVH centimetre
    assert torch.allclose(motion.translation[0], torch.zeros(3), atol=1e-5)
    assert torch.allclose(motion.translation[3], torch.tensor([5.0, -10.0, 0.0]) * scale, atol=1e-4)
    assert torch.allclose(motion.translation[4], torch.tensor([0.0, 0.0, -24.0]) * scale, atol=1e-4)
    assert 0.008 < scale < 0.01


def test_wild_rotations_stay_finite_and_within_limits(body):
    clip = parse_bvh(make_bvh("cmu", ("tpose",), random_frames=12, seed=5))
    motion = retarget_bvh(clip, body)
    assert torch.isfinite(motion.rotvecs).all()
    assert (motion.rotvecs.norm(dim=-1) <= max_angles(body.bone_labels) + 1e-4).all()
    heads = _heads(body, motion)
    # limbs keep their length whatever the pose (rigid bones, no exploding limbs)
    for bone, end in SEGMENTS.values():
        lengths = (heads[:, body.bone_index(end)] - heads[:, body.bone_index(bone)]).norm(dim=-1)
        assert (lengths.max() - lengths.min()) < 1e-3, bone


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
