"""Skinning math as small pure functions (the smplx ``lbs.py`` habit).

Two ways a point rides the body:

* :func:`linear_blend_skinning` moves points that carry their own bone weights (the body's vertices);
* bound points: a point is stored as ``(face, barycentrics, offset)`` where the offset lives in the
  face's tangent frame (:func:`face_frames`). :func:`bound_points_to_world` evaluates it on any posed
  mesh, so a point bound with zero offset lies exactly on the posed (linearly skinned) surface, and its
  frame turns with the face. Gaussians are bound this way (as in GaussianAvatars).
"""

from __future__ import annotations

import torch

__all__ = [
    "linear_blend_skinning",
    "linear_blend_skinning_dense",
    "face_frames",
    "bound_points_to_world",
    "world_points_to_bound",
    "vertex_normals",
]


def linear_blend_skinning(
    points: torch.Tensor, weights: torch.Tensor, bone_indices: torch.Tensor, transforms: torch.Tensor
) -> torch.Tensor:
    """Linear blend skinning.

    Args:
        points: ``(B, N, 3)`` rest-space points, metres.
        weights: ``(N, K)`` per-point bone weights summing to 1.
        bone_indices: ``(N, K)`` int64 bone indices.
        transforms: ``(B, J, 4, 4)`` rest-to-posed bone transforms.
    Returns:
        ``(B, N, 3)`` posed points.
    """
    rot = transforms[:, :, :3, :3][:, bone_indices]  # (B, N, K, 3, 3)
    trans = transforms[:, :, :3, 3][:, bone_indices]  # (B, N, K, 3)
    blended_rot = (weights[None, ..., None, None] * rot).sum(2)  # (B, N, 3, 3)
    blended_trans = (weights[None, ..., None] * trans).sum(2)  # (B, N, 3)
    return (blended_rot @ points.unsqueeze(-1)).squeeze(-1) + blended_trans


def linear_blend_skinning_dense(points: torch.Tensor, weight_matrix: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning as one matrix product (fast forward and backward on the CPU).

    Args:
        points: ``(B, N, 3)`` rest-space points; weight_matrix: ``(N, J)`` dense bone weights;
        transforms: ``(B, J, 4, 4)`` rest-to-posed bone transforms.
    Returns:
        ``(B, N, 3)`` posed points; equal to :func:`linear_blend_skinning` (its reference).
    """
    batch, joints = transforms.shape[:2]
    blended = (weight_matrix @ transforms[:, :, :3, :].reshape(batch, joints, 12)).reshape(batch, -1, 3, 4)
    return (blended[..., :3] @ points.unsqueeze(-1)).squeeze(-1) + blended[..., 3]


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``(B, V, 3)`` of ``(B, V, 3)`` vertices and ``(F, 3)`` faces."""
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    face_n = torch.linalg.cross(v1 - v0, v2 - v0)  # length = 2 * area
    normals = torch.zeros_like(vertices)
    for i in range(3):
        normals.index_add_(1, faces[:, i], face_n)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def face_frames(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Orthonormal frame of every face.

    Columns are (tangent along edge v0->v1, bitangent = normal x tangent, outward unit normal).

    Args:
        vertices: ``(B, V, 3)``; faces: ``(F, 3)`` counter-clockwise seen from outside.
    Returns:
        ``(B, F, 3, 3)`` rotation matrices, frame-to-world.
    """
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    tangent = torch.nn.functional.normalize(v1 - v0, dim=-1, eps=1e-12)
    normal = torch.nn.functional.normalize(torch.linalg.cross(v1 - v0, v2 - v0), dim=-1, eps=1e-12)
    bitangent = torch.linalg.cross(normal, tangent)
    return torch.stack([tangent, bitangent, normal], dim=-1)


def bound_points_to_world(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_index: torch.Tensor,
    barycentrics: torch.Tensor,
    offsets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate bound points on a (posed) mesh.

    Args:
        vertices: ``(B, V, 3)`` mesh vertices, metres.
        faces: ``(F, 3)`` int64.
        face_index: ``(N,)`` int64 face of each point.
        barycentrics: ``(N, 3)`` weights of the face's three vertices.
        offsets: ``(N, 3)`` offset in the face frame (tangent, bitangent, normal), metres; None = 0.
    Returns:
        points ``(B, N, 3)`` world positions and frames ``(B, N, 3, 3)`` (frame-to-world rotations).
    """
    corners = vertices[:, faces[face_index]]  # (B, N, 3, 3)
    surface = (barycentrics[None, :, :, None] * corners).sum(2)
    frames = face_frames(vertices, faces[face_index])
    if offsets is None:
        return surface, frames
    return surface + (frames @ offsets[None, :, :, None]).squeeze(-1), frames


def world_points_to_bound(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_index: torch.Tensor,
    barycentrics: torch.Tensor,
    points: torch.Tensor,
) -> torch.Tensor:
    """Inverse of :func:`bound_points_to_world` for the offset: ``(N, 3)`` world points to face-frame offsets.

    Args:
        vertices: ``(V, 3)`` (unbatched) mesh the points were bound on.
    """
    surface, frames = bound_points_to_world(vertices[None], faces, face_index, barycentrics)
    return (frames[0].transpose(-1, -2) @ (points - surface[0]).unsqueeze(-1)).squeeze(-1)
