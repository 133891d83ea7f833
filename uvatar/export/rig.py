"""The avatar's body as a rigged glTF mesh: skeleton from Anny's bones, top-4 skin weights, UV seams split.

Frames. Anny's body space (metres, Z up, the body faces -Y, its left at +X) is turned into glTF's
(metres, Y up, the front faces +Z, the left at +X) by the rotation :data:`ANNY_TO_GLTF`:
``(x, y, z) -> (x, z, -y)``. Vertices, normals and bone frames are all turned by it.

Rig. Anny skins ``v = sum_j w_j B_j inv(B_j^rest) v_rest`` with bone frames ``B_j`` (``(4, 4)``, rigid)
and up to 9 weights per vertex. The glTF skin is the same formula with the 4 largest weights
(renormalised): every bone is a joint node whose world matrix is ``B_j`` and whose inverse bind matrix
is ``inv(B_j^bind)``. With the bind pose ``rest`` (the default) the mesh is stored in Anny's own rest
pose and any glTF skinning engine reproduces Anny's posed body up to the dropped 5th..9th weights:
exact for most vertices, 0.1-0.3 mm on average, up to about 2 cm at the few vertices (shoulders,
hips) whose 5th..9th weights are large, in strong poses (measured in tests/export/test_rig.py). The bind poses
``reference`` and ``tpose`` store the mesh and skeleton in that pose instead: the file is then a rig in
its own right (what retargeting tools that want a T-pose expect), but skinning it re-blends from a
pose Anny's weights were not made in, so it departs a little more from Anny near bent joints.

Seams. glTF has one UV per vertex, while Anny's atlas cuts the surface into islands; so a vertex is
split into one glTF vertex per distinct (vertex, UV) corner. Triangles keep Anny's order and corner
order: glTF triangle ``i`` is ``body.faces[i]``, so face-bound data (Gaussians) maps onto it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uvatar.errors import InputError
from uvatar.io.gltf import GltfMesh, GltfSkin

__all__ = ["ANNY_TO_GLTF", "BIND_POSES", "SplitMesh", "split_uv_seams", "top_k_weights", "bind_pose", "rigged_body"]

#: Rotation from Anny's body space to glTF's (acts on column vectors): (x, y, z) -> (x, z, -y).
ANNY_TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Poses the glTF can be bound (stored) in.
BIND_POSES = {
    "rest": "Anny's rest A-pose, the pose its skin weights were made in (exact skinning)",
    "reference": "all bone rotations zero (the pose of reconstruct's avatar.ply; root at the origin)",
    "tpose": "arms straight out along the body's left/right axis",
}


@dataclass
class SplitMesh:
    """A mesh with one vertex per distinct (vertex, UV) corner.

    Attributes:
        source: ``(N,)`` int64 original vertex of each new vertex.
        uv: ``(N, 2)`` float32 UV of each new vertex (v up, as ``body.uv_corners``).
        faces: ``(F, 3)`` int64 new-vertex indices, same triangle and corner order as the input.
    """

    source: np.ndarray
    uv: np.ndarray
    faces: np.ndarray


def split_uv_seams(faces: np.ndarray, uv_corners: np.ndarray) -> SplitMesh:
    """Split vertices along UV seams.

    Args:
        faces: ``(F, 3)`` vertex indices; uv_corners: ``(F, 3, 2)`` per-corner UVs.
    Returns:
        :class:`SplitMesh` (corners with bit-identical UVs on the same vertex share a new vertex).
    """
    faces = np.asarray(faces, dtype=np.int64)
    uv = np.ascontiguousarray(np.asarray(uv_corners, dtype=np.float32).reshape(-1, 2))
    keys = np.concatenate([faces.reshape(-1, 1), uv.view(np.int32).astype(np.int64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return SplitMesh(source=faces.reshape(-1)[first], uv=uv[first], faces=inverse.reshape(faces.shape))


def top_k_weights(weights: np.ndarray, indices: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Keep each vertex's ``k`` largest skin weights and renormalise them.

    Args:
        weights: ``(V, M)`` non-negative weights; indices: ``(V, M)`` bone indices.
    Returns:
        joints ``(V, k)`` int64 and weights ``(V, k)`` float32 summing to 1 in float32; weights of 0
        get joint 0 (glTF's convention for unused slots).
    """
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(weights, order, 1)
    joints = np.take_along_axis(np.asarray(indices, dtype=np.int64), order, 1)
    total = top.sum(1, keepdims=True)
    if (total <= 0).any():
        raise InputError("a body vertex has no skin weight; the body model data is broken (rebuild ANNY_CACHE_DIR)")
    top = (top / total).astype(np.float32)
    top[:, 0] = 1.0 - top[:, 1:].sum(1, dtype=np.float32)  # the largest weight absorbs float32 rounding
    joints[top == 0] = 0
    return joints, top


@dataclass
class BindPose:
    """A body in the pose the glTF stores: vertices ``(V, 3)`` and bone frames ``(J, 4, 4)`` (Anny space)."""

    vertices: torch.Tensor
    bone_poses: torch.Tensor


def bind_pose(body, avatar=None, pose: str = "rest") -> BindPose:
    """The avatar's body (its shape and face; the average body without an avatar) in a bind pose."""
    if pose not in BIND_POSES:
        raise InputError(f"unknown pose {pose!r}; choose one of {', '.join(BIND_POSES)}")
    params = avatar.params(body) if avatar is not None else body.default_params(1)
    with torch.no_grad():
        if pose == "tpose":
            tpose = body.tpose_params(1, params.phenotypes)
            tpose.facial = params.facial
            params = tpose
        out = body.forward(params)
    if pose == "rest":
        return BindPose(out.rest_vertices[0], out.rest_bone_poses[0])
    return BindPose(out.vertices[0], out.bone_poses[0])


def _to_gltf_frames(frames: np.ndarray) -> np.ndarray:
    """``(J, 4, 4)`` Anny-space frames to glTF space: ``C4 @ B @ C4^T``."""
    c4 = np.eye(4)
    c4[:3, :3] = ANNY_TO_GLTF
    return c4 @ frames @ c4.T


def _local_transforms(world: np.ndarray, parents: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Local translations ``(J, 3)`` and XYZW rotations ``(J, 4)`` of world frames ``(J, 4, 4)``."""
    from scipy.spatial.transform import Rotation

    local = np.empty_like(world)
    for j, parent in enumerate(parents):
        local[j] = world[j] if parent < 0 else np.linalg.inv(world[parent]) @ world[j]
    return local[:, :3, 3].copy(), Rotation.from_matrix(local[:, :3, :3]).as_quat()


def rigged_body(body, avatar=None, pose: str = "rest", base_color_png: bytes | None = None) -> tuple[GltfMesh, GltfSkin]:
    """The rigged glTF mesh and skeleton of the avatar's body (module docstring).

    Args:
        body: :class:`~uvatar.body.model.BodyModel`.
        avatar: :class:`~uvatar.avatar.Avatar` whose shape and face to use (None: average body).
        pose: a key of :data:`BIND_POSES`.
        base_color_png: the texture (:func:`uvatar.export.texture.texture_png`) or None.
    Returns:
        :class:`GltfMesh` with ``N`` split vertices (POSITION, NORMAL, TEXCOORD_0, JOINTS_0,
        WEIGHTS_0) and ``F = len(body.faces)`` triangles, and :class:`GltfSkin` with one joint per bone.
    """
    from uvatar.body.skinning import vertex_normals

    bind = bind_pose(body, avatar, pose)
    vertices = bind.vertices.detach().double().cpu()
    faces = body.faces.cpu()
    normals = vertex_normals(vertices[None], faces)[0].numpy()
    split = split_uv_seams(faces.numpy(), body.uv_corners.cpu().numpy())
    joints, weights = top_k_weights(body.vertex_bone_weights.cpu().numpy(), body.vertex_bone_indices.cpu().numpy())

    world = _to_gltf_frames(bind.bone_poses.detach().double().cpu().numpy())
    translations, rotations = _local_transforms(world, body.bone_parents)
    skin = GltfSkin(
        names=list(body.bone_labels),
        parents=list(body.bone_parents),
        translations=translations,
        rotations_xyzw=rotations,
        inverse_bind_matrices=np.linalg.inv(world),
    )
    texcoords = np.stack([split.uv[:, 0], 1.0 - split.uv[:, 1]], axis=1)  # glTF: origin top-left, v down
    mesh = GltfMesh(
        positions=(vertices.numpy() @ ANNY_TO_GLTF.T)[split.source].astype(np.float32),
        indices=split.faces,
        normals=(normals @ ANNY_TO_GLTF.T)[split.source].astype(np.float32),
        texcoords=texcoords.astype(np.float32),
        joints=joints[split.source],
        weights=weights[split.source],
        base_color_png=base_color_png,
        name="uvatar_body",
        extras={
            "uvatar": {
                "bind_pose": pose,
                "bind_pose_meaning": BIND_POSES[pose],
                "frame": "glTF: metres, +Y up, front +Z; Anny body space (x, y, z) maps to (x, z, -y)",
                "triangles": "triangle i is Anny face i (topology 'anny'), same corner order",
                "vertex_source": "glTF vertices split along UV seams; see uvatar.export.rig.split_uv_seams",
                "skin": "top-4 of Anny's skin weights per vertex, renormalised",
                "base_color": "baked from the avatar's surface Gaussians; sRGB",
            }
        },
    )
    return mesh, skin
