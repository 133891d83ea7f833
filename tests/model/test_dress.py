"""The unseen body is dressed, never bare (uvatar.model.dress through uvatar.model.fill): a head photo's
Core-UV (the head and the shirt at the collar seen) gets a shirt on the whole torso and the arms, plain
trousers and shoes, and skin only on the hands; a half-body photo's trousers at the waist continue down
the legs."""

import torch

from uvatar.body.parts import PART_NAMES, texel_parts
from uvatar.model.dress import SHOES, TROUSERS, dress_unseen
from uvatar.model.fill import DRESS_BLEND_UV, fill_core_colors
from uvatar.model.projection import rest_vertices

SKIN = torch.tensor([0.80, 0.60, 0.50])
SHIRT = torch.tensor([0.20, 0.30, 0.70])
JEANS = torch.tensor([0.30, 0.35, 0.55])
RESOLUTION = 256


def _atlas(body):
    raster = body.uv_raster(RESOLUTION)
    rest = rest_vertices(body, body.default_params(1).phenotypes[0], body.default_params(1).facial[0])
    idx, face, bary = raster.covered()
    heights = torch.full((RESOLUTION * RESOLUTION,), float("nan"))
    heights[idx] = (bary[:, :, None] * rest[body.faces[face]]).sum(1)[:, 2]
    parts = texel_parts(raster, body.face_parts)
    return raster, rest, heights.reshape(RESOLUTION, RESOLUTION), parts


def _part(parts, name):
    return parts == PART_NAMES.index(name)


def _close(colors, where, colour, tolerance=1e-6):
    """Every texel of ``where`` holds ``colour`` (the fill copies medians of exact colours: float32 equal)."""
    return bool(((colors[:, where] - colour[:, None]).abs() <= tolerance).all())


def test_head_photo_body_is_dressed_not_bare(body):
    raster, rest, heights, parts = _atlas(body)
    colors = SKIN[:, None, None].expand(3, RESOLUTION, RESOLUTION).clone()  # unseen texels hold skin: must go
    head = _part(parts, "head")
    torso = _part(parts, "torso")
    top = float(heights[torso].max())
    collar = torso & (heights > top - 0.12)  # the shirt the photo shows at the collar
    colors[:, collar] = SHIRT[:, None]
    neck = torso & (heights > top - 0.03)  # and the skin of the neck above it, seen too: no source for clothes
    colors[:, neck] = SKIN[:, None]
    seen = head | collar
    filled, dressed, stats = dress_unseen(colors, seen, raster, body, rest, SKIN)
    assert stats["dress_torso"].startswith("seen bands") and stats["dress_legs"] == "plain" and stats["dress_hands"] == "skin"
    assert dressed[(parts >= 0) & ~head].all()
    assert _close(filled, torso & ~seen, SHIRT)  # the shirt continues down the torso and round the back
    assert _close(filled, _part(parts, "arms"), SHIRT)  # sleeves: the torso's top band
    assert _close(filled, _part(parts, "legs"), torch.tensor(TROUSERS))
    assert _close(filled, _part(parts, "feet"), torch.tensor(SHOES))
    assert _close(filled, _part(parts, "hands"), SKIN)  # the rule's one skin part: the face's colour
    hidden = (parts >= 0) & ~seen & ~_part(parts, "hands")
    skin_like = (filled - SKIN[:, None, None]).abs().amax(0) < 0.05
    assert not (skin_like & hidden).any(), "a hidden body part kept skin colour"

    # through the whole fill: near the seen collar a blend with its continuation, further away the rule
    filled, _, _ = fill_core_colors(colors, seen, body, rest, mirror=False)
    from scipy.ndimage import distance_transform_edt

    far = torch.as_tensor(distance_transform_edt(~seen.numpy()) >= 2 * DRESS_BLEND_UV * RESOLUTION)
    assert _close(filled, _part(parts, "legs") & far, torch.tensor(TROUSERS), 1e-6)
    skin_like = (filled - SKIN[:, None, None]).abs().amax(0) < 0.05
    assert not (skin_like & hidden).any(), "a hidden body part kept skin colour"


def test_half_body_trousers_continue_down_the_legs(body):
    raster, rest, heights, parts = _atlas(body)
    hip = float(body.forward(body.default_params(1)).bone_poses[0, body.bone_index("upperleg01.L"), 2, 3])
    colors = SKIN[:, None, None].expand(3, RESOLUTION, RESOLUTION).clone()
    torso = _part(parts, "torso")
    colors[:, torso] = SHIRT[:, None]
    waist = torso & (heights < hip)  # the photo shows the trousers' waist, and no leg
    colors[:, waist] = JEANS[:, None]
    seen = _part(parts, "head") | torso | _part(parts, "arms")
    filled, _, stats = dress_unseen(colors, seen, raster, body, rest)
    assert stats["dress_legs"] == "torso below the hips"
    assert _close(filled, _part(parts, "legs"), JEANS)
    assert _close(filled, _part(parts, "feet"), torch.tensor(SHOES))


def test_seen_texels_keep_their_colour(body):
    raster, rest, _, parts = _atlas(body)
    gen = torch.Generator().manual_seed(0)
    colors = torch.rand(3, RESOLUTION, RESOLUTION, generator=gen)
    seen = (parts >= 0) & (torch.rand(RESOLUTION, RESOLUTION, generator=gen) < 0.5)
    filled, from_photo, _ = fill_core_colors(colors, seen, body, rest, mirror=False)
    assert torch.equal(filled[:, seen], colors[:, seen])
    assert torch.equal(from_photo, seen & raster.mask)
