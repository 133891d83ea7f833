"""The unseen body is dressed, never bare: the rule that colours Core-UV texels the photo did not see.

Per body part (torso, arms, legs, feet, hands; the head keeps the scalp and push-pull fill of
:mod:`uvatar.model.fill`), in horizontal bands of :data:`BAND_M` metres of the reference pose:

* a part the photo saw (at least :data:`MIN_SEEN` texels): each unseen texel takes the median colour of
  the seen texels of its part in its band and the :data:`BAND_WINDOW` bands each side, or of the
  nearest band that has some, interpolated by height between the centres of neighbouring bands whose
  colours differ by at most :data:`RAMP_MAX_STEP` (light and shade ramp; a garment's edge stays sharp);
  the seen texels facing sideways (reference-pose normal at least :data:`SIDE_NORMAL_X` along x) when
  there are enough: what wraps round to the back is what covers the sides (an open coat's front shows
  a shirt that its back does not), except the sides in a shadow
  (:func:`shadowed_sides`: darker than half the front at their height and the sides above: the gap
  under forearms held in front of the belly). The torso's seen texels of
  the face's skin colour (within :data:`SKIN_DISTANCE`: a neck, an open collar) and the torso's
  texels above the collar line (:data:`COLLAR_M` above the shoulder joints: the neck, lit or in the
  chin's shadow) are no source, unless the torso is bare (its skin seen below the collar line). The
  torso's sides count below the shoulder joints only (above them they are the
  neck and a collar); a photo that shows no torso side below them (a head photo) takes the sides of
  the upper arms above the elbows instead (the jacket at the shoulders), else all its seen texels.
  A garment's back and sides continue its own front at the same height (a jacket's back is the
  jacket, the jeans' back the jeans), and the median keeps narrow front details (a tie, buttons, a
  logo) off the back. A back photo (more of the torso's seen texels face back than front) turns it
  round: a band its back shows across (a bra top, a belt) goes round the front too, though narrower
  than the window (:func:`_fill_from_bands`' ``whole_bands``);
* a part the photo did not see continues what it did show, else plain clothes:
  - arms: the torso's highest seen band (the sleeves of the shirt or jacket at the shoulders);
  - legs: the torso's seen texels below the hip joint (trousers or skirt at the waist), else plain
    dark trousers (:data:`TROUSERS`); legs seen only in a sliver at the hips (no lower than
    :data:`HEM_SLIVER_M` below the hip joint) in the colour of the torso's lowest clothes (within
    :data:`HEM_MATCH`) count as unseen and take the plain trousers: that sliver is a top's hem over the
    thighs (a long blouse), which says nothing of what the legs wear (continued down the legs it read as
    bare skin);
  - feet: the legs' lowest seen band if the legs were seen below the mid-shin joint, else plain dark shoes
    (:data:`SHOES`);
  - torso (also one seen above the collar line only: a face filling the frame): plain top
    (:data:`TOP`); hands: skin (the seen face's median skin colour, else :data:`SKIN`);
* the torso's garment ends level at the torso's lowest texel (:func:`_level_hem`), not along the
  zigzag where the mesh's torso faces meet its legs' (a V down the seat from behind).
"""

from __future__ import annotations

import torch

from uvatar.body.parts import PART_NAMES, texel_parts

__all__ = ["BAND_M", "BAND_WINDOW", "HEM_MATCH", "HEM_SLIVER_M", "RAMP_MAX_STEP", "interpolate_bands", "MIN_SEEN", "SHADOW_RATIO", "TROUSERS", "SHOES", "TOP", "SKIN", "dress_unseen", "shadowed_sides"]

BAND_M = 0.04  # height of a colour band, metres
BAND_WINDOW = 2  # bands each side pooled into a band's median (a 20 cm window)
RAMP_MAX_STEP = 0.25  # neighbouring bands' colours this near (RGB distance) are one garment's light and shade,
# read as a ramp between them; a larger step is a garment's edge. Measured between neighbouring 4 cm bands:
# the woman with the phone's rim-lit and shaded yellow sides 0.002-0.152, Nathan's skin over her leggings
# 0.459 (the other steps of her torso 0.003-0.124)
MIN_SEEN = 50  # fewer seen texels than this say nothing reliable about a part's clothes
SKIN_DISTANCE = 0.12  # seen texels nearer the face's skin colour (RGB distance) are no source for clothes
COLLAR_M = 0.05  # the collar line, this far above the shoulder joints (the average body's; scaled): above it the
# torso is the neck, whose skin and shadows say nothing about the clothes
HEM_SLIVER_M = 0.06  # legs seen no lower than this below the hip joint (average body's; scaled) are seen in a
# sliver at the hips only: italo_melo's blouse hem, to 0.035 m; the woman with the phone's jeans reach 0.097 m
HEM_MATCH = 0.35  # a sliver this near (RGB distance) the median of the torso's lowest 3 bands of clothes is that
# garment's hem: italo_melo's 0.29 (the hem lit more than the blouse above it); the phone's jeans to her yellow top
SIDE_NORMAL_X = 0.5  # texels whose reference-pose normal points this much sideways: the garment's sides
BACK_NORMAL_Y = 0.5  # texels whose reference-pose normal points this much backwards: the garment's back
SHADOW_RATIO = 0.5  # sides darker than this fraction of both the part's front at their height and its sides
# above them are in a shadow (under forearms held in front, an arm's or a held object's): no source
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 luminance weights
TROUSERS = (0.17, 0.18, 0.22)  # plain dark trousers (a charcoal grey-blue)
SHOES = (0.10, 0.10, 0.11)
TOP = (0.35, 0.36, 0.40)
SKIN = (0.78, 0.60, 0.50)


def _band_medians(colors: torch.Tensor, heights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Median colour ``(B, 3)`` of the texels ``colors (3, N)`` at ``heights (N,)`` metres in each band
    and its :data:`BAND_WINDOW` neighbours on each side, for the bands ``(B,)`` that have texels (bands
    are ``floor(height / BAND_M)``). The window keeps one band's front detail (a badge, a shadow) from
    striping the whole back."""
    bands = torch.floor(heights / BAND_M).long()
    unique = torch.unique(bands)
    near = [(bands - b).abs() <= BAND_WINDOW for b in unique.tolist()]
    medians = torch.stack([colors[:, m].median(dim=1).values for m in near]) if len(unique) else torch.zeros(0, 3)
    return medians, unique


def shadowed_sides(colors: torch.Tensor, heights: torch.Tensor, sides: torch.Tensor, front: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the ``sides`` texels in a shadow: in bands whose sides' median luminance (the band
    and its :data:`BAND_WINDOW` neighbours) is below :data:`SHADOW_RATIO` times both the median of the
    part's ``front`` texels at that height (seen, not facing sideways) and the median of the sides' bands
    above it.

    ``colors (3, N)``, ``heights (N,)`` metres; ``sides``, ``front`` ``(N,)`` bool. A garment that is
    darker at its sides all the way up (an open dark coat over a light shirt) keeps its sides, and so
    does a dark garment below a light one at the sides and the front alike (trousers below a shirt);
    a side darker than both the front at its height and the sides above it is a shadow (the gap under
    forearms held in front of the belly), whose colour is not what wraps round the back."""
    out = torch.zeros_like(sides)
    if not bool(sides.any()) or not bool(front.any()):
        return out
    weights = torch.tensor(LUMA).to(colors)
    side_luma, side_bands = _band_medians((weights @ colors[:, sides])[None], heights[sides])
    front_luma, front_bands = _band_medians((weights @ colors[:, front])[None], heights[front])
    side_luma, front_luma = side_luma[:, 0], front_luma[:, 0]
    front_at_height = front_luma[(side_bands[:, None] - front_bands[None, :]).abs().argmin(1)]
    shadow_bands = []
    for i, band in enumerate(side_bands.tolist()):
        above = side_luma[side_bands > band]
        if len(above) and side_luma[i] < SHADOW_RATIO * front_at_height[i] and side_luma[i] < SHADOW_RATIO * above.median():
            shadow_bands.append(band)
    if shadow_bands:
        out = sides & torch.isin(torch.floor(heights / BAND_M).long(), torch.tensor(shadow_bands))
    return out


def interpolate_bands(values: torch.Tensor, bands: torch.Tensor, heights: torch.Tensor, band_m: float = BAND_M,
                      max_step: float = RAMP_MAX_STEP) -> torch.Tensor:  # fmt: skip
    """Per-band ``values (B, C)`` of the sorted band indices ``bands (B,)`` (band ``b`` spans heights
    ``[b, b + 1) * band_m``) read at ``heights (N,)`` -> ``(N, C)``: linearly by height between the centres of
    two neighbouring bands (indices one apart) whose values differ by at most ``max_step`` (Euclidean),
    elsewhere (beyond the ends, across a gap of missing bands, across a larger step) the value of the
    nearest band. A band's value held over its whole band steps at each band's edge: a back filled from
    sides lit unevenly was horizontal stripes with hard edges; a larger step is a garment's edge (a top
    over leggings), which stays sharp."""
    own = torch.floor(heights / band_m).long()
    out = values[(own[:, None] - bands[None, :]).abs().argmin(1)]
    if len(bands) < 2:
        return out
    centres = (bands.to(heights) + 0.5) * band_m
    upper = torch.searchsorted(centres, heights.contiguous()).clamp(1, len(bands) - 1)
    lower = upper - 1
    step = (values[upper] - values[lower]).norm(dim=-1)
    between = (bands[upper] - bands[lower] == 1) & (step <= max_step) & (heights >= centres[lower]) & (heights <= centres[upper])
    t = ((heights - centres[lower]) / band_m).clamp(0, 1)[:, None]
    # lower + t * (upper - lower): exactly the value where both bands hold the same one
    return torch.where(between[:, None], values[lower] + t * (values[upper] - values[lower]), out)


def _fill_from_bands(colors: torch.Tensor, heights: torch.Tensor, seen: torch.Tensor, target: torch.Tensor,
                     whole_bands: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Set ``colors[:, target]`` (in place) from the band medians of the ``seen`` texels
    (:func:`_band_medians`), read at the targets' heights by :func:`interpolate_bands`; returns the
    medians ``(B, 3)`` and their bands ``(B,)`` (the torso's, for :func:`_level_hem`). With
    ``whole_bands`` (``(N,)`` bool: seen texels that show each band's garment all round, a back photo's
    back), a band of at least :data:`MIN_SEEN` of them whose own median lies more than
    :data:`RAMP_MAX_STEP` from the window's median takes its own (:func:`_band_medians`' window erased a
    garment narrower than it, a bra top's band)."""
    medians, bands = _band_medians(colors[:, seen], heights[seen])
    if whole_bands is not None:
        own = torch.floor(heights / BAND_M).long()
        for i, band in enumerate(bands.tolist()):
            where = whole_bands & (own == band)
            if int(where.sum()) >= MIN_SEEN:
                median = colors[:, where].median(dim=1).values
                if float((median - medians[i]).norm()) > RAMP_MAX_STEP:
                    medians[i] = median
    colors[:, target] = interpolate_bands(medians, bands, heights[target]).T
    return medians, bands


def _is_top_hem(colors: torch.Tensor, heights: torch.Tensor, legs: torch.Tensor, torso_clothes: torch.Tensor,
                sliver_bottom: float) -> bool:  # fmt: skip
    """Whether the seen ``legs`` texels (``(N,)`` bool) are only a sliver at the hips (all above
    ``sliver_bottom`` metres) in the colour of the torso's lowest clothes (the median of the
    ``torso_clothes`` texels in the lowest 3 bands, within :data:`HEM_MATCH`): a top's hem, not the
    legs' clothes. ``colors (3, N)``, ``heights (N,)`` metres."""
    if int(legs.sum()) < MIN_SEEN or int(torso_clothes.sum()) < MIN_SEEN or float(heights[legs].min()) < sliver_bottom:
        return False
    lowest = torso_clothes & (heights < float(heights[torso_clothes].min()) + 3 * BAND_M)
    hem = colors[:, legs].median(dim=1).values
    return float((hem - colors[:, lowest].median(dim=1).values).norm()) <= HEM_MATCH


def _level_hem(colors: torch.Tensor, heights: torch.Tensor, seen: torch.Tensor, torso: torch.Tensor, legs: torch.Tensor,
               torso_bands: tuple[torch.Tensor, torch.Tensor], rules: dict) -> None:  # fmt: skip
    """Recolour (in place) the unseen texels of ``torso`` and ``legs`` (``(N,)`` bool) between the torso's
    lowest texel and the legs' highest from the torso's band medians and bands ``torso_bands`` (those
    :func:`_fill_from_bands` dressed the torso with): the two parts meet
    along a zigzag of the mesh's faces (a V down the seat from behind, a tongue at the crotch in front),
    which the torso's colour above the legs' drew as a jagged hem; now the torso's garment ends level,
    at the torso's lowest texel, and the legs' rule holds below it. ``colors (3, N)``, ``heights (N,)``
    metres; ``rules`` gets ``dress_hem``."""
    if not bool(torso.any()) or not bool(legs.any()):
        return
    zone = (torso | legs) & ~seen
    zone &= (heights >= float(heights[torso].min())) & (heights <= float(heights[legs].max()))
    if not bool(zone.any()):
        return
    colors[:, zone] = interpolate_bands(*torso_bands, heights[zone]).T
    rules["dress_hem"] = "level, at the torso's lowest texel"


def dress_unseen(colors: torch.Tensor, known: torch.Tensor, raster, body, rest_vertices: torch.Tensor,
                 skin: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:  # fmt: skip
    """Colour every unseen texel of the torso, arms, hands, legs and feet (module docstring).

    Args:
        colors: ``(3, R, R)`` Core-UV colours, valid where ``known``; known: ``(R, R)`` bool.
        raster: the body's UV raster at ``R``; rest_vertices: ``(V, 3)`` the subject's reference pose.
        skin: ``(3,)`` the seen face's skin colour, or None.
    Returns:
        colours ``(3, R, R)``, known ``(R, R)`` (now also the dressed texels) and, per part, which rule
        dressed it (``{"dress_legs": "seen bands", ...}``).
    """
    idx, face, bary = raster.covered()
    heights = (bary * rest_vertices[body.faces[face], 2]).sum(1)
    tri = rest_vertices[body.faces]  # per face, then per texel: 27K normals instead of one per texel
    face_normals = torch.nn.functional.normalize(torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), dim=-1)
    side_facing = (face_normals[:, 0].abs() >= SIDE_NORMAL_X)[face]
    parts = texel_parts(raster, body.face_parts).reshape(-1)[idx]
    flat = colors.reshape(3, -1)[:, idx].clone()
    seen = known.reshape(-1)[idx].clone()
    out_seen = seen.clone()
    reference = body.forward(body.default_params(1))
    bones = reference.bone_poses[0]
    # the body's front along y (the eyes are in front of the head joint); texels facing away from it
    front = float(torch.sign(bones[body.bone_index("eye.L"), 1, 3] - bones[body.bone_index("head"), 1, 3]))
    back_facing = (front * face_normals[:, 1] <= -BACK_NORMAL_Y)[face]
    hip_z = float(bones[body.bone_index("upperleg01.L"), 2, 3])
    shin_z = float(bones[body.bone_index("lowerleg02.L"), 2, 3])
    # the subject's shoulder and elbow heights: the average body's joints scaled by the subject's
    # pelvis-to-crown height (heights are measured from the pelvis, z = 0)
    scale = float(rest_vertices[:, 2].max()) / float(reference.rest_vertices[0, :, 2].max())
    shoulder_z = scale * float(bones[body.bone_index("upperarm01.L"), 2, 3])
    elbow_z = scale * float(bones[body.bone_index("lowerarm01.L"), 2, 3])
    rules = {}

    def part(name: str) -> torch.Tensor:
        return parts == PART_NAMES.index(name)

    # the torso's colours are its clothes': its seen skin (a neck, an open collar) is no source for them,
    # nor is anything above the collar line (the neck, in the chin's shadow or lit)
    collar_z = shoulder_z + scale * COLLAR_M
    clothed = seen & ~(part("torso") & (heights >= collar_z))
    if skin is not None:
        # squared distances: torch's norm over the leading dim of a (3, N) map is ~40x slower (0.15 s at 1024²)
        clothed &= ((flat - skin.to(flat)[:, None]) ** 2).sum(0) > SKIN_DISTANCE**2
    if int((clothed & part("torso")).sum()) < MIN_SEEN and int((seen & part("torso") & (heights < collar_z)).sum()) >= MIN_SEEN:
        clothed = seen  # a bare torso (skin seen below the collar line): its skin it is

    legs_evidence = seen & part("legs")
    top_hem = _is_top_hem(flat, heights, legs_evidence, part("torso") & clothed, hip_z - scale * HEM_SLIVER_M)
    if top_hem:  # a top's hem over the thighs: the legs were not seen, and the torso below the hips is the top
        legs_evidence = torch.zeros_like(seen)
        rules["dress_legs_seen"] = "a top's hem only (the legs count as unseen)"

    def seen_in(name: str) -> torch.Tensor:
        return part(name) & (clothed if name == "torso" else legs_evidence if name == "legs" else seen)

    # a back photo (more of the torso's seen texels face back than front): a band its back shows across (a
    # bra top, a belt) goes round the front too
    torso_back = seen_in("torso") & back_facing
    back_photo = int(torso_back.sum()) > int((seen_in("torso") & ~back_facing & ~side_facing).sum())
    torso_bands = None  # the torso's band medians and bands, read again by the level hem
    for name in ("torso", "arms", "legs", "feet", "hands"):
        target = part(name) & ~seen
        if not bool(target.any()):
            continue
        if int(seen_in(name).sum()) >= MIN_SEEN:
            sides = seen_in(name) & side_facing
            how = " (sides)"
            if name == "torso":
                # above the shoulder joints the torso's sides are the neck and a collar, not the garment
                # that wraps round the back; without sides below them (a head photo) the garment's
                # sides at the shoulders (the upper arms, above the elbows) are its evidence
                sides &= heights < shoulder_z
                shoulders = part("arms") & clothed & side_facing & (heights > elbow_z)
                if int(sides.sum()) < MIN_SEEN and int(shoulders.sum()) >= MIN_SEEN:
                    sides, how = shoulders, " (shoulders' sides)"
            shadow = shadowed_sides(flat, heights, sides, seen_in(name) & ~side_facing)
            if bool(shadow.any()) and int((sides & ~shadow).sum()) >= MIN_SEEN:
                sides, how = sides & ~shadow, how[:-1] + ", shadows left out)"
            source = sides if int(sides.sum()) >= MIN_SEEN else seen_in(name)
            whole_bands = torso_back if name == "torso" and back_photo else None
            bands = _fill_from_bands(flat, heights, source, target, whole_bands)
            if name == "torso":
                torso_bands = bands
                if back_photo:
                    rules["dress_torso_from_back"] = "a back photo: bands its back shows across go round"
            rules[f"dress_{name}"] = "seen bands" + (how if source is sides else "")
            out_seen |= target
            continue
        torso = seen_in("torso")
        legs = seen_in("legs")
        if name == "arms" and int(torso.sum()) >= MIN_SEEN:
            top = heights[torso].max()
            flat[:, target] = flat[:, torso & (heights > top - BAND_M)].median(dim=1).values[:, None]
            rules[f"dress_{name}"] = "torso top band"
        elif name == "legs" and not top_hem and int((torso & (heights < hip_z)).sum()) >= MIN_SEEN:
            flat[:, target] = flat[:, torso & (heights < hip_z)].median(dim=1).values[:, None]
            rules[f"dress_{name}"] = "torso below the hips"
        elif name == "feet" and int((legs & (heights < shin_z)).sum()) >= MIN_SEEN:
            low = heights[legs].min()
            flat[:, target] = flat[:, legs & (heights < low + BAND_M)].median(dim=1).values[:, None]
            rules[f"dress_{name}"] = "legs lowest band"
        else:
            plain = {"torso": TOP, "arms": TOP, "legs": TROUSERS, "feet": SHOES}.get(name)
            value = torch.tensor(plain) if plain is not None else (skin if skin is not None else torch.tensor(SKIN))
            flat[:, target] = value.to(flat)[:, None]
            rules[f"dress_{name}"] = "plain" if plain is not None else "skin"
        out_seen |= target
    if torso_bands is not None:
        # the torso's garment ends level at the torso's lowest texel, from the torso's bands alone: pooled with
        # the seen legs' sides, the turnaround's jeans put a blue band along the jacket's back hem (the jacket
        # hangs over the seat; 135 / 180 degrees -0.01 dB, ST-LPIPS +0.002 / +0.001)
        _level_hem(flat, heights, seen, part("torso"), part("legs"), torso_bands, rules)
    out = colors.clone().reshape(3, -1)
    out[:, idx] = flat
    new_known = known.clone().reshape(-1)
    new_known[idx] = out_seen
    return out.reshape(colors.shape), new_known.reshape(known.shape), rules
