"""Avatar: 3D Gaussians bound to the faces of the canonical body, animated by the body's skinning.

Each Gaussian is stored in the frame of one body face (:func:`uvatar.body.skinning.face_frames`:
tangent along the face's first edge, bitangent, outward normal):

    mean     = surface point at (face, barycentrics) + R_face @ offset
    rotation = R_face @ R_local          (R_local from ``rotations_wxyz``)
    scale, colour, opacity unchanged

so the Gaussians follow the posed mesh exactly, whatever the pose. The ``.uvatar`` bundle is one
safetensors file; its header metadata holds ``format``, ``layout`` (this documentation of every
tensor) and ``meta`` (how the avatar was made) as JSON strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import roma
import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.body.skinning import bound_points_to_world
from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path

__all__ = ["Avatar", "PosedGaussians", "FORMAT", "LAYOUT"]

FORMAT = "uvatar.avatar/1"
LAYOUT = {
    "face_index": "(N,) int64: body face each Gaussian is bound to (Anny topology 'anny', 27420 faces)",
    "barycentrics": "(N, 3) float32: weights of the face's 3 vertices (body.faces order)",
    "offsets": "(N, 3) float32 metres: offset from the surface point in the face frame (tangent, bitangent, normal)",
    "rotations_wxyz": "(N, 4) float32: unit quaternion W,X,Y,Z of the Gaussian in the face frame",
    "scales": "(N, 3) float32 metres: standard deviations along the Gaussian's axes",
    "colors": "(N, 3) float32: linear RGB in [0, 1] (SH degree 0)",
    "opacities": "(N,) float32 in [0, 1]",
    "layer": "(N,) uint8: 0 = Core-UV (body surface), 1 = Shell-UV (hair, loose clothing)",
    "phenotypes": "(6,) float32: Anny shape (gender, age, muscle, weight, height, proportions)",
    "facial": "(52,) float32: Anny facial actions of the photo",
    "face frame": "tangent = normalize(v1 - v0), normal = normalize((v1 - v0) x (v2 - v0)), bitangent = normal x tangent",
    "pose": "posed vertices come from Anny (rig/topology 'anny', local-ref rotation vectors per bone + translation)",
}
_TENSORS = ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer", "phenotypes", "facial")


@dataclass
class PosedGaussians:
    """World-space Gaussians of one pose: ``means (N, 3)``, ``quats_wxyz (N, 4)``, ``scales (N, 3)``,
    ``opacities (N,)``, ``colors (N, 3)``."""

    means: torch.Tensor
    quats_wxyz: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    colors: torch.Tensor

    def render(self, camera, background=(1.0, 1.0, 1.0), backend: str = "auto"):
        from uvatar.render.gaussians import render_gaussians

        return render_gaussians(
            self.means, self.quats_wxyz, self.scales, self.opacities, self.colors, camera,
            background=torch.tensor(background, dtype=torch.float32), backend=backend,
        )  # fmt: skip

    def to_ply_cloud(self):
        from uvatar.io.ply import GaussianCloud

        return GaussianCloud.from_colors(
            self.means.detach().cpu().numpy(), self.quats_wxyz.detach().cpu().numpy(),
            self.scales.detach().cpu().numpy(), self.opacities.detach().cpu().numpy(),
            self.colors.detach().cpu().clamp(0, 1).numpy(),
        )  # fmt: skip


@dataclass
class Avatar:
    """Gaussians bound to the canonical body (shapes in :data:`LAYOUT`)."""

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    rotations_wxyz: torch.Tensor
    scales: torch.Tensor
    colors: torch.Tensor
    opacities: torch.Tensor
    layer: torch.Tensor
    phenotypes: torch.Tensor
    facial: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.face_index.shape[0])

    # ------------------------------------------------------------------ posing
    def params(self, body: BodyModel, params: BodyParams | None = None) -> BodyParams:
        """``params`` (default: the reference pose at the origin) with this avatar's shape and face."""
        params = body.default_params(1) if params is None else params.detach()
        params.phenotypes = self.phenotypes.reshape(1, -1).to(params.phenotypes)
        params.facial = self.facial.reshape(1, -1).to(params.facial)
        return params

    def pose(self, body: BodyModel, params: BodyParams | None = None) -> PosedGaussians:
        """World-space Gaussians for body parameters (batch 1; shape and face are the avatar's own)."""
        vertices = body.forward(self.params(body, params)).vertices
        return self.on_vertices(vertices[0], body.faces)

    def on_vertices(self, vertices: torch.Tensor, faces: torch.Tensor) -> PosedGaussians:
        """Gaussians on a posed mesh ``vertices (V, 3)`` with ``faces (F, 3)``."""
        means, frames = bound_points_to_world(vertices[None], faces, self.face_index, self.barycentrics, self.offsets)
        local = roma.unitquat_to_rotmat(_wxyz_to_xyzw(self.rotations_wxyz))
        world = frames[0] @ local
        quats = _xyzw_to_wxyz(roma.rotmat_to_unitquat(world))
        return PosedGaussians(means[0], quats, self.scales, self.opacities, self.colors)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write the ``.uvatar`` bundle (one safetensors file, layout documented in its header)."""
        from safetensors.torch import save_file

        tensors = {name: getattr(self, name).detach().cpu().contiguous() for name in _TENSORS}
        metadata = {"format": FORMAT, "layout": json.dumps(LAYOUT), "meta": json.dumps(self.meta)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> "Avatar":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise InputError(f"no avatar at {path}; pass the avatar.uvatar written by 'uvatar reconstruct'")
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        except Exception as exc:  # safetensors raises its own error types for foreign files
            raise InputError(f"{path} is not a UVatar avatar bundle ({exc}); pass an avatar.uvatar file") from None
        if metadata.get("format") != FORMAT:
            raise InputError(f"{path} is not a UVatar avatar bundle (format {metadata.get('format')!r}, expected {FORMAT!r})")
        missing = [name for name in _TENSORS if name not in tensors]
        if missing:
            raise InputError(f"{path} lacks tensors {', '.join(missing)}; it was not written by this UVatar")
        return cls(**{name: tensors[name] for name in _TENSORS}, meta=json.loads(metadata.get("meta", "{}")))

    def export_ply(self, path: str | Path, body: BodyModel, params: BodyParams | None = None) -> None:
        """3DGS ``.ply`` of the avatar in a pose (default: the reference pose)."""
        from uvatar.io.ply import write_gaussian_ply

        with torch.no_grad():
            write_gaussian_ply(path, self.pose(body, params).to_ply_cloud())


def _wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 1:], q[..., :1]], -1)


def _xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 3:], q[..., :3]], -1)
