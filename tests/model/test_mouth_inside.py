"""The mouth's inside: drawn by the projection decoder where the photo showed it (an open mouth's teeth), and dark
where it lies away from everything the photo showed (a mouth opened in another pose); nowhere else."""

import pytest
import torch

from uvatar.body.parts import interior_faces, mouth_faces
from uvatar.dualuv.project import UVFeatures
from uvatar.model.projection import ProjectionConfig, dark_mouth_texels, decode_projection, rest_vertices


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
def test_the_mouth_is_drawn_where_the_photo_showed_it_and_dark_away_from_it(body, resolution):
    params = body.default_params(1)
    rest = rest_vertices(body, params.phenotypes[0], params.facial[0])
    raster = body.uv_raster(resolution)
    mouth = mouth_faces(body).cpu()
    dark_colour = torch.tensor(ProjectionConfig().mouth_unseen_colour)
    for share in (0.0, 0.5):
        uv, seen_mouth = _features(body, resolution, share)
        assert (seen_mouth.sum() > 100) == (share > 0)  # test setup: half the mouth seen, or none of it
        dark = dark_mouth_texels(raster, body, rest, uv.core_weight > 0, ProjectionConfig().mouth_unseen_gap_m)
        assert dark.sum() > 50  # the cavity's depths lie more than the gap from the lips
        for colour in (tuple(dark_colour.tolist()), None):
            config = ProjectionConfig(mirror=False, mouth_unseen_colour=colour)  # mirrored texels would count as seen
            gaussians = decode_projection(uv, body, params.phenotypes[0], params.facial[0], config)
            core = gaussians.layer == 0
            on_mouth = mouth[gaussians.face_index[core]]
            drawn_dark = on_mouth & (gaussians.colors[core] == dark_colour).all(1)
            # one Gaussian per seen mouth texel (seen texels are drawn at full resolution) and, with the colour, one
            # per unseen texel away from the seen ones, in that colour exactly; none for the rest of the unseen:
            # drawn in the fill's colours, the inside showed through the skin in front of it
            n_dark = int(dark.sum()) if colour is not None else 0
            assert int(on_mouth.sum()) == int(seen_mouth.sum()) + n_dark
            assert int(drawn_dark.sum()) == n_dark


def test_dark_mouth_texels_are_those_beyond_the_gap_from_every_seen_texel(body):
    """Against a brute-force distance from each unseen mouth texel to every seen texel (the function
    searches only the seen texels near the mouth)."""
    resolution, gap = 128, 0.004
    params = body.default_params(1)
    rest = rest_vertices(body, params.phenotypes[0], params.facial[0])
    raster = body.uv_raster(resolution)
    uv, _ = _features(body, resolution, 0.5)
    seen = uv.core_weight > 0
    dark = dark_mouth_texels(raster, body, rest, seen, gap)
    idx, face, bary = raster.covered()
    points = (bary[:, :, None] * rest[body.faces[face]]).sum(1).double()
    unseen_mouth = mouth_faces(body).cpu()[face] & ~seen.reshape(-1)[idx]
    nearest = torch.cdist(points[unseen_mouth], points[seen.reshape(-1)[idx]]).min(1).values
    clear = (nearest - gap).abs() > 1e-6  # float32 texel centres: ~1e-7 m from the float64 distances
    assert unseen_mouth.sum() > 100 and clear.float().mean() > 0.99
    expected = nearest >= gap
    assert torch.equal(dark.reshape(-1)[idx][unseen_mouth][clear], expected[clear])
    assert not (dark & ~(raster.mask & mouth_faces(body).cpu()[raster.face_index.clamp(min=0)])).any()


def test_the_mouth_is_inside(body):
    mouth = mouth_faces(body)
    assert mouth.sum() > 1000 and not (mouth & ~interior_faces(body)).any()  # Anny: 796 cavity and 448 tongue faces
