"""What ``uvatar reconstruct`` shows of an avatar: the preview strip (photo | re-render in the photo's
camera | side | back), its input-view PSNR / SSIM in the person mask, and the turntable video.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from uvatar.avatar import Avatar, PosedGaussians
from uvatar.camera import Camera, orbit
from uvatar.metrics import masked_psnr_ssim
from uvatar.io.image import area_resize, save_image
from uvatar.io.video import VideoWriter
from uvatar.track.view import FittedView

__all__ = ["turntable_cameras", "canonical_pose", "write_preview", "write_turntable"]

WHITE = (1.0, 1.0, 1.0)


def turntable_cameras(vertices: torch.Tensor, n: int, size: int, elevation: float = 5.0, start_azimuth_deg: float = 0.0) -> list[Camera]:
    """``n`` square cameras orbiting the bounding box of ``vertices (V, 3)``, framing all of it."""
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    extent = float((vertices.amax(0) - vertices.amin(0)).max())
    radius = 1.25 * extent / (2 * math.tan(math.radians(20)))
    return orbit(centre, radius, n, size, size, fov_y_deg=40.0, elevation_deg=elevation, start_azimuth_deg=start_azimuth_deg)


def write_preview(path, posed: PosedGaussians, view: FittedView, canonical: PosedGaussians, rest_vertices: torch.Tensor, size: int,
                  backend: str = "auto", threads=None) -> dict:  # fmt: skip
    """Write the preview strip of an avatar for its first photo's ``view`` at ``size`` pixels (longer side).

    ``posed``: the avatar on ``view``'s body; ``canonical``, ``rest_vertices (V, 3)``: in its reference pose
    (:func:`canonical_pose`); ``threads``: a :class:`~uvatar.threads.StageThreads` re-read between
    renders, or None.

    Returns:
        the report's entries: ``input_view_render_supersampling`` and, with a person mask,
        ``input_view_psnr_in_mask`` / ``input_view_ssim_in_mask``.
    """
    camera = view.camera
    scale = size / max(camera.width, camera.height)
    width, height = max(1, round(camera.width * scale)), max(1, round(camera.height * scale))
    # rendered at 2x and area-averaged like the photo (a photo larger than the preview is averaged
    # down; a render at the preview size would point-sample the Gaussians and alias)
    factor = 2 if max(camera.width, camera.height) >= 2 * size else 1
    with torch.no_grad():
        front = posed.render(camera.resized(width * factor, height * factor), background=WHITE, backend=backend)
    front_image = area_resize(front.image.clamp(0, 1).numpy(), width, height)
    photo = area_resize(view.image, width, height)
    report = {"input_view_render_supersampling": factor}
    if view.mask is not None:
        person = area_resize(view.mask, width, height)[..., 0] > 0.5
        psnr, ssim = masked_psnr_ssim(front_image, photo, person)
        report["input_view_psnr_in_mask"] = round(psnr, 3)
        report["input_view_ssim_in_mask"] = round(ssim, 4)
    panels = [photo, front_image]
    for azimuth in (90.0, 180.0):  # the avatar's left side, then its back
        if threads is not None:
            threads.recheck()
        cam = turntable_cameras(rest_vertices, 1, height, start_azimuth_deg=azimuth)[0]
        with torch.no_grad():
            panels.append(canonical.render(cam, background=WHITE, backend=backend).image.clamp(0, 1))
    save_image(path, torch.cat(panels, 1).numpy())
    return report


def write_turntable(path, canonical, rest_vertices: torch.Tensor, frames: int, size: int, backend: str = "auto", threads=None) -> None:
    """Write a ``frames``-frame turntable video of the avatar in its reference pose (``canonical``,
    ``rest_vertices (V, 3)``: :func:`canonical_pose`), ``size`` pixels square."""
    with VideoWriter(path, fps=24) as video, torch.no_grad():
        for cam in turntable_cameras(rest_vertices, frames, size):
            if threads is not None:
                threads.recheck()  # fewer threads as soon as another job takes a core
            frame = canonical.render(cam, background=WHITE, backend=backend).image.clamp(0, 1)
            video.append((frame.numpy() * 255).astype(np.uint8))


def canonical_pose(avatar: Avatar, body):
    """The avatar's Gaussians in its reference pose, and the body's vertices ``(V, 3)`` there."""
    rest_vertices = body.forward(avatar.params(body)).vertices[0]
    return avatar.on_vertices(rest_vertices, body.faces), rest_vertices
