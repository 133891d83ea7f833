"""Rotation helpers for motions: chains of bone rotations, aiming, interpolation, smoothing, Euler angles.

Anny's ``local-ref`` pose parameters compose in world-aligned axes: if ``G_c`` is bone ``c``'s world
rotation *relative to the reference pose* (the rotation that carries the reference-posed bone to the
posed bone) and ``D_c`` its parameter (as a matrix), then

    G_root = D_root,    G_c = G_parent(c) @ D_c

(checked against Anny's forward kinematics in ``tests/animate/test_rotations.py``). So ``D_c`` is the
bone's rotation as one would apply it to the reference (A-)pose, carried along by its parents, and
:func:`local_from_world` inverts the chain: ``D_c = G_parent^T G_c``.

Quaternions here are roma's XYZW (the names say so); the rest of UVatar speaks WXYZ only at the renderer.
"""

from __future__ import annotations

import math

import roma
import torch

__all__ = [
    "world_from_local",
    "local_from_world",
    "aim_rotation",
    "euler_to_rotmat",
    "interpolate_rotvecs",
    "smooth_rotvecs",
    "smooth_signal",
    "clamp_rotvec_angles",
]


def world_from_local(local: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """World rotations relative to the reference pose from ``local-ref`` rotations.

    Args:
        local: ``(..., J, 3, 3)`` per-bone rotation matrices ``D`` (``local-ref``).
        parents: ``J`` parent indices, a parent before its children, the root's negative.
    Returns:
        ``(..., J, 3, 3)`` world rotations ``G`` (``G_c = G_parent D_c``).
    """
    world = [None] * len(parents)
    for c, p in enumerate(parents):
        world[c] = local[..., c, :, :] if p < 0 else world[p] @ local[..., c, :, :]
    return torch.stack(world, -3)


def local_from_world(world: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """Inverse of :func:`world_from_local`: ``(..., J, 3, 3)`` world -> ``(..., J, 3, 3)`` local-ref."""
    index = torch.tensor([max(p, 0) for p in parents])
    parent_world = world[..., index, :, :]
    local = parent_world.transpose(-1, -2) @ world
    roots = [c for c, p in enumerate(parents) if p < 0]
    local[..., roots, :, :] = world[..., roots, :, :]
    return local


def aim_rotation(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smallest rotation ``(..., 3, 3)`` taking direction ``source (..., 3)`` to ``target (..., 3)``.

    Opposite directions turn by pi about an axis perpendicular to ``source``.
    """
    a = torch.nn.functional.normalize(source, dim=-1)
    b = torch.nn.functional.normalize(target, dim=-1)
    axis = torch.linalg.cross(a, b)
    sin = torch.linalg.norm(axis, dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    # a perpendicular fallback axis for (anti)parallel directions
    helper = torch.where(a[..., :1].abs() < 0.9, torch.tensor([1.0, 0.0, 0.0]).to(a), torch.tensor([0.0, 1.0, 0.0]).to(a))
    fallback = torch.nn.functional.normalize(torch.linalg.cross(a, helper), dim=-1)
    # below 1e-6 the cross product is rounding noise: the directions are (anti)parallel
    unit = torch.where(sin > 1e-6, axis / sin.clamp(min=1e-12), fallback)
    return roma.rotvec_to_rotmat(unit * angle)


_AXES = {"X": 0, "Y": 1, "Z": 2}


def euler_to_rotmat(angles_deg: torch.Tensor, order: str) -> torch.Tensor:
    """BVH-style Euler angles to rotation matrices.

    Args:
        angles_deg: ``(..., 3)`` degrees, in the order of ``order``.
        order: e.g. ``"ZXY"``: the matrix is ``Rz @ Rx @ Ry`` (rotations about the fixed parent axes read
            right to left, i.e. intrinsic Z then X then Y), which is how BVH channels compose.
    Returns:
        ``(..., 3, 3)``.
    """
    out = None
    for k, axis in enumerate(order.upper()):
        vec = torch.zeros(angles_deg.shape[:-1] + (3,), dtype=angles_deg.dtype)
        vec[..., _AXES[axis]] = torch.deg2rad(angles_deg[..., k])
        mat = roma.rotvec_to_rotmat(vec)
        out = mat if out is None else out @ mat
    return out


def interpolate_rotvecs(rotvecs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Geodesic (slerp) interpolation of a rotation sequence at fractional frame positions.

    Args:
        rotvecs: ``(T, ..., 3)`` rotation vectors per frame.
        positions: ``(S,)`` fractional frame indices in ``[0, T - 1]``.
    Returns:
        ``(S, ..., 3)``.
    """
    positions = positions.clamp(0, rotvecs.shape[0] - 1)
    lo = positions.floor().long()
    hi = (lo + 1).clamp(max=rotvecs.shape[0] - 1)
    alpha = (positions - lo.to(positions.dtype)).reshape((-1,) + (1,) * (rotvecs.dim() - 1))
    r0 = roma.rotvec_to_rotmat(rotvecs[lo])
    r1 = roma.rotvec_to_rotmat(rotvecs[hi])
    step = roma.rotmat_to_rotvec(r0.transpose(-1, -2) @ r1)
    return roma.rotmat_to_rotvec(r0 @ roma.rotvec_to_rotmat(alpha * step))


def smooth_signal(values: torch.Tensor, window: int, polyorder: int = 2) -> torch.Tensor:
    """Savitzky-Golay smoothing along the first axis of ``(T, ...)`` values (``window`` frames, odd).

    Too-short sequences (``T`` <= ``polyorder + 1``) and ``window`` < 3 come back unchanged; the window
    shrinks to the longest odd length <= ``T``.
    """
    from scipy.signal import savgol_filter

    length = values.shape[0]
    window = min(int(window), length if length % 2 else length - 1)
    if window % 2 == 0:
        window -= 1
    if window < 3 or window <= polyorder:
        return values.clone()
    smoothed = savgol_filter(values.detach().cpu().double().numpy(), window, polyorder, axis=0, mode="interp")
    return torch.as_tensor(smoothed, dtype=values.dtype)


def smooth_rotvecs(rotvecs: torch.Tensor, window: int, polyorder: int = 2) -> torch.Tensor:
    """Quaternion-safe Savitzky-Golay smoothing of ``(T, ..., 3)`` rotation vectors over time.

    Each bone's quaternions are first put on one hemisphere frame to frame (``q`` and ``-q`` are the
    same rotation), then filtered component-wise and renormalised: a weighted quaternion average,
    accurate for the small spreads inside a short window.
    """
    quats = roma.rotvec_to_unitquat(rotvecs)  # (T, ..., 4) XYZW
    for t in range(1, quats.shape[0]):
        flip = (quats[t] * quats[t - 1]).sum(-1, keepdim=True) < 0
        quats[t] = torch.where(flip, -quats[t], quats[t])
    smoothed = torch.nn.functional.normalize(smooth_signal(quats, window, polyorder), dim=-1)
    return roma.unitquat_to_rotvec(smoothed)


def clamp_rotvec_angles(rotvecs: torch.Tensor, max_angles: torch.Tensor) -> torch.Tensor:
    """Shorten rotation vectors ``(..., J, 3)`` whose angle exceeds ``max_angles (J,)`` radians."""
    angles = torch.linalg.norm(rotvecs, dim=-1, keepdim=True)
    limit = max_angles.to(rotvecs).unsqueeze(-1).expand_as(angles)
    scale = torch.where(angles > limit, limit / angles.clamp(min=1e-12), torch.ones_like(angles))
    return rotvecs * scale


def wrap_angle(angle: float) -> float:
    """``angle`` radians wrapped to (-pi, pi]."""
    return math.atan2(math.sin(angle), math.cos(angle))
