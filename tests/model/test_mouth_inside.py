"""The mouth's inside: drawn by the projection decoder where the photo showed it (an open mouth's teeth), nowhere else."""

import pytest
import torch

from uvatar.body.parts import interior_faces, mouth_faces
from uvatar.dualuv.project import UVFeatures
from uvatar.model.projection import ProjectionConfig, decode_projection


def _features(body, resolution: int, seen_mouth_share: float) -> tuple[UVFeatures, torch.Tensor]:
    """Core-UV features that saw every texel of the body's outside and the first ``seen_mouth_share`` of the
    mouth's texels (row-major), and those seen mouth texels ``(R, R)``."""
    raster = body.uv_raster(resolution)
    face = raster.face_index.clamp(min=0)
    mouth = raster.mask & mouth_faces(body).cpu()[face]
    outside = raster.mask & ~interior_faces(body).cpu()[face]
    seen_mouth = torch.zeros_like(mouth)
    rows, cols = torch.nonzero(mouth, as_tuple=True)
    n = int(seen_mouth_share * len(rows))
    seen_mouth[rows[:n], cols[:n]] = True
    seen = outside | seen_mouth
    generator = torch.Generator().manual_seed(0)
    uv = UVFeatures(
        core=torch.rand(3, resolution, resolution, generator=generator), core_weight=seen.float(), core_cos=seen.float(),
        shell=torch.zeros(3, 64, 64), shell_weight=torch.zeros(64, 64), shell_cos=torch.zeros(64, 64),
        shell_offsets=torch.full((body.n_vertices,), 0.02),
    )  # fmt: skip
    return uv, seen_mouth


@pytest.mark.parametrize("resolution", [128, 256])  # without and with the unseen blocks' level of detail
def test_the_mouth_is_drawn_where_the_photo_showed_it(body, resolution):
    config = ProjectionConfig(mirror=False)  # mirrored texels count as the photo's: keep the seen half alone
    params = body.default_params(1)
    mouth = mouth_faces(body).cpu()
    for share in (0.0, 0.5):
        uv, seen_mouth = _features(body, resolution, share)
        assert (seen_mouth.sum() > 100) == (share > 0)  # test setup: half the mouth seen, or none of it
        gaussians = decode_projection(uv, body, params.phenotypes[0], params.facial[0], config)
        core = gaussians.layer == 0
        on_mouth = mouth[gaussians.face_index[core]]
        # one Gaussian per seen mouth texel (seen texels are drawn at full resolution), none for the unseen
        # half: filled and drawn, the inside showed through the skin in front of it
        assert int(on_mouth.sum()) == int(seen_mouth.sum())


def test_the_mouth_is_inside(body):
    mouth = mouth_faces(body)
    assert mouth.sum() > 1000 and not (mouth & ~interior_faces(body)).any()  # Anny: 796 cavity and 448 tongue faces
