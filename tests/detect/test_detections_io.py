"""Detections: validation, JSON round trip, safetensors save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uvatar.detect import BODY_LANDMARKS, HAND_LANDMARKS, Detections
from uvatar.errors import InputError


def make(with_optional: bool = True) -> Detections:
    rng = np.random.default_rng(1)
    W, H = 64, 48
    opt = {}
    if with_optional:
        opt = dict(
            body_world=rng.normal(size=(33, 3)),
            face=rng.random((478, 2)) * [W, H],
            face_z=rng.normal(size=478),
            left_hand=rng.random((21, 2)) * [W, H],
            left_hand_z=rng.normal(size=21),
            left_hand_score=0.75,
            mask=rng.random((H, W)),
            face_detection=[3, 4, 20, 22, 0.9],
        )
    return Detections(
        image_size=(W, H),
        body=rng.random((33, 2)) * [W, H],
        body_z=rng.normal(size=33),
        body_visibility=rng.random(33),
        body_in_frame=rng.random(33) > 0.5,
        box=np.array([1, 2, 30, 40]),
        n_people=2,
        confidence_used=0.3,
        detect_scale=0.5,
        warnings=["2 people in the photo; fitting the main (largest, most central) one"],
        **opt,
    )


def assert_same(a: Detections, b: Detections):
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y), name
        else:
            assert x == y, name


def test_landmark_names():
    assert len(BODY_LANDMARKS) == 33 and BODY_LANDMARKS[0] == "nose" and BODY_LANDMARKS[-1] == "right_foot_index"
    assert BODY_LANDMARKS[11:13] == ("left_shoulder", "right_shoulder")
    assert len(HAND_LANDMARKS) == 21
    import mediapipe as mp

    assert BODY_LANDMARKS == tuple(p.name.lower() for p in mp.solutions.holistic.PoseLandmark)


@pytest.mark.parametrize("with_optional", [True, False])
def test_json_round_trip(with_optional):
    det = make(with_optional)
    text = json.dumps(det.to_dict())
    back = Detections.from_dict(json.loads(text))
    assert_same(det, back)
    assert back.body.dtype == np.float32 and back.body_in_frame.dtype == bool


def test_to_dict_without_mask():
    d = make().to_dict(include_mask=False)
    assert d["mask"] is None and Detections.from_dict(d).mask is None


@pytest.mark.parametrize("with_optional", [True, False])
def test_save_load_round_trip(tmp_path, with_optional):
    det = make(with_optional)
    path = tmp_path / "det.safetensors"
    det.save(path)
    assert_same(det, Detections.load(path))
    assert [p.name for p in tmp_path.iterdir()] == ["det.safetensors"]  # no temporary left behind


def test_validation_errors(tmp_path):
    d = make().to_dict()
    d["body"] = d["body"][:10]
    with pytest.raises(InputError, match="body must have shape"):
        Detections.from_dict(d)
    d = make().to_dict()
    d["mask"] = np.zeros((10, 10)).tolist()
    with pytest.raises(InputError, match="mask must have shape"):
        Detections.from_dict(d)
    with pytest.raises(InputError, match="unknown Detections fields"):
        Detections.from_dict({**make().to_dict(), "bogus": 1})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError):
        Detections.load(bad)
    with pytest.raises(InputError, match="does not exist"):
        Detections.load(tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="unknown body landmark"):
        make().landmark("left_toe")
