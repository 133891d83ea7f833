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
