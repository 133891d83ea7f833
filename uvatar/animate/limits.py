"""Joint limits of the Anny rig for motions: the largest rotation angle of each bone's ``local-ref`` rotation.

A cone limit on the angle of the rotation relative to the reference (A-)pose: coarse (no per-axis
ranges, so a knee may bend sideways as far as forwards) but enough to stop retargeted or tracked
motions from twisting limbs into impossible shapes. Values in radians, by bone-label prefix; the first
prefix that matches wins.
"""

from __future__ import annotations

import math

import torch

__all__ = ["BONE_ANGLE_LIMITS", "max_angles", "clamp_to_limits"]

#: (label prefix, largest angle in radians); first match wins.
BONE_ANGLE_LIMITS: tuple[tuple[str, float], ...] = (
    ("root", math.pi),
    ("pelvis", 0.35),
    ("upperleg01", 2.4),  # hip: flexion to ~135 degrees
    ("upperleg02", 0.6),  # thigh twist
    ("lowerleg01", 2.6),  # knee
    ("lowerleg02", 0.6),
    ("foot", 1.0),
    ("toe", 0.8),
    ("spine", 0.6),  # per vertebra group; five of them add up
    ("clavicle", 0.7),
    ("shoulder01", 0.7),
    ("upperarm01", 3.0),  # shoulder: from the A-pose to overhead
    ("upperarm02", 1.2),  # upper-arm twist
    ("lowerarm01", 2.6),  # elbow
    ("lowerarm02", 1.6),  # forearm pronation
    ("wrist", 1.4),
    ("metacarpal", 0.5),
    ("finger", 1.7),
    ("neck", 0.7),
    ("head", 1.0),
    ("eye", 0.6),
)
_DEFAULT = 1.0


def max_angles(bone_labels: list[str]) -> torch.Tensor:
    """``(J,)`` largest rotation angle (radians) per bone, in ``bone_labels`` order."""
    values = []
    for label in bone_labels:
        values.append(next((limit for prefix, limit in BONE_ANGLE_LIMITS if label.startswith(prefix)), _DEFAULT))
    return torch.tensor(values, dtype=torch.float32)


def clamp_to_limits(rotvecs: torch.Tensor, bone_labels: list[str]) -> torch.Tensor:
    """``(..., J, 3)`` rotation vectors with each bone's angle clamped to :func:`max_angles`."""
    from uvatar.animate.rotations import clamp_rotvec_angles

    return clamp_rotvec_angles(rotvecs, max_angles(bone_labels))
