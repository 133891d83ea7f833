import torch
from float_bounds import gamma

from uvatar.body.uv_fill import mirror_fill, push_pull, push_pull_islands


def test_push_pull_keeps_known_and_fills_smoothly():
    values = torch.zeros(1, 16, 16)
    values[0, :, :8] = 1.0
    known = torch.zeros(16, 16, dtype=torch.bool)
    known[:, :4] = True
    known[:, 12:] = True
    values[0, :, 12:] = 0.0
    filled = push_pull(values, known)
    assert torch.equal(filled[:, known], values[:, known])
    middle = filled[0, 8, 4:12]
    # push-pull averages known values in [0, 1] (convex combinations over <= 8 levels, 4 terms each):
    # within gamma(32) outside [0, 1] at most (was 1e-6)
    assert (middle >= -gamma(32)).all() and (middle <= 1 + gamma(32)).all()
    assert middle[0] > middle[-1]  # nearer the known 1s, closer to 1


def test_islands_do_not_bleed():
    values = torch.zeros(1, 8, 16)
    known = torch.zeros(8, 16, dtype=torch.bool)
    domain = torch.zeros(8, 16, dtype=torch.bool)
    domain[:, :6] = True
    domain[:, 9:] = True  # two islands with a gap
    values[0, :, :2] = 1.0
    known[:, :2] = True  # only the left island has data
    filled = push_pull_islands(values, known, domain, fallback=torch.tensor([0.25]))
    # averages of ones within the island, the fallback copied: as above (was the default allclose)
    assert torch.allclose(filled[0, :, 2:6], torch.ones(8, 4), rtol=0, atol=gamma(32))
    assert torch.allclose(filled[0, :, 9:], torch.full((8, 7), 0.25), rtol=0, atol=gamma(32) * 0.25)


def test_mirror_fill_copies_only_from_known_partners():
    values = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    known = torch.tensor([[True, False, False, False]])
    mirror = torch.tensor([[3, 2, 1, 0]])
    filled, now_known = mirror_fill(values, known, mirror)
    assert filled[0, 0, 3] == 1.0 and now_known.tolist() == [[True, False, False, True]]
    assert filled[0, 0, 1] == 2.0  # its partner (2) was unknown


def test_scalp_texels_cover_the_crown_not_the_face(body):
    from uvatar.model.fill import scalp_texels

    raster = body.uv_raster(256)
    rest = body.forward(body.default_params(1)).vertices[0]
    scalp = scalp_texels(raster, body, rest).reshape(-1)
    idx, face, bary = raster.covered()
    points = (bary[:, :, None] * rest[body.faces[face]]).sum(1)
    crown = idx[points[:, 2].argmax()]  # the highest surface point of the body
    nose = idx[points[:, 1].argmin()]  # the most forward point (nose tip, or toes: both are not scalp)
    assert scalp[crown] and not scalp[nose]
    assert 0.05 < scalp.float().sum() / raster.mask.sum() < 0.3
