"""Floaters: off-body matter that tears off the body when the avatar is re-posed, and how it is held.

An off-body sample is bound to the body face under its nearest body pixel in the photo
(:func:`uvatar.dualuv.offbody.sample_off_body`). Where the pixels of one piece of matter are bound to
different body parts (a coat's flap between the legs, cloth beside a hand, hair beside a raised arm),
the piece tears apart in any other pose: in the avatar's reference pose its fragments hang in the air,
flakes from the side and the back that the photo never showed. Dropping them is no cure: they cover
the photo's own view (the astronaut's own view fell from 24.8 to 18.4 dB, Megan's from 30.3 to 19.3).

:func:`hold_floating_matter` keeps every sample where the photo put it and changes what it rides on: a
piece that floats in the reference pose (no chain of touching samples joins it to a sample that touches
the body there, or to a fitted template's point) is bound, as a whole, to the face of the held sample or
template point nearest it in the photo's pose, when that one is within :data:`HOLD_M`; re-posed, the piece
then moves with the matter it hung on in the photo instead of with a body part it only overlapped.

A sample reaches :data:`EXTENT_SPACINGS` times its spacing from its point (two sigmas of the
projection decoder's splats, 0.6 spacings wide), at most :data:`MAX_EXTENT_M`. Two samples touch when
their points are closer than the sum of their reaches; a sample touches the body when one of its nearest
body vertices is closer than its reach plus that vertex's longest edge (a point on a triangle lies within
the longest edge of each corner). Touching is tested among each point's :data:`NEIGHBOURS` nearest others
(:func:`matter_components`; the all-pairs twin is :func:`matter_components_reference`).
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.body.skinning import bound_points_to_world
from uvatar.dualuv.offbody import OffBodySamples, rebind

__all__ = ["EXTENT_SPACINGS", "MAX_EXTENT_M", "NEIGHBOURS", "HOLD_M", "touching_body", "matter_components", "matter_components_reference",
           "unanchored", "hold_floating_matter"]  # fmt: skip

EXTENT_SPACINGS = 1.2
MAX_EXTENT_M = 0.02
NEIGHBOURS = 8  # a sheet's 8-neighbourhood on the photo's grid lies within 1.5 spacings: all touch
HOLD_M = 0.05


def _longest_edges(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(V,)`` the longest edge of the faces at each vertex (0 for a vertex on none)."""
    corners = vertices[faces]
    longest = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max(1)
    out = np.zeros(len(vertices))
    for k in range(3):
        np.maximum.at(out, faces[:, k], longest)
    return out


def touching_body(points: torch.Tensor, extents: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, candidates: int = 8) -> torch.Tensor:
    """``(N,)`` bool: samples at ``points (N, 3)`` reaching ``extents (N,)`` metres that touch the body
    mesh ``vertices (V, 3)``, ``faces (F, 3)`` (module docstring: a conservative test, by the
    ``candidates`` nearest vertices)."""
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return torch.zeros(0, dtype=torch.bool)
    verts = vertices.detach().cpu().double().numpy()
    slack = _longest_edges(verts, faces.cpu().numpy())
    k = min(candidates, len(verts))
    distance, index = cKDTree(verts).query(points.detach().cpu().double().numpy(), k=k)
    distance, index = distance.reshape(len(points), k), index.reshape(len(points), k)
    reach = extents.detach().cpu().double().numpy()[:, None]
    return torch.as_tensor((distance < reach + slack[index]).any(1))


def _labels(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def matter_components(points: torch.Tensor, extents: torch.Tensor, neighbours: int = NEIGHBOURS) -> torch.Tensor:
    """``(N,)`` int64 label of each sample's piece of matter: samples at ``points (N, 3)`` reaching
    ``extents (N,)`` metres, joined by chains of touching ones. Touching is tested against each point's
    ``neighbours`` nearest others only: in a sheet of matter those are the ones it touches (two dense
    sheets that touch at a single point may stay apart)."""
    from scipy.spatial import cKDTree

    n = len(points)
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    xyz = points.detach().cpu().double().numpy()
    reach = extents.detach().cpu().double().numpy()
    k = min(neighbours + 1, n)
    distance, index = cKDTree(xyz).query(xyz, k=k, distance_upper_bound=2 * float(reach.max()) + 1e-9)
    distance, index = distance.reshape(n, k), index.reshape(n, k)
    found = index < n  # missing neighbours come back as index n
    other = np.where(found, index, 0)
    touch = found & (distance < reach[:, None] + reach[other])
    rows = np.broadcast_to(np.arange(n)[:, None], (n, k))
    return torch.as_tensor(_labels(n, np.stack([rows[touch], other[touch]], -1)), dtype=torch.long)


def matter_components_reference(points: torch.Tensor, extents: torch.Tensor) -> torch.Tensor:
    """The plain twin of :func:`matter_components`: every pair tested (``O(N^2)`` memory, small sets)."""
    if len(points) == 0:
        return torch.zeros(0, dtype=torch.long)
    xyz, reach = points.detach().cpu().double(), extents.detach().cpu().double()
    touch = torch.cdist(xyz, xyz) < reach[:, None] + reach[None, :]
    return torch.as_tensor(_labels(len(points), torch.nonzero(touch).numpy()), dtype=torch.long)


def unanchored(labels: torch.Tensor, anchored: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: members of pieces (``labels (N,)`` from :func:`matter_components`) with no
    ``anchored (N,)`` member."""
    if len(labels) == 0:
        return torch.zeros(0, dtype=torch.bool)
    held = torch.zeros(int(labels.max()) + 1, dtype=torch.bool)
    held[labels[anchored]] = True
    return ~held[labels]


def _extents(spacing: torch.Tensor) -> torch.Tensor:
    return (EXTENT_SPACINGS * spacing).clamp(max=MAX_EXTENT_M)


def hold_floating_matter(samples: OffBodySamples, templates: list, posed_vertices: torch.Tensor, rest_vertices: torch.Tensor,
                         faces: torch.Tensor) -> tuple[OffBodySamples, dict]:  # fmt: skip
    """``(samples, stats)``: off-body ``samples`` (:class:`~uvatar.dualuv.offbody.OffBodySamples`) with the
    pieces that float in the reference pose bound to the held matter nearest them in the photo's pose
    (module docstring); the samples' points in the photo's pose do not move.

    Args:
        templates: the projection's :class:`~uvatar.dualuv.template_shell.TemplateSamples` (their drawn
            points hold, and hold what touches them).
        posed_vertices: ``(V, 3)`` the body fitted to the photo; rest_vertices: ``(V, 3)`` the same body
            (its shape and face) in the reference pose; faces: ``(F, 3)``.
    Returns:
        stats: ``off_body_floating`` (samples that floated), ``off_body_held`` (of them, now bound to held
        matter; the rest had none within :data:`HOLD_M`).
    """
    n = len(samples)
    if n == 0:
        return samples, {"off_body_floating": 0, "off_body_held": 0}
    drawn = [t for t in templates if bool(t.drawn.any())]
    t_face = torch.cat([t.face[t.drawn] for t in drawn]) if drawn else torch.zeros(0, dtype=torch.long)
    t_bary = torch.cat([t.barycentrics[t.drawn] for t in drawn]) if drawn else torch.zeros(0, 3)
    t_offsets = torch.cat([t.offsets[t.drawn] for t in drawn]) if drawn else torch.zeros(0, 3)
    t_spacing = torch.cat([t.spacing[t.drawn] for t in drawn]) if drawn else torch.zeros(0)
    t_posed = torch.cat([t.points[t.drawn] for t in drawn]) if drawn else torch.zeros(0, 3)  # in the photo's pose

    rest = torch.cat([samples.world_points(rest_vertices, faces), bound_points_to_world(rest_vertices[None], faces, t_face, t_bary, t_offsets)[0][0]])
    extents = _extents(torch.cat([samples.spacing, t_spacing]))
    anchored = torch.ones(len(rest), dtype=torch.bool)
    anchored[:n] = touching_body(rest[:n], extents[:n], rest_vertices, faces)
    labels = matter_components(rest, extents)
    afloat, labels = unanchored(labels, anchored)[:n], labels[:n]
    stats = {"off_body_floating": int(afloat.sum())}
    if not bool(afloat.any()):
        return samples, stats | {"off_body_held": 0}
    from scipy.spatial import cKDTree

    posed = samples.world_points(posed_vertices, faces)
    anchor_points = torch.cat([posed[~afloat], t_posed])
    anchor_face = torch.cat([samples.face[~afloat], t_face])
    anchor_bary = torch.cat([samples.barycentrics[~afloat], t_bary])
    members = torch.nonzero(afloat).squeeze(1)
    distance, nearest = cKDTree(anchor_points.double().numpy()).query(posed[members].double().numpy())
    distance, nearest = torch.as_tensor(distance), torch.as_tensor(nearest)
    # each piece's member nearest to held matter, and that matter's face: the piece's new face
    _, piece = torch.unique(labels[members], return_inverse=True)
    order = torch.as_tensor(np.lexsort((distance.numpy(), piece.numpy())))
    first = torch.ones(len(order), dtype=torch.bool)
    first[1:] = piece[order][1:] != piece[order][:-1]
    best = torch.empty(int(piece.max()) + 1, dtype=torch.long)
    best[piece[order][first]] = order[first]
    choice = best[piece]  # per floating member: its piece's best member
    close = distance[choice] <= HOLD_M
    held = torch.zeros(n, dtype=torch.bool)
    held[members[close]] = True
    if bool(held.any()):
        target = nearest[choice[close]]
        samples = rebind(samples, held, posed_vertices, faces, anchor_face[target], anchor_bary[target])
    stats["off_body_held"] = int(held.sum())
    return samples, stats
