"""Shell templates: fitted hair (and garment) surfaces a photo is projected onto, as the tracker hands
them to the projection (:mod:`uvatar.dualuv.template_shell`). Data only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uvatar.camera import Camera
from uvatar.io.image import area_resize

__all__ = ["ShellTemplate", "WORK_SIDE", "work_frame"]

#: pixels along the photo's longer side at which templates are fitted and their matter is judged; one size
#: for all templates of a photo, so their ``pixels`` maps line up (the garment's excludes the hair's)
WORK_SIDE = 384


@dataclass
class ShellTemplate:
    """One fitted template in one photo.

    Attributes:
        name: catalogue name (e.g. ``"bob01"``); kind: catalogue kind (``"hair"``, ``"outfit"``).
        vertices: ``(N, 3)`` float32 metres, in the photo's pose and world; faces: ``(F, 3)`` int64.
        pixels: ``(h, w)`` bool, the photo's pixels of this matter (e.g. the hair pixels) at the size of
            ``camera``; camera: the photo's camera resized to ``(w, h)``.
        bind_parts: body parts (:data:`uvatar.body.parts.PART_NAMES`) its Gaussians may ride on.
        source_faces: ``(F,)`` int64 the body face each template face was extruded from (a shell of the
            body: its samples stay bound there), or None (a separate mesh: bound to the nearest face of
            ``bind_parts``).
        skin: ``(3,)`` RGB of the face's skin in the photo, or None (a hair template's pixels also show the
            skin under thin hair: :func:`uvatar.model.template_gaussians.skin_coloured`).
        colour_faces: ``(F,)`` int64 the body face whose dressed colour each template face's unseen samples
            take (a garment's; :func:`uvatar.dualuv.garment_shell.torso_colour_faces`), or None
            (``source_faces``).
    """

    name: str
    kind: str
    vertices: torch.Tensor
    faces: torch.Tensor
    pixels: np.ndarray
    camera: Camera
    bind_parts: tuple[str, ...]
    source_faces: torch.Tensor | None = None
    skin: np.ndarray | None = None
    colour_faces: torch.Tensor | None = None


def work_frame(mask: np.ndarray, camera: Camera) -> tuple[Camera, np.ndarray]:
    """The photo's camera at :data:`WORK_SIDE` pixels along its longer side and the person mask
    ``(H, W)`` there: ``(camera, (h, w) bool)``, area-averaged and thresholded at 0.5."""
    height, width = mask.shape
    scale = WORK_SIDE / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return camera.resized(w, h), area_resize(mask, w, h)[..., 0].numpy() > 0.5
