"""The shell: the body extruded along its vertex normals, sharing the body's faces and UV layout.

Shell-UV samples what lies off the body surface (hair, hats, loose clothing). The offset is per vertex:
``ShellConfig.body_offset`` on the body and ``ShellConfig.head_offset`` on the head (hair), blended
across the neck by the head part's skinning weight so the shell has no step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from uvatar.body.skinning import vertex_normals

__all__ = ["ShellConfig", "shell_offsets", "shell_vertices"]


@dataclass(frozen=True)
class ShellConfig:
    """Extrusion distances in metres."""

    body_offset: float = 0.03
    head_offset: float = 0.06
    face_offset: float = 0.01


def shell_offsets(body, config: ShellConfig = ShellConfig()) -> torch.Tensor:
    """``(V,)`` per-vertex extrusion in metres for ``body`` (a BodyModel).

    The head gets ``head_offset`` for hair, except the face (head vertices whose rest normal looks
    forward, below the brows), which gets ``face_offset``: no hair grows there, and a shell floating in
    front of the face would catch the face's own colours.
    """
    head_bones = [i for i, label in enumerate(body.bone_labels) if label.startswith(("head", "eye", "neck02", "neck03"))]
    is_head = torch.zeros(body.n_bones, device=body.device)
    is_head[head_bones] = 1.0
    head_weight = (body.vertex_bone_weights * is_head[body.vertex_bone_indices]).sum(-1).clamp(0.0, 1.0)
    reference = body.forward(body.default_params(1))
    normals = vertex_normals(reference.rest_vertices, body.faces)[0]
    eye_height = reference.bone_poses[0, body.bone_index("eye.L"), 2, 3]
    rest_ref = reference.vertices[0]
    facing_forward = ((-normals[:, 1]).clamp(0, 1) - 0.3).clamp(min=0) / 0.7  # 0 sideways .. 1 straight ahead
    below_brows = (rest_ref[:, 2] < eye_height + 0.03).float()
    face_weight = head_weight * facing_forward * below_brows
    offsets = config.body_offset + (config.head_offset - config.body_offset) * head_weight
    return offsets + (config.face_offset - offsets) * face_weight


def shell_vertices(vertices: torch.Tensor, faces: torch.Tensor, offsets: torch.Tensor | float) -> torch.Tensor:
    """Extrude a mesh along its area-weighted vertex normals.

    Args:
        vertices: ``(B, V, 3)`` metres; faces: ``(F, 3)``; offsets: ``(V,)`` or a scalar, metres.
    Returns:
        ``(B, V, 3)`` shell vertices (same faces, same UVs as the body).
    """
    normals = vertex_normals(vertices, faces)
    offsets = torch.as_tensor(offsets, dtype=vertices.dtype, device=vertices.device)
    if offsets.ndim == 1:
        offsets = offsets[None, :, None]
    return vertices + offsets * normals
