import torch
from body_helpers import random_params

from uvatar.body.keypoints import MEDIAPIPE33_NAMES, MEDIAPIPE33_SOURCES


def test_every_mediapipe_landmark_has_a_source():
    assert len(MEDIAPIPE33_NAMES) == 33 and set(MEDIAPIPE33_SOURCES) == set(MEDIAPIPE33_NAMES)


def test_mediapipe_points_are_anatomically_placed(body):
    out = body.forward(body.default_params(1))
    points = body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0]
    p = dict(zip(MEDIAPIPE33_NAMES, points))
    assert p["left_shoulder"][0] > 0 > p["right_shoulder"][0]  # person's left at +X
    assert p["nose"][2] > p["mouth_left"][2] > p["left_shoulder"][2] > p["left_hip"][2] > p["left_knee"][2] > p["left_ankle"][2]
    assert p["nose"][1] < p["left_ear"][1]  # the face looks along -Y
    assert abs(p["left_eye_inner"][0]) < abs(p["left_eye"][0]) < abs(p["left_eye_outer"][0])
    # symmetric on the symmetric rest body: a model property (measured <= 0.29 mm), 1 cm allows for the
    # landmark definitions' own asymmetries, not a float bound
    for name in MEDIAPIPE33_NAMES:
        if name.startswith("left_"):
            mirror = p[name.replace("left_", "right_")] * torch.tensor([-1.0, 1.0, 1.0])
            assert (mirror - p[name]).norm() < 0.01, name


def test_keypoints_follow_pose(body):
    params = random_params(body, 2, seed=7)
    out = body.forward(params)
    points = body.keypoints.mediapipe33(out.vertices, out.bone_poses)
    assert points.shape == (2, 33, 3) and torch.isfinite(points).all()
    assert (points[0] - points[1]).norm(dim=-1).mean() > 0.05  # two random poses (measured 1.42 m apart)


def test_hand_points_lie_along_the_fingers(body):
    out = body.forward(body.default_params(1))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        hand = body.keypoints.hand21(out.vertices, out.bone_poses, side)[0]
        # out at the side of the body (measured |x| >= 0.41 m; anatomy, not a float bound)
        assert hand.shape == (21, 3) and (hand[:, 0] * sign > 0.3).all()
        for finger in range(5):
            base, tip = hand[1 + 4 * finger], hand[4 + 4 * finger]
            wrist = hand[0]
            assert (tip - wrist).norm() > (base - wrist).norm()  # each finger's tip is further out than its base
        assert 0.05 < (hand[12] - hand[0]).norm() < 0.25  # middle fingertip to wrist: a hand's length (0.18 m)
