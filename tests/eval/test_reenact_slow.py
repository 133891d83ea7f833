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


def test_a_given_avatar_is_scored_instead_of_a_new_one(tmp_path, shared_dir, body):
    """``avatar_dir``: a folder built before (here by the first run) is scored as it is, not rebuilt,
    and the scores are that avatar's."""
    from uvatar.eval.reenact import run_reenactment

    video = shared_dir / "realdata/video/obama_address_head.mp4"
    first = run_reenactment(video, tmp_path / "built", source=0, every=90, figure_frames=1)
    given = tmp_path / "built" / "avatar"
    stamp = (given / "avatar.uvatar").stat().st_mtime_ns
    again = run_reenactment(video, tmp_path / "scored", source=0, every=90, figure_frames=1, avatar_dir=given)
    assert not (tmp_path / "scored" / "avatar").exists() and (given / "avatar.uvatar").stat().st_mtime_ns == stamp
    assert [r["frame"] for r in again["rows"]] == [r["frame"] for r in first["rows"]]
    # the same avatar on the same deterministic track: the same scores (float32 renders of one pose)
    for a, b in zip(first["rows"], again["rows"], strict=True):
        assert abs(a["psnr"] - b["psnr"]) < 1e-3


def test_a_folder_without_an_avatar_is_refused_before_anything_is_written(tmp_path, shared_dir):
    from uvatar.errors import InputError
    from uvatar.eval.reenact import run_reenactment

    with pytest.raises(InputError, match="no avatar folder"):
        run_reenactment(shared_dir / "realdata/video/obama_address_head.mp4", tmp_path / "out", avatar_dir=tmp_path)
    assert not (tmp_path / "out").exists()
