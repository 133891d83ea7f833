"""Small avatars and glTF skinning for tests (import as ``from avatar_helpers import ...``)."""

from __future__ import annotations

import numpy as np
import torch

from uvatar.avatar import Avatar


def uv_colour(uv: torch.Tensor) -> torch.Tensor:
    """The test avatars' colour as a function of UV ``(N, 2)``: ``(u, v, 0.5)``."""
    return torch.cat([uv, torch.full_like(uv[:, :1], 0.5)], 1)


def small_avatar(body, n: int = 40_000, seed: int = 0, shell: int = 500) -> Avatar:
    """An avatar of ``n`` surface Gaussians (colour = :func:`uv_colour` of their UV) plus ``shell``
    off-surface ones (pure red, which must never reach the baked texture), on a non-average shape."""
    gen = torch.Generator().manual_seed(seed)
    total = n + shell
    bary = torch.rand(total, 3, generator=gen)
    bary = bary / bary.sum(-1, keepdim=True)
    face = torch.randint(0, len(body.faces), (total,), generator=gen)
    uv = (bary[..., None] * body.uv_corners[face]).sum(1)
    colors = uv_colour(uv)
    colors[n:] = torch.tensor([1.0, 0.0, 0.0])
    layer = torch.zeros(total, dtype=torch.uint8)
    layer[n:] = 1
    offsets = torch.zeros(total, 3)
    offsets[n:, 2] = 0.03
    phenotypes = torch.tensor([0.3, 0.6, 0.5, 0.4, 0.7, 0.5])
    return Avatar(
        face_index=face,
        barycentrics=bary,
        offsets=offsets,
        rotations_wxyz=torch.nn.functional.normalize(torch.randn(total, 4, generator=gen), dim=-1),
        scales=torch.rand(total, 3, generator=gen) * 0.004 + 0.002,
        colors=colors,
        opacities=torch.rand(total, generator=gen) * 0.5 + 0.5,
        layer=layer,
        phenotypes=phenotypes,
        facial=torch.zeros(52),
        meta={"test": "small_avatar"},
    )


def skin_gltf(doc: dict, blob: bytes, joint_world: np.ndarray | None = None) -> np.ndarray:
    """Skin the first primitive of a glTF document in numpy: ``(N, 3)`` positions.

    ``joint_world``: ``(J, 4, 4)`` world matrices of the skin's joints; None = from the nodes' TRS.
    """
    from uvatar.io.gltf import accessor_array, node_world_matrices

    prim = doc["meshes"][0]["primitives"][0]["attributes"]
    positions = accessor_array(doc, blob, prim["POSITION"]).astype(np.float64)
    joints = accessor_array(doc, blob, prim["JOINTS_0"]).astype(np.int64)
    weights = accessor_array(doc, blob, prim["WEIGHTS_0"]).astype(np.float64)
    skin = doc["skins"][0]
    ibm = accessor_array(doc, blob, skin["inverseBindMatrices"]).astype(np.float64)
    if joint_world is None:
        joint_world = node_world_matrices(doc)[skin["joints"]]
    skinning = joint_world @ ibm  # (J, 4, 4)
    blended = (weights[..., None, None] * skinning[joints]).sum(1)  # (N, 4, 4)
    return (blended[:, :3, :3] @ positions[..., None])[..., 0] + blended[:, :3, 3]
