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

__all__ = ["off_body_gaussians", "grazing_gaussians", "GRAZING_LIFT_M"]


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


#: How far a grazing sheet lies in front of the surface along the photo's ray, metres: the texels beneath it
#: take the fill's colour, and nearer the surface the sheets were sorted among them in the photo's own view
#: (Grace Hopper's own view 26.33 / 26.76 / 26.90 / 26.95 dB at 1 / 3 / 6 / 10 mm; 26.94 with no sheets).
GRAZING_LIFT_M = 0.006


def grazing_gaussians(samples: OffBodySamples, sigma: float, flat: float) -> dict[str, torch.Tensor]:
    """Sheets facing the photo from its grazing samples (:func:`~uvatar.dualuv.grazing.sample_grazing`):
    as wide as ``sigma`` times the sample spacing, ``flat`` times that along the photo's ray, lifted
    :data:`GRAZING_LIFT_M` towards the photo. Seen from the photo they cover its pixels as the surface
    did; seen from the side they are edge-on. Same keys as :func:`off_body_gaussians`."""
    width = sigma * samples.spacing
    ray = samples.ray_frames[:, :, 2]  # the photo's ray in each face's frame
    return {
        "face_index": samples.face,
        "barycentrics": samples.barycentrics,
        "offsets": samples.offsets - GRAZING_LIFT_M * ray,
        "rotations_wxyz": rotmat_to_wxyz(samples.ray_frames),
        "scales": torch.stack([width, width, flat * width], -1),
        "colors": samples.features[:, :3].clamp(0, 1),
    }
