"""The regime rule on synthetic detections (no MediaPipe): a standing body framed at several heights."""

from __future__ import annotations

import numpy as np
import pytest
from float_bounds import U64

from uvatar.detect import BODY_INDEX, Detections, classify_regime
from uvatar.detect.regime import _segment_in_frame

# A standing person 1000 px tall (y of each joint), 300 px wide at the shoulders, centred at x=500.
JOINT_Y = {"nose": 80, "shoulder": 200, "hip": 500, "knee": 720, "ankle": 930}
JOINT_DX = {"shoulder": 150, "hip": 90, "knee": 80, "ankle": 70}


def standing(height: int, knee_vis: float = 0.9, ankle_vis: float = 0.9, mask_legs: bool | None = None, face_h: float | None = None) -> Detections:
    """Detections of the standing person in a 1000 x ``height`` frame (the frame cuts at y=height)."""
    body = np.zeros((33, 2), np.float32)
    body[:, 0] = 500
    body[:11, 1] = JOINT_Y["nose"]
    for joint, dx in JOINT_DX.items():
        for side, sign in (("left", 1), ("right", -1)):
            body[BODY_INDEX[f"{side}_{joint}"]] = (500 + sign * dx, JOINT_Y[joint])
    body[BODY_INDEX["left_wrist"] : BODY_INDEX["right_thumb"] + 1, 1] = 480
    for i in (29, 30, 31, 32):
        body[i, 1] = 960
    in_frame = body[:, 1] < height
    vis = np.where(in_frame, 0.95, 0.05).astype(np.float32)
    for side in ("left", "right"):
        if in_frame[BODY_INDEX[f"{side}_knee"]]:
            vis[BODY_INDEX[f"{side}_knee"]] = knee_vis
        if in_frame[BODY_INDEX[f"{side}_ankle"]]:
            vis[BODY_INDEX[f"{side}_ankle"]] = ankle_vis
    mask = None
    if mask_legs is not None:
        mask = np.zeros((height, 1000), np.float32)
        mask[:min(height, 500), 350:650] = 1
        if mask_legs:
            mask[500:, 400:600] = 1
    face = None
    if face_h is not None:
        face = np.zeros((478, 2), np.float32) + [500, 60]
        face[0, 1], face[1, 1] = 60 - face_h * height / 2, 60 + face_h * height / 2
    return Detections(
        image_size=(1000, height),
        body=body,
        body_z=np.zeros(33),
        body_visibility=vis,
        body_in_frame=in_frame,
        box=np.array([0, 0, 1000, height]),
        mask=mask,
        face=face,
        face_z=None if face is None else np.zeros(478),
    )


@pytest.mark.parametrize(
    "height, regime, extent",
    [
        (230, "head", None),  # shoulders and a sliver of chest
        (330, "head", None),  # upper chest: 43% of the torso
        (450, "half", "waist"),  # 83% of the torso
        (540, "half", "waist"),
        (640, "half", "thigh"),
        (740, "half", "knee"),  # knees just in frame, shin cut
        (840, "full", None),  # 57% of the shin
        (1000, "full", None),
    ],
)
def test_standing_body_framed_at_height(height, regime, extent):
    d = classify_regime(standing(height))
    assert (d.regime, d.lower_extent) == (regime, extent), d.reason


def test_shoulders_out_of_frame_is_head():
    assert classify_regime(standing(190)).regime == "head"


def test_dominant_face_is_head_even_with_torso_in_frame():
    d = classify_regime(standing(540, face_h=0.4))
    assert d.regime == "head" and "face" in d.reason


def test_hidden_knees_need_the_mask():
    # A long coat lowers knee visibility: the mask over the shins still says "legs seen".
    assert classify_regime(standing(1000, knee_vis=0.3, ankle_vis=0.3, mask_legs=True)).regime == "full"
    # Legs hidden (behind a desk): neither visibility nor mask -> half, although the frame reaches the feet.
    d = classify_regime(standing(1000, knee_vis=0.3, ankle_vis=0.3, mask_legs=False))
    assert d.regime == "half", d.reason
    # Without a mask, low knee visibility alone is not enough for full either.
    assert classify_regime(standing(1000, knee_vis=0.3, ankle_vis=0.3)).regime == "half"


def test_segment_in_frame_closed_form():
    size = (100, 100)
    # float64 clipping of whole-number segments: a quotient and a difference of values in [0, 1], <= 2u
    # (was the default approx, rel 1e-6)
    tol = 2 * U64
    assert _segment_in_frame(np.array([50.0, 50.0]), np.array([50.0, 150.0]), size) == pytest.approx(0.5, rel=0, abs=tol)
    assert _segment_in_frame(np.array([10.0, 10.0]), np.array([90.0, 90.0]), size) == pytest.approx(1.0, rel=0, abs=tol)
    assert _segment_in_frame(np.array([-50.0, 50.0]), np.array([-10.0, 50.0]), size) == 0.0
    assert _segment_in_frame(np.array([-100.0, 50.0]), np.array([100.0, 50.0]), size) == pytest.approx(0.5, rel=0, abs=tol)
