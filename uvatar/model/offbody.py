"""Off-body samples (person pixels beyond the body, :class:`~uvatar.dualuv.offbody.OffBodySamples`) to
Gaussians: the one place both decoders make them.

Each sample becomes one Gaussian as wide as ``sigma`` times the sample spacing at its depth, oriented
along the photo's ray (its ray frame) and elongated along it by ``thickness`` times the shell's offset
at its face (at least its width): the photo cannot see that extent (it projects onto the same pixel),
but it gives hair, hats and loose clothes depth from the side.
"""

from __future__ import annotations

import torch

from uvatar.dualuv.offbody import OffBodySamples
from uvatar.quaternions import rotmat_to_wxyz

__all__ = ["off_body_gaussians"]


def off_body_gaussians(samples: OffBodySamples, sigma: float, thickness: float) -> dict[str, torch.Tensor]:
    """``face_index (N,)``, ``barycentrics (N, 3)``, ``offsets (N, 3)``, ``rotations_wxyz (N, 4)``,
    ``scales (N, 3)`` metres and ``colors (N, 3)`` (the samples' first three feature channels, clamped)."""
    width = sigma * samples.spacing
    depth = thickness * samples.shell_offset
    return {
        "face_index": samples.face,
        "barycentrics": samples.barycentrics,
        "offsets": samples.offsets,
        "rotations_wxyz": rotmat_to_wxyz(samples.ray_frames),
        "scales": torch.stack([width, width, torch.maximum(depth, width)], -1),
        "colors": samples.features[:, :3].clamp(0, 1),
    }
