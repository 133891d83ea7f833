"""Metrics of the video-tracking evaluation on closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from uvatar.eval.video_tracking import joint_jitter, turn_report


def test_jitter_is_zero_for_constant_velocity_and_the_second_difference_otherwise():
    t = np.arange(6, dtype=np.float64)[:, None, None]
    linear = np.concatenate([t * 0.01, 2 * t, np.zeros_like(t)], -1)  # (6, 1, 3)
    assert joint_jitter(linear) == pytest.approx(0.0, abs=1e-12)
    bumped = linear.copy()
    bumped[3, 0, 2] = 0.5  # one frame off by 0.5: second differences 0.5, -1, 0.5 around it
    assert joint_jitter(bumped) == pytest.approx((0.5 + 1.0 + 0.5) / 4)
    valid = np.ones(6, bool)
    valid[3] = False  # triples through an untracked frame do not count
    assert joint_jitter(bumped, valid) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(joint_jitter(linear[:2]))


def test_turn_report_flags_a_step_back():
    assert turn_report(np.array([0, -15, -30, -45]))["monotonic"]
    report = turn_report(np.array([0, 15, 30, 20, 60]))
    assert not report["monotonic"] and report["reversals"] == 1 and report["total_deg"] == 60
