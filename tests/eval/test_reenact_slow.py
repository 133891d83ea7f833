"""Self-reenactment on the real clip (slow: a reconstruction and two tracked frames)."""

import json

import pytest


@pytest.mark.slow
def test_reenactment_scores_frames_of_the_clip(tmp_path, shared_dir, body):
    from uvatar.eval.reenact import format_table, run_reenactment

    result = run_reenactment(shared_dir / "realdata/video/obama_address_head.mp4", tmp_path, source=0, every=90, figure_frames=2)
    assert [row["frame"] for row in result["rows"]] == [90, 180]
    for row in result["rows"]:
        assert 10 < row["psnr"] < 40 and 0 < row["ssim"] <= 1  # sanity ranges (README: ~15.8 dB re-posed), not float bounds
    assert json.loads((tmp_path / "reenact.json").read_text())["summary"]["frames"] == 2
    assert (tmp_path / "reenact.png").is_file() and "mean of 2" in format_table(result)


@pytest.mark.slow  # 42 s on 2 cores (a reconstruction and two 20-frame tracks): the default run had passed 15 minutes
def test_a_given_avatar_is_scored_instead_of_a_new_one(tmp_path, shared_dir, body):
    """``avatar_dir``: a folder built before (here by the first run) is scored as it is, not rebuilt,
    and the scores are that avatar's (on the head clip's first 20 frames: the whole clip's track took
    three minutes)."""
    from uvatar.eval.reenact import run_reenactment
    from uvatar.io.video import read_video, write_video

    frames, fps = read_video(shared_dir / "realdata/video/obama_address_head.mp4")
    video = write_video(tmp_path / "head20.mp4", frames[:20], fps=fps)
    first = run_reenactment(video, tmp_path / "built", source=0, every=9, figure_frames=1)
    given = tmp_path / "built" / "avatar"
    stamp = (given / "avatar.uvatar").stat().st_mtime_ns
    again = run_reenactment(video, tmp_path / "scored", source=0, every=9, figure_frames=1, avatar_dir=given)
    assert not (tmp_path / "scored" / "avatar").exists() and (given / "avatar.uvatar").stat().st_mtime_ns == stamp
    assert [r["frame"] for r in again["rows"]] == [r["frame"] for r in first["rows"]] == [9, 18]
    # the same avatar on the same deterministic track: the same scores (float32 renders of one pose)
    for a, b in zip(first["rows"], again["rows"], strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 1e-3


def test_a_folder_without_an_avatar_is_refused_before_anything_is_written(tmp_path, shared_dir):
    from uvatar.errors import InputError
    from uvatar.eval.reenact import run_reenactment

    with pytest.raises(InputError, match="no avatar folder"):
        run_reenactment(shared_dir / "realdata/video/obama_address_head.mp4", tmp_path / "out", avatar_dir=tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_track_avatar_that_is_not_one_is_refused_before_anything_is_written(tmp_path, shared_dir):
    from uvatar.errors import InputError
    from uvatar.eval.reenact import run_reenactment

    with pytest.raises(InputError, match="--track-avatar"):
        run_reenactment(shared_dir / "realdata/video/obama_address_head.mp4", tmp_path / "out", track_avatar_dir=tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_track_is_anchored_at_the_track_avatars_fit(tmp_path, shared_dir, body):
    """``track_avatar_dir``: the video track starts from that folder's photo fit, the scored avatar rides it.
    Its own folder as the anchor gives its own track; a copy whose fit sits 3 cm to the side gives another."""
    import shutil

    from uvatar.avatar import Avatar
    from uvatar.eval.reenact import run_reenactment

    video = shared_dir / "realdata/video/obama_address_head.mp4"
    own = run_reenactment(video, tmp_path / "own", source=0, every=90, figure_frames=1)
    built = tmp_path / "own" / "avatar"
    same = run_reenactment(video, tmp_path / "same", every=90, figure_frames=1, avatar_dir=built, track_avatar_dir=built)
    moved = tmp_path / "moved"
    shutil.copytree(built, moved)
    avatar = Avatar.load(moved / "avatar.uvatar")
    avatar.meta["fit_params"]["translation"][0][0] += 0.03
    avatar.save(moved / "avatar.uvatar")
    other = run_reenactment(video, tmp_path / "other", every=90, figure_frames=1, avatar_dir=built, track_avatar_dir=moved)
    assert other["track_anchor"] == str(moved) and own["track_anchor"] == "the scored avatar's fit"
    for a, b in zip(own["rows"], same["rows"], strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 1e-3  # one deterministic track
    # the source frame's own view through the tracker: on the moved anchor the avatar sits 3 cm off there
    assert other["summary"]["source_via_tracker_psnr"] < own["summary"]["source_via_tracker_psnr"] - 1.0
