"""Shoes round the feet, as deep as the photo shows their soles (a shell template of the body's feet).

The tracker puts the body's foot where MediaPipe's heel, ankle and toe landmarks are; on a person in shoes
those sit on the shoe, and its sole reaches below the bare foot of the body model. From the photo's side
the person's pixels below the foot are off-body matter and draw the sole; from behind, nothing did, and the
avatar stood a sole's height above the person (the turnaround clip's sneakers: the avatar's lowest row
5-9 px above the mask's at 512 px from behind, level with it from the front).

The shoe here is the body's feet inflated along their normals by the sole's depth the photo shows
(:func:`sole_depths`): per foot, the median over its pixel columns of the person's pixels that continue
straight down below the body's lowest pixel, in metres at the foot's depth (at least :data:`MIN_SOLE_M`,
at most :data:`MAX_SOLE_M`; none where the foot is not in the photo or the mask does not continue below it;
columns whose mask runs to the photo's bottom edge are not counted: the photo cuts the sole there).
Its matter is the person's pixels off the body, so the projection (:func:`uvatar.dualuv.template_shell.project_template`)
carves it to the photo's outline, draws its front from the photo and leaves its back (the heel, seen from
behind) to the decoder, coloured like the dressed foot it was extruded from.
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES, vertex_parts
from uvatar.body.skinning import vertex_normals
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.templates import ShellTemplate, work_frame

__all__ = ["MIN_SOLE_M", "MAX_SOLE_M", "sole_depths", "shoe_template"]

MIN_SOLE_M = 0.008  # a sole shallower than this is fit error (bare feet, socks): no shoe
MAX_SOLE_M = 0.05  # deeper than this, the mask below the foot is not the shoe (the floor's shadow, a caption)


def _foot_vertices(body) -> dict[str, torch.Tensor]:
    """``{side: (N,) int64}`` the vertices of each foot (the feet part, split by the body's sides,
    :attr:`~uvatar.body.model.BodyModel.left_faces`)."""
    feet = torch.as_tensor(vertex_parts(body) == PART_NAMES.index("feet"))
    faces = body.faces.cpu()
    left = torch.zeros(len(feet), dtype=torch.bool)
    left[faces[body.left_faces.cpu()].reshape(-1)] = True
    return {"left": torch.nonzero(feet & left).squeeze(1), "right": torch.nonzero(feet & ~left).squeeze(1)}


def sole_depths(body, vertices: torch.Tensor, camera, person: np.ndarray, raster=None) -> dict[str, float]:
    """``{side: metres}`` the depth of each foot's sole in the photo (module docstring; 0.0: no shoe).

    Args:
        vertices: ``(V, 3)`` the posed body in the photo's world; camera: the photo's camera at the size of
            ``person (h, w)`` bool, the person mask.
        raster: the body's :class:`~uvatar.render.mesh.MeshRaster` in ``camera`` when already drawn.
    """
    h, w = person.shape
    if raster is None:
        raster = rasterize_mesh(vertices, body.faces.cpu(), camera)
    face_id = raster.face_index.cpu().numpy()
    on_body = face_id >= 0
    foot_faces = body.face_parts.cpu().numpy() == PART_NAMES.index("feet")
    pixels, depth = camera.project(vertices)
    out = {}
    for side, ids in _foot_vertices(body).items():
        px = pixels[ids].numpy()
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        if inside.mean() < 0.9:  # the foot leaves the photo: its sole is not shown
            out[side] = 0.0
            continue
        gaps = []
        for col in range(max(0, int(px[:, 0].min())), min(w - 1, int(px[:, 0].max())) + 1):  # a foot may cross the photo's side
            rows = np.nonzero(on_body[:, col])[0]
            if len(rows) == 0:
                continue
            bottom = rows.max()
            face = face_id[bottom, col]
            if not foot_faces[face]:  # the lowest body pixel of this column is not this foot's
                continue
            below = person[bottom + 1:, col]
            if below.all():  # the mask runs to the photo's bottom edge: the photo cuts the sole, its depth is unknown
                continue
            gaps.append(int(np.argmin(below)))
        if not gaps:
            out[side] = 0.0
            continue
        metres = float(np.median(gaps)) * float(depth[ids].median()) / float(camera.K[1, 1])
        out[side] = 0.0 if metres < MIN_SOLE_M else min(metres, MAX_SOLE_M)
    return out


def shoe_template(body, view) -> ShellTemplate | None:
    """The shoes of a :class:`~uvatar.track.view.FittedView` as a shell template of the feet inflated by
    their soles' depths (module docstring), or None (no person mask, no sole shown)."""
    if view.mask is None:
        return None
    faces = body.faces.cpu()
    vertices = view.vertices.detach().cpu()
    camera, person = work_frame(view.mask, view.camera)
    raster = rasterize_mesh(vertices, faces, camera)
    depths = sole_depths(body, vertices, camera, person, raster)
    inflation = torch.zeros(len(vertices))
    for side, ids in _foot_vertices(body).items():
        inflation[ids] = depths[side]
    kept = torch.nonzero((inflation[faces] > 0).all(1)).squeeze(1)
    if len(kept) == 0:
        return None
    normals = vertex_normals(vertices[None], faces)[0]
    on_body = raster.mask.cpu().numpy()
    return ShellTemplate("shoes", "garment", vertices + normals * inflation[:, None], faces[kept], person & ~on_body, camera, ("feet",),
                         source_faces=kept, colour_faces=kept)  # fmt: skip
