"""Off-body samples to Gaussians (the one place both decoders make them)."""

from __future__ import annotations

import torch

from uvatar.dualuv.offbody import OffBodySamples
from uvatar.model.offbody import off_body_gaussians
from uvatar.quaternions import wxyz_to_rotmat


def _samples(n: int = 64) -> OffBodySamples:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen))
    frames = q * torch.sign(torch.det(q))[:, None, None]  # proper rotations
    return OffBodySamples(
        face=torch.arange(n), barycentrics=torch.full((n, 3), 1 / 3), offsets=torch.randn(n, 3, generator=gen) * 0.01,
        ray_frames=frames, features=torch.rand(n, 4, generator=gen) * 1.4 - 0.2, pixels=torch.rand(n, 2, generator=gen) * 100,
        spacing=torch.rand(n, generator=gen) * 0.01 + 1e-3, shell_offset=torch.rand(n, generator=gen) * 0.1,
        reach=torch.rand(n, generator=gen) * 0.2 * (torch.rand(n, generator=gen) > 0.5),
    )  # fmt: skip


def test_gaussians_point_along_the_ray_and_reach_the_shell():
    samples = _samples()
    g = off_body_gaussians(samples, sigma=0.6, thickness=0.5)
    # a unit quaternion from a rotation matrix and back: float32 round trip, a few ulps of 1
    assert torch.allclose(wxyz_to_rotmat(g["rotations_wxyz"]), samples.ray_frames, atol=1e-5)
    width = 0.6 * samples.spacing
    assert torch.equal(g["scales"][:, 0], width) and torch.equal(g["scales"][:, 1], width)
    assert torch.equal(g["scales"][:, 2], torch.maximum(0.5 * samples.shell_offset, width))  # never thinner than wide
    assert g["colors"].shape == (len(samples), 3) and g["colors"].min() >= 0 and g["colors"].max() <= 1
    assert torch.equal(g["face_index"], samples.face) and torch.equal(g["offsets"], samples.offsets)


def test_a_samples_reach_deepens_it_along_the_ray_only():
    samples = _samples()
    g = off_body_gaussians(samples, sigma=0.6, thickness=0.0, reach_sigma=0.5)
    width = 0.6 * samples.spacing
    assert torch.equal(g["scales"][:, :2], torch.stack([width, width], -1))  # the photo's own view keeps its footprint
    assert torch.equal(g["scales"][:, 2], torch.maximum(0.5 * samples.reach, width))
    assert torch.equal(off_body_gaussians(samples, 0.6, 0.0)["scales"][:, 2], width)  # no reach_sigma: round
