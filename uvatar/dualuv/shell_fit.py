"""Shell offsets that follow the photo's silhouette (so the shell reaches loose coats, dresses, hair).

For every body vertex seen near its silhouette (its normal close to perpendicular to the view ray),
walk outward along the normal over candidate distances and keep the largest distance whose point, and
every shorter one, still projects inside the person mask. Those distances are spread over the mesh by a
few rounds of neighbour averaging (so the shell stays smooth and the unseen back follows the seen
sides), and never drop below the base offsets.
"""

from __future__ import annotations

import torch

from uvatar.body.skinning import vertex_normals
from uvatar.camera import Camera

__all__ = ["silhouette_shell_offsets"]

CANDIDATES = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12)


def _vertex_neighbours(faces: torch.Tensor, n_vertices: int) -> torch.Tensor:
    """Sparse ``(V, V)`` row-normalized adjacency (vertex -> its edge neighbours)."""
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = torch.cat([edges, edges.flip(1)])
    values = torch.ones(len(edges))
    adjacency = torch.sparse_coo_tensor(edges.T, values, (n_vertices, n_vertices), check_invariants=False).coalesce()
    degree = torch.sparse.sum(adjacency, 1).to_dense().clamp(min=1)
    indices = adjacency.indices()
    return torch.sparse_coo_tensor(indices, adjacency.values().clamp(max=1) / degree[indices[0]], (n_vertices, n_vertices), check_invariants=False).coalesce()


def silhouette_shell_offsets(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    person_mask: torch.Tensor,
    base_offsets: torch.Tensor,
    max_cos: float = 0.5,
    facing_limit: float = 0.8,
    smoothing_rounds: int = 12,
    threshold: float = 0.5,
) -> torch.Tensor:
    """``(V,)`` shell offsets in metres for a posed body ``vertices (V, 3)`` seen by ``camera``.

    Args:
        person_mask: ``(H, W)`` float in [0, 1]; base_offsets: ``(V,)`` the minimum offsets.
        max_cos: vertices whose |cos(normal, view ray)| exceeds this are not measured (facing the camera,
            the silhouette says nothing about their depth).
        facing_limit: from ``max_cos`` to this |cos| the offset blends back to the base offset.
    """
    normals = vertex_normals(vertices[None], faces)[0]
    to_camera = torch.nn.functional.normalize(camera.center[None] - vertices, dim=-1)
    near_silhouette = (normals * to_camera).sum(-1).abs() < max_cos
    mask = torch.as_tensor(person_mask) > threshold
    height, width = mask.shape
    reach = torch.zeros(len(vertices))
    still_inside = near_silhouette.clone()
    for distance in CANDIDATES:
        pixels, depth = camera.project(vertices + distance * normals)
        col = pixels[:, 0].floor().long()
        row = pixels[:, 1].floor().long()
        in_image = (col >= 0) & (col < width) & (row >= 0) & (row < height) & (depth > 0)
        inside = torch.zeros(len(vertices), dtype=torch.bool)
        inside[in_image] = mask[row[in_image], col[in_image]]
        still_inside &= inside
        reach = torch.where(still_inside, torch.full_like(reach, distance), reach)
    neighbours = _vertex_neighbours(faces, len(vertices))
    measured = near_silhouette.float()
    offsets = torch.maximum(reach, base_offsets)
    weight = measured.clone()
    value = offsets * measured
    for _ in range(smoothing_rounds):  # spread measured offsets to their unmeasured neighbours
        value = torch.sparse.mm(neighbours, value[:, None])[:, 0]
        weight = torch.sparse.mm(neighbours, weight[:, None])[:, 0]
        value = torch.where(near_silhouette, offsets, value)
        weight = torch.where(near_silhouette, torch.ones_like(weight), weight)
    spread = value / weight.clamp(min=1e-6)
    spread = torch.where(weight > 1e-3, spread, base_offsets)
    # surfaces facing the camera (or away from it) keep the base offset: the silhouette says nothing
    # about their depth, and extruding them would hide the seen sides of the shell behind them
    facing = (normals * to_camera).sum(-1).abs()
    blend = ((facing_limit - facing) / (facing_limit - max_cos)).clamp(0.0, 1.0)
    return torch.maximum(base_offsets + blend * (spread - base_offsets), base_offsets)
