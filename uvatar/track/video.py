"""Track a video of one person: one body shape for the clip, warm starts, a few steps per frame.

:func:`track_video` reads frames from an iterator (a stream: no clip is held in memory) and yields one
:class:`TrackedFrame` per frame:

1. **detect** each frame with MediaPipe in tracking mode (:class:`~uvatar.detect.VideoDetector`, on a
   copy at most ``detect_side`` pixels long), in a second process up to ``detect_ahead`` frames ahead
   of the fit (:func:`~uvatar.detect.worker.detect_ahead`);
2. **shape**: the first ``shape_window`` frames' detections are held (masks only for the best few); the
   clip's framing is their most common regime, and the ``shape_frames`` best of them (most landmarks
   visible, largest person) get the full staged photo fit (:func:`~uvatar.track.fit.fit_proxy`); the
   confidence-weighted mean of their shapes is then held for the whole clip;
3. **per frame**, from a constant-velocity prediction of the two frames before:

   * left/right labels: MediaPipe assumes a person facing it and mirrors back views. The prediction's
     limb and torso landmarks are compared with the detection as given and with its left/right labels
     swapped; the swap wins when its error is below ``swap_ratio`` of the other. While the predicted
     body faces away the face points are guesses on the back of the head: the eyes, mouth and face mesh
     are not used, the nose at half weight (:data:`AWAY_NOSE_WEIGHT`), and the neck and head get the
     unseen bones' prior (nothing sees where the face turns; without it the head stayed behind
     while the body turned, 60-160 degrees round on the neck);
   * re-initialisation when the prediction is far from the landmarks (a fast turn, occlusion, the
     person back in frame after leaving it, or the first frame): the photo fit's root stage from
     several yaws plus the predicted one, then its body stage, with the clip's shape held;
   * otherwise up to ``steps`` L-BFGS iterations from the prediction on the photo fit's own terms (landmarks,
     face, pose priors, joint limits: :class:`~uvatar.track.fit._Fitter`) plus velocity and
     acceleration priors (:func:`~uvatar.track.fit.temporal_terms`) on bones, root, translation and
     facial actions. The root rotation is kept continuous through full turns (its rotation vector
     is unwrapped, never jumping from +pi to -pi) and wrapped back only in the output;
   * in a head clip the root and spine stay where the frame before left them (nothing below the neck
     pins them; ``hold_torso_in_head_clips``), neck and head follow the face;
   * the face's size (``w_face_size``): the fitted face stays as much larger or smaller than the detected
     face mesh as it was in the first frame fitted with a face, so the head's distance follows the face's
     size in the image: the face term alone, pulled by the expressions and shape the body's face cannot
     match, let the head drift away from the camera;
   * the dense surface term (``w_flow``, :mod:`uvatar.track.flow`): body vertices the previous frame's
     fit showed face-on are followed into this frame by optical flow (checked both ways, on texture,
     by patch correlation) and pull the fit there, so a warm-started frame keeps its predecessor's
     registration at the texture level instead of only at the landmarks' few points. Not while the
     predicted body faces away: there it tipped the synthetic turning clip into a left/right swap
     (frames 20-23, with the clip rendered on one thread; none without it).
   * in half and full clips, the photo fit's silhouette term on the frame's person mask (``w_silhouette``):
     the body inside the mask and reaching its outline, so that a turned body and its limbs meet the
     person's outline where the landmarks say little (side and back views, occluded limbs).

The single-photo tracker (:func:`uvatar.track.track_photo`) stays the one for photos.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import roma
import torch

from uvatar.body.model import BodyParams
from uvatar.detect.detections import BODY_INDEX, BODY_LANDMARKS, Detections
from uvatar.errors import InputError
from uvatar.track.proxyfit import ProxyFit
from uvatar.track.flow import flow_targets, flow_vertices, grey_frame, surface_pixels

__all__ = ["TrackedFrame", "VideoTrackConfig", "face_size", "root_yaw_deg", "swap_sides", "track_video"]

log = logging.getLogger(__name__)

#: Index of each body landmark's mirror partner (left_* <-> right_*; the nose is its own).
MIRROR = np.array([BODY_INDEX[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for n in BODY_LANDMARKS])
_FACE_POINTS = [i for i in range(11) if BODY_LANDMARKS[i] not in ("left_ear", "right_ear")]
#: The nose's weight (times its visibility) while the body faces away. MediaPipe assumes a face towards it
#: and guesses the nose on the back of a head, but the guess leans the way the head turns: without it the
#: turnaround clip's track turned back on itself past the back (her profile fitted facing the wrong way,
#: side bin 10.05 dB against 10.67), with it at full weight the synthetic turning clip's median joint error
#: grew from 97 to 104 mm (98 at half).
AWAY_NOSE_WEIGHT = 0.5
_KEY_POINTS = {
    "head": ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder"],
    "half": ["nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip"],
    "full": ["nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"],
}


@dataclass(frozen=True)
class VideoTrackConfig:
    """Knobs of :func:`track_video` (defaults measured on the shared clips and the synthetic clip test).

    Attributes:
        fov_deg: field-of-view prior over the longer image side, degrees (as the photo fit's).
        regime: "head", "half" or "full" to override the clip's framing; None reads it.
        detect_side: frames are detected on a copy at most this many pixels long (0: full size).
        shape_window: frames detected before the shape is chosen (the shape frames come from these).
        shape_frames: how many of the best frames get the full photo fit for the shape.
        steps: L-BFGS iterations per frame from the warm start (at most 1.25 x as many evaluations; it
            stops earlier once the loss changes by less than ``tolerance_change``). 12 left the body
            lagging fast arms on the dance clip (14.8 px re-projection on its first 60 frames; 40: 6.0 px).
        reinit_steps: body-stage steps of a re-initialisation.
        reinit_error: a frame is re-initialised when the prediction's mean limb/torso landmark error
            (each point capped at half a box height) exceeds this many box heights.
        swap_ratio: left/right labels are swapped when the prediction's error against the swapped
            detection is below this fraction of its error against the detection as given.
        robust_scale: Geman-McClure scale of the per-frame landmark terms, box heights.
        confident_visibility, confident_scale: landmarks MediaPipe sees with at least this visibility get
            this wider scale (:func:`_landmark_loss`): a limb that lags far behind them is still pulled,
            not written off as an outlier (dance clip, first 60 frames: 7.2 -> 5.6 px).
        w_velocity, w_acceleration: temporal priors on rotations (radians), translation (over the
            camera distance) and facial actions. A strong velocity prior makes the body lag a turn; an
            acceleration weight of 1 made it lag fast arms (dance clip), 0.1 keeps jitter at a third
            of per-frame fits'.
        root_acceleration_scale: the root rotation's acceleration prior is this many times
            ``w_acceleration``: a turn keeps its pace through the side and back views, where the landmarks
            say little about the yaw. At 1 the synthetic turning clip's fit stalled at 160 degrees and
            turned back to 20 (the truth: 349); at 3 it turns 304 degrees, monotonically, and the shared
            turnaround clip turns 333 degrees (341 at 1, 317 at 10) with less jitter (54 against 59
            mm/frame²) and 0.15 px more landmark error.
        w_pose_prior: the photo fit's prior on bone angles, twice as strong here (0.02 held the dance
            clip's bent limbs back; a weak one lets the spine twist to follow a turn that the root
            should make, measured on the turnaround clip).
        tolerance_change: L-BFGS stops once an iteration changes the loss by less than this (1e-3 stopped
            at 17 evaluations a frame but left 10 px on the dance clip; 1e-4: about 33 and 6 px).
        min_face_px: the dense face term is used only when the face is at least this tall, pixels: on a
            full-body clip its few pixels add little over the head landmarks and cost a sixth of the
            fit (dance clip, first 60 frames: 246 -> 211 ms a frame, 5.97 -> 4.94 px).
        hold_torso_in_head_clips: in a head clip, per-frame refinements keep the root and spine where the
            frame before left them (set by the anchor or a re-initialisation): no landmark below the neck
            pins them there, and free they drifted into a twisted torso (shared head clip's
            self-reenactment 12.37 -> 13.50 dB, mean of 3 runs; joint jitter 13.2 -> 4.9 mm/frame²).
        masks: keep each frame's person mask in :attr:`TrackedFrame.det` (clips and evaluation need it;
            a 1080p mask is 8 MB, so motions leave it off).
        detect_worker: detect in a second process, up to ``detect_ahead`` frames ahead of the fit
            (:func:`~uvatar.detect.worker.detect_ahead`: MediaPipe holds the GIL, so only a process
            overlaps it with the fit); False detects in this process, between fits.
        w_flow: weight of the dense surface term (:mod:`uvatar.track.flow`): the ``flow_points`` body
            vertices the previous frame's fit showed, followed into this frame by optical flow
            (checked both ways to ``flow_max_error`` pixels at the detection scale), pull the fit with
            a Geman-McClure penalty of scale ``flow_scale`` box heights, except while the predicted body
            faces away; 0 turns it off.
        w_silhouette: weight of the photo fit's silhouette term in half and full clips (the body inside the
            frame's person mask and reaching its outline: :meth:`~uvatar.track.fit._Fitter.silhouette_loss`),
            read on ``silhouette_points`` of the photo fit's outer vertices; 0 turns it off. The landmarks
            alone left the body turned short of the person at the side and the back and the limbs off
            their outline (the turnaround clip's avatar left 8-11 % of her mask uncovered at 90-180
            degrees); it costs about 80 ms a frame (dance clip: 3.9 -> 3.0 frames/s). Measured in
            docs/completion_eval.md ("The tracker fits the silhouette").
        w_face_size: weight of the face's size term: the log of the fitted face's size over the detected
            face's (:func:`face_size`, on the face term's points and weights) held at its value in the
            first frame fitted with a face (the anchor in a reenactment). The face term alone let the head
            drift 5-12 % too far from the camera in the head clip (its avatar's face 13 % smaller than the
            person's, a ring of background round the head); on synthetic head clips moving 8 % to and fro,
            nodding and turning, the relative depth error fell from 3.0 to 1.7 % (mean of 7 clips). 0 turns
            it off. Measured in docs/completion_eval.md ("The head keeps its size").
    """

    fov_deg: float = 45.0
    regime: str | None = None
    detect_side: int = 640
    shape_window: int = 24
    shape_frames: int = 2
    steps: int = 40
    reinit_steps: int = 40
    reinit_error: float = 0.08
    swap_ratio: float = 0.6
    robust_scale: float = 0.04
    w_velocity: float = 0.01
    w_acceleration: float = 0.1
    root_acceleration_scale: float = 3.0
    w_pose_prior: float = 0.004
    confident_visibility: float = 0.9
    confident_scale: float = 0.15
    tolerance_change: float = 1e-4
    min_face_px: float = 100.0
    masks: bool = False
    optimizer: str = "lbfgs"
    detect_worker: bool = True
    detect_ahead: int = 32
    w_flow: float = 1.0
    flow_points: int = 1500
    flow_scale: float = 0.01
    flow_max_error: float = 1.0
    hold_torso_in_head_clips: bool = True
    w_silhouette: float = 1.0
    silhouette_points: int = 1000
    w_face_size: float = 300.0

    def validate(self) -> None:
        if self.regime not in (None, "head", "half", "full"):
            raise InputError(f"regime must be head, half or full; got {self.regime!r}")
        for name in ("shape_window", "shape_frames", "steps", "reinit_steps", "detect_ahead"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name} must be an integer >= 1; got {getattr(self, name)!r}")
        if not self.root_acceleration_scale >= 0.0:
            raise InputError(f"root_acceleration_scale must be >= 0; got {self.root_acceleration_scale}")
        if not 1.0 <= self.fov_deg <= 170.0:
            raise InputError(f"fov_deg must lie in [1, 170]; got {self.fov_deg}")
        if not self.w_face_size >= 0.0:
            raise InputError(f"w_face_size must be >= 0; got {self.w_face_size}")
        if not (self.w_silhouette >= 0.0 and isinstance(self.silhouette_points, int) and self.silhouette_points >= 1):
            raise InputError(f"w_silhouette must be >= 0 and silhouette_points an integer >= 1; got {self.w_silhouette}, {self.silhouette_points!r}")
        if not (self.w_flow >= 0.0 and self.flow_scale > 0.0 and self.flow_max_error > 0.0 and self.flow_points >= 1):
            raise InputError(f"w_flow must be >= 0 and flow_scale, flow_max_error, flow_points > 0; got {self.w_flow}, {self.flow_scale}, {self.flow_max_error}, {self.flow_points}")


@dataclass
class TrackedFrame:
    """One frame of :func:`track_video`.

    Attributes:
        index: position of the frame in the input iterator (0-based).
        fit: the body in this frame (the clip's shape; ``fit.camera`` is the clip's camera), or None when
            nobody was found.
        det: the frame's detections (left/right labels as the tracker used them; the mask only with
            ``masks``), or None.
        swapped: the detector's left/right labels were swapped for this frame.
        reinit: the frame was re-initialised instead of warm-started.
        yaw_deg: the root's turn about the vertical axis, unwrapped over the clip (0: facing the camera,
            positive turning towards the person's left), or None.
        seconds, cpu_seconds: wall and CPU time of detecting and fitting this frame (with the detection
            worker, its detection ran in the other process, overlapping earlier fits).
        detection: where the frame was detected (:func:`~uvatar.detect.worker.detect_ahead`'s ``where``:
            ``"worker"``, ``"in-process"``, or in-process because the worker could not start, "degraded").
    """

    index: int
    fit: ProxyFit | None
    det: Detections | None
    swapped: bool = False
    reinit: bool = False
    yaw_deg: float | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    detection: str = ""


def swap_sides(det: Detections) -> Detections:
    """``det`` with the person's left and right exchanged: body landmarks by :data:`MIRROR`, and hands."""
    swap = {
        "body": det.body[MIRROR], "body_z": det.body_z[MIRROR], "body_visibility": det.body_visibility[MIRROR],
        "body_in_frame": det.body_in_frame[MIRROR],
        "body_world": None if det.body_world is None else det.body_world[MIRROR],
        "left_hand": det.right_hand, "right_hand": det.left_hand, "left_hand_z": det.right_hand_z,
        "right_hand_z": det.left_hand_z, "left_hand_score": det.right_hand_score, "right_hand_score": det.left_hand_score,
    }  # fmt: skip
    return dataclasses.replace(det, **swap)


def root_yaw_deg(rotvec: torch.Tensor) -> float:
    """Turn about world Z (degrees) of a ``(3,)`` root rotation: where the body's front (-Y) points,
    0 towards the camera (at -Y), positive towards +X (the person's left turning away)."""
    forward = roma.rotvec_to_rotmat(rotvec.detach().double()) @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    return math.degrees(math.atan2(float(forward[0]), -float(forward[1])))


def track_video(
    frames: Iterable[np.ndarray],
    body=None,
    config: VideoTrackConfig = VideoTrackConfig(),
    on_detection: Callable[[int, Detections | None], None] | None = None,
    shape: torch.Tensor | None = None,
    anchor: BodyParams | None = None,
) -> Iterator[TrackedFrame]:
    """Track the person through ``frames`` (module doc); yields one :class:`TrackedFrame` per frame, in order.

    Args:
        frames: iterable of ``(H, W, 3)`` uint8 RGB frames of one clip, all of one size.
        body: :class:`~uvatar.body.model.BodyModel` (loaded when None).
        on_detection: called with ``(index, det)`` for each frame, in order, before its fit, mask
            included (e.g. to save masks without keeping them).
        shape: ``(1, 6)`` phenotypes to hold instead of fitting the clip's (e.g. an avatar's own shape).
        anchor: body parameters (batch 1) of the FIRST frame, e.g. the photo fit an avatar was built
            from: that frame is yielded with them unchanged and the track warm-starts from them, so the
            clip is registered to that fit (its shape is held when ``shape`` is None). To anchor a
            frame inside a clip, track from it forwards and, over the reversed frames, backwards.
    Raises:
        InputError: bad options, or frames of different sizes.
    """
    from uvatar.body.model import load_body_model
    from uvatar.detect.worker import detect_ahead

    config.validate()
    body = body or load_body_model()
    if anchor is not None:
        anchor = anchor.detach()
        if anchor.rotvecs.shape != (1, body.n_bones, 3) or anchor.translation.shape != (1, 3):
            raise InputError(f"anchor must be one body's parameters ({body.n_bones} bone rotations and a translation); got rotvecs {tuple(anchor.rotvecs.shape)}")
        if shape is None:
            shape = anchor.phenotypes
    size = None
    greys: dict[int, np.ndarray] = {}  # grey copies for the flow term, from reading a frame to its fit

    def checked(frames):
        nonlocal size
        for index, frame in enumerate(frames):
            size = _check_size(frame, size, index)
            if config.w_flow > 0:
                greys[index] = grey_frame(frame, config.detect_side)
            yield frame

    detections = detect_ahead(checked(frames), max_side=config.detect_side, ahead=config.detect_ahead,
                              worker=config.detect_worker)  # fmt: skip
    try:
        held: list[tuple[int, Detections | None, float, float, str]] = []
        for index, error, det, wall, cpu, where in detections:
            if error is not None:
                raise error
            if on_detection is not None:
                on_detection(index, det)
            held.append((index, det, wall, cpu, where))
            if len(held) >= config.shape_window:
                break
        if not held:
            return
        tracker = _ClipTracker(body, config, *_clip_shape(body, [(i, d) for i, d, *_ in held], config, shape))
        tracker.anchor = anchor
        for index, det, wall, cpu, where in held:
            yield dataclasses.replace(tracker.step(index, det, wall, cpu, greys.pop(index, None)), detection=where)
        held.clear()
        for index, error, det, wall, cpu, where in detections:
            if error is not None:
                raise error
            if on_detection is not None:
                on_detection(index, det)
            yield dataclasses.replace(tracker.step(index, det, wall, cpu, greys.pop(index, None)), detection=where)
    finally:
        detections.close()


def _check_size(frame: np.ndarray, size, index: int):
    shape = tuple(np.shape(frame))
    if len(shape) != 3 or shape[2] != 3:
        raise InputError(f"frame {index} has shape {shape}; frames must be (H, W, 3) RGB")
    if size is not None and shape != size:
        raise InputError(f"frame {index} is {shape[1]}x{shape[0]} but the clip's first frame is {size[1]}x{size[0]}; every frame needs one size")
    return shape


# ------------------------------------------------------------------------------------ clip shape
def _quality(det: Detections, regime: str) -> float:
    """How well a frame shows the body for a shape fit: key landmarks seen x person size x face found."""
    idx = [BODY_INDEX[n] for n in _KEY_POINTS[regime]]
    seen = float(np.mean(det.body_visibility[idx] * det.body_in_frame[idx]))
    box_h = float(det.box[3] - det.box[1])
    return seen * min(1.0, box_h / 256.0) * (1.0 if det.face is not None else 0.5)


def _clip_shape(body, held: list[tuple[int, Detections | None]], config: VideoTrackConfig, shape: torch.Tensor | None = None):
    """-> (shape (1, 6), regime, lower_extent, fits of the shape frames by index); ``shape`` given: held as it is."""
    from uvatar.detect.regime import classify_regime
    from uvatar.track.fit import FitConfig, fit_proxy

    decisions = {i: classify_regime(d) for i, d in held if d is not None}
    if not decisions:
        return None, config.regime or "half", None, {}
    regime = config.regime or Counter(d.regime for d in decisions.values()).most_common(1)[0][0]
    extents = Counter(d.lower_extent for d in decisions.values() if d.regime == regime)
    lower_extent = extents.most_common(1)[0][0] if extents else None
    if shape is not None:
        return torch.as_tensor(shape, dtype=torch.float32).reshape(1, -1).detach(), regime, lower_extent, {}
    ranked = sorted(((i, d) for i, d in held if d is not None), key=lambda item: -_quality(item[1], regime))
    fit_config = dataclasses.replace(FitConfig(), fov_deg=config.fov_deg)
    fits = {}
    for index, det in ranked[: config.shape_frames]:
        fits[index] = fit_proxy(body, det, regime, lower_extent, fit_config)
    weights = torch.tensor([max(f.confidence, 1e-3) for f in fits.values()])
    shapes = torch.cat([f.params.phenotypes for f in fits.values()])
    shape = (weights[:, None] * shapes).sum(0, keepdim=True) / weights.sum()
    log.info("clip framing %s; shape held from frames %s", regime, sorted(fits))
    return shape.detach(), regime, lower_extent, fits


# ------------------------------------------------------------------------------------ per frame
class _ClipTracker:
    def __init__(self, body, config: VideoTrackConfig, shape, regime: str, lower_extent, shape_fits: dict) -> None:
        from uvatar.track.fit import FitConfig

        self.body, self.config, self.regime, self.lower_extent = body, config, regime, lower_extent
        self.shape = shape if shape is not None else body.default_params(1).phenotypes
        self.rest = body.rest_state(self.shape)
        self.fit_config = dataclasses.replace(FitConfig(), fov_deg=config.fov_deg, w_pose_prior=config.w_pose_prior)
        self.shape_fits = shape_fits
        self.fitter = None
        self.history: list[BodyParams] = []  # the last two frames' parameters (root rotvec unwrapped)
        self.anchor: BodyParams | None = None  # the first frame's parameters, given (used once)
        self._subset: _SubsetBody | None = None  # skinning of the vertices the per-frame terms read
        self._silhouette_ids: torch.Tensor | None = None  # the silhouette term's vertices (a subset of the photo fit's)
        self.evaluations = 0  # loss evaluations of the per-frame fits so far (for profiling)
        self._last_yaw: float | None = None  # for unwrapping the reported yaw
        self.flow_ids = flow_vertices(body, config.flow_points) if config.w_flow > 0 else None
        self._seen: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None  # last fit's grey frame, seen flow vertices, their pixels
        self.face_reference: float | None = None  # log(fitted face size / detected) in the first frame fitted with a usable face

    # -- geometry helpers -----------------------------------------------------------------------------
    def _keypoints(self, params: BodyParams) -> torch.Tensor:
        out = self.body.forward_from_rest(params, self.rest)
        return self.body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0]

    def _errors(self, pixels: torch.Tensor, det: Detections, weights: torch.Tensor) -> float:
        """Mean landmark distance (box heights, each capped at 0.5) over the weighted points, face points left out."""
        box_h = float(max(det.box[3] - det.box[1], det.box[2] - det.box[0], 16.0))
        dist = ((pixels - torch.as_tensor(det.body)).norm(dim=-1) / box_h).clamp(max=0.5)
        w = weights.clone()
        w[_FACE_POINTS] = 0.0  # the nose, eyes and mouth can sit on the back of a head; ears and below only
        return float((w * dist).sum() / w.sum().clamp(min=1e-6)) if w.sum() > 0 else 0.0

    def _weights(self, det: Detections) -> torch.Tensor:
        from uvatar.track.fit import _targets

        return _targets(det, self.regime, self.fit_config).weights

    @staticmethod
    def _facing_away(keypoints: torch.Tensor) -> bool:
        """Does the body of these ``(33, 3)`` keypoints turn its front more than 100 degrees from the camera (at the origin)?"""
        k = keypoints.detach().double()
        i = BODY_INDEX
        left = (k[i["left_shoulder"]] + k[i["left_hip"]]) / 2
        right = (k[i["right_shoulder"]] + k[i["right_hip"]]) / 2
        up = (k[i["left_shoulder"]] + k[i["right_shoulder"]] - k[i["left_hip"]] - k[i["right_hip"]]) / 2
        facing = torch.linalg.cross(left - right, up)
        to_camera = -(left + right) / 2
        cos = float(facing @ to_camera / (facing.norm() * to_camera.norm()).clamp(min=1e-9))
        return cos < math.cos(math.radians(100))

    def _camera(self, det: Detections):
        from uvatar.track.fit import photo_camera

        return photo_camera(*det.image_size, self.config.fov_deg)

    def _predict(self) -> BodyParams | None:
        if not self.history:
            return None
        last = self.history[-1].detach()
        if len(self.history) < 2:
            return last
        before = self.history[-2]
        pred = last.detach()
        pred.rotvecs = 2 * last.rotvecs - before.rotvecs
        pred.translation = 2 * last.translation - before.translation
        pred.facial = last.facial.clone()
        return pred

    # -- one frame ------------------------------------------------------------------------------------
    def step(self, index: int, det: Detections | None, detect_s: float, detect_cpu_s: float, grey: np.ndarray | None = None) -> TrackedFrame:
        wall, cpu = time.perf_counter(), time.process_time()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small kernels: one thread is as fast and holds up under load
        try:
            frame = self._step(index, det, grey)
        finally:
            torch.set_num_threads(threads)
        frame.seconds = detect_s + time.perf_counter() - wall
        frame.cpu_seconds = detect_cpu_s + time.process_time() - cpu
        return frame

    def _step(self, index: int, det: Detections | None, grey: np.ndarray | None = None) -> TrackedFrame:
        from uvatar.track.fit import _Fitter

        anchored, self.anchor = self.anchor, None  # only for the first frame
        seen, self._seen = self._seen, None
        if det is None:
            if anchored is not None:
                log.warning("frame %d: nobody found in the anchor frame; the track starts without its fit", index)
            if self.history:  # no velocity across a gap
                self.history = self.history[-1:]
            return TrackedFrame(index, None, None)
        # the mask only for the silhouette term (the fitter builds its targets in half and full clips only)
        fit_det = det if self.config.w_silhouette > 0 or det.mask is None else dataclasses.replace(det, mask=None)
        pred = anchored.detach() if anchored is not None else self._predict()
        swapped, away = False, False
        if pred is not None:
            with torch.no_grad():
                keypoints = self._keypoints(pred)
                pixels, _ = self._camera(fit_det).project(keypoints)
            weights = self._weights(fit_det)
            error = self._errors(pixels, fit_det, weights)
            mirrored = swap_sides(fit_det)
            error_swapped = self._errors(pixels, mirrored, weights[MIRROR])
            if error_swapped < self.config.swap_ratio * error:
                fit_det, det, swapped, error = mirrored, swap_sides(det), True, error_swapped
            away = self._facing_away(keypoints)
        if away:  # the face points MediaPipe gives on the back of a head are guesses
            fit_det = _without_face(fit_det)
        if self.fitter is None or self.fitter.det.image_size != fit_det.image_size:
            self.fitter = _Fitter(self.body, fit_det, self.regime, self.fit_config)
        else:
            self.fitter.retarget(fit_det)
        reinit = anchored is None and (pred is None or error > self.config.reinit_error)
        if anchored is not None:  # the given fit of this frame, as it is
            params, history = anchored.detach(), []
        elif reinit:
            params, history = self._reinit(pred), []
        else:
            flow = None if away else self._follow(seen, grey, fit_det)  # no flow term in back views (module doc)
            params, history = self._refine(pred, flow=flow, away=away), self.history
        params.phenotypes = self.shape.clone()
        if self.face_reference is None and self.config.w_face_size > 0 and self._face_usable():
            self.face_reference = self._face_size_ratio(params)
        if pred is not None and self.history:  # keep the root's rotation vector continuous with the previous frame's
            params.rotvecs[0, 0] = _nearest_rotvec(params.rotvecs[0, 0], self.history[-1].rotvecs[0, 0])
        self.history = (history + [params.detach()])[-2:]
        with torch.no_grad():  # the posed mesh, once: the fit's residuals and the flow's next frame read it
            posed = self.body.forward_from_rest(params, self.rest)
        fit = self._proxy_fit(params, posed, fit_det, swapped, reinit)
        if grey is not None and self.flow_ids is not None:
            self._seen = self._remember(posed.vertices[0], grey)
        yaw = self._unwrap_yaw(root_yaw_deg(params.rotvecs[0, 0]))
        out_det = det if self.config.masks else (dataclasses.replace(det, mask=None) if det.mask is not None else det)
        return TrackedFrame(index, fit, out_det, swapped, reinit, yaw)

    def _remember(self, vertices: torch.Tensor, grey: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """``vertices (V, 3)`` of this frame's fit -> (grey, the flow vertices the fit shows, their pixels in
        ``grey``): what the next frame follows."""
        h, w = grey.shape
        ids, pixels = surface_pixels(vertices, self.body.faces, self.fitter.camera, self.flow_ids, w, h)
        return grey, ids, pixels

    def _follow(self, seen, grey: np.ndarray | None, det: Detections) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The previous fit's seen flow vertices followed into ``grey``: ``(ids (M,), targets (M, 2))``,
        targets in the frame's pixels; None without a previous frame or when too few are followed."""
        if seen is None or grey is None or seen[0].shape != grey.shape:
            return None
        previous, ids, pixels = seen
        targets, kept = flow_targets(previous, grey, pixels, self.config.flow_max_error)
        if int(kept.sum()) < 10:
            return None
        h, w = grey.shape
        width, height = det.image_size
        scale = torch.tensor([width / w, height / h], dtype=torch.float32)
        return ids[kept], targets[kept] * scale

    def _held_bones(self) -> set[int]:
        """Bones a per-frame refinement keeps where the frame before left them: in a head clip the root and
        spine (no landmark below the neck pins them, and they drifted into a twisted torso)."""
        if self.regime != "head" or not self.config.hold_torso_in_head_clips:
            return set()
        from uvatar.track.fit import FREE_BONES

        return {0} | {self.body.bone_index(b) for b in FREE_BONES["spine"]}

    def _face_usable(self) -> bool:
        """Do the fitter's targets hold a face mesh the per-frame fit uses (at least ``min_face_px`` tall:
        a small face adds little over the head landmarks and costs a third of each evaluation)?"""
        fitter, cfg = self.fitter, self.config
        if fitter.face_corr is None or fitter.targets.face is None:
            return False
        face = fitter.targets.face
        return cfg.min_face_px <= 0 or float(face[:, 1].max() - face[:, 1].min()) >= cfg.min_face_px

    def _fitted_face_size(self, vertices: torch.Tensor) -> torch.Tensor | None:
        """:func:`face_size` of the face term's points on the body ``vertices (1, V, 3)``, projected, with the
        fitter's current face weights."""
        from uvatar.body.face_map import face_points

        pixels = self.fitter.project(face_points(vertices, self.body.faces, self.fitter.face_corr)[0])
        return face_size(pixels, self.fitter.targets.face_weights)

    @torch.no_grad()
    def _face_size_ratio(self, params: BodyParams) -> float | None:
        """log of the fitted face's size over the detected face's (:func:`face_size`) under ``params``, on
        the fitter's current targets; None when they weigh no face point."""
        t = self.fitter.targets
        fitted = self._fitted_face_size(self.body.forward_from_rest(params, self.rest).vertices)
        detected = face_size(t.face, t.face_weights)
        return None if fitted is None or detected is None else math.log(float(fitted) / float(detected))

    def _unwrap_yaw(self, yaw: float) -> float:
        if self._last_yaw is not None:
            yaw = self._last_yaw + ((yaw - self._last_yaw + 180.0) % 360.0 - 180.0)
        self._last_yaw = yaw
        return yaw

    def _reinit(self, pred: BodyParams | None) -> BodyParams:
        """Photo-fit root stage from several yaws (and the predicted one), then its body stage, shape held."""
        fitter = self.fitter
        start = (pred.detach() if pred is not None else self.body.default_params(1))
        start.phenotypes = self.shape.clone()
        starts = tuple(self.fit_config.yaw_starts)
        if pred is not None:
            starts = starts + (root_yaw_deg(pred.rotvecs[0, 0]),)
        start.rotvecs[0, 0] = 0.0  # the root stage sets the root rotation and translation from scratch
        start.translation.zero_()
        saved = fitter.config
        fitter.config = dataclasses.replace(saved, yaw_starts=starts)
        try:
            params = fitter.fit_root(start)
            params, _ = fitter.fit_body(params, self.config.reinit_steps, detail=False, fit_shape=False)
        finally:
            fitter.config = saved
        return self._refine(params, temporal=False)

    def _refine(self, start: BodyParams, temporal: bool = True, flow: tuple[torch.Tensor, torch.Tensor] | None = None, away: bool = False) -> BodyParams:
        """Up to ``steps`` L-BFGS iterations from ``start`` on the photo fit's terms plus the temporal
        priors and, given ``flow = (ids, targets)`` from :meth:`_follow`, the dense surface term."""
        from uvatar.track.fit import temporal_terms

        body, cfg, fitter = self.body, self.config, self.fitter
        hold = self._held_bones()
        free_list = [b for b in fitter.free if b not in hold]
        free = torch.tensor(free_list)
        base = start.detach()
        base.phenotypes = self.shape.clone()
        free_rot = base.rotvecs[0, free].clone().requires_grad_(True)
        hold_root = 0 in hold
        root_rot = base.rotvecs[0, 0].clone().requires_grad_(not hold_root)
        trans = base.translation[0].clone().requires_grad_(True)
        facial = base.facial[0].clone().requires_grad_(True)
        depth = float(trans.detach().norm().clamp(min=0.3))
        use_face = self._face_usable()
        groups = [
            {"params": [free_rot], "lr": 0.015},
            *([] if hold_root else [{"params": [root_rot], "lr": 0.01}]),
            {"params": [trans], "lr": 0.004 * depth},
        ]
        if use_face:
            groups.append({"params": [facial], "lr": 0.02})
        if cfg.optimizer == "lbfgs":
            opt = torch.optim.LBFGS([p for g in groups for p in g["params"]], lr=1.0, max_iter=cfg.steps, history_size=10,
                                    line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=cfg.tolerance_change)  # fmt: skip
        else:
            opt = torch.optim.Adam(groups)
            decay = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1 ** (1.0 / cfg.steps))
        unseen = set(fitter.unseen) | (set(fitter.neck_bones) if away else set())
        unseen_mask = torch.tensor([b in unseen for b in free_list])
        silhouette = cfg.w_silhouette > 0 and fitter.targets.dist_outside is not None
        if self._silhouette_ids is None:
            every = max(1, math.ceil(len(fitter.silhouette_vertices) / cfg.silhouette_points))
            self._silhouette_ids = fitter.silhouette_vertices[::every]
        if self._subset is None:
            extra_ids = [ids for ids in (self.flow_ids, self._silhouette_ids if cfg.w_silhouette > 0 else None) if ids is not None]
            self._subset = _SubsetBody(body, self.rest, with_face=True, extra=torch.cat(extra_ids) if extra_ids else None)
        subset = self._subset
        confident = torch.as_tensor(fitter.det.body_visibility) >= cfg.confident_visibility
        scales = torch.where(confident, cfg.confident_scale, cfg.robust_scale).float()
        skinned = [ids for ids in (flow[0] if flow is not None else None, self._silhouette_ids if silhouette else None) if ids is not None]
        extra = subset.gather(torch.unique(torch.cat(skinned))) if skinned else None
        history = self.history if temporal else []
        # the fitted face as much larger or smaller than the detected one as in the reference frame
        detected_size = None
        if use_face and cfg.w_face_size > 0 and self.face_reference is not None:
            detected_size = face_size(fitter.targets.face, fitter.targets.face_weights)
        past_rot = [h.rotvecs[0, free] for h in history]
        past_root = [h.rotvecs[0, 0] for h in history]
        past_trans = [h.translation[0] / depth for h in history]
        past_facial = [h.facial[0] for h in history]
        terms = {}

        def closure():
            nonlocal terms
            opt.zero_grad()
            rotvecs = base.rotvecs.clone()
            rotvecs[0, free] = free_rot
            rotvecs[0, 0] = root_rot
            current = BodyParams(rotvecs, trans[None], base.phenotypes, facial[None])
            vertices, bone_poses, coco = subset.forward(current, extra)
            keypoints = body.keypoints.mediapipe33(vertices, bone_poses, coco=coco)[0]
            terms = {"landmarks": _landmark_loss(fitter, keypoints, scales, cfg.robust_scale)}
            if flow is not None:
                terms["flow"] = cfg.w_flow * _flow_loss(fitter, vertices[0, flow[0]], flow[1], cfg.flow_scale, cfg.robust_scale)
            if silhouette:
                terms["silhouette"] = cfg.w_silhouette * fitter.silhouette_loss(vertices[0], cfg.robust_scale, self._silhouette_ids)
            if use_face:
                terms["face"] = fitter.config.w_face * fitter.face_loss(vertices[0], cfg.robust_scale)
                terms["facial_prior"] = fitter.config.w_facial_prior * facial.abs().sum()
            if detected_size is not None:
                fitted_size = self._fitted_face_size(vertices)
                terms["face_size"] = cfg.w_face_size * (torch.log(fitted_size / detected_size) - self.face_reference) ** 2
            terms.update(fitter.pose_priors(free_rot, unseen_mask, free_list))
            for name, values, past, w_v, w_a in (
                ("bones", free_rot, past_rot, 1.0, 1.0),
                ("root", root_rot, past_root, 1.0, cfg.root_acceleration_scale),
                ("translation", trans / depth, past_trans, 1.0, 1.0),
                ("facial", facial, past_facial, 0.1, 0.1),
            ):
                for key, value in temporal_terms(values, past, w_v * cfg.w_velocity, w_a * cfg.w_acceleration).items():
                    terms[f"{name}_{key}"] = value
            loss = sum(terms.values())
            loss.backward()
            return loss

        if cfg.optimizer == "lbfgs":
            opt.step(closure)
            self.evaluations += opt.state[opt._params[0]].get("func_evals", 0)
        else:
            for _ in range(cfg.steps):
                opt.step(closure)
                decay.step()
                with torch.no_grad():
                    facial.clamp_(0.0, 1.0)
        with torch.no_grad():
            facial.clamp_(0.0, 1.0)
        rotvecs = base.rotvecs.clone()
        rotvecs[0, free] = free_rot.detach()
        rotvecs[0, 0] = root_rot.detach()
        self._losses = {f"loss_{k}": round(float(v.detach()), 6) for k, v in terms.items()}
        return BodyParams(rotvecs, trans.detach()[None], base.phenotypes, facial.detach()[None])

    @torch.no_grad()
    def _proxy_fit(self, params: BodyParams, posed, det: Detections, swapped: bool, reinit: bool) -> ProxyFit:
        """``params`` and their posed body (``forward_from_rest`` output) -> the frame's :class:`ProxyFit`."""
        from uvatar.track.fit import _HAND_TIPS, _LEGS, _confidence

        output = params.detach()
        output.rotvecs[0, 0] = _wrap_rotvec(output.rotvecs[0, 0])
        pixels, _ = self.fitter.camera.project(self.body.keypoints.mediapipe33(posed.vertices, posed.bone_poses)[0])
        visible = (torch.as_tensor(det.body_visibility) > 0.5) & torch.as_tensor(det.body_in_frame)
        if self.regime != "full":
            visible[_LEGS] = False
        visible[_HAND_TIPS] = False
        errors = (pixels - torch.as_tensor(det.body)).norm(dim=-1)
        box_h = float(max(det.box[3] - det.box[1], 1.0))
        residuals = {"n_landmarks": int(visible.sum()), "swapped": swapped, "reinit": reinit}
        if visible.any():
            residuals["landmark_px"] = float(errors[visible].mean())
            residuals["landmark_rel_box"] = float(errors[visible].mean() / box_h)
        residuals.update(getattr(self, "_losses", {}))
        confidence, low = _confidence(residuals, det)
        return ProxyFit(regime=self.regime, params=output, camera=self.fitter.camera, lower_extent=self.lower_extent,
                        residuals=residuals, confidence=confidence, low_confidence=low, warnings=list(det.warnings),
                        image_size=det.image_size)  # fmt: skip


class _SubsetBody:
    """Posed body points from only what the landmark and face terms read.

    The tracker's terms read Anny's 23 COCO keypoints (each a fixed blend of vertices: 8.5K of them in
    all), a few landmark vertices and, for the face term, the face correspondence's triangles. Skinning
    all of those was most of a frame's fit. Skinning is linear in the bone transforms, so a COCO keypoint
    is ``Σ_j T_j M_kj`` with ``M_kj = Σ_v W_kv w_vj [x_v; 1]`` (regressor W, skinning weights w, rest
    vertex x) contracted once per clip, while the shape is held: 23 x J x 4 numbers instead of 8.5K
    skinned vertices an evaluation. The facial actions move ``x_v`` linearly, so ``M`` is affine in them
    (a second contracted basis). The vertices of the other sources (found as those with a gradient from
    a random weighting of those sources) are skinned as before; the others keep their rest positions and
    get no gradient: :meth:`forward`'s vertices equal ``forward_from_rest(...).vertices`` on them.
    ``extra`` vertices (the flow term's candidates) are skinned only when a call asks for some of them
    (:meth:`gather`, then ``forward(..., extra=...)``): a frame follows a few hundred of its 1.5K.
    """

    def __init__(self, body, rest, with_face: bool, extra: torch.Tensor | None = None) -> None:
        from uvatar.body.face_map import face_points, load_face_correspondence

        self.body, self.rest = body, rest
        params = body.default_params(1)
        n_coco = len(body.keypoints.coco_labels)
        with torch.enable_grad():
            out = body.forward_from_rest(params, rest)
            vertices = out.vertices.detach().requires_grad_(True)
            generator = torch.Generator().manual_seed(0)
            points = body.keypoints.mediapipe33(vertices, out.bone_poses.detach(), coco=torch.zeros(1, n_coco, 3))
            total = (points * torch.rand(points.shape, generator=generator)).sum()
            if with_face:
                face = face_points(vertices, body.faces, load_face_correspondence())
                total = total + (face * torch.rand(face.shape, generator=generator)).sum()
            total.backward()
        read = vertices.grad[0].abs().sum(-1) > 0
        self.index = torch.nonzero(read)[:, 0]
        self._read = read
        weights = body.skinning_weight_matrix[self.index]  # (N, J), mostly zeros
        coco_rest, coco_facial = _contract_coco(body, rest)
        moved = (weights.abs().sum(0) > 0) | (coco_rest.abs().sum((0, 2)) > 0) | (coco_facial.abs().sum((0, 1, 3)) > 0)
        if extra is not None:
            moved |= body.skinning_weight_matrix[extra].abs().sum(0) > 0
        self.bones = torch.nonzero(moved)[:, 0]  # bones that move a point the terms read
        self.weights = weights[:, self.bones].contiguous()  # (N, J_used)
        self.coco_rest = coco_rest[:, self.bones].contiguous()  # (23, J_used, 4)
        self.coco_facial = coco_facial[:, :, self.bones].contiguous()  # (52, 23, J_used, 3)
        self.coco_sums = body.keypoints.coco_weights.sum(1)  # (23,): the translation's share
        self.facial_basis = body.facial_basis[:, self.index]  # (52, N, 3)
        self.base = out.vertices.detach().clone()  # (1, V, 3) filler for the vertices nobody reads

    def gather(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """What :meth:`forward` needs to skin also the vertices ``ids (M,)`` (given at construction as
        ``extra``; those skinned anyway are left out, so none is written twice)."""
        ids = ids[~self._read[ids]]
        weights = self.body.skinning_weight_matrix[ids][:, self.bones]
        return ids, self.rest.vertices[:, ids], weights, self.body.facial_basis[:, ids]

    def forward(self, params: BodyParams, extra: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (vertices ``(1, V, 3)``, exact on the used ones and those of ``extra`` (:meth:`gather`);
        bone poses ``(1, J, 4, 4)``; COCO keypoints ``(1, 23, 3)``), translation applied."""
        from uvatar.body.skinning import linear_blend_skinning_dense

        body, rest = self.body, self.rest
        delta = torch.eye(4).repeat(1, body.n_bones, 1, 1)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(params.rotvecs)
        transforms, bone_poses = body._anny.get_bone_transforms(delta, rest.bone_poses)
        used_transforms = transforms[:, self.bones]
        index, rest_vertices, weights, basis = self.index, rest.vertices[:, self.index], self.weights, self.facial_basis
        if extra is not None:
            index, rest_vertices = torch.cat([index, extra[0]]), torch.cat([rest_vertices, extra[1]], 1)
            weights, basis = torch.cat([weights, extra[2]]), torch.cat([basis, extra[3]], 1)
        rest_vertices = rest_vertices + torch.einsum("bf,fvd->bvd", params.facial, basis)
        shift = params.translation[:, None, :]
        used = linear_blend_skinning_dense(rest_vertices, weights, used_transforms) + shift
        vertices = self.base.index_copy(1, index, used)
        n_k, n_j = self.coco_rest.shape[:2]
        facial = (params.facial @ self.coco_facial.reshape(self.coco_facial.shape[0], -1)).reshape(-1, n_k, n_j, 3)
        tables = self.coco_rest + torch.nn.functional.pad(facial, (0, 1))  # (1, 23, J_used, 4)
        rows = used_transforms[..., :3, :]  # (1, J_used, 3, 4)
        coco = torch.einsum("bkjc,bjrc->bkr", tables, rows) + shift * self.coco_sums[None, :, None]
        bone_poses = bone_poses.clone()
        bone_poses[..., :3, 3] = bone_poses[..., :3, 3] + shift
        return vertices, bone_poses, coco


def _contract_coco(body, rest) -> tuple[torch.Tensor, torch.Tensor]:
    """The regressor x skinning table of :attr:`BodyModel.landmark_skinning` contracted with one shape's
    rest vertices and the facial basis (float64 products, float32 results): ``coco_rest (23, J, 4)`` =
    ``Σ_v W_kv w_vj [x_v; 1]`` and ``coco_facial (52, 23, J, 3)`` = ``Σ_v W_kv w_vj B_fv``, so that the
    COCO keypoints of the skinned vertices are ``Σ_j T_j (coco_rest_kj + Σ_f a_f [coco_facial_fkj; 0])``
    for bone transforms T and facial actions a."""
    skinning = body.landmark_skinning
    table = skinning.table.to(torch.float64)  # (23 * J, S)
    x = rest.vertices[0, skinning.support].double()
    x_h = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)  # (S, 4)
    coco_rest = (table @ x_h).reshape(skinning.n_k, skinning.n_j, 4)
    basis = body.facial_basis[:, skinning.support].double()  # (52, S, 3)
    n_f = basis.shape[0]
    per_action = table @ basis.permute(1, 0, 2).reshape(len(x), n_f * 3)  # (23 * J, 52 * 3)
    coco_facial = per_action.reshape(skinning.n_k, skinning.n_j, n_f, 3).permute(2, 0, 1, 3)
    return coco_rest.float(), coco_facial.float().contiguous()


def _landmark_loss(fitter, keypoints: torch.Tensor, scales: torch.Tensor, scale: float) -> torch.Tensor:
    """The photo fit's landmark term with a Geman-McClure scale per point ``scales (33,)``, box heights:
    each point's penalty ``s_i^2 r^2 / (s_i^2 + r^2) / scale^2`` is the photo fit's for small residuals
    ``r`` and saturates at ``(s_i / scale)^2``, so a wider ``s_i`` (a confident landmark) keeps pulling a
    limb that lags far behind it."""
    t = fitter.targets
    residual_sq = ((fitter.project(keypoints) - t.points) / t.box_h).pow(2).sum(-1)
    s2 = scales * scales
    penalty = s2 * residual_sq / (s2 + residual_sq)
    return (t.weights * penalty).sum() / t.weights.sum().clamp(min=1e-6) / scale**2


def _flow_loss(fitter, points: torch.Tensor, targets: torch.Tensor, scale: float, landmark_scale: float) -> torch.Tensor:
    """Mean Geman-McClure penalty (scale ``scale`` box heights) of the projected ``points (M, 3)`` against
    their flow ``targets (M, 2)`` (frame pixels), over ``landmark_scale**2`` as the landmark term: a
    point off by much more than ``scale`` adds at most ``(scale / landmark_scale)**2``."""
    residual_sq = ((fitter.project(points) - targets) / fitter.targets.box_h).pow(2).sum(-1)
    s2 = scale * scale
    return (s2 * residual_sq / (s2 + residual_sq)).mean() / landmark_scale**2


def face_size(points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor | None:
    """Weighted root-mean-square distance (pixels) of face ``points (478, 2)`` from their weighted centre
    (``weights (478,)``), or None when the weights sum to zero."""
    total = weights.sum()
    if float(total) <= 0:
        return None
    centre = (weights[:, None] * points).sum(0) / total
    return ((weights * (points - centre).pow(2).sum(-1)).sum() / total).sqrt()


def _without_face(det: Detections) -> Detections:
    """``det`` for a body facing away: no face mesh, no eyes and mouth of the pose landmarks, and the nose at
    :data:`AWAY_NOSE_WEIGHT` of its visibility."""
    visibility = det.body_visibility.copy()
    nose = BODY_INDEX["nose"]
    kept = visibility[nose] * AWAY_NOSE_WEIGHT
    visibility[_FACE_POINTS] = 0.0
    visibility[nose] = kept
    return dataclasses.replace(det, face=None, face_z=None, body_visibility=visibility)


def _wrap_rotvec(rotvec: torch.Tensor) -> torch.Tensor:
    """The same rotation with angle in [0, pi]."""
    angle = float(rotvec.norm())
    if angle <= math.pi:
        return rotvec
    axis = rotvec / angle
    angle = math.remainder(angle, 2 * math.pi)
    return axis * angle


def _nearest_rotvec(rotvec: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Of the rotation vectors of one rotation (angle + 2 pi k about its axis, or the opposite axis), the
    one nearest ``reference``: keeps a turning root continuous."""
    angle = float(rotvec.norm())
    if angle < 1e-8:
        axis = reference / max(float(reference.norm()), 1e-8) if float(reference.norm()) > 1e-8 else torch.tensor([0.0, 0.0, 1.0])
    else:
        axis = rotvec / angle
    candidates = [axis * (angle + 2 * math.pi * k) for k in range(-2, 3)]
    return min(candidates, key=lambda c: float((c - reference).norm()))
