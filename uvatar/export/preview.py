"""What ``uvatar reconstruct`` shows of an avatar: the preview strip (photo | re-render in the photo's
camera | side | back), its input-view PSNR / SSIM in the person mask, and the turntable video.

The side and back panels and the turntable frame the canonical body at a :class:`~uvatar.export.framing.Crop`:
by default what the photo framed (:func:`preview_crop`: head and shoulders for a head photo, head to
the waist / thighs / knees for a half-body photo, the whole body for a full-body photo), or a framing
asked for (``full``: the whole body).
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.avatar import Avatar, PosedGaussians
from uvatar.export.framing import Crop, crop_camera, crop_turntable_cameras, framing_crop, preview_framing
from uvatar.io.image import area_resize, save_image
from uvatar.io.video import VideoWriter
from uvatar.metrics import masked_psnr_ssim
from uvatar.track.view import FittedView

__all__ = ["canonical_pose", "preview_crop", "write_preview", "write_turntable"]

WHITE = (1.0, 1.0, 1.0)


def preview_crop(body, rest_vertices: torch.Tensor, rest_bone_poses: torch.Tensor, fit, framing: str = "auto",
                 canonical: PosedGaussians | None = None) -> tuple[str, Crop]:  # fmt: skip
    """The framing the preview and turntable show, and its crop of the canonical body.

    Args:
        rest_vertices: ``(V, 3)``, rest_bone_poses: ``(J, 4, 4)``: the body in the avatar's reference
            pose (:func:`canonical_pose`).
        fit: the first photo's :class:`~uvatar.track.ProxyFit` (``FittedView.fit``), or None (synthetic
            truth: ``auto`` is then the whole body).
        framing: ``auto`` (the photo's regime; a half-body crop ends where the photo's frame did,
            ``fit.lower_extent``), ``head``, ``half`` or ``full`` (:data:`~uvatar.export.framing.PREVIEW_FRAMINGS`).
        canonical: the avatar's Gaussians in that pose: the crop reaches the top of its hair or hat
            (the 99.9th percentile of their heights; a stray splat does not stretch it).
    Returns:
        ``(framing, crop)``: the framing used ("head", "half" or "full") and
        :func:`~uvatar.export.framing.framing_crop` of it.
    """
    framing, lower_extent = preview_framing(framing, fit)
    top = float(torch.quantile(canonical.means[:, 2].float(), 0.999)) if canonical is not None and len(canonical.means) else None
    return framing, framing_crop(body, rest_vertices, rest_bone_poses, framing, lower_extent=lower_extent, top=top)


def write_preview(path, posed: PosedGaussians, view: FittedView, canonical: PosedGaussians, crop: Crop, size: int,
                  backend: str = "auto", threads=None) -> dict:  # fmt: skip
    """Write the preview strip of an avatar for its first photo's ``view`` at ``size`` pixels (longer side
    of the photo's panels).

    ``posed``: the avatar on ``view``'s body; ``canonical``: in its reference pose (:func:`canonical_pose`);
    ``crop``: what the side (90 degrees, the avatar's left) and back (180) panels show of it
    (:func:`preview_crop`), each panel as high as the photo's and as wide as the crop's aspect asks;
    ``threads``: a :class:`~uvatar.threads.StageThreads` re-read between renders, or None.

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
        with torch.no_grad():
            panels.append(canonical.render(crop_camera(crop, azimuth, height), background=WHITE, backend=backend).image.clamp(0, 1))
    save_image(path, torch.cat(panels, 1).numpy())
    return report


def write_turntable(path, canonical: PosedGaussians, crop: Crop, frames: int, size: int, backend: str = "auto", threads=None) -> None:
    """Write a ``frames``-frame turntable video of the avatar in its reference pose (``canonical``:
    :func:`canonical_pose`), ``size`` pixels square, orbiting ``crop``'s centre with all of ``crop`` in
    every frame (:func:`~uvatar.export.framing.crop_turntable_cameras`)."""
    with VideoWriter(path, fps=24) as video, torch.no_grad():
        for cam in crop_turntable_cameras(crop, frames, size):
            if threads is not None:
                threads.recheck()  # fewer threads as soon as another job takes a core
            frame = canonical.render(cam, background=WHITE, backend=backend).image.clamp(0, 1)
            video.append((frame.numpy() * 255).astype(np.uint8))


def canonical_pose(avatar: Avatar, body) -> tuple[PosedGaussians, torch.Tensor, torch.Tensor]:
    """The avatar's Gaussians in its reference pose, and the body there: vertices ``(V, 3)`` and bone
    frames ``(J, 4, 4)`` (for :func:`preview_crop`)."""
    rest = body.forward(avatar.params(body))
    return avatar.on_vertices(rest.vertices[0], body.faces), rest.vertices[0], rest.bone_poses[0]
