"""A built-in procedural motion for previews: a wave of the left arm, a look around, a sway.

Until ``uvatar.animate`` provides real motions this keeps the viewer's playback self-contained: a few
joints turn along smooth, looping sinusoids (rotation vectors in Anny's ``local-ref`` convention,
world-aligned axes: X to the body's left, Y to its back, Z up).
"""

from __future__ import annotations

import math

import torch

__all__ = ["wave_motion"]

# bone: (axis, amplitude rad, offset rad, cycles per loop, phase)
_JOINTS = {
    "upperarm01.L": ((0.0, 1.0, 0.0), 0.35, -1.25, 1, 0.0),  # raise the left arm to the side, then wave it
    "lowerarm01.L": ((0.0, 1.0, 0.0), 0.45, -0.45, 2, 0.0),
    "upperarm01.R": ((0.0, 1.0, 0.0), 0.12, 0.1, 1, 0.5),  # the right arm swings a little
    "neck01": ((0.0, 0.0, 1.0), 0.35, 0.0, 1, 0.25),  # look left and right
    "spine02": ((0.0, 1.0, 0.0), 0.06, 0.0, 1, 0.5),  # sway
}


def wave_motion(body, n_frames: int = 48):
    """``n_frames`` looping poses as one :class:`~uvatar.body.model.BodyParams` of batch ``n_frames``
    (average shape and neutral face; pass each row through ``Avatar.params`` to use an avatar's own)."""
    if n_frames < 1:
        from uvatar.errors import InputError

        raise InputError(f"a motion needs at least one frame; got {n_frames}")
    params = body.default_params(n_frames)
    t = torch.arange(n_frames, dtype=torch.float32) / n_frames
    for label, (axis, amplitude, offset, cycles, phase) in _JOINTS.items():
        angle = offset + amplitude * torch.sin(2 * math.pi * (cycles * t + phase))
        params.rotvecs[:, body.bone_index(label)] = angle[:, None] * torch.tensor(axis)
    return params
