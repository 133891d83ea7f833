"""Which way is up, from the head axis of the pose landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from uvatar.detect.detections import BODY_LANDMARKS
from uvatar.detect.orientation import turn_image, upright_turns


class _Det:
    def __init__(self, nose, shoulders, visibility=1.0):
        self.body = np.zeros((33, 2), np.float32)
        self.body_visibility = np.full(33, visibility, np.float32)
        self.body[BODY_LANDMARKS.index("nose")] = nose
        self.body[BODY_LANDMARKS.index("left_shoulder")] = shoulders[0]
        self.body[BODY_LANDMARKS.index("right_shoulder")] = shoulders[1]


def _upright_det(angle_deg: float) -> _Det:
    """An upright person (nose 60 px above the shoulders' middle) turned by ``angle_deg`` (image y down)."""
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = np.array([200.0, 200.0])
    nose, left, right = (centre + rot @ np.array(p) for p in ([0, -60], [40, 0], [-40, 0]))
    return _Det(nose, (left, right))


@pytest.mark.parametrize("angle, turns", [(0, 0), (30, 0), (-40, 0), (90, 1), (180, 2), (-90, 3), (170, 2), (100, 1)])
def test_turns_from_the_head_axis(angle, turns):
    assert upright_turns(_upright_det(angle)) == turns


def test_turning_by_the_answer_stands_the_landmarks_upright():
    image = np.zeros((300, 400, 3), np.float32)
    for turns in range(4):
        turned = turn_image(image, turns)
        assert turned.flags.c_contiguous and turned.shape[:2] == ((300, 400) if turns % 2 == 0 else (400, 300))
    # np.rot90 by k=1 moves the image's right edge to the top: a head pointing right ends up on top
    marked = np.zeros((3, 5), np.float32)
    marked[1, 4] = 1.0  # a point at the right edge
    assert turn_image(marked, 1)[0].max() == 1.0


def test_invisible_landmarks_tell_nothing():
    det = _upright_det(180)
    det.body_visibility[:] = 0.2
    assert upright_turns(det) == 0
