"""The photo's pixels where it sees the body at a grazing angle, as samples that face the photo.

Near the body's outline one photo pixel covers many texels of a surface that turns away from the camera:
projected onto the surface (Core-UV), the outline's pixel (rim light, the background mixed in, an
earring, a sleeve's edge) is smeared over the side of the head, the torso's flank, a leg's side, and
from the side that smear is what the avatar shows. Those texels are needed only to look right from the
photo's own direction. So such pixels are taken once more, as pixel samples on the body's surface
(:class:`~uvatar.dualuv.offbody.OffBodySamples`, bound to the face the photo sees there, with the photo's
ray as their frame): the projection decoder draws them as sheets facing the photo (thin along its ray,
:func:`uvatar.model.offbody.grazing_gaussians`), which the photo sees whole and a view from the side
sees edge-on, while the surface texels beneath take the fill's colour, as if the photo had not seen them
(:func:`uvatar.model.projection.photo_coloured`). By default only on the head
(``DualUVConfig.grazing_parts``): on the torso's flanks and the legs' sides the photo's shading was the
better guess (measured on the turnaround clip).
"""

from __future__ import annotations

import math

import torch

from uvatar.body.skinning import bound_points_to_world, world_points_to_bound
from uvatar.camera import Camera
from uvatar.dualuv.offbody import OffBodySamples, ray_frames

__all__ = ["sample_grazing", "surface_view_cos"]


def surface_view_cos(body_raster, camera: Camera) -> torch.Tensor:
    """``(H, W)`` cosine between the normal of the face each pixel sees and the direction to the camera
    (``nan`` where no face); ``body_raster``: :class:`~uvatar.render.mesh.MeshRaster` in ``camera``."""
    vertices, faces = body_raster.vertices, body_raster.faces
    corners = vertices[faces]
    normals = torch.nn.functional.normalize(torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), dim=-1)
    covered = body_raster.face_index >= 0
    rows, cols = torch.nonzero(covered, as_tuple=True)
    pixels = torch.stack([cols, rows], -1).float() + 0.5
    points = camera.backproject(pixels, body_raster.depth[rows, cols])
    to_camera = torch.nn.functional.normalize(camera.center[None] - points, dim=-1)
    cos = torch.full(covered.shape, math.nan)
    cos[rows, cols] = (normals[body_raster.face_index[rows, cols]] * to_camera).sum(-1)
    return cos


def sample_grazing(
    feature_map,
    body_raster,
    posed_vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    person: torch.Tensor,
    max_cos: float,
    keep_faces: torch.Tensor | None = None,
    max_side: int = 1024,
) -> OffBodySamples:
    """One sample per grid pixel of the person mask where the body is seen at a view cosine below ``max_cos``.

    Args:
        feature_map: a FeatureMap of the photo (``.sample(pixels (N, 2)) -> (N, C)``).
        body_raster: :class:`~uvatar.render.mesh.MeshRaster` of the posed body ``posed_vertices (V, 3)``,
            ``faces (F, 3)``, in ``camera``.
        person: ``(H, W)`` bool person mask at the photo's resolution.
        keep_faces: ``(F,)`` bool, faces that may carry samples (default all). Pixels under a fitted
            template's front are sampled too: the template is drawn in front of them, and where its
            Gaussians let the body through (a hat's top edge) the sheets still hold the photo's colour.
        max_side: samples along the image's longer side (stride ``ceil(max(H, W) / max_side)`` pixels).
    Returns:
        :class:`~uvatar.dualuv.offbody.OffBodySamples` on the body's surface (offsets along the face's
        normal 0 up to float error), ``shell_offset`` and ``reach`` 0.
    """
    height, width = person.shape
    stride = max(1, math.ceil(max(height, width) / max_side))
    rows = torch.arange(stride // 2, height, stride)
    cols = torch.arange(stride // 2, width, stride)
    grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing="ij")
    face = body_raster.face_index[grid_rows, grid_cols]
    cos = surface_view_cos(body_raster, camera)[grid_rows, grid_cols]
    wanted = person[grid_rows, grid_cols] & (face >= 0) & (cos < max_cos)
    if keep_faces is not None:
        wanted &= keep_faces[face.clamp(min=0)]
    rows, cols = grid_rows[wanted], grid_cols[wanted]
    face = face[wanted]
    bary = body_raster.barycentrics[rows, cols]
    pixels = torch.stack([cols, rows], -1).float() + 0.5
    depth = body_raster.depth[rows, cols]
    points = camera.backproject(pixels, depth)
    offsets = world_points_to_bound(posed_vertices, faces, face, bary, points)
    _, frames = bound_points_to_world(posed_vertices[None], faces, face, bary)
    local = frames[0].transpose(-1, -2) @ ray_frames(camera, points)
    spacing = stride * depth / float(camera.K[0, 0])
    zeros = torch.zeros(len(face))
    return OffBodySamples(face, bary, offsets, local, feature_map.sample(pixels), pixels, spacing, zeros, zeros.clone())
