"""The projection baseline's colour fill of Core-UV: the one home of it, for both decoders.

Texels seen by the photo keep their colour; unseen ones take their mirror texel's colour where that was
seen; unseen scalp texels take the hair's colour: that of the fitted hairstyle's seen points when the
photo has hair (the scalp the photo saw is mostly forehead under a high hairline), else the seen scalp's
median colour (the photo's short hair, or skin when bald: push-pull would otherwise spread face skin over
the back of the head); the unseen torso, arms, hands, legs and feet are dressed (:mod:`uvatar.model.dress`),
blended near the seen texels (near in the atlas and on the body) with the push-pull continuation (no seam
at the edge of what was seen) pulled between them and the rule's colours further away; the rest (the head)
is filled by push-pull inside each UV island from the seen texels and those dressed colours (islands nothing
was seen on take the median seen colour).
"""

from __future__ import annotations

import torch

from uvatar.body.mirror import mirror_texels
from uvatar.body.parts import PART_NAMES, texel_parts
from uvatar.body.uv_fill import mirror_fill, push_pull_islands
from uvatar.model.dress import dress_unseen

__all__ = ["fill_core_colors", "pool_colors", "scalp_texels", "surface_distance"]

MIN_SCALP_TEXELS = 50  # fewer seen scalp texels than this say nothing reliable about the hair colour
DRESS_BLEND_UV = 0.02  # dressed texels within this distance (fraction of the atlas side) of a seen one, and
DRESS_BLEND_M = 0.03  # within this distance on the body (metres over the reference pose), keep the push-pull
# continuation of the seen texels; over the next as much (in either) they blend into the rule's colour. Push-pull
# continues what is near in the atlas; the atlas lays the torso's back beside its front, and by the atlas alone
# a head photo's shirt and collar coloured a block of the lower back


def scalp_texels(raster, body, rest_vertices: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: head texels of the scalp (above the eyes, or behind the ears above the mouth),
    where hair grows; the face and the neck are excluded. ``rest_vertices (V, 3)`` in the reference pose."""
    idx, face, bary = raster.covered()
    points = (bary[:, :, None] * rest_vertices[body.faces[face]]).sum(1)
    out = body.forward(body.default_params(1)).bone_poses[0]
    eye_z = float(out[body.bone_index("eye.L"), 2, 3])
    head_y = float(out[body.bone_index("head"), 1, 3])
    is_head = body.face_parts[face] == PART_NAMES.index("head")
    above_eyes = points[:, 2] > eye_z + 0.01
    behind_ears = (points[:, 1] > head_y + 0.01) & (points[:, 2] > eye_z - 0.05)
    mask = torch.zeros(raster.face_index.numel(), dtype=torch.bool)
    mask[idx] = is_head & (above_eyes | behind_ears)
    return mask.reshape(raster.face_index.shape)


def fill_core_colors(
    colors: torch.Tensor, seen: torch.Tensor, body, rest_vertices: torch.Tensor, mirror: bool = True, scalp: bool = True,
    dress: bool = True, dress_sources: torch.Tensor | None = None, hair: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Fill every covered texel of a Core-UV colour map.

    Args:
        colors: ``(3, R, R)`` RGB in [0, 1], valid where ``seen``.
        seen: ``(R, R)`` bool, texels the photo saw.
        body: the BodyModel (atlas, mirror maps, parts).
        rest_vertices: ``(V, 3)`` the subject's reference-pose vertices (where the scalp is).
        mirror, scalp, dress: the fill's steps (mirror texels; the scalp's hair colour; the unseen body
            dressed by :func:`uvatar.model.dress.dress_unseen`).
        dress_sources: ``(R, R)`` bool, the seen texels the dressing rule may take colours from (default:
            all seen or mirrored ones).
        hair: ``(3,)`` the hair's colour for the unseen scalp (default: the seen scalp texels' median).
    Returns:
        filled colours ``(3, R, R)`` in [0, 1] (covered texels filled; outside the atlas unchanged),
        ``(R, R)`` bool "colour from the photo" (seen or mirrored from a seen texel), and stats.
    """
    resolution = colors.shape[-1]
    raster = body.uv_raster(resolution)
    known = seen & raster.mask
    colors = colors.clone()
    stats = {"core_seen_fraction": float(known.sum() / raster.mask.sum())}
    mirror_map = mirror_texels(raster, body.mirror, body.uv_corners) if mirror else None
    if mirror:
        colors, known = mirror_fill(colors, known, mirror_map)
    stats["core_seen_or_mirrored_fraction"] = float(known.sum() / raster.mask.sum())
    from_photo = known.clone()
    fallback = colors[:, known].median(dim=1).values if known.any() else torch.full((3,), 0.5)
    scalp_mask = scalp_texels(raster, body, rest_vertices)
    if scalp:
        hair_seen = scalp_mask & known
        stats.update(scalp_texels=int(scalp_mask.sum()), scalp_seen_fraction=float(hair_seen.sum() / scalp_mask.sum().clamp(min=1)))
        if hair is None and hair_seen.sum() >= MIN_SCALP_TEXELS:
            hair = colors[:, hair_seen].median(dim=1).values
        if hair is not None:
            stats["scalp_colour"] = [round(float(c), 4) for c in hair]
            fill = scalp_mask & ~known
            colors = torch.where(fill[None], hair[:, None, None], colors)
            known = known | fill
    if not dress:
        return push_pull_islands(colors, known, raster.mask, fallback).clamp(0, 1), from_photo, stats
    head = texel_parts(raster, body.face_parts) == PART_NAMES.index("head")
    face_seen = head & ~scalp_mask & from_photo
    skin = colors[:, face_seen].median(dim=1).values if face_seen.sum() >= MIN_SCALP_TEXELS else None
    sources = known
    if dress_sources is not None:
        sources = dress_sources & raster.mask
        if mirror:  # a mirrored texel is a source when its seen twin is
            _, sources = mirror_fill(colors, sources, mirror_map)
    dressed_colors, dressed, rules = dress_unseen(colors, sources, raster, body, rest_vertices, skin)
    stats.update(rules)
    # next to what was seen the push-pull continuation (the seen texture, no seam), the rule further away
    from scipy.ndimage import distance_transform_edt

    in_atlas = torch.as_tensor(distance_transform_edt(~known.numpy()), dtype=torch.float32)
    ramp = DRESS_BLEND_UV * colors.shape[-1]
    on_body = surface_distance(raster, body, rest_vertices, known, 2 * DRESS_BLEND_M)
    weight = torch.maximum((in_atlas - ramp) / ramp, (on_body - DRESS_BLEND_M) / DRESS_BLEND_M).clamp(0, 1)[None]
    # the continuation is pulled between the seen texels and the rule's colours beyond the blend, not from
    # the island's whole seen texture (its coarse averages put a white shirt's grey on a navy jacket's edge)
    anchors = known | (dressed & (weight[0] >= 1))
    pulled = push_pull_islands(torch.where(known[None], colors, dressed_colors), anchors, raster.mask, fallback)
    blended = pulled * (1 - weight) + dressed_colors * weight
    pulled = torch.where((dressed & ~known)[None], blended, pulled)  # what was seen keeps its colour
    return pulled.clamp(0, 1), from_photo, stats


def surface_distance(raster, body, rest_vertices: torch.Tensor, known: torch.Tensor, max_distance: float,
                     where: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """``(R, R)`` metres from each covered texel of ``raster`` to the nearest ``known (R, R)`` texel, over the
    subject's reference pose ``rest_vertices (V, 3)`` (straight-line, between texel centres on the body);
    ``inf`` beyond ``max_distance``, where no texel is known, and outside the atlas.

    ``where (R, R)`` bool: only these texels' distances are wanted (the others are ``inf``, known ones 0), and
    only the known texels of faces whose bounds meet theirs, grown by ``max_distance``, are searched: a 1024²
    atlas has ~700K texels, and a small region (the mouth's inside) took 0.1 s over all of them, 0.04 s so."""
    from scipy.spatial import cKDTree

    idx, face, bary = raster.covered()
    seen = known.reshape(-1)[idx]
    out = torch.full((known.numel(),), float("inf"))
    out[idx[seen]] = 0.0
    wanted, sources, used = ~seen, seen, slice(None)
    if where is not None:
        wanted = where.reshape(-1)[idx] & ~seen
        if wanted.any():
            corners = rest_vertices[body.faces]  # (F, 3, 3)
            low = corners[face[wanted]].amin((0, 1)) - max_distance
            high = corners[face[wanted]].amax((0, 1)) + max_distance
            sources = seen & ((corners.amin(1) <= high) & (corners.amax(1) >= low)).all(1)[face]
        used = sources | wanted
    if sources.any() and wanted.any():
        points = (bary[used][:, :, None] * rest_vertices[body.faces[face[used]]]).sum(1).numpy()
        # texel centres lie on a surface: the median-split tree took 2 s for a 1024² atlas, the sliding
        # midpoint one 0.14 s
        tree = cKDTree(points[sources[used].numpy()], balanced_tree=False, compact_nodes=False)
        distance, _ = tree.query(points[wanted[used].numpy()], distance_upper_bound=max_distance, workers=torch.get_num_threads())
        out[idx[wanted]] = torch.as_tensor(distance, dtype=torch.float32)
    return out.reshape(known.shape)


def pool_colors(colors: torch.Tensor, covered: torch.Tensor, side: int) -> torch.Tensor:
    """Average ``(C, R, R)`` values over covered texels into a ``(C, side, side)`` grid (``R`` a multiple of side).

    Cells with no covered texel take the plain average.
    """
    factor = colors.shape[-1] // side
    if factor == 1:
        return colors.clone()
    w = covered.float()[None, None]
    num = torch.nn.functional.avg_pool2d(colors[None] * w, factor)[0]
    den = torch.nn.functional.avg_pool2d(w, factor)[0]
    plain = torch.nn.functional.avg_pool2d(colors[None], factor)[0]
    return torch.where(den > 0, num / den.clamp(min=1e-8), plain)
