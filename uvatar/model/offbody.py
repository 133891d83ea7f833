"""Off-body samples (person pixels beyond the body, :class:`~uvatar.dualuv.offbody.OffBodySamples`) to
Gaussians: the one place both decoders make them.

Each sample becomes one Gaussian as wide as ``sigma`` times the sample spacing at its depth, oriented
along the photo's ray (its ray frame) and elongated along it (at least its width) by the larger of
``thickness`` times the shell's offset at its face and ``reach_sigma`` times its reach (the tube round
the body's axis that meets the mask's edge: :func:`~uvatar.dualuv.offbody.matter_reach`): the photo
cannot see that extent (it projects onto the same pixel), but it gives loose clothes depth from the
side and the back.
"""

from __future__ import annotations

import torch

from uvatar.dualuv.offbody import OffBodySamples
from uvatar.quaternions import rotmat_to_wxyz

__all__ = ["off_body_gaussians"]


def off_body_gaussians(samples: OffBodySamples, sigma: float, thickness: float, reach_sigma: float = 0.0) -> dict[str, torch.Tensor]:
    """``face_index (N,)``, ``barycentrics (N, 3)``, ``offsets (N, 3)``, ``rotations_wxyz (N, 4)``,
    ``scales (N, 3)`` metres and ``colors (N, 3)`` (the samples' first three feature channels, clamped)."""
    width = sigma * samples.spacing
    depth = torch.maximum(thickness * samples.shell_offset, reach_sigma * samples.reach)
    return {
        "face_index": samples.face,
        "barycentrics": samples.barycentrics,
        "offsets": samples.offsets,
        "rotations_wxyz": rotmat_to_wxyz(samples.ray_frames),
        "scales": torch.stack([width, width, torch.maximum(depth, width)], -1),
        "colors": samples.features[:, :3].clamp(0, 1),
    }
