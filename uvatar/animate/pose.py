"""Fast per-frame posing of an avatar's Gaussians on a posed body mesh (the animation loop's inner step).

:meth:`uvatar.avatar.Avatar.on_vertices` is the reference: it builds a face frame per *Gaussian* and
converts ``N`` rotation matrices to quaternions every frame. :class:`GaussianPoser` does the same
maths with the per-face work done once per face (``F`` = 27,420 faces instead of ``N`` ~ 600K
Gaussians): face frames and their quaternions per face, then per Gaussian one gather of its face's
``(3, 6)`` matrix ``[v0 v1 v2 tangent bitangent normal]`` times its ``(6,)`` vector ``[barycentrics,
offset]``, and one quaternion product written as a ``4x4`` matrix precomputed per Gaussian. Gaussians
are kept sorted by face so that the gathers read memory in order. Tests compare it with the reference.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from uvatar.avatar import Avatar, PosedGaussians
from uvatar.errors import interrupts_unwrapped
from uvatar.quaternions import xyzw_to_wxyz

__all__ = ["GaussianPoser"]

_ALPHA_MIN = 1.0 / 255.0  # the renderer skips Gaussians fainter than this everywhere


class GaussianPoser:
    """World-space Gaussians of one avatar for any posed mesh of its body.

    Args:
        avatar: the :class:`~uvatar.avatar.Avatar`.
        faces: ``(F, 3)`` int64 body faces (``body.faces``).
        drop_invisible: leave out Gaussians with opacity < 1/255, which the renderer never draws.
    """

    def __init__(self, avatar: Avatar, faces: torch.Tensor, drop_invisible: bool = True) -> None:
        keep = avatar.opacities >= _ALPHA_MIN if drop_invisible else torch.ones(len(avatar), dtype=torch.bool)
        kept = torch.nonzero(keep).squeeze(1)
        #: ``(N,)`` avatar index of each posed Gaussian: the kept ones, sorted by face (gathers stay local)
        self.order = kept[torch.argsort(avatar.face_index[kept], stable=True)]
        self.faces = faces
        self.faces_np = faces.cpu().contiguous().numpy()
        self.face_index = avatar.face_index[self.order].contiguous()
        # mean = [v0 v1 v2 t b n] @ [bary, offset]: one (3, 6) matrix per face, one (6,) vector per Gaussian
        self.coefficients = torch.cat([avatar.barycentrics[self.order], avatar.offsets[self.order]], -1).float()[..., None].contiguous()
        local = torch.nn.functional.normalize(avatar.rotations_wxyz[self.order].float(), dim=-1)
        w, x, y, z = local.unbind(-1)
        # q_world = q_face * q_local = right_multiply(q_local) @ q_face, quaternions in XYZW order
        self.right_multiply = torch.stack(
            [
                torch.stack([w, z, -y, x], -1),
                torch.stack([-z, w, x, y], -1),
                torch.stack([y, -x, w, z], -1),
                torch.stack([-x, -y, -z, w], -1),
            ],
            -2,
        ).contiguous()  # (N, 4, 4)
        self.local_wxyz = local.contiguous()  # (N, 4), read by the compiled path
        self.scales = avatar.scales[self.order].float().contiguous()
        self.opacities = avatar.opacities[self.order].float().contiguous()
        self.colors = avatar.colors[self.order].float().contiguous()

    def __len__(self) -> int:
        return int(self.face_index.shape[0])

    def _face_frames(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per face ``[v0 v1 v2 tangent bitangent normal]`` ``(F, 3, 6)`` and the frame's quaternion ``(F, 4)``
        XYZW."""
        v0, v1, v2 = (vertices[self.faces[:, k]] for k in range(3))
        tangent = torch.nn.functional.normalize(v1 - v0, dim=-1, eps=1e-12)
        normal = torch.nn.functional.normalize(torch.linalg.cross(v1 - v0, v2 - v0), dim=-1, eps=1e-12)
        bitangent = torch.linalg.cross(normal, tangent)
        per_face = torch.stack([v0, v1, v2, tangent, bitangent, normal], -1)  # (F, 3, 6)
        return per_face, roma.rotmat_to_unitquat(per_face[..., 3:])

    @torch.no_grad()
    def __call__(self, vertices: torch.Tensor) -> PosedGaussians:
        """Gaussians on posed ``vertices (V, 3)`` (metres) -> :class:`~uvatar.avatar.PosedGaussians`.

        On the CPU the per-Gaussian step runs as one compiled pass (``_pose_numba``); elsewhere, and as
        its reference, :meth:`pose_torch`.
        """
        if vertices.device.type != "cpu":
            return self.pose_torch(vertices)
        from uvatar.animate._pose_numba import face_frames, pose_gaussians

        n_faces = self.faces.shape[0]
        frames, face_quats = np.empty((n_faces, 3, 6)), np.empty((n_faces, 4))
        n = len(self)
        means = torch.empty(n, 3)
        quats_wxyz = torch.empty(n, 4)
        with interrupts_unwrapped():
            face_frames(vertices.detach().float().contiguous().numpy(), self.faces_np, frames, face_quats)
            pose_gaussians(
                frames, face_quats, self.face_index.numpy(), self.coefficients[..., 0].numpy(),
                self.local_wxyz.numpy(), means.numpy(), quats_wxyz.numpy(),
            )  # fmt: skip
        return PosedGaussians(means, quats_wxyz, self.scales, self.opacities, self.colors)

    @torch.no_grad()
    def pose_torch(self, vertices: torch.Tensor) -> PosedGaussians:
        """The torch path of :meth:`__call__` (any device; the compiled path's twin)."""
        per_face, face_quats = self._face_frames(vertices)
        means = torch.bmm(per_face.index_select(0, self.face_index), self.coefficients)[..., 0]
        quats = torch.bmm(self.right_multiply, face_quats.index_select(0, self.face_index)[..., None])[..., 0]
        quats_wxyz = xyzw_to_wxyz(quats)
        return PosedGaussians(means, quats_wxyz, self.scales, self.opacities, self.colors)
