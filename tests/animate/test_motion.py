import json

import pytest
import torch

from uvatar.animate.motion import FORMAT, Motion
from uvatar.errors import InputError

BONES = ["root", "a", "b", "c"]
FACES = ["jawOpen", "blink", "smile"]


def _motion(frames=5, **kw):
    torch.manual_seed(0)
    rotvecs = torch.zeros(frames, 4, 3)
    rotvecs[:, 1] = torch.randn(frames, 3) * 0.3
    facial = torch.zeros(frames, 3)
    facial[:, 0] = torch.linspace(0, 1, frames)
    args = dict(fps=10.0, rotvecs=rotvecs, translation=torch.randn(frames, 3) * 0.1, bone_labels=BONES, bones=["a"],
                facial=facial, facial_labels=FACES, loop=True, name="test", meta={"note": "x"})  # fmt: skip
    args.update(kw)
    return Motion(**args)


def test_save_load_round_trip_stores_only_driven_channels(tmp_path):
    motion = _motion()
    path = motion.save(tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["bones"] == ["a"] and data["facial_actions"] == ["jawOpen"]
    assert len(data["rotvecs"][0]) == 1
    back = Motion.load(path)
    assert back.bones == ["a"] and back.loop and back.meta == {"note": "x"} and back.name == "test"
    assert torch.allclose(back.rotvecs, motion.rotvecs, atol=1e-5)
    assert torch.allclose(back.translation, motion.translation, atol=1e-5)
    assert torch.allclose(back.facial, motion.facial, atol=1e-5)


def test_frame_index_loops_or_holds():
    assert [_motion(loop=True).frame_index(i) for i in (0, 4, 5, 11)] == [0, 4, 0, 1]
    assert [_motion(loop=False).frame_index(i) for i in (0, 4, 5, 11)] == [0, 4, 4, 4]


def test_resample_keeps_duration_and_end_values():
    motion = _motion(loop=False)
    fast = motion.resample(20.0)
    assert fast.n_frames == 10 and fast.fps == 20.0
    assert torch.allclose(fast.rotvecs[0], motion.rotvecs[0], atol=1e-5)
    assert torch.allclose(fast.rotvecs[2], motion.rotvecs[1], atol=1e-5)
    assert torch.allclose(fast.facial[1, 0], (motion.facial[0, 0] + motion.facial[1, 0]) / 2, atol=1e-5)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(fps=0.0), "fps"),
        (dict(rotvecs=torch.zeros(5, 3, 3)), "rotvecs"),
        (dict(translation=torch.zeros(4, 3)), "translation"),
        (dict(bones=["nope"]), "unknown bones"),
        (dict(facial_mode="mix"), "facial_mode"),
        (dict(translation=torch.full((5, 3), float("nan"))), "NaN"),
    ],
)
def test_invalid_motions_raise(change, fragment):
    with pytest.raises(InputError, match=fragment):
        _motion(**change)


def test_load_rejects_foreign_and_damaged_files(tmp_path):
    with pytest.raises(InputError, match="no motion file"):
        Motion.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something/1"}))
    with pytest.raises(InputError, match="not a UVatar motion"):
        Motion.load(tmp_path / "other.json")
    data = _motion().to_dict()
    data["rotvecs"] = [[1, 2]]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="damaged"):
        Motion.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        Motion.load(tmp_path / "junk.json")


def test_check_rig(body):
    with pytest.raises(InputError, match="another rig"):
        _motion().check_rig(body)
