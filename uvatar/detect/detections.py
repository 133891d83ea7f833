"""The :class:`Detections` container: what the detector saw in one photo, in original-image pixels.

Conventions (all arrays float32 unless stated):

- Pixel coordinates of the ORIGINAL image (before any downscaling or cropping done for detection):
  x to the right, y down, origin at the top-left corner of the top-left pixel, so the centre of pixel
  ``(i, j)`` is ``(j + 0.5, i + 0.5)``. (MediaPipe's normalised ``x * W`` gives exactly this.)
- "left"/"right" are the PERSON's left and right, as MediaPipe names them for an un-mirrored photo:
  a person facing the camera has ``left_shoulder`` on the image's right. A mirrored selfie swaps them;
  :func:`uvatar.detect.detect` never flips its input.
- Depths (``body_z``, ``face_z``, hand ``*_z``) are MediaPipe's relative depths converted to the same pixel
  scale as x: body depth relative to the hip midpoint, face depth relative to the face centre, hand depth
  relative to the wrist; smaller is nearer the camera. They are rough, useful for ordering only.

Saving: :meth:`Detections.save` writes one ``.safetensors`` file (arrays) whose header metadata holds the
scalar fields as JSON; :meth:`Detections.to_dict` gives a JSON-friendly dict (arrays as nested lists).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uvatar.errors import InputError

__all__ = [
    "BODY_LANDMARKS",
    "BODY_INDEX",
    "HAND_LANDMARKS",
    "N_BODY",
    "N_FACE",
    "N_HAND",
    "Detections",
]

#: The 33 MediaPipe pose landmarks, in MediaPipe's order (index = position in this tuple).
BODY_LANDMARKS: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

#: Name -> index into :data:`BODY_LANDMARKS`.
BODY_INDEX: dict[str, int] = {name: i for i, name in enumerate(BODY_LANDMARKS)}

#: The 21 MediaPipe hand landmarks, in order.
HAND_LANDMARKS: tuple[str, ...] = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_finger_mcp",
    "index_finger_pip",
    "index_finger_dip",
    "index_finger_tip",
    "middle_finger_mcp",
    "middle_finger_pip",
    "middle_finger_dip",
    "middle_finger_tip",
    "ring_finger_mcp",
    "ring_finger_pip",
    "ring_finger_dip",
    "ring_finger_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)

N_BODY = 33
N_FACE = 478
N_HAND = 21

# Array fields and their shapes (None entries are filled from image_size / left free).
_ARRAY_FIELDS: dict[str, tuple] = {
    "body": (N_BODY, 2),
    "body_z": (N_BODY,),
    "body_visibility": (N_BODY,),
    "body_in_frame": (N_BODY,),
    "body_world": (N_BODY, 3),
    "face": (N_FACE, 2),
    "face_z": (N_FACE,),
    "left_hand": (N_HAND, 2),
    "left_hand_z": (N_HAND,),
    "right_hand": (N_HAND, 2),
    "right_hand_z": (N_HAND,),
    "mask": ("H", "W"),
    "box": (4,),
    "face_detection": (5,),
}
_OPTIONAL = {
    "body_world",
    "face",
    "face_z",
    "left_hand",
    "left_hand_z",
    "right_hand",
    "right_hand_z",
    "mask",
    "face_detection",
}
_SCALAR_FIELDS = (
    "image_size",
    "left_hand_score",
    "right_hand_score",
    "n_people",
    "confidence_used",
    "detect_scale",
    "warnings",
)


@dataclass
class Detections:
    """What the detector saw of the main person in one photo. Pixel coordinates of the original image.

    Attributes:
        image_size: ``(W, H)`` of the original image, pixels.
        body: ``(33, 2)`` float32 pose landmarks (order :data:`BODY_LANDMARKS`), pixels. Landmarks outside
            the frame are MediaPipe's extrapolations (see ``body_in_frame``).
        body_z: ``(33,)`` float32 relative depth, pixels (hip-midpoint origin, smaller = nearer).
        body_visibility: ``(33,)`` float32 in [0, 1], MediaPipe's likelihood that the point is visible
            (in frame and not occluded).
        body_in_frame: ``(33,)`` bool, whether ``body`` lies inside ``[0, W) x [0, H)``.
        body_world: ``(33, 3)`` float32 MediaPipe world landmarks, metres, origin at the hip midpoint,
            axes x right, y down, z away from the camera (as MediaPipe gives them), or None.
        face: ``(478, 2)`` float32 face mesh with refined irises, pixels, or None when no face was found.
        face_z: ``(478,)`` float32 relative depth, pixels, or None.
        left_hand, right_hand: ``(21, 2)`` float32 hand landmarks (order :data:`HAND_LANDMARKS`) of the
            person's left/right hand, pixels, or None when the hand was not found.
        left_hand_z, right_hand_z: ``(21,)`` float32 relative depth, pixels, or None.
        left_hand_score, right_hand_score: float in [0, 1] or None. Holistic reports no hand presence or
            handedness score; this is a PROXY: the mean visibility of the pose's wrist, pinky, index and
            thumb points on that side. Handedness itself comes from the pose (which wrist the hand hangs on).
        mask: ``(H, W)`` float32 person segmentation in [0, 1] (the main person only, though it may spill
            onto a neighbour who touches them), or None.
        face_detection: ``(5,)`` float32 ``x0, y0, x1, y1, score`` of MediaPipe's full-range face detector
            box (pixels) on the main person's face, or None (not run, or no face seen, e.g. back views).
            Independent of the pose, it finds profiles the face mesh misses.
        box: ``(4,)`` float32 person box ``x0, y0, x1, y1``, pixels, from the mask when there is one,
            else from the in-frame landmarks; clipped to the image.
        n_people: estimated number of people in the photo, a lower bound: the number of faces the face
            detector found, or 2 when none/one was found but a second upright body appears once the main
            person is painted out (back views). Small or hidden people can be missed; 1 when not counted.
        confidence_used: the MediaPipe ``min_detection_confidence`` that found the person.
        detect_scale: detection-image pixels per original pixel (< 1 when the photo was downscaled).
        warnings: human-readable notes (retries, several people, crops), one sentence each.
    """

    image_size: tuple[int, int]
    body: np.ndarray
    body_z: np.ndarray
    body_visibility: np.ndarray
    body_in_frame: np.ndarray
    box: np.ndarray
    body_world: np.ndarray | None = None
    face: np.ndarray | None = None
    face_z: np.ndarray | None = None
    left_hand: np.ndarray | None = None
    left_hand_z: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    right_hand_z: np.ndarray | None = None
    left_hand_score: float | None = None
    right_hand_score: float | None = None
    mask: np.ndarray | None = None
    face_detection: np.ndarray | None = None
    n_people: int = 1
    confidence_used: float = 0.5
    detect_scale: float = 1.0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        w, h = self.image_size
        for name, shape in _ARRAY_FIELDS.items():
            value = getattr(self, name)
            if value is None:
                if name not in _OPTIONAL:
                    raise InputError(f"Detections.{name} is required; pass an array of shape {shape}")
                continue
            dtype = bool if name == "body_in_frame" else np.float32
            arr = np.asarray(value, dtype=dtype)
            want = tuple(h if s == "H" else w if s == "W" else s for s in shape)
            if arr.shape != want:
                raise InputError(f"Detections.{name} must have shape {want}; got {arr.shape}")
            setattr(self, name, arr)
        self.warnings = list(self.warnings)

    # -- convenience ---------------------------------------------------------------------------------
    def landmark(self, name: str) -> np.ndarray:
        """``(2,)`` pixel position of the body landmark called ``name`` (see :data:`BODY_LANDMARKS`)."""
        if name not in BODY_INDEX:
            raise InputError(f"unknown body landmark {name!r}; use one of uvatar.detect.BODY_LANDMARKS")
        return self.body[BODY_INDEX[name]]

    def face_box(self) -> np.ndarray | None:
        """``(4,)`` box ``x0, y0, x1, y1`` (pixels) around the face mesh, or None without a face mesh."""
        if self.face is None:
            return None
        return np.concatenate([self.face.min(0), self.face.max(0)]).astype(np.float32)

    # -- serialisation -------------------------------------------------------------------------------
    def to_dict(self, include_mask: bool = True) -> dict[str, Any]:
        """JSON-friendly dict: arrays as nested lists, None kept as None.

        ``include_mask=False`` drops the (large, H*W floats) mask.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "mask" and not include_mask:
                value = None
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Detections":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InputError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InputError(f"unknown Detections fields {sorted(unknown)}; was this file written by UVatar?")
        kwargs = dict(d)
        kwargs["image_size"] = tuple(d["image_size"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (``.safetensors``): arrays as tensors, other fields as JSON header metadata.

        Written to a temporary name and renamed, so a crash never leaves a half-written file.
        """
        from safetensors.numpy import save_file

        from uvatar.io.atomic import atomic_path

        tensors = {}
        for name in _ARRAY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                tensors[name] = np.ascontiguousarray(value.astype(np.uint8) if name == "body_in_frame" else value)
        meta = {name: getattr(self, name) for name in _SCALAR_FIELDS}
        meta["image_size"] = list(self.image_size)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"uvatar.detections": json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> "Detections":
        """Read a file written by :meth:`save`. Raises :class:`InputError` on a file that is not one."""
        from uvatar.io.tensors import read_safetensors

        path = Path(path)
        if not path.is_file():
            raise InputError(f"detections file {path} does not exist; check the path")
        meta, tensors = read_safetensors(path, "a readable detections file", "re-run detection", framework="numpy")
        if "uvatar.detections" not in meta:
            raise InputError(f"{path} holds no UVatar detections; re-run detection")
        d = json.loads(meta["uvatar.detections"])
        d.update(tensors)
        if "body_in_frame" in d:
            d["body_in_frame"] = np.asarray(d["body_in_frame"]).astype(bool)
        return cls.from_dict(d)
