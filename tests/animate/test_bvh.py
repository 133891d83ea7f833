import math

import pytest
import torch
from bvh_samples import make_bvh
from float_bounds import U64, gamma

from uvatar.animate.bvh import parse_bvh, read_bvh
from uvatar.errors import InputError


def test_parse_mixamo_sample_structure():
    clip = parse_bvh(make_bvh("mixamo"))
    # "Frame Time: 0.0333333" is 1/30 to 7 decimals (<= 5e-8 off): fps within 30^2 x 5e-8 (was 1e-3)
    assert clip.n_frames == 4 and abs(clip.fps - 30.0) <= 30**2 * 5e-8 * 1.01
    assert clip.names[0] == "mixamorig:Hips" and clip.joints[0].parent == -1
    arm = clip.index("mixamorig:LeftArm")
    assert clip.joints[arm].rotation_order == "ZXY"
    assert clip.joints[clip.index("mixamorig:Head")].end_site is not None


def test_channel_orders_give_the_same_pose():
    """The same poses written with ZXY (Mixamo) and ZYX channels (CMU style, other axes) agree after FK."""
    mixamo, cmu = parse_bvh(make_bvh("mixamo")), parse_bvh(make_bvh("cmu"))
    _, pos_m = mixamo.forward_kinematics()
    _, pos_c = cmu.forward_kinematics()
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64))
    # The files print offsets to 4 decimals (<= 5e-5 per coordinate; CMU's in 0.4 cm units, so 1.25e-4 cm)
    # and angles to 6 (<= 5e-7 degrees, times the <= 200 cm reach of a chain): each joint's position sums
    # those over its chain of k offsets, rotated (sqrt(3) per coordinate) (was atol 1e-3 for all joints)
    depth = torch.zeros(len(mixamo.joints), dtype=torch.float64)
    for j, joint in enumerate(mixamo.joints):
        depth[j] = 0 if joint.parent < 0 else depth[joint.parent] + 1
    per_offset = 3**0.5 * (5e-5 + 5e-5 / 0.4) + 2 * math.radians(5e-7) * 200
    tol = ((depth + 1) * per_offset)[None, :, None] + gamma(64, U64) * 200
    assert ((pos_c @ flip.T / 0.4 - pos_m).abs() <= tol).all()


def test_rest_pose_is_offsets_and_root_position_channels_are_absolute():
    clip = parse_bvh(make_bvh("mixamo", poses=("mixed",)))
    _, rest = clip.forward_kinematics(rest=True)
    # printed exactly ("100.000000"), then float64 arithmetic on it: a few u of 100 (was the default
    # allclose, whose rtol 1e-5 allows 1e-3 here, and atol 1e-4)
    assert torch.allclose(rest[0, 0], torch.tensor([0.0, 100.0, 0.0], dtype=torch.float64), rtol=0, atol=4 * U64 * 100)
    _, posed = clip.forward_kinematics()
    assert torch.allclose(posed[0, 0], torch.tensor([5.0, 100.0, 10.0], dtype=torch.float64), rtol=0, atol=4 * U64 * 100)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "HIERARCHY"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0\n}", "line"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Wrotation\n}\nMOTION", "unknown channel"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1", "need 2 numbers"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\nabc", "not a number"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0\n1", "frame time"),
    ],
)
def test_bad_files_raise_one_line_input_errors(text, fragment):
    with pytest.raises(InputError) as info:
        parse_bvh(text, source="x.bvh")
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_read_bvh_missing_file(tmp_path):
    with pytest.raises(InputError, match="no BVH file"):
        read_bvh(tmp_path / "nothing.bvh")


# ---------------------------------------------------------------------- crafted files (issue 13)
def _chain(n_joints: int) -> str:
    """A BVH of ``n_joints`` joints each nested in the previous one, one frame."""
    opening = "".join(f"JOINT J{k}\n{{\nOFFSET 0 1 0\nCHANNELS 1 Xrotation\n" for k in range(1, n_joints))
    return (
        "HIERARCHY\nROOT J0\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n" + opening + "}\n" * n_joints
        + f"MOTION\nFrames: 1\nFrame Time: 0.1\n{' '.join(['0'] * n_joints)}\n"
    )  # fmt: skip


def _siblings(n_joints: int) -> str:
    joints = "".join(f"JOINT J{k}\n{{\nOFFSET 0 1 0\nCHANNELS 1 Xrotation\n}}\n" for k in range(1, n_joints))
    return f"HIERARCHY\nROOT J0\n{{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n{joints}}}\nMOTION\nFrames: 1\nFrame Time: 0.1\n{' '.join(['0'] * n_joints)}\n"


ONE = "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\nMOTION\n"
TWO = "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\nJOINT Leg\n{\nOFFSET 0 -1 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\n}\nMOTION\n"


@pytest.mark.parametrize(
    "text, fragment",
    [
        (_chain(5000), "nested"),
        (_siblings(3000), "joints"),
        (ONE + "Frames: 1\nFrame Time: 1e-300\n1\n", "frame time"),
        (ONE + "Frames: 1\nFrame Time: 1e300\n1\n", "frame time"),
        (ONE + "Frames: 1000000000\nFrame Time: 0.1\n1\n2\n3\n", "Frames"),
        (ONE + "Frames: 60000\nFrame Time: 0.1\n1\n2\n3\n", "Frames"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 1000000000\nFrame Time: 0.1\n", "channels"),
        ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 3\nFrame Time: 0.1\n\n\n\n", "channels"),
        (TWO + "Frames: 2\nFrame Time: 0.1\n1 2 3 4\n5 6 7 8 9 10 11 12\n", "4 values"),
        (TWO + "Frames: 2\nFrame Time: 0.1\n1 2 3 4 5 6 7\n8 9 10 11 12\n", "7 values"),
        (TWO + "Frames: 1\nFrame Time: 0.1\n1 2 3 4 5 6\n7 8 9 10 11 12\n", "more frame"),
    ],
    ids=["5000 nested joints", "3000 joints", "frame time 1e-300", "frame time 1e300", "1e9 frames, 3 lines",
         "60000 frames, 3 lines", "no channels, 1e9 frames", "no channels", "short line", "long line", "extra line"],
)
def test_crafted_files_raise_one_line_input_errors(text, fragment):
    with pytest.raises(InputError) as info:
        parse_bvh(text, source="x.bvh")
    message = str(info.value)
    assert fragment in message and "\n" not in message and message.startswith("x.bvh"), message


def test_a_deep_but_sane_chain_parses():
    clip = parse_bvh(_chain(60), source="x.bvh")
    assert clip.n_frames == 1 and clip.parents == [-1] + list(range(59))
    _, positions = clip.forward_kinematics()
    # zero rotations (exact identity matrices) and whole-number offsets: float64 sums of integers, a few u of 59
    # at most (was the default allclose)
    assert torch.allclose(positions[0, -1], torch.tensor([0.0, 59.0, 0.0], dtype=torch.float64), rtol=0, atol=gamma(4, U64) * 59)


def test_frame_values_are_one_line_per_frame_and_keep_their_order():
    clip = parse_bvh(TWO + "Frames: 2\nFrame Time: 0.05\n1 2 3 4 5 6\n7 8 9 10 11 12\n\n", source="x.bvh")
    assert clip.values.tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]] and clip.fps == pytest.approx(20.0, rel=2 * U64)  # 1 / 0.05
