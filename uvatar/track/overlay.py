"""Pictures of a fit: the fitted mesh drawn over the photo, landmarks, and a side view."""

from __future__ import annotations

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES
from uvatar.camera import Camera

__all__ = ["fit_overlay"]

_PART_TINT = torch.tensor(
    [[0.95, 0.75, 0.6], [0.45, 0.65, 0.95], [0.95, 0.85, 0.4], [0.95, 0.5, 0.5], [0.55, 0.85, 0.55], [0.75, 0.55, 0.95]]
)


def _draw_points(image: np.ndarray, points: np.ndarray, color, radius: int) -> None:
    h, w = image.shape[:2]
    for x, y in points:
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c, r = int(x), int(y)
        r0, r1, c0, c1 = max(r - radius, 0), min(r + radius + 1, h), max(c - radius, 0), min(c + radius + 1, w)
        if r0 < r1 and c0 < c1:
            image[r0:r1, c0:c1] = color


@torch.no_grad()
def fit_overlay(photo: np.ndarray, body, fit, det=None, max_side: int = 720) -> np.ndarray:
    """``(H', W' * 2, 3)`` uint8 picture: the photo with the shaded fitted mesh blended in (detected
    landmarks in green, fitted ones in red) beside a side view of the fitted body.

    Args:
        photo: ``(H, W, 3)`` float RGB in [0, 1]; body: BodyModel; fit: ProxyFit; det: Detections or None.
    """
    from uvatar.render.mesh import render_mesh_colors

    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    camera = fit.camera.resized(*size)
    out = body.forward(fit.params)
    vertices = out.vertices[0]
    colors = _PART_TINT[body.face_parts.cpu()]  # per face
    corner_colors = colors[:, None, :].expand(-1, 3, -1)
    shaded, mask = render_mesh_colors(vertices, body.faces, camera, vertex_colors=corner_colors, light="headlight", ambient=0.3)
    small = torch.nn.functional.interpolate(torch.as_tensor(photo).permute(2, 0, 1)[None].float(), size=(size[1], size[0]), mode="area")[0].permute(1, 2, 0)
    blend = torch.where(mask[..., None], 0.35 * small + 0.65 * shaded, small)
    left = (blend.clamp(0, 1).numpy() * 255).astype(np.uint8)
    if det is not None:
        _draw_points(left, det.body[det.body_visibility > 0.5] * scale, (0, 255, 0), 2)
    fitted, _ = fit.camera.project(body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0])
    _draw_points(left, fitted.numpy() * scale, (255, 0, 0), 1)

    # side view: orbit 90 degrees about the body's vertical axis through its centre
    centre = vertices.mean(0)
    distance = float((fit.camera.center - centre).norm())
    extent = float((vertices.amax(0) - vertices.amin(0)).max())
    radius = max(distance, 1.3 * extent / (2 * np.tan(np.radians(20))))
    to_camera = fit.camera.center - centre
    side_dir = torch.stack([-to_camera[1], to_camera[0], torch.tensor(0.0)])
    side_dir = side_dir / side_dir.norm().clamp(min=1e-6)
    side_cam = Camera.look_at(centre + radius * side_dir, centre, size[0], size[1], fov_y_deg=40.0)
    side, side_mask = render_mesh_colors(vertices, body.faces, side_cam, vertex_colors=corner_colors, light="headlight", background=0.15)
    right = (side.numpy() * 255).astype(np.uint8)
    return np.concatenate([left, right], axis=1)


assert len(PART_NAMES) == len(_PART_TINT)
