"""Turn-around evaluation: angle bins of synthetic rows (no reconstruction)."""

import math

import numpy as np
import pytest

from uvatar.eval.turnaround import angle_bin, bin_rows, coverage, format_table, masked_stlpips, wrap_deg


def test_wrap_and_nearest_bin():
    assert wrap_deg(190) == pytest.approx(-170)
    assert wrap_deg(-190) == pytest.approx(170)
    assert [angle_bin(a) for a in (0, 20, 23, 30, 80, 100, 120, 160, 170, 180, -180, -45, 200, 350, 315)] == [
        0, 0, 45, 45, 90, 90, 135, 180, 180, 180, 180, 45, 180, 0, 45]
    assert angle_bin(22.5) == 0  # a tie goes to the smaller angle


def test_bin_rows_by_tracked_yaw_with_known_turn_fallback():
    rows = [
        {"frame": 1, "yaw_from_source_deg": 14.0, "known_turn_deg": 15.0, "psnr": 20.0, "ssim": 0.8, "stlpips": 0.1},
        {"frame": 2, "yaw_from_source_deg": 50.0, "known_turn_deg": 30.0, "psnr": 18.0, "ssim": 0.7, "stlpips": 0.2},
        {"frame": 3, "yaw_from_source_deg": 40.0, "known_turn_deg": 45.0, "psnr": 16.0, "ssim": 0.6, "stlpips": float("nan")},
        {"frame": 12, "yaw_from_source_deg": None, "known_turn_deg": -180.0, "psnr": 12.0, "ssim": 0.5, "stlpips": 0.4},
        {"frame": 21, "yaw_from_source_deg": -93.0, "known_turn_deg": -45.0, "psnr": 14.0, "ssim": 0.55, "stlpips": 0.3},
    ]
    bins = {b["bin"]: b for b in bin_rows(rows)}
    assert [bins[b]["frames"] for b in (0, 45, 90, 135, 180)] == [1, 2, 1, 0, 1]
    assert bins[45]["frame_ids"] == [2, 3] and bins[90]["frame_ids"] == [21] and bins[180]["frame_ids"] == [12]
    assert bins[45]["psnr"] == pytest.approx(17.0) and bins[45]["stlpips"] == pytest.approx(0.2)  # NaN left out
    assert bins[135]["psnr"] is None
    for row in rows:
        row["bin"] = angle_bin(row["yaw_from_source_deg"] if row["yaw_from_source_deg"] is not None else row["known_turn_deg"])
    table = format_table({"bins": bin_rows(rows), "rows": rows, "decoder": "projection", "source": 0, "frames": 24,
                          "input_view_psnr": 25.0, "source_via_tracker": None, "posed_by": "tracked fit", "binned_by": "tracked yaw"})
    assert "| 135 (tracked yaw) | 0 | - | - | - |" in table
    assert [b["frames"] for b in bin_rows(rows, "known")] == [1, 3, 0, 0, 1]
    assert bins[45]["uncovered"] is None  # rows without coverage: no mean, a dash in the table
    rows[1].update(uncovered=0.1, outside=0.3)
    rows[2].update(uncovered=0.2, outside=0.1)
    bins = {b["bin"]: b for b in bin_rows(rows)}
    assert bins[45]["uncovered"] == pytest.approx(0.15) and bins[45]["outside"] == pytest.approx(0.2)
    table = format_table({"bins": bin_rows(rows), "rows": rows, "decoder": "projection", "source": 0, "frames": 24,
                          "input_view_psnr": 25.0, "source_via_tracker": None, "posed_by": "tracked fit", "binned_by": "tracked yaw"})
    assert "| 45 (tracked yaw) | 2 | 17.00 | 0.650 | 0.200 | 15.0 | 20.0 |" in table


def test_coverage_counts_the_mask_left_empty_and_the_avatar_outside_it():
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:15] = True  # 100 pixels
    alpha = np.zeros((20, 30), np.float32)
    alpha[5:15, 7:17] = 0.5  # the same square two columns to the right; opacity 0.5 counts as drawn
    assert coverage(alpha, mask) == (0.2, 0.2)
    alpha[5:15, 7:17] = 0.49  # just under: nothing drawn
    assert coverage(alpha, mask) == (1.0, 0.0)
    assert all(math.isnan(v) for v in coverage(alpha, np.zeros_like(mask)))


def test_masked_stlpips_ignores_what_is_outside_the_mask():
    rng = np.random.default_rng(0)
    target = rng.random((64, 48, 3)).astype(np.float32)
    render = target.copy()
    render[:, :8] = 0.0  # differs only outside the mask
    mask = np.zeros((64, 48), bool)
    mask[10:50, 12:40] = True
    assert masked_stlpips(render, target, mask) == pytest.approx(0.0, abs=1e-5)
    assert math.isnan(masked_stlpips(render, target, np.zeros_like(mask)))
