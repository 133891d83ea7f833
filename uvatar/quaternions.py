"""The one place where UVatar's quaternion order (W, X, Y, Z) meets roma's (X, Y, Z, W).

UVatar stores and renders WXYZ (gsplat's order); roma's conversions take and give XYZW. Every
conversion between the two goes through these functions; shapes are ``(..., 4)`` and ``(..., 3, 3)``.
"""

from __future__ import annotations

import roma
import torch

__all__ = ["wxyz_to_xyzw", "xyzw_to_wxyz", "rotmat_to_wxyz", "wxyz_to_rotmat", "identity_wxyz"]


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` W,X,Y,Z -> X,Y,Z,W."""
    return torch.cat([q[..., 1:], q[..., :1]], -1)


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` X,Y,Z,W -> W,X,Y,Z."""
    return torch.cat([q[..., 3:], q[..., :3]], -1)


def rotmat_to_wxyz(rotation: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 4)`` unit quaternions W,X,Y,Z."""
    return xyzw_to_wxyz(roma.rotmat_to_unitquat(rotation))


def wxyz_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` unit quaternions W,X,Y,Z -> ``(..., 3, 3)`` rotation matrices."""
    return roma.unitquat_to_rotmat(wxyz_to_xyzw(q))


def identity_wxyz(n: int) -> torch.Tensor:
    """``(n, 4)`` W,X,Y,Z identity rotations."""
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return quats
