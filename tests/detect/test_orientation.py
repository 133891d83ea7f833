"""Which way is up, from the torso axis (or the head axis without hips) of the pose landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from uvatar.detect.detections import BODY_LANDMARKS
from uvatar.detect.orientation import turn_image, upright_turns

_NAMES = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip")


class _Det:
    def __init__(self, points: dict, hips_visible: bool = True):
        self.body = np.zeros((33, 2), np.float32)
        self.body_visibility = np.zeros(33, np.float32)
        for name, point in points.items():
            self.body[BODY_LANDMARKS.index(name)] = point
            self.body_visibility[BODY_LANDMARKS.index(name)] = 1.0 if hips_visible or "hip" not in name else 0.1


def _person(angle_deg: float, nose=(0.0, -60.0), hips_visible: bool = True) -> _Det:
    """An upright person (shoulders at y = 0, hips 150 px below, the nose at ``nose``) turned by
    ``angle_deg`` about the shoulders' middle (image y down)."""
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    upright = {"nose": nose, "left_shoulder": (40, 0), "right_shoulder": (-40, 0), "left_hip": (25, 150), "right_hip": (-25, 150)}
    return _Det({k: np.array([200.0, 200.0]) + rot @ np.array(v, dtype=float) for k, v in upright.items()}, hips_visible)


@pytest.mark.parametrize("angle, turns", [(0, 0), (25, 0), (-25, 0), (90, 1), (180, 2), (-90, 3), (170, 2), (100, 1), (65, 1), (45, 0), (-55, 0)])
def test_turns_from_the_torso_axis(angle, turns):
    # within 30 degrees of a quarter turn: that turn; between (45, -55): a leaning person, no turn
    assert upright_turns(_person(angle)) == turns


def test_a_profile_is_not_a_turned_photo():
    """A person seen from the side: the nose points sideways (the head axis ~50 degrees off), the torso up."""
    profile = _person(0.0, nose=(-77.0, -66.0))
    assert upright_turns(profile) == 0
    # without hips (a head-and-shoulders photo) the head axis decides, and 50 degrees is not clearly a turn
    assert upright_turns(_person(0.0, nose=(-77.0, -66.0), hips_visible=False)) == 0
    assert upright_turns(_person(180.0, hips_visible=False)) == 2


def test_turning_by_the_answer_stands_the_image_upright():
    image = np.zeros((300, 400, 3), np.float32)
    for turns in range(4):
        turned = turn_image(image, turns)
        assert turned.flags.c_contiguous and turned.shape[:2] == ((300, 400) if turns % 2 == 0 else (400, 300))
    # np.rot90 by k=1 moves the image's right edge to the top: a body pointing right ends up upright
    marked = np.zeros((3, 5), np.float32)
    marked[1, 4] = 1.0  # a point at the right edge
    assert turn_image(marked, 1)[0].max() == 1.0


def test_invisible_landmarks_tell_nothing():
    det = _person(180)
    det.body_visibility[:] = 0.2
    assert upright_turns(det) == 0


def test_the_real_profile_photo_stays_as_it_is(shared_dir):
    """pexels_anete_lusina_4793258_side: an upright person in profile (the head axis alone said 270)."""
    from uvatar.detect import detect
    from uvatar.io.image import load_image

    image = load_image(shared_dir / "realdata/full/pexels_anete_lusina_4793258_side.jpg").rgb
    assert upright_turns(detect(image)) == 0
    assert upright_turns(detect(turn_image(image, 1))) == 3
