import json

import pytest
import torch
from float_bounds import U32, gamma

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
    # the file rounds every number to 1e-5 (<= 5e-6 off), read back as float32 (u |x|) (was atol 1e-5)
    for got, want in ((back.rotvecs, motion.rotvecs), (back.translation, motion.translation), (back.facial, motion.facial)):
        assert torch.allclose(got, want, rtol=0, atol=5e-6 + 2 * U32 * float(want.abs().max()))


def test_frame_index_loops_or_holds():
    assert [_motion(loop=True).frame_index(i) for i in (0, 4, 5, 11)] == [0, 4, 0, 1]
    assert [_motion(loop=False).frame_index(i) for i in (0, 4, 5, 11)] == [0, 4, 4, 4]


def test_resample_keeps_duration_and_end_values():
    motion = _motion(loop=False)
    fast = motion.resample(20.0)
    assert fast.n_frames == 10 and fast.fps == 20.0
    # at key frames the geodesic interpolation is a float32 round trip through rotation matrices and the
    # quaternion log map, absolute-accurate: gamma(24) rad (test_rotations); the linear blend of facial
    # values in [0, 1] is 3 roundings, and this test's mean 2 more (was atol 1e-5)
    assert torch.allclose(fast.rotvecs[0], motion.rotvecs[0], rtol=0, atol=gamma(24))
    assert torch.allclose(fast.rotvecs[2], motion.rotvecs[1], rtol=0, atol=gamma(24))
    assert torch.allclose(fast.facial[1, 0], (motion.facial[0, 0] + motion.facial[1, 0]) / 2, rtol=0, atol=gamma(5))


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


# ---------------------------------------------------------------------- crafted motion files (issue 13)
def _write(tmp_path, data, name="m.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _one_line_error(path, fragment):
    with pytest.raises(InputError) as info:
        Motion.load(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message, message


def test_deeply_nested_json_is_an_input_error(tmp_path):
    _one_line_error(_write(tmp_path, "[" * 100_000 + "]" * 100_000), "nested too deeply")
    data = _motion().to_dict()
    data["meta"] = {"x": json.loads("[" * 900 + "]" * 900)}  # within json's own depth: still loads
    assert Motion.load(_write(tmp_path, data, "ok.json")).meta["x"]


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("fps", 1e300, "fps"),
        ("fps", 1e-300, "fps"),
        ("fps", 5000.0, "fps"),
        ("n_frames", float("inf"), "n_frames"),
        ("n_frames", 10**12, "n_frames"),
        ("n_frames", 100_000, "n_frames"),
        ("n_frames", -3, "n_frames"),
    ],
)
def test_absurd_rates_and_counts_are_refused(tmp_path, key, value, fragment):
    data = _motion(frames=5).to_dict()
    data.update({"bones": [], "rotvecs": [], "translation": None, "facial_actions": None, "facial": None}) if key == "n_frames" else None
    data[key] = value
    _one_line_error(_write(tmp_path, data), fragment)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("rotvecs", float("nan"), "rotvecs"),
        ("rotvecs", 1e38, "rotvecs"),
        ("translation", 1e30, "translation"),
        ("facial", float("nan"), "facial"),
        ("facial", 5.0, "facial"),
    ],
)
def test_nan_and_absurd_values_are_refused(tmp_path, field, value, fragment):
    data = _motion(frames=5).to_dict()
    row = data[field][2]
    while isinstance(row[0], list):
        row = row[0]
    row[0] = value
    _one_line_error(_write(tmp_path, data), fragment)


def test_limits_hold_for_motions_made_in_code():
    from uvatar.animate.motion import MAX_FPS, MAX_FRAMES

    with pytest.raises(InputError, match="fps"):
        _motion(fps=MAX_FPS * 2)
    with pytest.raises(InputError, match="frames"):
        _motion(frames=MAX_FRAMES + 1, facial=None)
    assert _motion(fps=MAX_FPS).fps == MAX_FPS


def test_resample_can_stop_after_the_frames_needed():
    motion = _motion(frames=5, loop=True)
    full = motion.resample(20.0)
    first = motion.resample(20.0, first=3)
    assert full.n_frames == 10 and full.loop
    # the same positions interpolated by the same code: the same float32 values (was the default allclose)
    assert first.n_frames == 3 and not first.loop and torch.equal(first.rotvecs, full.rotvecs[:3])


def test_source_frames_must_match_the_frames(tmp_path):
    data = _motion(frames=5).to_dict()
    data["meta"] = {"source": "video", "source_frames": [0, 1]}
    _one_line_error(_write(tmp_path, data), "source_frames")
