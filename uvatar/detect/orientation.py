"""Which way is up: a photo whose pixels are turned (upside down, or on its side, with no EXIF tag
saying so) is turned back before fitting.

MediaPipe's pose still finds a person in a turned photo, with the landmarks where they are: an upside-down
person has the nose BELOW the shoulders. The head axis (shoulder midpoint to nose) says how far the photo
is turned, in quarter turns. The torso (hips to shoulders) says it best where the hips are seen; the
head axis (shoulders to nose) is used only without them, since a profile's nose points sideways.
"""

from __future__ import annotations

import math

import numpy as np

from uvatar.detect.detections import BODY_LANDMARKS, Detections

__all__ = ["upright_turns", "turn_image"]

_NOSE = BODY_LANDMARKS.index("nose")
_SHOULDERS = [BODY_LANDMARKS.index("left_shoulder"), BODY_LANDMARKS.index("right_shoulder")]
_HIPS = [BODY_LANDMARKS.index("left_hip"), BODY_LANDMARKS.index("right_hip")]
MIN_VISIBILITY = 0.5  # landmarks MediaPipe itself rates as probably visible
CLEAR_DEG = 30.0  # the axis must lie this close to a quarter turn: a profile's head axis (~50 deg) is no turn


def upright_turns(det: Detections) -> int:
    """Counter-clockwise quarter turns (``np.rot90``'s ``k``) that stand the person upright: 0 for an
    upright person, 2 upside down, 1 body pointing right, 3 left.

    The axis is the torso's (hips to shoulders) when the hips are visible, else the head's (shoulders to
    nose: a profile's nose points sideways, so it is only used for head-and-shoulders photos). A turn is
    taken only when the axis lies within :data:`CLEAR_DEG` of a quarter turn other than up; a leaning or
    tilted person, or nothing visible to tell by, gives 0.
    """
    shoulders = det.body[_SHOULDERS].mean(0)
    if np.all(det.body_visibility[_HIPS] >= MIN_VISIBILITY) and np.all(det.body_visibility[_SHOULDERS] >= MIN_VISIBILITY):
        axis = shoulders - det.body[_HIPS].mean(0)
    elif np.all(det.body_visibility[[_NOSE, *_SHOULDERS]] >= MIN_VISIBILITY):
        axis = det.body[_NOSE] - shoulders
    else:
        return 0
    if not np.all(np.isfinite(axis)) or float(np.hypot(*axis)) == 0.0:
        return 0
    angle = math.degrees(math.atan2(float(axis[0]), float(-axis[1])))  # 0 = up, 90 = right, +-180 = down
    quarter = round(angle / 90.0)
    if abs(angle - 90.0 * quarter) > CLEAR_DEG:
        return 0
    return quarter % 4  # 0 up, 1 right (turn it left once), 2 down, 3 left


def turn_image(image: np.ndarray, turns: int) -> np.ndarray:
    """``image (H, W, ...)`` turned counter-clockwise by ``turns`` quarter turns (a contiguous copy)."""
    return np.ascontiguousarray(np.rot90(image, turns % 4))
