"""Cameras for synthetic subjects: framings (head, half, full body), view sampling around the person and view labels.

Framing (:func:`framing_anchors`, :func:`place_camera`): two anchor points on the body (the top of the
head and a point that depends on the framing) are placed at chosen image heights by a look-at camera
whose distance and aim are refined until the projection fits (``"full"`` fits every given point):

* ``"head"``: head and shoulders, the frame ending 4-13 cm below the shoulders;
* ``"half"``: head to between the waist and mid-thigh;
* ``"full"``: the whole body with a margin.

Views (:func:`sample_views`): ``K`` views per subject spread around the person: azimuths are
stratified (one per ``360/K`` degree sector, uniformly jittered inside it, with a random offset), so
front, side and back views all occur. Azimuth 0 is in front of the body (on -Y, where it faces),
growing towards +X (its left). Each view draws its framing from :attr:`ViewConfig.framing_probs`, a
35 mm-equivalent focal length from that framing's range (vertical field of view over a 24 mm frame),
an elevation (camera pitch, positive looking down) and a small roll.

View labels (:func:`view_label`) bin the absolute azimuth between the body's facing direction and the
direction to the camera: ``front`` < 30 deg <= ``three_quarter`` < 75 <= ``side`` < 120 <= ``back``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.body.model import BodyModel
from uvatar.camera import Camera
from uvatar.errors import InputError

__all__ = [
    "FRAMINGS", "VIEW_LABELS", "ViewConfig", "ViewSpec", "framing_anchors", "place_camera", "sample_views",
    "view_camera", "view_label", "camera_azimuth", "fov_from_focal_mm",
]  # fmt: skip

FRAMINGS = ("head", "half", "full")
VIEW_LABELS = ("front", "three_quarter", "side", "back")
_VIEW_EDGES = (30.0, 75.0, 120.0)


def framing_anchors(body: BodyModel, vertices: torch.Tensor, coco: dict, framing: str, rng) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Top and bottom anchor points (world) and where they should land (fractions of the height)."""
    v = vertices.numpy()
    head = np.unique(body.faces[body.face_parts == 0].cpu().numpy())  # PART_NAMES[0] == "head"
    top = v[head[np.argmax(v[head, 2])]].copy()
    hip = 0.5 * (coco["left_hip"] + coco["right_hip"])
    knee = 0.5 * (coco["left_knee"] + coco["right_knee"])
    shoulder = 0.5 * (coco["left_shoulder"] + coco["right_shoulder"])
    axis_xy = np.array([shoulder[0], shoulder[1]])
    if framing == "head":
        bottom_z = shoulder[2] - rng.uniform(0.04, 0.13)
        top_at, bottom_at = rng.uniform(0.03, 0.1), 1.0
    elif framing == "half":
        bottom_z = hip[2] + 0.05 - rng.uniform(0.0, 0.55) * (hip[2] - knee[2])
        top_at, bottom_at = rng.uniform(0.03, 0.1), 1.0
        axis_xy = np.array([hip[0], hip[1]])
    else:
        lowest = v[np.argmin(v[:, 2])]
        bottom_z = lowest[2]
        top_at = rng.uniform(0.04, 0.12)
        bottom_at = 1.0 - rng.uniform(0.03, 0.12)
        axis_xy = np.array([hip[0], hip[1]])
    bottom = np.array([axis_xy[0], axis_xy[1], bottom_z])
    top = np.array([axis_xy[0] * 0.5 + top[0] * 0.5, top[1], top[2]])
    return top, bottom, top_at, bottom_at


def place_camera(vertices, top, bottom, top_at, bottom_at, yaw, pitch, fov, size, framing, rng) -> Camera:
    """Look-at camera whose projection puts ``top``/``bottom`` at the wanted image heights.

    ``full``: the projected extent of all ``vertices`` is placed instead (whole body in frame, with the
    margins ``top_at`` and ``1 - bottom_at``, and at most 92% of the width).
    """
    focal = 0.5 * size / math.tan(math.radians(fov) / 2)
    want = (bottom_at - top_at) * size
    distance = focal * float(np.linalg.norm(top - bottom)) / want
    target = 0.5 * (top + bottom)
    direction = np.array([math.sin(yaw) * math.cos(pitch), -math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    x_shift = rng.uniform(-0.05, 0.05) * size
    anchors = torch.as_tensor(np.stack([top, bottom]), dtype=torch.float32)
    points = torch.as_tensor(vertices, dtype=torch.float32) if framing == "full" else anchors

    def extent(cam):  # (x_lo, y_lo, x_hi, y_hi) in pixels of the points that must fit
        px, _ = cam.project(points)
        lo, hi = px.amin(0), px.amax(0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    for _ in range(10):
        cam = Camera.look_at(target + distance * direction, target, size, size, fov)
        x0, y0, x1, y1 = extent(cam)
        distance *= max((y1 - y0) / want, (x1 - x0) / (0.92 * size) if framing == "full" else 0.0)
        cam = Camera.look_at(target + distance * direction, target, size, size, fov)
        x0, y0, x1, y1 = extent(cam)
        err_y = 0.5 * (y0 + y1) - 0.5 * (top_at + bottom_at) * size
        err_x = 0.5 * (x0 + x1) - 0.5 * size - (0.0 if framing == "full" else x_shift)
        target = target + (cam.R[1].numpy() * err_y + cam.R[0].numpy() * err_x) * distance / focal
    return Camera.look_at(target + distance * direction, target, size, size, fov)


# ---------------------------------------------------------------------------------------------- views
@dataclass(frozen=True)
class ViewConfig:
    """How the views of a subject are drawn.

    Attributes:
        framing_probs: probabilities of ``head``, ``half``, ``full`` (sitting subjects use only the
            first two, renormalised).
        focal_mm_head, focal_mm_half, focal_mm_full: 35 mm-equivalent focal length ranges per framing
            (drawn log-uniformly).
        elevation_deg: camera pitch range (positive: the camera looks down on the person).
        roll_deg: standard deviation of the camera roll.
        azimuth_jitter: fraction of each view's sector over which its azimuth is jittered.
    """

    framing_probs: tuple[float, float, float] = (0.3, 0.45, 0.25)
    focal_mm_head: tuple[float, float] = (45.0, 110.0)
    focal_mm_half: tuple[float, float] = (32.0, 85.0)
    focal_mm_full: tuple[float, float] = (24.0, 60.0)
    elevation_deg: tuple[float, float] = (-8.0, 18.0)
    roll_deg: float = 2.5
    azimuth_jitter: float = 0.8

    def __post_init__(self) -> None:
        probs = np.asarray(self.framing_probs, dtype=float)
        if probs.shape != (3,) or (probs < 0).any() or probs.sum() <= 0:
            raise InputError(f"framing_probs must be 3 non-negative numbers (head, half, full); got {self.framing_probs}")


@dataclass(frozen=True)
class ViewSpec:
    """One drawn view before placement: framing, azimuth/elevation/roll in degrees, focal length in mm."""

    framing: str
    azimuth_deg: float
    elevation_deg: float
    roll_deg: float
    focal_mm: float


def fov_from_focal_mm(focal_mm: float, frame_mm: float = 24.0) -> float:
    """Vertical field of view in degrees of a 35 mm-equivalent focal length over a ``frame_mm`` high frame."""
    return math.degrees(2.0 * math.atan(0.5 * frame_mm / focal_mm))


def view_label(azimuth_deg: float) -> str:
    """``front``, ``three_quarter``, ``side`` or ``back`` for an azimuth (degrees, any sign, 0 = facing the camera)."""
    a = abs((float(azimuth_deg) + 180.0) % 360.0 - 180.0)
    for label, edge in zip(VIEW_LABELS, _VIEW_EDGES):
        if a < edge:
            return label
    return VIEW_LABELS[-1]


def camera_azimuth(camera: Camera, centre) -> float:
    """Azimuth in degrees of ``camera``'s centre around the vertical axis through ``centre`` (0 = in
    front of a body facing -Y, positive towards +X)."""
    c = camera.center.numpy().astype(np.float64) - np.asarray(centre, dtype=np.float64)
    return math.degrees(math.atan2(c[0], -c[1]))


def sample_views(rng: np.random.Generator, config: ViewConfig, n_views: int, sitting: bool = False) -> list[ViewSpec]:
    """Draw ``n_views`` stratified views around a subject (module docstring).

    Args:
        rng: the subject's view generator.
        config: :class:`ViewConfig`.
        n_views: views per subject, >= 1.
        sitting: restrict framings to ``head`` and ``half``.
    """
    if n_views < 1:
        raise InputError(f"views per subject must be >= 1; got {n_views}")
    probs = np.asarray(config.framing_probs, dtype=float)
    if sitting:
        probs = probs * np.array([1.0, 1.0, 0.0])
        if probs.sum() <= 0:
            probs = np.array([0.0, 1.0, 0.0])
    probs = probs / probs.sum()
    sector = 360.0 / n_views
    offset = rng.uniform(0.0, sector)
    specs = []
    for k in range(n_views):
        framing = FRAMINGS[int(rng.choice(3, p=probs))]
        azimuth = offset + k * sector + rng.uniform(-0.5, 0.5) * config.azimuth_jitter * sector
        azimuth = (azimuth + 180.0) % 360.0 - 180.0
        lo, hi = getattr(config, f"focal_mm_{framing}")
        focal = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        elevation = float(rng.uniform(*config.elevation_deg))
        roll = float(np.clip(rng.normal(0.0, config.roll_deg), -3 * config.roll_deg, 3 * config.roll_deg))
        specs.append(ViewSpec(framing, float(azimuth), elevation, roll, focal))
    return specs


def view_camera(
    body: BodyModel,
    vertices: torch.Tensor,
    coco: dict,
    spec: ViewSpec,
    size: int,
    rng: np.random.Generator,
    extra_points: np.ndarray | None = None,
) -> Camera:
    """Place the camera of one view (:func:`framing_anchors` + :func:`place_camera`, then the roll).

    Args:
        vertices: ``(V, 3)`` posed body vertices (world).
        coco: COCO keypoint label -> ``(3,)`` world point of the posed body.
        spec: the view.
        size: square image side in pixels.
        rng: consumed for the framing's jitter.
        extra_points: ``(M, 3)`` points that belong to the person too (hair, loose clothes): they raise
            the top anchor and, for ``full``, must fit in the frame.
    """
    top, bottom, top_at, bottom_at = framing_anchors(body, vertices, coco, spec.framing, rng)
    points = vertices.numpy()
    if extra_points is not None and len(extra_points):
        near_top = extra_points[np.linalg.norm(extra_points[:, :2] - top[:2], axis=1) < 0.2]
        if len(near_top):
            top = top.copy()
            top[2] = max(top[2], float(near_top[:, 2].max()))
        if spec.framing == "full":
            points = np.concatenate([points, extra_points.astype(points.dtype)])
    fov = fov_from_focal_mm(spec.focal_mm)
    camera = place_camera(
        points, top, bottom, top_at, bottom_at, math.radians(spec.azimuth_deg), math.radians(spec.elevation_deg),
        fov, size, spec.framing, rng,
    )
    if spec.roll_deg:
        a = math.radians(spec.roll_deg)
        roll = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
        camera = Camera(camera.K, roll @ camera.R, roll @ camera.t, camera.width, camera.height)
    return camera
