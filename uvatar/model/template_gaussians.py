"""Template Shell samples (:class:`~uvatar.dualuv.template_shell.TemplateSamples`) to Gaussians: the
unseen template gets the colours of the seen one, and each drawn sample becomes one flat Gaussian
lying in the template's surface.

The fill (:func:`fill_template_colors`): an unseen point (the back and the sides of the hair, its length
behind the shoulders) is reflected through the plane across the photo's viewing axis through the
template's centre (front and back swap; left, right, up and down stay) and takes the colour of the
source point nearest to its reflection. Where none is within :data:`REFLECT_REACH_M` (the back of the
head behind a face, hair longer at the back than the photo shows at the front) it takes the colour of
the source point nearest along the strands: the height counts :data:`STRAND_WEIGHT` of the horizontal
distance, so a column of hair down the back of the head continues the seen hair above or beside it, as
strands fall; each such point draws one of its :data:`STRAND_CHOICES` nearest sources (a seeded draw:
one photo, one avatar), so the back shows the seen hair's grain, not one source's colour spread into a
patch (searched by height, each row of the back took one colour: horizontal bands no hair shows).
The sources are the :data:`SOURCE_SHARE` of the seen points whose colours lie nearest the seen median
(:func:`typical_colours`): the hair pixels also take in skin under thin hair, the background through it
and the mixed outline, which must not be carried round to the back. Neighbouring reflected points map to
neighbouring sources, so the seen texture (strands, highlights, the colour's changes from the roots to
the tips) carries over, and every colour is one the photo showed on that template: never skin, never a
flat grey. A garment's unseen points take the dressed body's colour under them (a jacket's hem over the
seat: the torso's, :func:`uvatar.dualuv.garment_shell.torso_colour_faces`), or, when the garment is
cloth of another colour than the body under it (an open coat over a top and jeans), its own seen cloth
at their height (:func:`own_cloth_colors`, per body part).
"""

from __future__ import annotations

import logging

import torch

from uvatar.dualuv.template_shell import TemplateSamples
from uvatar.model.dress import LUMA, interpolate_bands
from uvatar.quaternions import rotmat_to_wxyz

__all__ = ["fill_template_colors", "template_gaussians", "typical_colours", "seen_hair", "skin_coloured", "own_cloth_colors"]

log = logging.getLogger(__name__)

REFLECT_REACH_M = 0.04  # a reflected point farther than this from every seen point looks along the strands
STRAND_CHOICES = 16  # each such point takes one of this many nearest sources, drawn at random (seeded)
STRAND_WEIGHT = 0.2  # weight of the height (world Z) against the horizontal axes in that search
SOURCE_SHARE = 0.6  # the unseen points take colours from this share of the seen ones, those nearest their median colour
SKIN_CHROMA = 0.08  # a seen hair point within this of the skin's chromaticity (colour / its sum) ...
SKIN_LUMA_SHARE = 0.8  # ... and at least this share of the skin's luminance is the skin under thin hair
# (Biden official's white hair: 42 % of its seen points, whose pink patches covered the back of the head;
# at 0.6 of the luminance the woman on the phone's dark brown hair lost 13 %, italo's red-brown 38 %)
SKIN_MAX_SHARE = 0.5  # when more of the seen hair is skin-coloured, the photo's hair looks like its skin: all stay sources
OWN_CLOTH_CHROMA = 0.08  # a garment's seen cloth this far in chromaticity (colour / its sum) from the dressed body under
# its unseen points is cloth of its own (an open coat over a top): its back continues its own cloth
OWN_CLOTH_MIN_LUMA = 0.08  # ... when both are at least this bright (a near-black colour's chromaticity is noise)
OWN_CLOTH_BAND_M = 0.08  # height bands (world Z) of that continuation; each pools its neighbours
OWN_CLOTH_MIN_SEEN = 30  # seen points a band's window needs (else the body's colour under it stays)


def fill_template_colors(samples: TemplateSamples, face_colors: torch.Tensor | None = None, face_parts: torch.Tensor | None = None,
                         skin: torch.Tensor | None = None) -> torch.Tensor | None:  # fmt: skip
    """``(N, 3)`` colours: the photo's where seen, carried over from the seen points elsewhere (module
    docstring); None when the photo saw none of the template.

    ``face_colors (F, 3)``: the body's filled colour per face (NaN where none); a garment's unseen points
    take their body face's colour (the garment's back continues the dressed body's back, whose colours
    follow the seen garment at the same height: :mod:`uvatar.model.dress`), not the reflection, unless
    the garment is cloth of its own (:func:`own_cloth_colors`, decided for each body part of
    ``face_parts (F,)``, all together when None; ``skin (3,)``: the face's skin colour, or None)."""
    seen = samples.seen
    colors = samples.colors.clone()
    todo = ~seen
    if samples.kind == "garment" and face_colors is not None:
        under = face_colors[samples.face]
        # the colour an unseen point takes: its own face's, or the torso's for a jacket's hem over the seat
        # (the test for cloth of its own compares with the body under it all the same)
        colour_face = samples.face if samples.colour_face is None else samples.colour_face
        taken = face_colors[colour_face]
        usable = todo & ~torch.isnan(taken).any(-1)
        colors[usable] = taken[usable]
        known_under = usable & ~torch.isnan(under).any(-1)
        # one decision per body part (a hem over the seat counts with the torso it hangs from): a coat over
        # jeans is cloth of its own on the torso, and on the legs the jeans' own edges
        part = face_parts[colour_face] if face_parts is not None else torch.zeros(len(colour_face), dtype=torch.long)
        for value in torch.unique(part).tolist():
            own, own_colors = own_cloth_colors(samples, under, known_under & (part == value), part == value, skin)
            colors[own] = own_colors
        todo &= ~usable
    if not bool(todo.any()):
        return colors
    if not bool(seen.any()):
        return None
    from scipy.spatial import cKDTree

    axis = torch.nn.functional.normalize(samples.view_dir.float(), dim=0)
    centre = samples.points.mean(0)
    points = samples.points[todo]
    reflected = points - 2 * ((points - centre) @ axis)[:, None] * axis[None]
    sources = typical_colours(samples.colors, seen_hair(samples))
    seen_points = samples.points[sources]
    distance, nearest = cKDTree(seen_points.numpy()).query(reflected.numpy())
    # no seen point near the reflection: the seen point nearest along the strands (height counting a
    # fifth: strands run down the world's Z, the body's up)
    far = torch.as_tensor(distance > REFLECT_REACH_M)
    if bool(far.any()):
        squash = torch.tensor([1.0, 1.0, STRAND_WEIGHT])
        k = min(STRAND_CHOICES, len(seen_points))
        _, candidates = cKDTree((seen_points * squash).numpy()).query((points[far] * squash).numpy(), k=k)
        candidates = torch.as_tensor(candidates).reshape(-1, k)
        pick = torch.randint(k, (len(candidates),), generator=torch.Generator().manual_seed(0))
        nearest[far.numpy()] = candidates[torch.arange(len(candidates)), pick].numpy()
    colors[todo] = samples.colors[sources][torch.as_tensor(nearest, dtype=torch.long)]
    return colors


def own_cloth_colors(samples: TemplateSamples, under: torch.Tensor, unseen: torch.Tensor, group: torch.Tensor | None = None,
                     skin: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Which of a garment's ``unseen (N,)`` points continue its own seen cloth (the seen points of ``group
    (N,)`` bool, all when None), and their colours ``(M, 3)``: all of them in height bands whose window
    (:data:`OWN_CLOTH_BAND_M`, one band each side) holds :data:`OWN_CLOTH_MIN_SEEN` seen points, when the
    seen cloth's median lies :data:`OWN_CLOTH_CHROMA` or more in chromaticity from the median of the body's
    colours ``under (N, 3)`` its unseen points (both at least :data:`OWN_CLOTH_MIN_LUMA` bright) and is not
    the ``skin (3,)``'s colour (:func:`skin_coloured`); none otherwise. The colours are the windows'
    medians read at each point's height (:func:`~uvatar.model.dress.interpolate_bands`).

    The body under an open coat shows, at its sides, the top inside the coat and the jeans (Megan's navy
    and blue under her brown coat): the dressing rule makes them the back. A garment's own seen points are
    the person's pixels beyond the body's outline, which also hold the shadows inside an open jacket and
    under the arms and its lit flanks (the turnaround's jacket: its seen median 0.006 in chromaticity from
    the jacket the body's sides show, but darker or brighter by turns): light and shade change a cloth's
    brightness, not its chromaticity, so cloth of another chromaticity is another garment, and its back is
    that garment (Megan's coat: 0.389; andrea's black coat over her maroon dress: 0.163). Bare legs seen
    beside a garment that the silhouette made up (anete's lunge: 0.112 from her shorts) are skin, no cloth."""
    none = torch.zeros_like(unseen), torch.zeros(0, 3)
    seen = samples.seen if group is None else samples.seen & group
    if not bool(unseen.any()) or int(seen.sum()) < OWN_CLOTH_MIN_SEEN:
        return none
    luma = torch.tensor(LUMA)
    cloth, body = samples.colors[seen].median(0).values, under[unseen].median(0).values
    if float(cloth @ luma) < OWN_CLOTH_MIN_LUMA or float(body @ luma) < OWN_CLOTH_MIN_LUMA:
        return none
    if float((cloth / cloth.sum() - body / body.sum()).norm()) < OWN_CLOTH_CHROMA:
        return none
    if skin is not None and bool(skin_coloured(cloth[None], skin)[0]):
        return none
    heights = samples.points[:, 2]
    bands = torch.floor(heights / OWN_CLOTH_BAND_M).long()
    own = torch.zeros_like(unseen)
    kept, medians = [], []
    for band in torch.unique(bands[unseen]).tolist():
        window = seen & ((bands - band).abs() <= 1)
        if int(window.sum()) >= OWN_CLOTH_MIN_SEEN:
            own |= unseen & (bands == band)
            kept.append(band)
            medians.append(samples.colors[window].median(0).values)
    if not kept:
        return none
    # between the centres of neighbouring kept bands by height (no 8 cm stripes down a coat's back)
    return own, interpolate_bands(torch.stack(medians), torch.tensor(kept), heights[own], OWN_CLOTH_BAND_M)


def seen_hair(samples: TemplateSamples) -> torch.Tensor:
    """``(N,)`` bool: the seen points that show the hair itself: all seen ones but those of the skin's
    colour (:func:`skin_coloured`, with the template's ``skin``), unless they are more than
    :data:`SKIN_MAX_SHARE` of them."""
    if samples.skin is None:
        return samples.seen
    skin = samples.seen & skin_coloured(samples.colors, samples.skin)
    return samples.seen & ~skin if int(skin.sum()) <= SKIN_MAX_SHARE * int(samples.seen.sum()) else samples.seen


def skin_coloured(colors: torch.Tensor, skin: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: ``colors (N, 3)`` that are the ``skin (3,)``'s: chromaticity (the colour divided by
    its sum) within :data:`SKIN_CHROMA` of it, and at least :data:`SKIN_LUMA_SHARE` as bright. Hair of the
    skin's chromaticity (brown, auburn) is darker than the skin; white hair is farther in chromaticity."""
    luma = torch.tensor(LUMA)
    chroma = colors / colors.sum(-1, keepdim=True).clamp(min=1e-6)
    near = (chroma - skin / skin.sum().clamp(min=1e-6)).norm(dim=-1) < SKIN_CHROMA
    return near & (colors @ luma >= SKIN_LUMA_SHARE * float(skin @ luma))


def typical_colours(colors: torch.Tensor, seen: torch.Tensor, share: float = SOURCE_SHARE) -> torch.Tensor:
    """``(N,)`` bool: the ``share`` of the ``seen (N,)`` points whose ``colors (N, 3)`` lie nearest the seen
    points' median colour (ties kept). The photo's hair has highlights and shadows, which these keep;
    the farthest colours are what the hair pixels also took in: skin under thin hair, the background
    through it, the mixed outline."""
    median = colors[seen].median(0).values
    distance = (colors - median).norm(dim=-1)
    limit = distance[seen].quantile(share)
    return seen & (distance <= limit)


def template_gaussians(samples: TemplateSamples, tangent_sigma: float = 0.6, normal_sigma: float = 0.25,
                       face_colors: torch.Tensor | None = None, face_parts: torch.Tensor | None = None,
                       skin: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """The drawn samples as Gaussians bound to the body.

    Args:
        samples: one template's samples.
        tangent_sigma, normal_sigma: sigmas in sample spacings, in the template's surface and along its
            normal (hair and cloth have some thickness; a flat disc would vanish edge-on).
        face_colors: ``(F, 3)`` the body's filled colour per face, for garments (:func:`fill_template_colors`);
            face_parts: ``(F,)`` the body part of each face; skin: ``(3,)`` the face's skin colour, or None.
    Returns:
        ``face_index (M,)``, ``barycentrics (M, 3)``, ``offsets (M, 3)``, ``rotations_wxyz (M, 4)``,
        ``scales (M, 3)`` metres and ``colors (M, 3)``; empty when the photo saw none of the template.
    """
    colors = fill_template_colors(samples, face_colors, face_parts, skin)
    drawn = samples.drawn if colors is not None else torch.zeros_like(samples.drawn)
    if colors is None:
        log.info("template shell %s: the photo saw none of it; no Gaussians", ",".join(samples.names))
        colors = samples.colors
    spacing = samples.spacing[drawn]
    return {
        "face_index": samples.face[drawn],
        "barycentrics": samples.barycentrics[drawn],
        "offsets": samples.offsets[drawn],
        "rotations_wxyz": rotmat_to_wxyz(samples.frames[drawn]),
        "scales": torch.stack([spacing * tangent_sigma, spacing * tangent_sigma, spacing * normal_sigma], -1),
        "colors": colors[drawn].clamp(0, 1),
    }
