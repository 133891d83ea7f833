"""The unseen hair's colours (uvatar.model.template_gaussians.fill_template_colors) on a hand-made
template: where the photo's seen hair is not across the head from a point, the point continues the hair
of its own side (strands fall down the head), not the hair at its height on the other side."""

import math

import torch

from uvatar.dualuv.template_shell import TemplateSamples
from uvatar.model.template_gaussians import REFLECT_REACH_M, STRAND_CHOICES, fill_template_colors

LEFT_HIGH = (0.20, 0.10, 0.05)  # the hair seen on the head's front left, high
RIGHT_LOW = (0.60, 0.45, 0.30)  # the hair seen on its front right, low (two-tone hair)


def _sphere(n: int, radius: float) -> torch.Tensor:
    """``(n, 3)`` points spread evenly over a sphere (Fibonacci lattice), world Z up."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    ring = torch.sqrt(1 - z * z)
    angle = math.pi * (3 - math.sqrt(5)) * i
    return (radius * torch.stack([ring * torch.cos(angle), ring * torch.sin(angle), z], -1)).float()


def _samples(points: torch.Tensor, colors: torch.Tensor, seen: torch.Tensor) -> TemplateSamples:
    n = len(points)
    return TemplateSamples(
        face=torch.zeros(n, dtype=torch.long), barycentrics=torch.full((n, 3), 1 / 3), offsets=torch.zeros(n, 3),
        frames=torch.eye(3).expand(n, 3, 3), points=points, colors=colors, seen=seen, drawn=torch.ones(n, dtype=torch.bool),
        spacing=torch.full((n,), 0.005), view_dir=torch.tensor([0.0, 1.0, 0.0]), names=("test",), kind="hair",
    )  # fmt: skip


def test_unseen_hair_far_from_the_seen_continues_its_own_side():
    points = _sphere(6000, 0.1)  # a head 10 cm in radius; the camera looks along +Y at its front (-Y)
    x, y, z = points.unbind(-1)
    left_high = (x < -0.02) & (y < -0.05) & (z > 0.03)
    right_low = (x > 0.02) & (y < -0.05) & (z < -0.03)
    seen = left_high | right_low
    colors = torch.zeros(len(points), 3)
    colors[left_high] = torch.tensor(LEFT_HIGH)
    colors[right_low] = torch.tensor(RIGHT_LOW)
    filled = fill_template_colors(_samples(points, colors, seen))

    # points on the back whose reflection through the front lands on no seen hair: across the head from
    # them the photo saw nothing, so the fill falls back to the search along the strands
    reflected = points * torch.tensor([1.0, -1.0, 1.0])
    gap = torch.cdist(reflected, points[seen]).min(1).values
    back = (y > 0.02) & (gap > REFLECT_REACH_M)
    back_left_low = back & (x < -0.04) & (z < -0.03)
    back_right_high = back & (x > 0.04) & (z > 0.03)
    assert back_left_low.sum() > 50 and back_right_high.sum() > 50
    # searched by height these took the other side's colour; along the strands they keep their side's
    # (each draws among its STRAND_CHOICES nearest sources, all on its side for these clusters of hundreds)
    assert seen.sum() > 10 * STRAND_CHOICES
    assert torch.equal(filled[back_left_low], torch.tensor(LEFT_HIGH).expand(int(back_left_low.sum()), 3))
    assert torch.equal(filled[back_right_high], torch.tensor(RIGHT_LOW).expand(int(back_right_high.sum()), 3))
    # every unseen colour is one the photo showed on the hair (copied, not mixed); seen points keep theirs
    assert torch.equal(filled[seen], colors[seen])
    shown = torch.tensor([LEFT_HIGH, RIGHT_LOW])
    assert ((filled[~seen][:, None] == shown[None]).all(-1).any(1)).all()


def test_unseen_hair_fill_is_the_same_every_call():
    points = _sphere(3000, 0.1)
    seen = points[:, 1] < -0.06
    colors = torch.rand(len(points), 3, generator=torch.Generator().manual_seed(1))
    samples = _samples(points, colors, seen)
    assert torch.equal(fill_template_colors(samples), fill_template_colors(samples))


def test_a_coat_of_its_own_colour_continues_its_own_cloth_round_the_back():
    """Under an open coat the body's sides show the top inside it, and the dressing rule made that the
    back (Megan's navy under her brown coat); cloth of another chromaticity than the body under it is
    another garment, and its back continues its own cloth at each height. Cloth of the body's
    chromaticity, lit or shaded, is the same garment (the turnaround's jacket): the body's colour stays;
    so it does where the seen "cloth" is the face's skin (bare legs beside a garment the silhouette made up)."""
    from dataclasses import replace

    from uvatar.model.template_gaussians import OWN_CLOTH_CHROMA

    points = _sphere(4000, 0.15)  # a coat round a torso; the camera looks along +Y at its front (-Y)
    x, y, z = points.unbind(-1)
    seen = (x.abs() > 0.1) & (y < 0)  # the coat beside the body (its flaps beyond the body's outline)
    upper, lower = torch.tensor([0.45, 0.29, 0.25]), torch.tensor([0.50, 0.33, 0.28])  # lit a little differently
    colors = torch.zeros(len(points), 3)
    colors[seen & (z > 0)] = upper
    colors[seen & (z <= 0)] = lower
    navy = torch.tensor([[0.10, 0.12, 0.20]])  # the body's dressed colour under it (one face)
    coat = replace(_samples(points, colors, seen), kind="garment")
    filled = fill_template_colors(coat, navy)
    back_high, back_low = ~seen & (y > 0) & (z > 0.1), ~seen & (y > 0) & (z < -0.1)
    assert back_high.sum() > 100 and back_low.sum() > 100
    assert torch.equal(filled[back_high], upper.expand(int(back_high.sum()), 3))
    assert torch.equal(filled[back_low], lower.expand(int(back_low.sum()), 3))
    assert torch.equal(filled[seen], colors[seen])

    def chroma(c):
        return c / c.sum()

    body = torch.tensor([[0.30, 0.21, 0.18]])  # the same cloth in shade under it: darker, its chromaticity
    assert float((chroma(body[0]) - chroma(upper)).norm()) < OWN_CLOTH_CHROMA
    assert torch.equal(fill_template_colors(coat, body)[~seen], body.expand(int((~seen).sum()), 3))

    skin = lower.clone()  # the seen "cloth" is the face's skin: no garment of its own
    assert torch.equal(fill_template_colors(coat, navy, skin=skin)[~seen], navy.expand(int((~seen).sum()), 3))


def test_a_garment_decides_its_own_cloth_per_body_part():
    """A coat over the torso (brown, seen beside it) over jeans on the legs (the jeans' edges seen beside
    them, as blue as the legs under them): the coat's back is its own brown, the legs keep the jeans. Decided
    for the whole garment at once, the jeans' many seen points made its median blue, and the coat's back
    took the navy top under it (Megan's back)."""
    from dataclasses import replace

    points = _sphere(6000, 0.15)
    x, y, z = points.unbind(-1)
    seen = (x.abs() > 0.1) & (y < 0)
    brown, jeans = torch.tensor([0.48, 0.31, 0.27]), torch.tensor([0.12, 0.22, 0.45])
    upper = z > 0.08  # the torso's part of the garment
    seen = seen & (upper | (z < 0.0))
    colors = torch.zeros(len(points), 3)
    colors[seen & upper] = brown
    colors[seen & ~upper] = jeans
    face = torch.where(upper, 0, 1)  # face 0 on the torso, face 1 on the legs
    face_colors = torch.tensor([[0.10, 0.12, 0.20], [0.12, 0.22, 0.45]])  # navy top, jeans
    face_parts = torch.tensor([1, 4])  # torso, legs
    coat = replace(_samples(points, colors, seen), kind="garment", face=face)
    assert int((seen & ~upper).sum()) > int((seen & upper).sum())  # test setup: more jeans seen than coat
    filled = fill_template_colors(coat, face_colors, face_parts)
    back_torso, back_legs = ~seen & (y > 0) & upper, ~seen & (y > 0) & (z < 0.0)
    assert back_torso.sum() > 100 and back_legs.sum() > 100
    assert torch.equal(filled[back_torso], brown.expand(int(back_torso.sum()), 3))
    assert torch.equal(filled[back_legs], jeans.expand(int(back_legs.sum()), 3))
    whole = fill_template_colors(coat, face_colors)  # one decision for the whole garment
    assert torch.equal(whole[back_torso], face_colors[0].expand(int(back_torso.sum()), 3))


def test_skin_under_light_hair_is_not_carried_round_to_the_back():
    """White hair over a pink scalp: the photo's hair points also show the scalp and the forehead (Biden
    official's: 42 % of them), and their pink, carried round, covered the back of the head in patches. The
    points of the skin's colour are no sources; brown hair of the skin's chromaticity, darker than the
    skin, stays one; and where most of the seen hair is skin-coloured, every seen point stays a source."""
    from dataclasses import replace

    from uvatar.model.template_gaussians import SKIN_LUMA_SHARE, seen_hair, skin_coloured

    skin = torch.tensor([0.80, 0.52, 0.47])
    white, pink = torch.tensor([0.86, 0.84, 0.82]), torch.tensor([0.85, 0.58, 0.52])  # pink: the skin, lit a little
    brown = skin * (SKIN_LUMA_SHARE / 2)  # the skin's chromaticity, half as bright as the threshold
    assert skin_coloured(torch.stack([pink, skin]), skin).all()
    assert not skin_coloured(torch.stack([white, brown]), skin).any()

    points = _sphere(4000, 0.1)
    x, y, z = points.unbind(-1)
    seen = y < -0.03
    scalp = seen & (torch.sin(40 * x) * torch.sin(40 * z) > 0.05)  # pink spots among the white strands
    assert 0.4 < scalp.sum() / seen.sum() < 0.5  # over 0.4: the 0.6 nearest the (white) median take pink in too
    colors = torch.zeros(len(points), 3)
    colors[seen] = white
    colors[scalp] = pink
    samples = replace(_samples(points, colors, seen), skin=skin)
    assert torch.equal(seen_hair(samples), seen & ~scalp)
    filled = fill_template_colors(samples)
    assert torch.equal(filled[~seen], white.expand(int((~seen).sum()), 3))
    assert torch.equal(filled[seen], colors[seen])
    # without the skin known (or for a template that has none) the pink is a source as before
    assert (fill_template_colors(_samples(points, colors, seen))[~seen] == pink).all(-1).any()

    colors[scalp] = brown  # brown hair with darker strands of the skin's chromaticity: both are hair
    assert torch.equal(seen_hair(replace(samples, colors=colors)), seen)
    colors[seen] = pink  # the photo's "hair" is all skin-coloured (a bald head): all stay sources
    colors[scalp] = white
    assert torch.equal(seen_hair(replace(samples, colors=colors)), seen)


def test_a_garments_unseen_point_takes_its_colour_faces_colour():
    """A jacket's hem over the seat rides the legs' faces but is the torso's garment: its unseen points
    take the colour of their ``colour_face`` (the torso's), not the jeans' under them; whether the cloth is
    cloth of its own is still judged against the body under it."""
    from dataclasses import replace

    points = _sphere(2000, 0.15)
    y = points[:, 1]
    seen = y < -0.1
    colors = torch.zeros(len(points), 3)
    colors[seen] = torch.tensor([0.10, 0.13, 0.23])  # the jacket's seen front: the jeans' chromaticity (no cloth of its own)
    face = torch.zeros(len(points), dtype=torch.long)  # all on a leg face (0) ...
    colour_face = torch.where(y > 0.05, 1, 0)  # ... the back's hem coloured like a torso face (1)
    face_colors = torch.tensor([[0.15, 0.20, 0.35], [0.40, 0.32, 0.25]])  # jeans, the jacket's back
    hem = replace(_samples(points, colors, seen), kind="garment", face=face, colour_face=colour_face)
    filled = fill_template_colors(hem, face_colors)
    back, middle = ~seen & (y > 0.05), ~seen & (y <= 0.05)
    assert back.sum() > 100 and middle.sum() > 100
    assert torch.equal(filled[back], face_colors[1].expand(int(back.sum()), 3))
    assert torch.equal(filled[middle], face_colors[0].expand(int(middle.sum()), 3))
    assert torch.equal(filled[seen], colors[seen])
    assert torch.equal(fill_template_colors(replace(hem, colour_face=None), face_colors)[back], face_colors[0].expand(int(back.sum()), 3))
