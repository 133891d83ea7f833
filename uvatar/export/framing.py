"""Framing crops: the part of a body that a photo framed (head and shoulders, head to the waist / thighs /
knees, or the whole body), as a box around the body, and the cameras that show that box.

``uvatar reconstruct``'s preview panels and turntable (:mod:`uvatar.export.preview`) and the contact
sheet (:mod:`uvatar.eval.contact_sheet`) both frame the canonical body with these.

Convention: body space (metres, Z up, the body faces -Y); azimuth 0 is the front (camera on -Y), 90 the
body's left side (+X), as :func:`uvatar.camera.orbit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from uvatar.camera import Camera
from uvatar.errors import InputError

__all__ = [
    "FRAMINGS", "PREVIEW_FRAMINGS", "FOV_Y_DEG", "Crop", "framing_crop", "crop_camera", "crop_turntable_cameras",
    "check_preview_framing", "preview_framing",
]  # fmt: skip

#: What a photo can frame (the tracker's regimes).
FRAMINGS = ("head", "half", "full")
#: What the preview may show: ``auto`` (what the photo framed) or one of :data:`FRAMINGS`.
PREVIEW_FRAMINGS = ("auto", *FRAMINGS)
FOV_Y_DEG = 20.0  # a long lens: little perspective, as a portrait camera

#: Where a half-body crop ends, as the fraction of the way from the hips (0) to the knees (1), for the
#: fit's ``lower_extent``. The regime rule (:mod:`uvatar.detect.regime`) calls a frame cut above 1/4 of
#: that way ``waist``, below 3/4 ``knee`` and between them ``thigh``; each value here is about the middle
#: of its range (``waist`` ranges from the lower torso to 1/4, so the hips). None (unknown): the thighs.
HALF_BOTTOM = {"waist": 0.0, "thigh": 0.5, "knee": 1.0, None: 0.5}


@dataclass
class Crop:
    """A framing's box around the body: ``centre (3,)`` metres (world, Z up), ``height`` / ``width`` metres."""

    centre: torch.Tensor
    height: float
    width: float


def framing_crop(body, vertices: torch.Tensor, bone_poses: torch.Tensor, framing: str, margin: float = 0.08,
                 lower_extent: str | None = None, top: float | None = None) -> Crop:  # fmt: skip
    """The crop of ``framing`` ("head", "half", "full") on one posed body.

    Args:
        vertices: ``(V, 3)`` posed vertices; bone_poses: ``(J, 4, 4)`` its bone frames (``body.forward``).
        lower_extent: for "half", where the photo's frame cut the body ("waist", "thigh", "knee"; a
            fit's ``lower_extent``), or None.
        top: metres, the avatar's top when it is above the body's crown (hair, a hat), or None.
    The top is the highest vertex (the crown) or ``top`` if higher; the bottom: head: below the shoulders by 0.6 of the
    nose-to-shoulder height (upper chest); half: :data:`HALF_BOTTOM` of the way from the hips to the
    knees (hips for "waist", halfway for "thigh" and None, the knees for "knee"); full: the lowest vertex
    (the soles). ``margin``: of the height, added above and below. The width covers the landmarks inside
    the crop with 25 % to spare, at least 0.6 of the height.
    """
    from uvatar.body.keypoints import MEDIAPIPE33_NAMES

    if framing not in FRAMINGS:
        raise InputError(f"unknown framing {framing!r}; use head, half or full")
    if lower_extent not in HALF_BOTTOM:
        raise InputError(f"unknown lower extent {lower_extent!r}; use waist, thigh, knee or None")
    points = body.keypoints.mediapipe33(vertices[None], bone_poses[None])[0]  # (33, 3)
    z = {name: float(points[i, 2]) for i, name in enumerate(MEDIAPIPE33_NAMES)}
    shoulder = (z["left_shoulder"] + z["right_shoulder"]) / 2
    hip = (z["left_hip"] + z["right_hip"]) / 2
    knee = (z["left_knee"] + z["right_knee"]) / 2
    top = max(float(vertices[:, 2].max()), top if top is not None else -math.inf)
    if framing == "head":
        bottom = shoulder - 0.6 * (z["nose"] - shoulder)
    elif framing == "half":
        bottom = hip - HALF_BOTTOM[lower_extent] * (hip - knee)
    else:
        bottom = float(vertices[:, 2].min())
    height = (top - bottom) * (1 + 2 * margin)
    inside = points[(points[:, 2] >= bottom) & (points[:, 2] <= top)]
    span = float(inside[:, 0].max() - inside[:, 0].min()) if len(inside) else 0.0
    torso = points[[MEDIAPIPE33_NAMES.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]]
    centre = torch.tensor([float(torso[:, 0].mean()), float(torso[:, 1].mean()), (top + bottom) / 2])
    return Crop(centre, height, max(0.6 * height, 1.25 * span))


def crop_camera(crop: Crop, azimuth_deg: float, panel_height: int) -> Camera:
    """A camera at ``azimuth_deg`` around ``crop`` (0: the front, on -Y; 90: the body's left side, +X;
    as :func:`uvatar.camera.orbit`) seeing exactly its height in ``panel_height`` pixels (its width:
    ``panel_height * crop.width / crop.height``)."""
    distance = crop.height / 2 / math.tan(math.radians(FOV_Y_DEG / 2))
    a = math.radians(azimuth_deg)
    eye = crop.centre + distance * torch.tensor([math.sin(a), -math.cos(a), 0.0])
    width = max(1, round(panel_height * crop.width / crop.height))
    return Camera.look_at(eye, crop.centre, width, panel_height, fov_y_deg=FOV_Y_DEG)


def crop_turntable_cameras(crop: Crop, n: int, size: int, elevation_deg: float = 5.0, start_azimuth_deg: float = 0.0) -> list[Camera]:
    """``n`` square ``size`` x ``size`` cameras orbiting ``crop``'s centre (:func:`uvatar.camera.orbit`,
    field of view :data:`FOV_Y_DEG`), far enough that the crop stays in frame at every azimuth.

    The crop turned about its vertical axis fills a cylinder (radius ``r = width / 2``, ``height``); the
    distance ``d`` is the smallest that keeps that cylinder inside the view cone at elevation ``e``
    (``t = tan(FOV / 2)``), by two sufficient bounds: horizontally ``d >= r sqrt(1 + 1/t^2) + h/2 sin e``
    (the tangent to the rim circle, from the nearest rim height), vertically
    ``d >= (r sin e + h/2 cos e) / t + r cos e + h/2 sin e`` (the highest image offset over the nearest
    depth).
    """
    from uvatar.camera import orbit

    t = math.tan(math.radians(FOV_Y_DEG / 2))
    e = math.radians(elevation_deg)
    r, half = crop.width / 2, crop.height / 2
    across = r * math.sqrt(1 + 1 / t**2) + half * abs(math.sin(e))
    up = (r * abs(math.sin(e)) + half * math.cos(e)) / t + r * math.cos(e) + half * abs(math.sin(e))
    return orbit(crop.centre, max(across, up), n, size, size, fov_y_deg=FOV_Y_DEG, elevation_deg=elevation_deg,
                 start_azimuth_deg=start_azimuth_deg)  # fmt: skip


def check_preview_framing(choice: str) -> str:
    """``choice`` if it is one of :data:`PREVIEW_FRAMINGS`; else :class:`~uvatar.errors.InputError`."""
    if choice not in PREVIEW_FRAMINGS:
        raise InputError(f"unknown preview framing {choice!r}; use auto (what the photo framed), head, half or full (the whole body)")
    return choice


def preview_framing(choice: str, fit) -> tuple[str, str | None]:
    """The framing a preview shows, and its lower extent: ``(framing, lower_extent)``.

    Args:
        choice: one of :data:`PREVIEW_FRAMINGS`; ``auto``: the photo's framing (``fit.regime``), or the
            whole body when ``fit`` is None (synthetic truth).
        fit: the photo's :class:`~uvatar.track.ProxyFit` (its ``regime`` and ``lower_extent``), or None.
    Returns:
        ``lower_extent`` is the fit's for a half framing (None otherwise, or without a fit).
    """
    framing = check_preview_framing(choice)
    if framing == "auto":
        framing = "full" if fit is None else fit.regime
    lower_extent = getattr(fit, "lower_extent", None) if framing == "half" else None
    return framing, lower_extent if lower_extent in HALF_BOTTOM else None
