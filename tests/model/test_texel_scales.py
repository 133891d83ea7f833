"""Texel Gaussians' sizes: the cap on UV-degenerate faces is the atlas's, not the drawn texels'."""

import numpy as np
import torch

from uvatar.body.uv import texel_footprint
from uvatar.model.projection import FOOTPRINT_CAP, ProjectionConfig, rest_vertices, texel_scales


def test_the_cap_comes_from_all_faces_not_the_drawn_ones():
    """Drawn together with small texels only, a face of 1.8 times the atlas's 0.95 quantile keeps its size;
    a face 10 times it is capped at FOOTPRINT_CAP times that quantile."""
    footprint = torch.full((100,), 1.0)
    footprint[:20] = 0.5  # the small texels drawn in this call (the seen face of a head photo)
    footprint[90] = 1.8
    footprint[95] = 10.0
    config = ProjectionConfig()
    q95 = float(torch.quantile(footprint, 0.95))
    scales = texel_scales(footprint, torch.tensor([0, 1, 90, 95]), config)
    sides = scales[:, 0] / config.tangent_sigma
    # one float32 multiply and one divide by tangent_sigma each: 2 units of rounding of the side
    eps = 2 * float(torch.finfo(torch.float32).eps)
    assert torch.allclose(sides[:3], torch.tensor([0.5, 0.5, 1.8]), rtol=eps, atol=0)
    assert abs(float(sides[3]) - FOOTPRINT_CAP * q95) <= eps * FOOTPRINT_CAP * q95
    assert torch.allclose(scales[:, 2], footprint[[0, 1, 90, 95]].clamp(max=FOOTPRINT_CAP * q95) * config.normal_sigma, rtol=eps, atol=0)


def test_the_eyeballs_texels_are_drawn_at_their_size(body):
    """The eyeballs' UV islands are small: their texels are 1.7-1.9 times the atlas's 0.95 quantile on the
    surface. Drawn at a capped size they were dots with gaps between them (the eyes rendered grey, the
    background through them). Drawn with the rest of a head photo's seen texels (the face's, one texel
    per face here) at the core resolutions used (512-2048), none of their faces is capped, so neighbouring
    texels overlap as on the rest of the body."""
    from uvatar.body.parts import PART_NAMES

    names = np.array(body.segment_names)
    eye = torch.as_tensor(np.isin(names, ["eye_front.L", "eye_front.R"]))
    assert int(eye.sum()) > 50  # test setup: the eyeballs' front faces are found
    head = (body.face_parts == PART_NAMES.index("head")).cpu() & ~eye
    rest = rest_vertices(body, torch.full((6,), 0.5), torch.zeros(52))
    config = ProjectionConfig()
    eps = 2 * float(torch.finfo(torch.float32).eps)  # a multiply and a divide by tangent_sigma
    for resolution in (512, 1024, 2048):
        footprint = texel_footprint(rest, body.faces, body.uv_corners, resolution)
        faces = torch.cat([torch.nonzero(head).squeeze(1), torch.nonzero(eye).squeeze(1)])
        sides = texel_scales(footprint, faces, config)[:, 0] / config.tangent_sigma
        n_eye = int(eye.sum())
        assert torch.allclose(sides[-n_eye:], footprint[faces[-n_eye:]], rtol=eps, atol=0)
