"""MediaPipe Holistic wrapper: one photo in, :class:`~uvatar.detect.detections.Detections` out.

MediaPipe 0.10.21's legacy ``solutions`` are used because that wheel bundles its ``.tflite`` models, so
nothing is downloaded. Only ``model_complexity=1`` is bundled (0 and 2 try to download). MediaPipe is
imported lazily, inside functions, so ``import uvatar`` never loads it.

Holistic follows ONE person. To say how many people a photo holds, :func:`detect` adds two cheap passes:
MediaPipe full-range face detection (counts frontal and profile faces) and, when enabled, one more
holistic pass on the photo with the main person painted out (catches people seen from the back).
When several faces are seen and holistic followed a person who is not the main one (the largest, most
central face), holistic is re-run on a crop around that face and the coordinates are mapped back.

Measured and decided against: padding wide or tall photos to a square before detection. It moved the
extrapolated (out-of-frame) hips and knees closer to the full-frame answer on some half-body crops and
further on others (three-quarter shot: hips 10% of the height lower), and it lowered confidence on tight
face crops. Tall narrow CROPS made here are widened to at least 3:4 instead (see ``_head_crop``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from uvatar.detect.detections import BODY_INDEX, Detections
from uvatar.errors import DependencyError, InputError, NoPersonError

__all__ = ["detect", "count_faces", "VideoDetector", "shrink_to_side"]

log = logging.getLogger(__name__)

_LOCK = threading.RLock()  # MediaPipe graphs are not re-entrant
_HOLISTIC: dict[float, Any] = {}
_FACE_DETECTOR: dict[float, Any] = {}
_DIRTY: dict[int, bool] = {}  # id(graph) -> has processed an image since its last reset

# Pose points of each hand (wrist, pinky, index, thumb) used for the hand-score proxy.
_HAND_POSE = {
    "left": [BODY_INDEX[n] for n in ("left_wrist", "left_pinky", "left_index", "left_thumb")],
    "right": [BODY_INDEX[n] for n in ("right_wrist", "right_pinky", "right_index", "right_thumb")],
}
_HEAD_POSE = list(range(11))  # nose .. mouth_right

# A face at least this fraction of the largest face's area competes for "main person".
_MAIN_FACE_AREA_RATIO = 0.6
# Holistic's person counts as the main one when its head is at least this fraction of the main face's size.
_HEAD_SIZE_RATIO = 0.67


# MediaPipe 0.10.21 logs from C++ (absl, TFLite) straight to file descriptor 2, about 20 lines per photo
# ("W0000 ... inference_feedback_manager.cc:114] Feedback manager requires ...", "INFO: Created TensorFlow
# Lite XNNPACK delegate for CPU."). Measured: GLOG_minloglevel=2, TF_CPP_MIN_LOG_LEVEL=3 and
# ABSL_MIN_LOG_LEVEL=2 change nothing (the wheel's absl log is never initialised and prints every
# level), hence the fd-level filter below. Only these INFO/WARNING lines are dropped: ERROR/FATAL lines
# and anything else written to stderr meanwhile (ours, or another thread's) are written back after the
# call. A hard crash inside MediaPipe during a call would lose its last lines: set UVATAR_NATIVE_LOG=1
# to turn the filter off when debugging one.
_NATIVE_NOISE = re.compile(rb"^(?:[IW]\d{4} \d\d:\d\d:|INFO: Created TensorFlow Lite |WARNING: All log messages before absl::InitializeLog)")
_QUIET_DEPTH = 0


@contextlib.contextmanager
def _quiet_native_log():
    """Run the body with fd 2 sent to a temporary file, then write back every line but MediaPipe's
    INFO/WARNING noise (see ``_NATIVE_NOISE``). Holds ``_LOCK``; nested uses pass through.

    While it runs (one graph call, 10-500 ms) other threads' stderr output is held back, not lost."""
    global _QUIET_DEPTH
    with _LOCK:
        if _QUIET_DEPTH or os.environ.get("UVATAR_NATIVE_LOG", "") not in ("", "0"):
            _QUIET_DEPTH += 1
            try:
                yield
            finally:
                _QUIET_DEPTH -= 1
            return
        _flush_stderr()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr to filter
            saved = None
        if saved is None:
            yield
            return
        with tempfile.TemporaryFile() as sink:
            _QUIET_DEPTH = 1
            try:
                os.dup2(sink.fileno(), 2)
                yield
            finally:
                _QUIET_DEPTH = 0
                _flush_stderr()
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                kept = b"".join(line for line in sink.read().splitlines(keepends=True) if not _NATIVE_NOISE.match(line))
                with contextlib.suppress(OSError):
                    while kept:
                        kept = kept[os.write(2, kept) :]


def _flush_stderr() -> None:
    for stream in {id(s): s for s in (sys.stderr, sys.__stderr__) if s is not None}.values():
        with contextlib.suppress(Exception):
            stream.flush()


def _mp():
    from uvatar.detect.mediapipe_import import import_mediapipe

    try:
        mp = import_mediapipe()  # without its plotting helpers' matplotlib (0.2-0.4 s)
    except ImportError as exc:  # pragma: no cover - mediapipe is a hard dependency
        raise DependencyError("mediapipe is not installed; run `pip install mediapipe==0.10.21`") from exc
    return mp


def _holistic(confidence: float):
    """A cached Holistic graph for ``confidence`` (building one takes ~0.5-1 s)."""
    key = round(float(confidence), 4)
    if key not in _HOLISTIC:
        mp = _mp()
        _HOLISTIC[key] = mp.solutions.holistic.Holistic(
            static_image_mode=True,
            model_complexity=1,
            smooth_landmarks=False,
            enable_segmentation=True,
            smooth_segmentation=False,
            refine_face_landmarks=True,
            min_detection_confidence=key,
        )
    return _HOLISTIC[key]


def _face_detector(confidence: float):
    key = round(float(confidence), 4)
    if key not in _FACE_DETECTOR:
        mp = _mp()
        # model_selection=1: full-range model (faces up to ~5 m), bundled in the wheel.
        _FACE_DETECTOR[key] = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=key)
    return _FACE_DETECTOR[key]


# -- input handling ----------------------------------------------------------------------------------
def _to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] (or uint8) -> contiguous ``(H, W, 3)`` uint8 RGB."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array (H, W, 3) float32 in [0, 1]; got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 8 or image.shape[1] < 8:
        raise InputError(f"image must have shape (H, W, 3) with H, W >= 8; got {image.shape}")
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise InputError(f"image must be float in [0, 1] or uint8; got dtype {image.dtype}")
    if not np.isfinite(image).all():
        raise InputError("image holds NaN or infinite values; load it with uvatar.io.load_image")
    return np.ascontiguousarray(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))


def shrink_to_side(img: np.ndarray, max_side: int) -> np.ndarray:
    """``img (H, W[, C])`` with its longer side at most ``max_side`` pixels (0: any size), area-averaged by
    OpenCV (``INTER_AREA``, the dtype kept); an image already small enough is returned as it is. The
    detector's downscaling, also the flow term's grey copies' (:func:`uvatar.track.flow.grey_frame`)."""
    import cv2

    h, w = img.shape[:2]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


# -- one holistic pass ---------------------------------------------------------------------------------
@dataclass
class _Region:
    """Where a processed image sits in the original: original_px = (x0 + u * w) * sx, u normalised."""

    x0: int  # detection-image pixels
    y0: int
    w: int
    h: int
    sx: float  # original px per detection px
    sy: float


def _process(img: np.ndarray, confidence: float, fresh: bool = True):
    """One holistic pass. ``fresh`` resets the graph first when it has run since its last reset.

    Even with ``static_image_mode=True`` the holistic graph carries face state from one call to the
    next: the same image processed twice gives face landmarks 1-2 px apart (at 512 px), and a photo's
    result depends on the photo processed before it. A reset (~100 ms, measured) makes each result a
    function of its image only. The pose is not affected, so passes that only use the pose skip it.
    """
    with _LOCK, _quiet_native_log():
        graph = _holistic(confidence)
        if fresh and _DIRTY.get(id(graph)):
            graph.reset()
        _DIRTY[id(graph)] = True
        return graph.process(img)


def _run(img: np.ndarray, min_confidence: float, retry_confidence: float | None, fresh: bool = True):
    """Holistic on ``img`` at ``min_confidence``, then ``retry_confidence``; -> (result, conf) or (None, None)."""
    res = _process(img, min_confidence, fresh)
    if res.pose_landmarks is not None:
        return res, min_confidence
    if retry_confidence is not None and retry_confidence < min_confidence:
        res = _process(img, retry_confidence, fresh)
        if res.pose_landmarks is not None:
            return res, retry_confidence
    return None, None


def _lm_xy(landmarks, region: _Region) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe NormalizedLandmarkList -> ``(N, 2)`` original pixels and ``(N,)`` z in original pixels."""
    a = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float64)
    x = (region.x0 + a[:, 0] * region.w) * region.sx
    y = (region.y0 + a[:, 1] * region.h) * region.sy
    z = a[:, 2] * region.w * region.sx
    return np.stack([x, y], 1).astype(np.float32), z.astype(np.float32)


def _head_box(body: np.ndarray, face: np.ndarray | None) -> np.ndarray:
    """``(4,)`` face box x0, y0, x1, y1 (pixels): the face mesh's, else one grown from the pose head points."""
    if face is not None:
        return np.concatenate([face.min(0), face.max(0)])
    pts = body[_HEAD_POSE]
    lo, hi = pts.min(0), pts.max(0)
    c = (lo + hi) / 2
    side = max(hi[0] - lo[0], hi[1] - lo[1], 1.0) * 1.3  # ear-to-ear span ~ face width
    return np.array([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2])


def _person_blobs(mask: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """``(H, W)`` bool: the blobs of ``mask > 0.5`` that belong to the person whose landmarks are
    ``points`` ``(N, 2)`` pixels: the largest blob, blobs holding a landmark, and blobs >= 10% of the
    largest. None when the mask is empty. (Holistic segments whoever is in its crop, including bits
    of neighbours; those stray blobs are dropped.)"""
    import cv2

    binary = (mask > 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1 + int(np.argmax(areas))] = True
    keep[1:] |= areas >= 0.1 * areas.max()
    h, w = mask.shape
    xi, yi = points[:, 0].astype(int), points[:, 1].astype(int)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    keep[labels[yi[ok], xi[ok]]] = True
    keep[0] = False
    return keep[labels]


def _build(res, region: _Region, size: tuple[int, int], confidence: float, scale: float) -> Detections:
    """Holistic result on ``region`` -> Detections in original pixels of an image of ``size`` (W, H)."""
    import cv2

    W, H = size
    body, body_z = _lm_xy(res.pose_landmarks, region)
    vis = np.array([p.visibility for p in res.pose_landmarks.landmark], dtype=np.float32)
    # In frame = inside the image AND inside the region holistic saw (a crop's outside is extrapolated).
    rx0, ry0 = region.x0 * region.sx, region.y0 * region.sy
    rx1, ry1 = min(W, (region.x0 + region.w) * region.sx), min(H, (region.y0 + region.h) * region.sy)
    in_frame = (body[:, 0] >= rx0) & (body[:, 0] < rx1) & (body[:, 1] >= ry0) & (body[:, 1] < ry1)
    world = None
    if getattr(res, "pose_world_landmarks", None) is not None:
        world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark], dtype=np.float32)
    face = face_z = None
    if res.face_landmarks is not None:
        face, face_z = _lm_xy(res.face_landmarks, region)
    hands: dict[str, Any] = {}
    for side in ("left", "right"):
        lms = getattr(res, f"{side}_hand_landmarks")
        if lms is not None:
            xy, z = _lm_xy(lms, region)
            hands[f"{side}_hand"], hands[f"{side}_hand_z"] = xy, z
            hands[f"{side}_hand_score"] = float(vis[_HAND_POSE[side]].mean())
    mask = None
    if res.segmentation_mask is not None:
        m = np.asarray(res.segmentation_mask, dtype=np.float32)
        ox0, oy0 = round(region.x0 * region.sx), round(region.y0 * region.sy)
        ox1, oy1 = round((region.x0 + region.w) * region.sx), round((region.y0 + region.h) * region.sy)
        ox1, oy1 = min(ox1, W), min(oy1, H)
        m = cv2.resize(m, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((H, W), np.float32)
        mask[oy0:oy1, ox0:ox1] = np.clip(m, 0.0, 1.0)
    # Points that belong to the person: visible in-frame body points, face, hands.
    pts = [body[in_frame & (vis > 0.5)]]
    if face is not None:
        pts.append(face)
    pts += [hands[k] for k in ("left_hand", "right_hand") if k in hands]
    pts = np.concatenate(pts) if sum(len(p) for p in pts) else body
    box = None
    if mask is not None:
        blobs = _person_blobs(mask, pts)
        if blobs is not None:
            # Zero the mask away from the person's blobs (a few px of soft edge kept around them).
            k = 2 * max(1, round(0.005 * max(W, H))) + 1
            near = cv2.dilate(blobs.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
            mask *= near
            ys, xs = np.nonzero(blobs)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    if box is None:
        box = np.concatenate([pts.min(0), pts.max(0)])
    box = np.clip(box, [0, 0, 0, 0], [W, H, W, H]).astype(np.float32)
    return Detections(
        image_size=(W, H),
        body=body,
        body_z=body_z,
        body_visibility=np.clip(vis, 0, 1),
        body_in_frame=in_frame,
        body_world=world,
        face=face,
        face_z=face_z,
        mask=mask,
        box=box,
        confidence_used=float(confidence),
        detect_scale=float(scale),
        **hands,
    )


# -- people counting ---------------------------------------------------------------------------------
def count_faces(image: np.ndarray, min_confidence: float = 0.5, max_side: int = 1280) -> np.ndarray:
    """Faces found by MediaPipe full-range face detection.

    Args:
        image: ``(H, W, 3)`` float32 RGB in [0, 1] (or uint8).
        min_confidence: detection score threshold in [0, 1].
        max_side: the image is downscaled so that its longer side is at most this, for speed.

    Returns:
        ``(N, 5)`` float32 rows ``x0, y0, x1, y1, score``: boxes in original-image pixels, sorted by
        area, largest first. ``N`` may be 0 (e.g. people seen from the back, or tiny faces).
    """
    img = _to_uint8(image)
    small = shrink_to_side(img, max_side)
    return _faces(small, img.shape[1] / small.shape[1], img.shape[0] / small.shape[0], min_confidence)


def _faces(small: np.ndarray, sx: float, sy: float, min_confidence: float) -> np.ndarray:
    h, w = small.shape[:2]
    with _LOCK, _quiet_native_log():
        res = _face_detector(min_confidence).process(small)
    rows = []
    for d in res.detections or []:
        b = d.location_data.relative_bounding_box
        x0, y0 = b.xmin * w * sx, b.ymin * h * sy
        rows.append((x0, y0, x0 + b.width * w * sx, y0 + b.height * h * sy, d.score[0]))
    out = np.array(rows, dtype=np.float32).reshape(-1, 5)
    area = (out[:, 2] - out[:, 0]) * (out[:, 3] - out[:, 1])
    return out[np.argsort(-area, kind="stable")]


def _main_face(faces: np.ndarray, size: tuple[int, int]) -> int:
    """Index of the main face: among faces >= 60% of the largest's area, the one nearest the centre."""
    area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    cand = np.flatnonzero(area >= _MAIN_FACE_AREA_RATIO * area.max())
    c = (faces[cand, :2] + faces[cand, 2:4]) / 2
    dist = np.linalg.norm((c - np.array(size, dtype=np.float32) / 2) / max(size), axis=1)
    return int(cand[np.argmin(dist)])


def _is_person_of_face(det: Detections, face: np.ndarray) -> bool:
    """Does ``det``'s head sit in ``face`` (x0, y0, x1, y1) and have a comparable size?"""
    hb = _head_box(det.body, det.face)
    head = max(hb[2] - hb[0], hb[3] - hb[1])
    return _nose_in(det, face, 0.25) and bool(head >= _HEAD_SIZE_RATIO * max(face[2] - face[0], face[3] - face[1]))


def _nose_in(det: Detections, face: np.ndarray, grow: float) -> bool:
    """Is ``det``'s nose inside ``face`` (x0, y0, x1, y1) grown by ``grow`` of its size on each side?"""
    x, y = det.body[BODY_INDEX["nose"]]
    fw, fh = face[2] - face[0], face[3] - face[1]
    return bool(face[0] - grow * fw <= x <= face[2] + grow * fw and face[1] - grow * fh <= y <= face[3] + grow * fh)


def _is_garbled(det: Detections, faces: np.ndarray) -> bool:
    """Is ``det``'s skeleton implausible: nose on a detected face whose size exceeds twice its torso length?"""
    nose = det.body[BODY_INDEX["nose"]]
    sh = det.body[[BODY_INDEX["left_shoulder"], BODY_INDEX["right_shoulder"]]].mean(0)
    hip = det.body[[BODY_INDEX["left_hip"], BODY_INDEX["right_hip"]]].mean(0)
    torso = float(np.linalg.norm(hip - sh))
    for f in faces:
        if f[0] <= nose[0] <= f[2] and f[1] <= nose[1] <= f[3] and torso < 0.5 * max(f[2] - f[0], f[3] - f[1]):
            return True
    return False


def _head_crop(face: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Crop (x0, y0, x1, y1), original pixels, around ``face`` and the body below it, narrow enough to
    leave out neighbours: 2.2 face sizes either side of the face centre, 1 above, 9 below (a body is
    ~7.5 heads tall)."""
    s = max(face[2] - face[0], face[3] - face[1])
    cx = (face[0] + face[2]) / 2
    x0, y0, x1, y1 = _clip_box((cx - 2.2 * s, face[1] - 1.0 * s, cx + 2.2 * s, face[1] + 9.0 * s), size)
    # Keep the crop at least 3:4 (w:h): on tall narrow crops MediaPipe squeezes the unseen lower body
    # into the frame (measured: a half-body photo cropped to 9:16 gets knees "visible" in frame).
    half_w = max((x1 - x0) / 2, 0.375 * (y1 - y0))
    return _clip_box((cx - half_w, y0, cx + half_w, y1), size)


def _clip_box(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    W, H = size
    return max(0, int(box[0])), max(0, int(box[1])), min(W, int(np.ceil(box[2]))), min(H, int(np.ceil(box[3])))


def _run_on_crop(small, crop, sx, sy, size, min_confidence, retry_confidence, fresh=True):
    """Holistic on ``crop`` (x0, y0, x1, y1 original pixels) of the detection image -> Detections or None."""
    sh, sw = small.shape[:2]
    cx0, cy0 = int(crop[0] / sx), int(crop[1] / sy)
    cx1, cy1 = min(sw, int(np.ceil(crop[2] / sx))), min(sh, int(np.ceil(crop[3] / sy)))
    if cx1 - cx0 < 16 or cy1 - cy0 < 16:
        return None
    res, conf = _run(np.ascontiguousarray(small[cy0:cy1, cx0:cx1]), min_confidence, retry_confidence, fresh)
    if res is None:
        return None
    return _build(res, _Region(cx0, cy0, cx1 - cx0, cy1 - cy0, sx, sy), size, conf, sw / size[0])


def _retarget(small, face, sx, sy, size, min_confidence, retry_confidence, fresh=True) -> Detections | None:
    """Detect the person whose face is ``face`` (original pixels): holistic on a narrow crop around it,
    then on the crop widened to the whole (extrapolated) body it found. None when that fails."""
    first = _run_on_crop(small, _head_crop(face, size), sx, sy, size, min_confidence, retry_confidence, fresh)
    if first is None or not _is_person_of_face(first, face):
        return None
    crop = _head_crop(face, size)
    lo, hi = first.body.min(0), first.body.max(0)
    m = 0.15 * (hi - lo)
    wide = _clip_box(
        (min(crop[0], lo[0] - m[0]), min(crop[1], lo[1] - m[1]), max(crop[2], hi[0] + m[0]), max(crop[3], hi[1] + m[1])),
        size,
    )
    if wide == crop:
        return first
    second = _run_on_crop(small, wide, sx, sy, size, min_confidence, retry_confidence, fresh)
    if second is not None and _is_person_of_face(second, face):
        return second
    return first


def _others_by_pose(small: np.ndarray, det: Detections, scale: tuple[float, float], confidence: float) -> bool:
    """Is there another upright person once ``det``'s person is painted out? (one extra holistic pass)"""
    import cv2

    img = small.copy()
    h, w = img.shape[:2]
    if det.mask is not None:
        m = (cv2.resize(det.mask, (w, h), interpolation=cv2.INTER_AREA) > 0.3).astype(np.uint8)
        k = max(3, int(0.02 * max(h, w)) | 1)
        m = cv2.dilate(m, np.ones((k, k), np.uint8)) > 0
    else:
        m = np.zeros((h, w), bool)
        x0, y0, x1, y1 = (det.box / np.array([*scale, *scale], np.float32)).astype(int)
        m[max(0, y0):y1, max(0, x0):x1] = True
    fill = np.median(img[~m], axis=0) if (~m).any() else np.full(3, 128)
    img[m] = fill.astype(np.uint8)
    res = _process(np.ascontiguousarray(img), confidence, fresh=False)  # pose only: no reset needed
    if res.pose_landmarks is None:
        return False
    a = np.array([(p.x * w, p.y * h, p.visibility) for p in res.pose_landmarks.landmark])
    nose_y = a[BODY_INDEX["nose"], 1]
    shoulder_y = a[[BODY_INDEX["left_shoulder"], BODY_INDEX["right_shoulder"]], 1].mean()
    hip_y = a[[BODY_INDEX["left_hip"], BODY_INDEX["right_hip"]], 1].mean()
    if not nose_y < shoulder_y < hip_y:
        return False  # not an upright person: pose detectors hallucinate garbled bodies on textures
    vis = a[a[:, 2] > 0.5]
    if len(vis) < 8:
        return False
    xi = np.clip(vis[:, 0].astype(int), 0, w - 1)
    yi = np.clip(vis[:, 1].astype(int), 0, h - 1)
    inside = (vis[:, 0] >= 0) & (vis[:, 0] < w) & (vis[:, 1] >= 0) & (vis[:, 1] < h)
    # Most of the new person's visible points must be in frame and off the painted-out main person.
    return bool((inside & ~m[yi, xi]).mean() >= 0.6)


def _main_person(det, faces, small, scale, size, confidences, fresh, warnings, name) -> Detections | None:
    """Make sure ``det`` is the person of the main face; re-detect on a crop around that face if not."""
    main = faces[_main_face(faces, size)][:4]
    if det is not None and _is_person_of_face(det, main):
        return det
    # Holistic missed the person or followed another (smaller / off-centre) one.
    cdet = _retarget(small, main, *scale, size, *confidences, fresh)
    if cdet is not None:
        if det is not None:
            warnings.append("holistic first followed a smaller or off-centre person; re-ran it on a crop around the main face")
        else:
            warnings.append("nobody found on the whole photo; found the person on a crop around the largest face")
        if cdet.confidence_used != confidences[0]:
            warnings.append(f"the crop needed detection confidence {cdet.confidence_used}")
        return cdet
    if det is not None and _is_garbled(det, faces):
        # A whole skeleton squeezed into one face: the pose model failed on this framing.
        raise NoPersonError(
            f"no usable body pose found in {name} (a face was seen but the pose model failed on it); "
            "use a photo that shows the whole head and at least the shoulders"
        )
    if det is not None:
        warnings.append("the person followed may not be the main one: a larger face was seen but re-detection on it failed")
    return det


# -- public entry point --------------------------------------------------------------------------------
def detect(
    image: np.ndarray,
    min_confidence: float = 0.5,
    retry_confidence: float | None = 0.3,
    max_side: int = 1280,
    count_people: bool = True,
    deterministic: bool = True,
    source: str | None = None,
) -> Detections:
    """Detect the main person's body, face and hand landmarks and mask in one photo.

    Args:
        image: ``(H, W, 3)`` float32 RGB in [0, 1] (uint8 is accepted too), EXIF orientation applied,
            NOT mirrored (see "left" in :mod:`uvatar.detect.detections`).
        min_confidence: MediaPipe ``min_detection_confidence`` of the first try, in [0, 1].
        retry_confidence: a lower confidence tried when nobody is found (multi-person and wide photos
            often need 0.3); None disables the retry.
        max_side: detection runs on a copy downscaled so its longer side is at most this many pixels;
            coordinates are mapped back to the original. 0 disables downscaling.
        count_people: estimate how many people the photo holds (face detection plus one extra holistic
            pass with the main person painted out, ~+40-80 ms) and re-target holistic onto the main
            person when it followed a smaller/background one.
        deterministic: reset MediaPipe's graph before each pass whose face landmarks are used, so the
            result depends on this image only (holistic otherwise carries face state between calls:
            1-2 px face jitter). Costs ~100 ms per pass (more on a busy CPU); False for video frames.
        source: a name for the photo (file name) used in messages.

    Returns:
        :class:`Detections` in pixels of the original image; the person mask's edge snapped to the
        photo's colours (:func:`uvatar.detect.mask_edges.snap_mask_edges`; the video detector's masks are
        left as MediaPipe gives them).

    Raises:
        InputError: ``image`` is not an ``(H, W, 3)`` float/uint8 array.
        NoPersonError: nobody was found even at ``retry_confidence``.
    """
    if not 0.0 <= min_confidence <= 1.0 or (retry_confidence is not None and not 0.0 <= retry_confidence <= 1.0):
        raise InputError(f"confidences must lie in [0, 1]; got {min_confidence}, {retry_confidence}")
    t0 = time.perf_counter()
    img = _to_uint8(image)
    H, W = img.shape[:2]
    small = shrink_to_side(img, max_side)
    sh, sw = small.shape[:2]
    sx, sy = W / sw, H / sh
    whole = _Region(0, 0, sw, sh, sx, sy)
    warnings: list[str] = []
    name = source or "the photo"

    res, conf = _run(small, min_confidence, retry_confidence, deterministic)
    det = _build(res, whole, (W, H), conf, sw / W) if res is not None else None
    if det is not None and conf != min_confidence:
        warnings.append(f"nobody found at detection confidence {min_confidence}; found one at {conf}")

    n_people = 1
    if count_people:
        faces = _faces(small, sx, sy, 0.5)
        if len(faces):
            det = _main_person(det, faces, small, (sx, sy), (W, H), (min_confidence, retry_confidence), deterministic, warnings, name)
        if det is not None:
            n_people = max(1, len(faces))
            if n_people == 1 and _others_by_pose(small, det, (sx, sy), retry_confidence or min_confidence):
                n_people = 2
            own = [f for f in faces if _nose_in(det, f, 0.25)]
            if own:
                det.face_detection = np.asarray(own[0], np.float32)  # faces are sorted largest first
    if det is None:
        raise NoPersonError(f"no person found in {name}; use a photo where one person's head or body is clearly visible")
    if n_people > 1:
        warnings.append(f"{n_people} people in the photo; fitting the main (largest, most central) one")
    det.n_people = n_people
    if det.mask is not None:  # the upsampled segmentation's contour strays into the background
        from uvatar.detect.mask_edges import snap_mask_edges

        det.mask = snap_mask_edges(img.astype(np.float32) / 255.0, det.mask)
    det.warnings = warnings + det.warnings
    for w_ in warnings:
        log.info("%s: %s", name, w_)
    log.debug("detect %s: %.0f ms", name, 1000 * (time.perf_counter() - t0))
    return det


# -- video frames --------------------------------------------------------------------------------------
class VideoDetector:
    """Holistic in tracking mode over the consecutive frames of one clip: call it on each frame in order.

    MediaPipe's ``static_image_mode=False`` runs the person detector only until a pose is found, then
    follows the person from the previous frame's region of interest (measured on the shared clips: 33 ms
    per 512 px frame against 180 ms for :func:`detect` with its resets and people counting). No people
    counting, no re-targeting and no graph resets: the clip is assumed to show one person. The graph is
    this object's own (its tracking state belongs to one clip); :meth:`close` frees it.

    Args:
        max_side: frames are downscaled so that their longer side is at most this many pixels before
            detection (coordinates are mapped back to the original); 0 keeps the full size.
        min_confidence: MediaPipe ``min_detection_confidence`` in [0, 1].
        masks: also return the person mask (MediaPipe's segmentation, ~+5 ms per frame).
    """

    def __init__(self, max_side: int = 640, min_confidence: float = 0.5, masks: bool = True) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise InputError(f"min_confidence must lie in [0, 1]; got {min_confidence}")
        if not isinstance(max_side, int) or max_side < 0:
            raise InputError(f"max_side must be an integer >= 0; got {max_side!r}")
        self.max_side, self.min_confidence, self.masks = max_side, float(min_confidence), masks
        self._graph = None

    def __call__(self, frame: np.ndarray) -> Detections | None:
        """``(H, W, 3)`` uint8 (or float in [0, 1]) RGB frame -> :class:`Detections` in its pixels, or None
        when nobody is found."""
        small, size = self.downscaled(frame)
        return self.detect_downscaled(small, size)

    def downscaled(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The copy of ``frame`` that is detected (uint8, longer side at most ``max_side``) and the
        frame's own ``(W, H)``."""
        img = _to_uint8(frame)
        H, W = img.shape[:2]
        return np.ascontiguousarray(shrink_to_side(img, self.max_side)), (W, H)

    def detect_downscaled(self, small: np.ndarray, size: tuple[int, int]) -> Detections | None:
        """Detect on the :meth:`downscaled` copy ``small`` of a ``size = (W, H)`` frame; the result is in
        the frame's pixels."""
        W, H = size
        sh, sw = small.shape[:2]
        with _LOCK, _quiet_native_log():
            if self._graph is None:
                self._graph = _mp().solutions.holistic.Holistic(
                    static_image_mode=False,
                    model_complexity=1,
                    smooth_landmarks=False,  # the tracker's temporal terms smooth, without MediaPipe's lag
                    enable_segmentation=self.masks,
                    smooth_segmentation=False,
                    refine_face_landmarks=True,
                    min_detection_confidence=self.min_confidence,
                    min_tracking_confidence=0.5,
                )
            res = self._graph.process(small)
        if res.pose_landmarks is None:
            return None
        return _build(res, _Region(0, 0, sw, sh, W / sw, H / sh), (W, H), self.min_confidence, sw / W)

    def close(self) -> None:
        """Free the MediaPipe graph (a later call builds a fresh one)."""
        graph, self._graph = self._graph, None
        if graph is not None:
            with _LOCK, _quiet_native_log():
                graph.close()

    def __enter__(self) -> "VideoDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
