"""The chosen hairstyle grown to the photo's hair outline above the head (buns, puffs, volume the
catalogue's caps lack).

A shipped hairstyle is a cap of one of ten shapes; a bun, two puffs or a high afro stand above it in the
photo, and their pixels, off the template, were drawn only as thin off-body matter along the photo's rays:
from the side and the back the avatar had no bun (the turnaround clip: the mask's top 5-10 px above the
avatar's from behind, its top seventh 15-28 % of the error).

Here, seen from the skull's centre in the photo (:func:`outline_excess`), along each of :data:`RAYS` rays
over the top of the head (within :data:`TOP_DEG` of up): how far the hair's pixels (:func:`uvatar.track.hair.choose_hair`
passes the hair pixels and the person mask near the head) go on beyond the silhouettes of the template and
of the body's own head, contiguously (gaps of at most one pixel), median-filtered over three neighbouring
rays, at most :data:`MAX_GROWTH_M`. Each template vertex then moves away from the skull's centre by the excess of the
ray its direction points along in the photo's image plane (:func:`grow_to_outline`): the hair grows round
the head as its outline shows at that angle, the same front and back (a surface of revolution about the
photo's viewing axis, as a garment's bands inflate the body all round). A vertex pointing along the viewing
axis (the back of the head) takes the mean excess, its in-plane share blended in by how far it points
sideways. Lower rays keep the template (the ears are there, and hair hanging beside the face is not radial).
The projection then carves the grown template to the photo's outline as before
(:func:`uvatar.dualuv.template_shell.project_template`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from scipy.ndimage import binary_dilation, median_filter

from uvatar.assets import AssetMesh
from uvatar.render.mesh import rasterize_mesh

__all__ = ["RAYS", "TOP_DEG", "MAX_GROWTH_M", "outline_excess", "grow_to_outline"]

RAYS = 72  # rays round the skull's centre (5 degrees apart)
TOP_DEG = 60.0  # rays within this many degrees of up are used: lower ones meet the ears (Obama podium's right ear,
# beside the fitted head in a slightly turned face, read as 2.3 cm of hair), and hair hanging beside the face
MAX_GROWTH_M = 0.04  # a hair outline further than this beyond the template is not grown to: a cap or a hood (anete's cap,
# 5.9 cm beyond short02, grew into a plate standing up behind her head from the side at 6 cm)
STEP_PX = 0.5  # the march's step along a ray, pixels


def _ray_angles() -> np.ndarray:
    """``(RAYS,)`` radians from the image's up, positive towards the image's right."""
    return np.arange(RAYS) * (2 * math.pi / RAYS) - math.pi


def outline_excess(template: np.ndarray, hair: np.ndarray, centre: tuple[float, float], max_px: float) -> np.ndarray:
    """``(RAYS,)`` pixels the ``hair (h, w)`` bool pixels reach beyond the ``template (h, w)`` bool
    silhouette along each ray from ``centre (x, y)`` (0 for rays more than :data:`TOP_DEG` from up and where
    the ray leaves the template onto no hair), median-filtered over three rays, at most ``max_px``."""
    h, w = template.shape
    angles = _ray_angles()
    bridged = binary_dilation(hair, iterations=1)  # bridges one-pixel gaps
    excess = np.zeros(RAYS)
    limit = math.hypot(h, w)
    for k, angle in enumerate(angles):
        if abs(angle) > math.radians(TOP_DEG):
            continue
        dx, dy = math.sin(angle), -math.cos(angle)
        radii = np.arange(0.0, limit, STEP_PX)
        cols = np.floor(centre[0] + radii * dx).astype(int)
        rows = np.floor(centre[1] + radii * dy).astype(int)
        inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        radii, cols, rows = radii[inside], cols[inside], rows[inside]
        on_template = np.nonzero(template[rows, cols])[0]
        if len(on_template) == 0:
            continue
        start = on_template.max()
        beyond = bridged[rows[start + 1:], cols[start + 1:]]
        run = int(np.argmin(beyond)) if not beyond.all() else len(beyond)
        on_hair = np.nonzero(hair[rows[start + 1:start + 1 + run], cols[start + 1:start + 1 + run]])[0]
        excess[k] = (on_hair.max() + 1) * STEP_PX if len(on_hair) else 0.0  # to the last hair pixel, not the bridge's rim
    return np.minimum(median_filter(excess, size=3, mode="wrap"), max_px)


def grow_to_outline(mesh: AssetMesh, hair: np.ndarray, camera, posed_centre: torch.Tensor, rest_centre: torch.Tensor,
                    head: np.ndarray | None = None) -> tuple[AssetMesh, float]:  # fmt: skip
    """``mesh`` (a fitted hairstyle in the photo's pose) grown to the ``hair (h, w)`` bool pixels' outline
    (module docstring) in ``camera`` (at the size of ``hair``), about the skull's ``posed_centre (3,)`` and
    ``rest_centre (3,)``; and the largest growth, metres (0.0: the mesh as it was). ``head (h, w)`` bool:
    the body's own head in the photo, whose outline the excess is counted from where it reaches beyond the
    template's (a short style's sides lie inside the temples and the ears)."""
    silhouette = rasterize_mesh(mesh.vertices.float(), mesh.faces, camera, cull_backfaces=False).mask.cpu().numpy()
    if head is not None:
        silhouette = silhouette | head
    centre_px, centre_depth = camera.project(posed_centre[None].float())
    metres_per_px = float(centre_depth[0]) / float(camera.K[0, 0])
    excess = outline_excess(silhouette, hair, (float(centre_px[0, 0]), float(centre_px[0, 1])), MAX_GROWTH_M / metres_per_px) * metres_per_px
    if excess.max() <= 0:
        return mesh, 0.0
    offsets = mesh.vertices.float() - posed_centre
    in_camera = offsets @ camera.R.T  # x right, y down, z along the view
    angle = torch.atan2(in_camera[:, 0], -in_camera[:, 1]).numpy()
    ray = _ray_angles()
    along = np.interp(angle, np.concatenate([ray, [math.pi]]), np.concatenate([excess, excess[:1]]))
    sideways = (in_camera[:, :2].norm(dim=1) / offsets.norm(dim=1).clamp(min=1e-9)).numpy()
    used = np.abs(ray) <= math.radians(TOP_DEG)
    growth = torch.as_tensor(sideways * along + (1 - sideways) * float(excess[used].mean()), dtype=torch.float32)[:, None]
    rest_offsets = mesh.rest_vertices.float() - rest_centre
    grown = replace(
        mesh,
        vertices=mesh.vertices + growth * offsets / offsets.norm(dim=1, keepdim=True).clamp(min=1e-9),
        rest_vertices=mesh.rest_vertices + growth * rest_offsets / rest_offsets.norm(dim=1, keepdim=True).clamp(min=1e-9),
    )
    return grown, float(excess.max())
