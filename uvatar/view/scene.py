"""What the viewer shows, without the viewer: Gaussians from a ``.uvatar`` (posable) or a 3DGS ``.ply``.

Everything here is numpy/torch, so it is tested without a browser. Poses use the avatar's own
shape and face; covariances are ``R diag(s^2) R^T`` with ``R`` the Gaussian's world rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from uvatar.errors import InputError
from uvatar.quaternions import wxyz_to_rotmat, wxyz_to_xyzw

__all__ = ["SplatFrame", "ViewerScene", "PROCEDURAL", "motion_names", "load_scene", "load_avatar", "covariances_from_rotations", "display_scale"]


@dataclass
class SplatFrame:
    """Gaussians of one frame: ``centers (N, 3)``, ``rotations (N, 3, 3)`` (axes to world),
    ``scales (N, 3)``, ``rgbs (N, 3)`` in [0, 1], ``opacities (N, 1)``; float32, world frame, metres."""

    centers: np.ndarray
    rotations: np.ndarray
    scales: np.ndarray
    rgbs: np.ndarray
    opacities: np.ndarray

    def covariances(self, min_scale: float = 0.0) -> np.ndarray:
        """``(N, 3, 3)`` covariances, each axis' scale raised to at least ``min_scale`` metres."""
        scales = np.maximum(self.scales, np.float32(min_scale))
        return covariances_from_rotations(torch.from_numpy(self.rotations), torch.from_numpy(scales)).numpy()


def covariances_from_rotations(rotations: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``(N, 3, 3)`` covariances ``R diag(s^2) R^T`` of rotations ``(N, 3, 3)`` and scales ``(N, 3)``."""
    return (rotations * scales[:, None, :] ** 2) @ rotations.transpose(1, 2)


def display_scale(scales: np.ndarray) -> float:
    """A power of ten ``k`` so that ``k * median(scale)`` is about 0.01..0.1.

    viser sends covariances as float16, whose normal range starts at 6e-5: a 0.5 mm Gaussian has a
    variance of 2.5e-7 m² and would be crushed. The viewer sends ``k * centres`` and ``k² * Σ`` and
    shrinks the node by ``1 / k``, which shows the same Gaussians in metres.
    """
    median = float(np.median(scales)) if scales.size else 1.0
    if not np.isfinite(median) or median <= 0:
        return 1.0
    return float(10.0 ** np.clip(np.round(np.log10(0.03 / median)), 0, 6))


PROCEDURAL = "procedural"


def motion_names() -> list[str]:
    """Motions the viewer can play: ``uvatar.animate``'s built-ins (when present) and ``procedural``."""
    try:
        from uvatar.animate import BUILTIN_MOTIONS
    except ImportError:
        return [PROCEDURAL]
    return list(BUILTIN_MOTIONS) + [PROCEDURAL]


class ViewerScene:
    """The viewer's content: a static cloud (``.ply``) or a posable avatar (``.uvatar``) with a motion.

    Attributes:
        motion_name: the motion loaded (None: none); ``fps``: its frame rate;
        motion_vertices: ``(T, V, 3)`` posed body vertices of its frames (the avatar's shape and face).
    """

    def __init__(self, frame0: SplatFrame, avatar=None, body=None) -> None:
        self._static = frame0
        self.avatar = avatar
        self.body = body
        self.motion_name: str | None = None
        self.motion_vertices: torch.Tensor | None = None
        self.fps = 12.0
        self._local_rotations = None

    @property
    def n_frames(self) -> int:
        return 0 if self.motion_vertices is None else int(self.motion_vertices.shape[0])

    @property
    def n_gaussians(self) -> int:
        return int(self._static.centers.shape[0])

    def set_motion(self, name: str, procedural_frames: int = 48) -> None:
        """Load motion ``name`` (one of :func:`motion_names`) for the avatar: poses every frame's body."""
        if self.avatar is None:
            raise InputError("only an avatar (.uvatar) can play a motion; a .ply is a still cloud")
        if name not in motion_names():
            raise InputError(f"unknown motion {name!r}; choose one of {', '.join(motion_names())}")
        body, avatar = self.body, self.avatar
        if name == PROCEDURAL:
            from uvatar.view.motion import wave_motion

            params, fps = wave_motion(body, procedural_frames), 12.0
            params.phenotypes = avatar.phenotypes.reshape(1, -1).expand(params.batch_size, -1).clone()
            params.facial = avatar.facial.reshape(1, -1).expand(params.batch_size, -1).clone()
        else:
            from uvatar.animate import load_motion
            from uvatar.animate.render import motion_params

            motion = load_motion(name, body)
            params, fps = motion_params(motion, body, avatar.phenotypes, avatar.facial), float(motion.fps)
        from uvatar.body.model import BodyParams

        with torch.no_grad():
            chunks = [
                body.forward(BodyParams(*(t[i : i + 16] for t in params.tensors().values()))).vertices
                for i in range(0, params.batch_size, 16)
            ]  # fmt: skip
        self.motion_vertices = torch.cat(chunks)
        self.motion_name, self.fps = name, fps

    def frame(self, index: int | None = None) -> SplatFrame:
        """Frame ``index`` of the motion, wrapping round (None, or no motion: the still pose)."""
        if index is None or self.avatar is None or self.motion_vertices is None:
            return self._static
        return self._avatar_frame(self.motion_vertices[index % self.n_frames])

    def _avatar_frame(self, vertices: torch.Tensor) -> SplatFrame:
        from uvatar.body.skinning import bound_points_to_world

        avatar = self.avatar
        if self._local_rotations is None:
            q = avatar.rotations_wxyz
            self._local_rotations = wxyz_to_rotmat(q)
        with torch.no_grad():
            means, frames = bound_points_to_world(vertices[None], self.body.faces, avatar.face_index, avatar.barycentrics, avatar.offsets)
            rotations = frames[0] @ self._local_rotations
        return SplatFrame(
            centers=means[0].numpy().astype(np.float32),
            rotations=rotations.numpy().astype(np.float32),
            scales=avatar.scales.numpy().astype(np.float32),
            rgbs=avatar.colors.clamp(0, 1).numpy().astype(np.float32),
            opacities=avatar.opacities.clamp(0, 1).numpy().astype(np.float32)[:, None],
        )


def _subset(avatar, keep: torch.Tensor):
    from dataclasses import fields, replace

    per_gaussian = {f.name: getattr(avatar, f.name)[keep] for f in fields(avatar) if f.name not in ("phenotypes", "facial", "meta")}
    return replace(avatar, **per_gaussian)


def _choose(n: int, max_gaussians: int) -> torch.Tensor | None:
    if max_gaussians <= 0 or n <= max_gaussians:
        return None
    gen = torch.Generator().manual_seed(0)
    return torch.randperm(n, generator=gen)[:max_gaussians].sort().values


def load_avatar(path: str | Path, max_gaussians: int = 0, body=None):
    """``(avatar, body)``: the ``.uvatar`` at ``path`` with at most ``max_gaussians`` Gaussians (0 = all; a
    fixed random subset), and the body model (loaded when ``body`` is None)."""
    from uvatar.avatar import Avatar

    avatar = Avatar.load(path)
    keep = _choose(len(avatar), max_gaussians)
    if keep is not None:
        avatar = _subset(avatar, keep)
    if body is None:
        from uvatar.body.model import load_body_model

        body = load_body_model()
    return avatar, body


def load_scene(path: str | Path, max_gaussians: int = 0, motion: str | None = None, body=None) -> ViewerScene:
    """Load a ``.uvatar`` (posable; shown in its reference pose, ``motion`` loaded when given) or a 3DGS
    ``.ply`` (still); keep at most ``max_gaussians`` Gaussians (0 = all; a fixed random subset)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no file at {path}; pass an avatar.uvatar or a 3DGS .ply")
    suffix = path.suffix.lower()
    if suffix == ".ply":
        from uvatar.io.ply import read_gaussian_ply

        if motion is not None:
            raise InputError(f"only an avatar (.uvatar) can play a motion; {path.name} is a still 3DGS cloud")

        cloud = read_gaussian_ply(path)
        keep = _choose(len(cloud), max_gaussians)
        index = slice(None) if keep is None else keep.numpy()
        quats = torch.from_numpy(np.asarray(cloud.quats_wxyz[index], dtype=np.float32))
        import roma

        rotations = roma.unitquat_to_rotmat(torch.nn.functional.normalize(wxyz_to_xyzw(quats), dim=1))
        scales = torch.from_numpy(np.asarray(cloud.scales[index], dtype=np.float32))
        frame = SplatFrame(
            centers=np.asarray(cloud.means[index], dtype=np.float32),
            rotations=rotations.numpy(),
            scales=scales.numpy(),
            rgbs=np.clip(np.asarray(cloud.colors[index], dtype=np.float32), 0, 1),
            opacities=np.clip(np.asarray(cloud.opacities[index], dtype=np.float32), 0, 1)[:, None],
        )
        return ViewerScene(frame)
    if suffix != ".uvatar":
        raise InputError(f"{path} is neither a .uvatar nor a .ply; pass an avatar.uvatar or a 3DGS .ply")
    avatar, body = load_avatar(path, max_gaussians, body)
    scene = ViewerScene(None, avatar=avatar, body=body)
    with torch.no_grad():
        scene._static = scene._avatar_frame(body.forward(avatar.params(body)).vertices[0])
    if motion is not None:
        scene.set_motion(motion)
    return scene
