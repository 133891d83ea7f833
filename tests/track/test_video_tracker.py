"""The video tracker: its pieces on exact inputs, and a rendered clip with known truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import roma
import torch

from uvatar.body.keypoints import MEDIAPIPE33_NAMES, MEDIAPIPE33_SOURCES
from uvatar.detect.detections import BODY_INDEX, BODY_LANDMARKS, Detections
from uvatar.track.fit import temporal_terms
from uvatar.track.video import MIRROR, VideoTrackConfig, _nearest_rotvec, _wrap_rotvec, root_yaw_deg, swap_sides


def _det(seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    return Detections(
        image_size=(64, 48), body=rng.uniform(0, 48, (33, 2)), body_z=rng.normal(size=33), body_visibility=rng.uniform(size=33),
        body_in_frame=rng.uniform(size=33) > 0.3, box=np.array([1, 2, 40, 45]), left_hand=rng.uniform(0, 40, (21, 2)),
        left_hand_score=0.7,
    )  # fmt: skip


def test_swap_sides_exchanges_left_and_right_and_undoes_itself():
    det = _det()
    swapped = swap_sides(det)
    for name, i in BODY_INDEX.items():
        partner = name.replace("left_", "right_") if name.startswith("left_") else name.replace("right_", "left_")
        assert np.array_equal(swapped.body[BODY_INDEX[partner]], det.body[i])
        assert swapped.body_in_frame[BODY_INDEX[partner]] == det.body_in_frame[i]
    assert swapped.right_hand is det.left_hand and swapped.left_hand is None and swapped.right_hand_score == 0.7
    again = swap_sides(swapped)
    assert np.array_equal(again.body, det.body) and np.array_equal(again.body_visibility, det.body_visibility)
    assert MIRROR[BODY_INDEX["nose"]] == BODY_INDEX["nose"] and sorted(MIRROR) == list(range(len(BODY_LANDMARKS)))


def test_temporal_terms_are_the_finite_differences():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    history = [torch.tensor([[0.0, 1.0, 1.0]]), torch.tensor([[0.5, 1.5, 2.0]])]
    terms = temporal_terms(x, history, 2.0, 3.0)
    assert float(terms["velocity"]) == pytest.approx(2.0 * (0.25 + 0.25 + 1.0))
    assert float(terms["acceleration"]) == pytest.approx(0.0)  # constant velocity costs no acceleration
    assert temporal_terms(x, [], 1.0, 1.0) == {} and set(temporal_terms(x, history[:1], 1.0, 1.0)) == {"velocity"}


def test_root_rotation_stays_continuous_through_a_turn():
    import roma

    previous = torch.tensor([0.0, 0.0, math.radians(175)])
    turned = torch.tensor([0.0, 0.0, math.radians(-170)])  # 190 degrees, as roma would hand it back
    near = _nearest_rotvec(turned, previous)
    assert float(near[2]) == pytest.approx(math.radians(190), abs=1e-6)
    # the same rotation, wrapped back to an angle <= pi for output
    assert torch.allclose(roma.rotvec_to_rotmat(_wrap_rotvec(near)), roma.rotvec_to_rotmat(turned), atol=1e-6)
    assert float(_wrap_rotvec(near).norm()) <= math.pi + 1e-6
    assert root_yaw_deg(torch.tensor([0.0, 0.0, math.radians(30)])) == pytest.approx(30.0, abs=1e-6)


def test_a_body_facing_away_keeps_only_a_half_weight_nose_of_its_face_points():
    from uvatar.track.video import _FACE_POINTS, AWAY_NOSE_WEIGHT, _without_face

    det = dataclasses.replace(_det(1), face=np.zeros((478, 2), np.float32))
    away = _without_face(det)
    nose = BODY_INDEX["nose"]
    assert away.face is None and away.face_z is None
    assert away.body_visibility[nose] == pytest.approx(AWAY_NOSE_WEIGHT * det.body_visibility[nose])
    others = [i for i in _FACE_POINTS if i != nose]
    assert (away.body_visibility[others] == 0).all() and (det.body_visibility[others] > 0).all()  # the input is not changed
    ears = [BODY_INDEX["left_ear"], BODY_INDEX["right_ear"]]
    assert np.array_equal(away.body_visibility[ears], det.body_visibility[ears])


def test_bad_options_are_input_errors():
    from uvatar.errors import InputError

    with pytest.raises(InputError, match="regime"):
        VideoTrackConfig(regime="legs").validate()
    with pytest.raises(InputError, match="steps"):
        VideoTrackConfig(steps=0).validate()


@pytest.fixture(scope="module")
def turning_clip(body):
    pytest.importorskip("mediapipe")
    from tests.track.synthetic_clip import make_clip

    return make_clip(body)


@pytest.fixture(scope="module")
def tracked_clip(body, turning_clip):
    from uvatar.track.video import track_video

    config = VideoTrackConfig(fov_deg=turning_clip.fov_deg)
    return list(track_video(iter(turning_clip.frames), body, config))


def _camera_joints(body, fit) -> np.ndarray:
    with torch.no_grad():
        world = body.keypoints.coco(body.forward(fit.params).vertices)[0].double().numpy()
    return world @ fit.camera.R.double().numpy().T + fit.camera.t.double().numpy()


@pytest.mark.slow
def test_synthetic_turn_is_tracked_with_one_shape_bounded_error_and_no_side_swap(body, turning_clip, tracked_clip):
    clip = turning_clip
    labels = body.keypoints.coco_labels
    hips = [labels.index("left_hip"), labels.index("right_hip")]
    tracked = [f for f in tracked_clip if f.fit is not None]
    # MediaPipe must find the rendered person, back views included (measured: every frame)
    assert len(tracked) >= 0.9 * len(clip.frames)
    shapes = torch.cat([f.fit.params.phenotypes for f in tracked])
    assert torch.equal(shapes, shapes[:1].expand_as(shapes))  # one shape, held
    mpjpe, jitter_pairs = [], []
    lateral = {"left": [labels.index("left_shoulder"), labels.index("left_hip")], "right": [labels.index("right_shoulder"), labels.index("right_hip")]}
    for f in tracked:
        fitted = _camera_joints(body, f.fit)
        truth = clip.joints_cam[f.index]
        fitted_rel = fitted - fitted[hips].mean(0)
        truth_rel = truth - truth[hips].mean(0)
        mpjpe.append(1000 * np.linalg.norm(fitted_rel - truth_rel, axis=-1).mean())
        # no side swap: the fitted body's left-right axis points the truth's way
        side = lambda j: j[lateral["left"]].mean(0) - j[lateral["right"]].mean(0)  # noqa: E731
        assert side(fitted_rel) @ side(truth_rel) > 0, f"frame {f.index}: left and right swapped"
        jitter_pairs.append((f.index, fitted_rel))
    mpjpe = np.array(mpjpe)
    # root-relative MPJPE in the camera frame, mm: measured median 118, max 153 (the side and back views of
    # the turn are the worst, 130-153; front frames 56-88); with the dense flow term (w_flow 1, off in back
    # views) median 111, max 147 (107 and 162 without it, same code); with the neck's bound and its prior in
    # back views (35da23b) median 98, max 127; bounds with ~35% margin over the earlier figures
    assert np.median(mpjpe) < 160 and mpjpe.max() < 210, mpjpe.round(0)
    # the turn: the unwrapped root yaw goes round with the truth, with no step back that a swap would make
    # (180 degrees). Measured: 290 of the truth's 349 degrees (the fit lags over the first, frontal third
    # of the turn), one step back of 8 degrees (frame 27); with the flow term 297, no step back (smallest
    # step +2.6); bounds with margin
    yaw = np.array([f.yaw_deg for f in tracked])
    turn = yaw[-1] - yaw[0]
    truth_turn = clip.yaw_deg[tracked[-1].index] - clip.yaw_deg[tracked[0].index]
    assert 240 < turn < 400, (turn, truth_turn)
    steps = np.diff(yaw)
    assert (steps > -20.0).all(), steps.round(1)
    # the head turns with the body: measured at most 30 degrees on the neck (143 before the neck's bound and
    # its prior in back views: the head stayed facing the camera while the body turned away)
    from uvatar.track.fit import FREE_BONES, neck_angle

    neck = [body.bone_index(b) for b in FREE_BONES["head"]]
    necks = np.degrees([float(neck_angle(f.fit.params.rotvecs[0, neck])) for f in tracked])
    assert necks.max() < 60.0, necks.round(0)
    # jitter: mean |acceleration| of root-relative joints, bounded against the truth's own
    from uvatar.eval.video_tracking import joint_jitter

    index = [i for i, _ in jitter_pairs]
    assert index == list(range(index[0], index[0] + len(index)))
    fitted_j = 1000 * joint_jitter(np.array([j for _, j in jitter_pairs]))
    truth_rel = clip.joints_cam - clip.joints_cam[:, hips].mean(1, keepdims=True)
    truth_j = 1000 * joint_jitter(truth_rel[index])
    # mm/frame^2: measured 33.4 against the truth's own 10.1 (the swinging arms), 36.2 with the flow term
    # (38.8 without it, same code); bound with ~50% margin on the excess
    assert fitted_j < truth_j + 35.0, (fitted_j, truth_j)


def _silhouette(body, params, camera) -> np.ndarray:
    """``(H, W)`` float32 person mask of the posed body: its vertices' pixels, closed over the gaps between
    them (the mesh's edges are under 2 cm, a few pixels here)."""
    from scipy import ndimage

    with torch.no_grad():
        pixels, _ = camera.project(body.forward(params).vertices[0])
    xy = np.floor(pixels.numpy()).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < camera.width) & (xy[:, 1] >= 0) & (xy[:, 1] < camera.height)
    mask = np.zeros((camera.height, camera.width), bool)
    mask[xy[inside, 1], xy[inside, 0]] = True
    return ndimage.binary_closing(mask, iterations=3, border_value=0).astype(np.float32)


def _stub_detector(body, camera, truths: list, hidden: tuple[str, ...] = (), masks: bool = False):
    """A stand-in for MediaPipe's VideoDetector: the k-th call sees the landmarks of ``truths[k]`` (the last
    one from then on), all visible but ``hidden`` (BODY_LANDMARKS names: visibility 0), projected by
    ``camera``; with ``masks``, the truth's silhouette as the person mask."""
    visibility = np.ones(33, np.float32)
    visibility[[BODY_INDEX[n] for n in hidden]] = 0.0
    calls = iter(range(1_000_000))

    class StubDetector:
        def __init__(self, max_side, masks=True):
            pass

        def close(self):
            pass

        def __call__(self, frame):
            truth = truths[min(next(calls), len(truths) - 1)]
            with torch.no_grad():
                out = body.forward(truth)
                pixels, _ = camera.project(body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0])
            points = pixels.numpy().astype(np.float32)
            lo, hi = points.min(0), points.max(0)
            return Detections(image_size=(camera.width, camera.height), body=points, body_z=np.zeros(33, np.float32), body_visibility=visibility.copy(),
                              body_in_frame=np.ones(33, bool), box=np.concatenate([lo, hi]).astype(np.float32),
                              mask=_silhouette(body, truth, camera) if masks else None)  # fmt: skip

    return StubDetector


def test_anchor_frame_keeps_the_given_fit_and_the_track_starts_from_it(body, monkeypatch):
    """With ``anchor``, the first frame is the given fit exactly (e.g. an avatar's photo fit of it) and the
    next frame is refined from it, not re-initialised; stub detections project a known body."""
    import uvatar.detect
    from uvatar.track.fit import photo_camera
    from uvatar.track.video import track_video

    width, height = 480, 640
    camera = photo_camera(width, height)
    truth = body.default_params(1)
    truth.translation[0] = torch.tensor([0.0, 3.0, -0.1])
    truth.rotvecs[0, 0] = torch.tensor([0.0, 0.0, 0.3])

    monkeypatch.setattr(uvatar.detect, "VideoDetector", _stub_detector(body, camera, [truth]))
    anchor = truth.detach()
    anchor.rotvecs[0, 0, 2] += 0.15  # a fit a little off the landmarks: kept as given on its own frame
    frames = [np.zeros((height, width, 3), np.uint8)] * 3
    config = VideoTrackConfig(regime="half", shape_window=1, detect_worker=False)  # the stub detects in this process
    tracked = list(track_video(iter(frames), body, config, anchor=anchor))
    assert torch.equal(tracked[0].fit.params.rotvecs, anchor.rotvecs) and torch.equal(tracked[0].fit.params.translation, anchor.translation)
    assert torch.equal(tracked[0].fit.params.phenotypes, anchor.phenotypes)  # the anchor's shape held
    assert not any(f.reinit for f in tracked)
    # the next frames move from the anchor (0.45 rad) towards the landmarks' yaw (0.3 rad)
    yaws = [float(f.fit.params.rotvecs[0, 0, 2]) for f in tracked]
    assert 0.3 - 0.02 < yaws[2] < yaws[1] < yaws[0], yaws
    from uvatar.errors import InputError

    with pytest.raises(InputError, match="anchor"):
        list(track_video(iter(frames), body, config, anchor=body.default_params(2)))


def test_silhouette_term_moves_an_arm_the_landmarks_do_not_see(body, monkeypatch):
    """A full-body clip whose left elbow, wrist and hand landmarks are missing (visibility 0) while the person
    mask shows the arm raised: the track starts from the truth with that arm lowered (the anchor) and
    only the silhouette term can raise it."""
    import uvatar.detect
    from uvatar.track.fit import photo_camera
    from uvatar.track.video import track_video

    width, height = 480, 640
    camera = photo_camera(width, height)
    truth = body.default_params(1)
    truth.translation[0] = torch.tensor([0.0, 4.0, -0.1])
    raised = body.bone_index("upperarm01.L")
    truth.rotvecs[0, raised] = torch.tensor([-0.8, 0.0, 0.0])  # from the rest A-pose up to the horizontal
    anchor = truth.detach()
    anchor.rotvecs[0, raised] = torch.tensor([0.0, 0.0, 0.0])
    hidden = ("left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb")
    frames = [np.zeros((height, width, 3), np.uint8)] * 4

    def wrist_error(w_silhouette: float) -> float:
        monkeypatch.setattr(uvatar.detect, "VideoDetector", _stub_detector(body, camera, [truth], hidden, masks=True))
        config = VideoTrackConfig(regime="full", shape_window=1, detect_worker=False, w_flow=0.0, w_silhouette=w_silhouette)
        last = list(track_video(iter(frames), body, config, anchor=anchor))[-1]
        labels = body.keypoints.coco_labels
        with torch.no_grad():
            fitted = body.keypoints.coco(body.forward(last.fit.params).vertices)[0, labels.index("left_wrist")]
            true = body.keypoints.coco(body.forward(truth).vertices)[0, labels.index("left_wrist")]
        return float((fitted - true).norm())

    without, with_term = wrist_error(0.0), wrist_error(1.0)
    # measured: 0.27 m without the term (the arm stays lowered), 0.06 m with it
    assert with_term < 0.5 * without, (without, with_term)


def test_subset_skinning_gives_the_full_bodys_landmarks_and_face_points(body):
    """The per-frame fit skins only the vertices its terms read and gets the COCO keypoints from the
    regressor contracted with the skinning weights: the vertex, bone and face points are the full
    forward pass's bit for bit (the same rows of the same products); the COCO ones agree with a float64
    evaluation of the full pass on the same float32 transforms within float32 rounding of the
    contracted sums (bound derived below), and the facial actions' effect on them is far above it."""
    from uvatar.body.face_map import face_points, load_face_correspondence
    from uvatar.track.video import _SubsetBody

    generator = torch.Generator().manual_seed(1)
    params = body.default_params(1)
    params.phenotypes = torch.rand(1, 6, generator=generator)
    params.rotvecs = 0.3 * torch.randn(params.rotvecs.shape, generator=generator)
    params.translation = torch.tensor([[0.1, 3.0, 0.2]])
    params.facial = 0.5 * torch.rand(1, 52, generator=generator)
    rest = body.rest_state(params.phenotypes)
    subset = _SubsetBody(body, rest, with_face=True)
    assert len(subset.index) < body.n_vertices // 4
    full = body.forward_from_rest(params, rest)
    vertices, bone_poses, coco = subset.forward(params)
    corr = load_face_correspondence()
    ours = body.keypoints.mediapipe33(vertices, bone_poses, coco=coco)
    theirs = body.keypoints.mediapipe33(full.vertices, full.bone_poses)
    from_coco = [i for i, name in enumerate(MEDIAPIPE33_NAMES) if MEDIAPIPE33_SOURCES[name].startswith("coco:")]
    others = [i for i in range(33) if i not in from_coco]
    assert torch.equal(ours[:, others], theirs[:, others])
    assert torch.equal(face_points(vertices, body.faces, corr), face_points(full.vertices, body.faces, corr))

    # float64 reference: the full skinning and regression of the float32 rest state, transforms and facial basis
    delta = torch.eye(4).repeat(1, body.n_bones, 1, 1)
    delta[..., :3, :3] = roma.rotvec_to_rotmat(params.rotvecs)
    transforms, _ = body._anny.get_bone_transforms(delta, rest.bone_poses)
    t64 = transforms[0, :, :3, :].double()  # (J, 3, 4)

    def coco64(facial):
        rest64 = rest.vertices[0].double() + torch.einsum("f,fvd->vd", facial[0].double(), body.facial_basis.double())
        blended = torch.einsum("vj,jrc->vrc", body.skinning_weight_matrix.double(), t64)
        skinned = torch.einsum("vrc,vc->vr", blended[..., :3], rest64) + blended[..., 3]
        return body.keypoints.coco_weights.double() @ (skinned + params.translation[0].double())

    reference = coco64(params.facial)
    # Error of the float32 evaluation: the contracted tables rounded once (u |M|), then sums of at most
    # n = 52 (facial actions) + 4 J (bones x homogeneous coordinate) + 4 terms (the two parts, the
    # translation's share): |error| <= gamma_n * (sum of the terms' magnitudes), gamma_n = n u / (1 - n u).
    u = 2.0**-24
    n = 52 + 4 * len(subset.bones) + 4
    gamma = n * u / (1 - n * u)
    rows = t64[subset.bones].abs()  # (Ju, 3, 4)
    magnitude = torch.einsum("kjc,jrc->kr", subset.coco_rest.double().abs(), rows)
    magnitude += torch.einsum("f,fkjc,jrc->kr", params.facial[0].double().abs(), subset.coco_facial.double().abs(), rows[..., :3])
    magnitude += params.translation[0].double().abs() * subset.coco_sums.double().abs()[:, None]
    bound = gamma * magnitude
    error = (coco[0].double() - reference).abs()
    assert bool((error <= bound).all()), float((error - bound).max())
    facial_effect = (reference - coco64(torch.zeros_like(params.facial))).abs().max()
    assert facial_effect > 5 * bound.max(), (float(facial_effect), float(bound.max()))

    # the extra vertices (the flow and silhouette terms'), skinned when a call asks for them: against the
    # float64 skinning of the same float32 inputs, within gamma_n of the summed magnitudes (n: 52 facial
    # actions, then 4 J products and sums of the blend, the translation)
    extra_ids = torch.arange(0, body.n_vertices, 7)
    with_extra = _SubsetBody(body, rest, with_face=True, extra=extra_ids)
    asked = extra_ids[::3]
    skinned, _, _ = with_extra.forward(params, with_extra.gather(asked))
    rest64 = rest.vertices[0, asked].double() + torch.einsum("f,fvd->vd", params.facial[0].double(), body.facial_basis[:, asked].double())
    blended = torch.einsum("vj,jrc->vrc", body.skinning_weight_matrix[asked].double(), t64)
    truth64 = torch.einsum("vrc,vc->vr", blended[..., :3], rest64) + blended[..., 3] + params.translation[0].double()
    summed = rest.vertices[0, asked].double().abs() + torch.einsum("f,fvd->vd", params.facial[0].double().abs(), body.facial_basis[:, asked].double().abs())
    homogeneous = torch.cat([summed, torch.ones(len(asked), 1, dtype=torch.float64)], -1)  # magnitudes of the rest point's sums
    n = 52 + 4 * body.n_bones + 2
    magnitude = torch.einsum("vj,jrc,vc->vr", body.skinning_weight_matrix[asked].double().abs(), t64.abs(), homogeneous) + params.translation[0].double().abs()
    error = (skinned[0, asked].double() - truth64).abs()
    bound = n * u / (1 - n * u) * magnitude
    assert bool((error <= bound).all()), float((error - bound).max())
    assert float(bound.max()) < 1e-3  # the bound is below a millimetre: a wrongly skinned vertex fails


def test_follow_gives_flow_targets_in_the_frames_pixels():
    """The tracker follows the previous fit's seen vertices on grey copies at the detection scale and
    hands the fit targets in the full frame's pixels (here twice the grey copy's size)."""
    import types

    import cv2

    from uvatar.track.video import _ClipTracker

    noise = np.random.default_rng(5).uniform(0, 255, (120, 160)).astype(np.float32)
    previous = np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 4 - 384, 0, 255).astype(np.uint8)
    current = np.roll(previous, (1, 2), axis=(0, 1)).copy()  # 2 px right, 1 px down on the grey copy
    ys, xs = np.meshgrid(np.arange(30, 90, 5), np.arange(30, 130, 5), indexing="ij")
    pixels = torch.tensor(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5, dtype=torch.float32)
    ids = torch.arange(len(pixels))
    tracker = types.SimpleNamespace(config=VideoTrackConfig())
    det = types.SimpleNamespace(image_size=(320, 240))
    followed = _ClipTracker._follow(tracker, (previous, ids, pixels), current, det)
    assert followed is not None
    kept_ids, targets = followed
    assert len(kept_ids) > 0.8 * len(ids)
    expected = (pixels[kept_ids] + torch.tensor([2.0, 1.0])) * 2.0
    # flow error under 0.3 px on the grey copy (tests/track/test_flow.py), doubled at the frame's scale
    assert float((targets - expected).abs().max()) < 0.6
    assert _ClipTracker._follow(tracker, None, current, det) is None
    assert _ClipTracker._follow(tracker, (previous, ids, pixels), current[:60], det) is None  # another size: no flow


def _turning_head(body, translations: list, turn: float) -> list:
    """One truth per ``translations (3,)`` entry: the reference body there, its head bone turned by
    ``turn`` radians more each frame."""
    head = body.bone_index("head")
    truths = []
    for k, translation in enumerate(translations):
        truth = body.default_params(1)
        truth.translation[0] = translation
        truth.rotvecs[0, head] = torch.tensor([0.0, 0.0, turn * k])
        truths.append(truth)
    return truths


def test_a_head_clip_holds_root_and_spine_where_the_frame_before_left_them(body, monkeypatch):
    """Below the neck nothing pins a head clip's body: the root and spine are held through the
    refinements (they drifted into a twisted torso when free); neck and head still follow the face.
    Stub detections of a known body whose head turns; the track is anchored at a fit with a bent spine."""
    import uvatar.detect
    from uvatar.track.fit import FREE_BONES, photo_camera
    from uvatar.track.video import track_video

    width, height = 480, 480
    camera = photo_camera(width, height)
    truths = _turning_head(body, [torch.tensor([0.0, 3.0, -0.1])] * 3, 0.1)  # the head turns
    monkeypatch.setattr(uvatar.detect, "VideoDetector", _stub_detector(body, camera, truths))
    anchor = truths[0].detach()
    spine = [body.bone_index(b) for b in FREE_BONES["spine"]]
    anchor.rotvecs[0, spine[0]] = torch.tensor([0.0, 0.0, 0.05])  # a fit a little off: held, not pulled back
    frames = [np.zeros((height, width, 3), np.uint8)] * 3
    config = VideoTrackConfig(regime="head", shape_window=1, detect_worker=False)
    tracked = list(track_video(iter(frames), body, config, anchor=anchor))
    assert not any(f.reinit for f in tracked)
    for f in tracked:
        assert torch.equal(f.fit.params.rotvecs[0, [0] + spine], anchor.rotvecs[0, [0] + spine])
    neck_and_head = [body.bone_index(b) for b in FREE_BONES["head"]]
    turn = [float(f.fit.params.rotvecs[0, neck_and_head, 2].sum()) for f in tracked]
    assert 0.0 < turn[1] < turn[2] < 0.25, turn  # neck and head turn after the face (truth: 0.1, 0.2 rad)
    free = list(track_video(iter(frames), body, dataclasses.replace(config, hold_torso_in_head_clips=False), anchor=anchor))
    assert not torch.equal(free[2].fit.params.rotvecs[0, spine], anchor.rotvecs[0, spine])  # the switch frees them


@pytest.mark.parametrize("facing_away", [False, True])
def test_no_flow_term_while_the_body_faces_away(body, monkeypatch, facing_away):
    """In back views the flow term tipped the synthetic turn into a left/right swap: the tracker follows
    the surface only while the predicted body faces the camera."""
    import uvatar.detect
    from uvatar.track.fit import photo_camera
    from uvatar.track.video import _ClipTracker, track_video

    camera = photo_camera(480, 480)
    truth = body.default_params(1)
    truth.translation[0] = torch.tensor([0.0, 3.0, -0.1])
    truth.rotvecs[0, 0] = torch.tensor([0.0, 0.0, math.pi if facing_away else 0.0])
    monkeypatch.setattr(uvatar.detect, "VideoDetector", _stub_detector(body, camera, [truth]))
    followed = []
    original = _ClipTracker._follow
    monkeypatch.setattr(_ClipTracker, "_follow", lambda self, *args: followed.append(1) or original(self, *args))
    frames = [np.zeros((480, 480, 3), np.uint8)] * 3
    config = VideoTrackConfig(regime="half", shape_window=1, detect_worker=False)
    tracked = list(track_video(iter(frames), body, config, anchor=truth.detach()))
    assert not any(f.reinit for f in tracked[1:])
    assert len(followed) == (0 if facing_away else 2)


def test_face_size_is_the_weighted_spread_about_the_centre():
    from uvatar.track.video import face_size

    points = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [50.0, 50.0]])
    weights = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])  # the far point weighs nothing
    assert float(face_size(points, weights)) == pytest.approx(math.sqrt(2.0), rel=1e-6)
    moved = points * 3.0 + torch.tensor([7.0, -4.0])  # three times larger, elsewhere
    assert float(face_size(moved, weights)) == pytest.approx(3 * math.sqrt(2.0), rel=1e-6)
    assert face_size(points, torch.zeros(5)) is None


def _face_stub(body, camera, truths: list, face_scale: float):
    """:func:`_stub_detector` with a face mesh: the face correspondence's points on the truth's body,
    projected, then scaled by ``face_scale`` about their centre (a face the body's cannot match exactly:
    the detected mesh smaller than the body's face by a constant factor)."""
    from uvatar.body.face_map import face_points, load_face_correspondence

    inner = _stub_detector(body, camera, truths)
    corr = load_face_correspondence()
    calls = iter(range(1_000_000))

    class FaceStub(inner):
        def __call__(self, frame):
            k = next(calls)
            det = super().__call__(frame)
            with torch.no_grad():
                pixels, _ = camera.project(face_points(body.forward(truths[min(k, len(truths) - 1)]).vertices, body.faces, corr)[0])
            centre = pixels.mean(0)
            face = (centre + face_scale * (pixels - centre)).numpy().astype(np.float32)
            return dataclasses.replace(det, face=face, face_z=np.zeros(len(face), np.float32))

    return FaceStub


def test_the_head_keeps_the_anchor_frames_face_size_as_it_moves(body, monkeypatch):
    """A detected face mesh 8 % smaller than the body's face (a mismatch the face term alone answers by
    moving the head away) on a head clip whose head comes 6 % nearer the camera and turns: anchored at the
    true fit, the face's size term keeps the head's distance to the truth's; without it the head drifts away."""
    import uvatar.detect
    from uvatar.track.fit import photo_camera
    from uvatar.track.video import track_video

    width, height = 480, 480
    camera = photo_camera(width, height)
    head = body.bone_index("head")
    truths = _turning_head(body, [torch.tensor([0.0, 0.9 * (1 - 0.02 * k), -0.55]) for k in range(4)], 0.08)
    frames = [np.zeros((height, width, 3), np.uint8)] * len(truths)

    def head_depths(params_list):
        with torch.no_grad():
            return np.array([float(camera.project(body.forward(p).bone_poses[0, head, :3, 3][None])[1][0]) for p in params_list])

    truth_depth = head_depths(truths)
    errors = {}
    for weight in (0.0, VideoTrackConfig().w_face_size):
        monkeypatch.setattr(uvatar.detect, "VideoDetector", _face_stub(body, camera, truths, face_scale=0.92))  # from the first truth
        config = VideoTrackConfig(regime="head", shape_window=1, detect_worker=False, w_flow=0.0, w_face_size=weight)
        tracked = list(track_video(iter(frames), body, config, anchor=truths[0].detach()))
        errors[weight] = np.abs(head_depths([f.fit.params for f in tracked]) / truth_depth - 1)
    held, free = errors[VideoTrackConfig().w_face_size], errors[0.0]
    # measured: held at most 0.3 %, free 2.1 / 4.2 / 2.4 % on frames 1-3
    assert free[1:].max() > 0.03, free  # the face term alone moves the head away
    assert held[1:].max() < 0.01, (held, free)
