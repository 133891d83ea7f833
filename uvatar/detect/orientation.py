"""Which way is up: a photo whose pixels are turned (upside down, or on its side, with no EXIF tag
saying so) is turned back before fitting.

MediaPipe's pose still finds a person in a turned photo, with the landmarks where they are: an upside-down
person has the nose BELOW the shoulders. The head axis (shoulder midpoint to nose) says how far the photo
is turned, in quarter turns; a tilt of less than 45 degrees is a tilted head, not a turned photo.
"""

from __future__ import annotations

import math

import numpy as np

from uvatar.detect.detections import BODY_LANDMARKS, Detections

__all__ = ["upright_turns", "turn_image"]

_NOSE = BODY_LANDMARKS.index("nose")
_SHOULDERS = [BODY_LANDMARKS.index("left_shoulder"), BODY_LANDMARKS.index("right_shoulder")]
MIN_VISIBILITY = 0.5  # landmarks MediaPipe itself rates as probably visible


def upright_turns(det: Detections) -> int:
    """Counter-clockwise quarter turns (``np.rot90``'s ``k``) that stand the person upright: 0 for an
    upright (or tilted by less than 45 degrees) person, 2 upside down, 1 head pointing right, 3 left.
    0 when the nose or a shoulder is not visible (nothing to tell by)."""
    points = [_NOSE, *_SHOULDERS]
    if np.any(det.body_visibility[points] < MIN_VISIBILITY):
        return 0
    head = det.body[_NOSE] - det.body[_SHOULDERS].mean(0)  # image pixels, y down
    if not np.all(np.isfinite(head)) or float(np.hypot(*head)) == 0.0:
        return 0
    angle = math.degrees(math.atan2(float(head[0]), float(-head[1])))  # 0 = up, 90 = right, +-180 = down
    return round(angle / 90.0) % 4  # 0 up, 1 right (turn it left once), 2 down, 3 left


def turn_image(image: np.ndarray, turns: int) -> np.ndarray:
    """``image (H, W, ...)`` turned counter-clockwise by ``turns`` quarter turns (a contiguous copy)."""
    return np.ascontiguousarray(np.rot90(image, turns % 4))
