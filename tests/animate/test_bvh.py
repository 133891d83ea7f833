import pytest
import torch
from bvh_samples import make_bvh

from uvatar.animate.bvh import parse_bvh, read_bvh
from uvatar.errors import InputError


def test_parse_mixamo_sample_structure():
    clip = parse_bvh(make_bvh("mixamo"))
    assert clip.n_frames == 4 and abs(clip.fps - 30.0) < 1e-3
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
    assert torch.allclose(pos_c @ flip.T / 0.4, pos_m, atol=1e-3)


def test_rest_pose_is_offsets_and_root_position_channels_are_absolute():
    clip = parse_bvh(make_bvh("mixamo", poses=("mixed",)))
    _, rest = clip.forward_kinematics(rest=True)
    assert torch.allclose(rest[0, 0], torch.tensor([0.0, 100.0, 0.0], dtype=torch.float64))
    _, posed = clip.forward_kinematics()
    assert torch.allclose(posed[0, 0], torch.tensor([5.0, 100.0, 10.0], dtype=torch.float64), atol=1e-4)


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
