"""Off-body samples taken at the photo's pixels: what the person mask shows beyond the body (data only;
the decoders turn them into Gaussians: :mod:`uvatar.model.offbody`).

Beyond the body's outline the shell is seen nearly edge-on, so a UV grid on it gets very few samples:
on the bundled astronaut photo 23K person pixels lie off the body and a 512² Shell-UV grid receives
under a thousand texels, each stretched over many pixels. These samples go the other way round: one per
photo pixel (on a grid of at most ``max_side`` samples along the image's longer side) that the person
mask covers and the body does not.

Where along its ray does such a pixel's matter lie? Not on the front of the shell: for a head of radius
9 cm and a 6 cm shell, a ray passing 5 mm outside the outline meets the shell ~12 cm in front of the
outline, so re-posing swings those samples away from the head and opens cracks. The sample is placed
at the depth of the nearest body pixel (the body's outline, where the ray grazes it) and bound to that
body face. Each sample also records the photo's ray as a frame in that face's frame (its third axis is
the ray), the spacing of the samples at its depth, the shell's offset at its face, and its ``reach``
(:func:`matter_reach`): what a decoder needs to give the matter extent along the ray, which the photo
cannot see. A reach more than :data:`REACH_OUTLIER` times the median of its neighbours'
(:func:`neighbourhood_median`) takes that median: a tube's rim is seen on many neighbouring rows, a reach
on a few isolated ones was a comb of needles from the side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.body.skinning import bound_points_to_world, world_points_to_bound
from uvatar.camera import Camera

__all__ = ["OffBodySamples", "sample_off_body", "bent_limb_faces", "torso_half_depth", "between_body_parts", "body_axes", "straight_axes", "distance_to_axes", "matter_reach", "spanning_matter",
           "rebind", "TUBE_BEYOND_M", "OPEN_GAP"]  # fmt: skip

_FIELDS = ("face", "barycentrics", "offsets", "ray_frames", "features", "pixels", "spacing", "shell_offset", "reach")


@dataclass
class OffBodySamples:
    """Person pixels off the body, bound to the body.

    Attributes:
        face: ``(N,)`` int64 body face each point is bound to; barycentrics: ``(N, 3)``.
        offsets: ``(N, 3)`` metres, offset from the body surface point in that face's frame.
        ray_frames: ``(N, 3, 3)`` rotation in the face frame whose columns are the camera's x axis made
            perpendicular to the photo's ray, the third column x the first, and the ray.
        features: ``(N, C)`` image features at the pixels; pixels: ``(N, 2)`` image positions.
        spacing: ``(N,)`` metres between neighbouring samples at the point's depth.
        shell_offset: ``(N,)`` metres, the shell's mean offset at the sample's face (how far loose matter
            may reach from the body there).
        reach: ``(N,)`` metres the matter at the pixel extends along the ray either side of the sample
            (:func:`matter_reach`; 0 on a fitted template's front, whose surface places it).
    """

    face: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    ray_frames: torch.Tensor
    features: torch.Tensor
    pixels: torch.Tensor
    spacing: torch.Tensor
    shell_offset: torch.Tensor
    reach: torch.Tensor

    def __len__(self) -> int:
        return int(self.face.shape[0])

    def world_points(self, posed_vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """``(N, 3)`` the samples' points on the posed body ``posed_vertices (V, 3)`` they were bound on."""
        return bound_points_to_world(posed_vertices[None], faces, self.face, self.barycentrics, self.offsets)[0][0]

    @staticmethod
    def concatenate(parts: list["OffBodySamples"]) -> "OffBodySamples":
        """One set from several photos' samples (all bound to the same body faces, so they simply join)."""
        return OffBodySamples(*(torch.cat([getattr(p, name) for p in parts]) for name in _FIELDS))


def _ray_frames(camera: Camera, points: torch.Tensor) -> torch.Tensor:
    """``(N, 3, 3)`` world rotations whose columns are (camera x, ray x camera x, ray) at ``points (N, 3)``."""
    ray = torch.nn.functional.normalize(points - camera.center[None], dim=-1)
    side = torch.nn.functional.normalize(torch.linalg.cross(ray, camera.R[1].expand_as(ray)), dim=-1)
    up = torch.linalg.cross(ray, side)
    return torch.stack([side, up, ray], -1)


def sample_off_body(
    feature_map,
    body_raster,
    posed_vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    person: torch.Tensor,
    shell_offsets: torch.Tensor,
    keep_faces: torch.Tensor | None = None,
    max_side: int = 512,
    front_depth: torch.Tensor | None = None,
    reach_faces: torch.Tensor | None = None,
    axes: torch.Tensor | None = None,
    bent_faces: torch.Tensor | None = None,
    torso_faces: torch.Tensor | None = None,
    front_faces: torch.Tensor | None = None,
) -> OffBodySamples:
    """One sample per grid pixel that the mask calls person and the body misses.

    Args:
        feature_map: a FeatureMap of the photo (``.sample(pixels (N, 2)) -> (N, C)``).
        body_raster: :class:`~uvatar.render.mesh.MeshRaster` of the posed body in ``camera``.
        posed_vertices: ``(V, 3)`` the fitted body; faces ``(F, 3)``.
        person: ``(H, W)`` bool person mask at the photo's resolution.
        shell_offsets: ``(V,)`` metres (each sample records its face's mean).
        keep_faces: ``(F,)`` bool, faces that may carry samples (default all).
        max_side: samples along the image's longer side (stride ``ceil(max(H, W) / max_side)`` pixels).
        front_depth: ``(H, W)`` camera depth of a fitted template's front (``inf`` where none): a sample
            there lies on the template instead of at the body's outline depth.
        reach_faces: ``(F,)`` bool, faces whose samples get a ``reach`` (:func:`matter_reach`) where their
            pixel is on an outline (not :func:`between_body_parts`), off any template, beside an axis of a
            straight limb or the torso (:func:`distance_to_axes`, :func:`straight_axes`), at most their
            distance to the mask's edge where they lie more than :data:`TUBE_BEYOND_M` beyond the body's
            outline; None: none do.
        axes: ``(S, 2, 3)`` the posed body's axes (:func:`body_axes`), needed with ``reach_faces``.
        torso_faces: ``(F,)`` bool, the torso's faces: the reach of matter round the torso's axis is at most
            the torso's half depth along the view at its height (:func:`torso_half_depth`) plus its distance
            beyond the body's outline; None: no such cap.
        bent_faces: ``(F,)`` bool, faces of bent limbs (:func:`bent_limb_faces`), with ``torso_faces``: a
            sample whose nearest body pixel is on a bent limb that lies :data:`FOLDED_IN_FRONT_M` in front of
            the nearest torso pixel is bound to that torso pixel instead, at its depth and with no reach,
            when it is at most :data:`BESIDE_BENT_M` away (the coat's side beside folded arms, not a flap
            that swings out with the forearm when the avatar is re-posed). With ``reach_faces``: no sample
            within :data:`BESIDE_BENT_M` of a bent limb's pixel gets a reach (the coat beside the elbows of
            folded arms, as a tube round the torso, stood out 15-20 cm along the photo's rays: needles from
            the side).
        front_faces: ``(F,)`` bool, faces that a sample on a template's front may be bound to: one whose
            nearest body pixel is on another face is bound to the nearest body pixel on these faces instead
            (the arms and hands are left out: a coat's matter between a hanging arm and the torso lies on the
            garment's front, centimetres in front of the arm's outline, and bound to the arm it swung away
            as specks when the arm was lowered); None: any face.
    """
    height, width = person.shape
    stride = max(1, math.ceil(max(height, width) / max_side))
    rows = torch.arange(stride // 2, height, stride)
    cols = torch.arange(stride // 2, width, stride)
    grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing="ij")
    body_face = body_raster.face_index[grid_rows, grid_cols]
    if keep_faces is not None:
        body_face = torch.where(keep_faces[body_face.clamp(min=0)], body_face, -1)
    person_grid = person[grid_rows, grid_cols]
    wanted = person_grid & (body_raster.face_index[grid_rows, grid_cols] < 0)
    covered = body_face >= 0
    if not wanted.any() or not covered.any():
        empty = torch.zeros(0, dtype=torch.long)
        return OffBodySamples(empty, torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3, 3), feature_map.sample(torch.zeros(0, 2)), torch.zeros(0, 2),
                              torch.zeros(0), torch.zeros(0), torch.zeros(0))  # fmt: skip

    from scipy.ndimage import distance_transform_edt

    to_body, near_i, near_j = _nearest_of(covered, wanted)
    moved = torch.zeros(len(near_i), dtype=torch.bool)  # beside a bent limb, now bound to the torso
    if bent_faces is not None and torso_faces is not None:
        on_bent = bent_faces[body_face[near_i, near_j]]
        torso = covered & torso_faces[body_face.clamp(min=0)] & ~bent_faces[body_face.clamp(min=0)]
        if bool(on_bent.any()) and bool(torso.any()):
            to_torso, torso_i, torso_j = _nearest_of(torso, wanted)
            torso_depth = body_raster.depth[grid_rows[torso_i, torso_j], grid_cols[torso_i, torso_j]]
            limb_depth = body_raster.depth[grid_rows[near_i, near_j], grid_cols[near_i, near_j]]
            metres = torso_depth * stride / float(camera.K[0, 0])
            near_torso = to_torso * metres <= BESIDE_BENT_M
            moved = on_bent & near_torso & (limb_depth < torso_depth - FOLDED_IN_FRONT_M)
            near_i, near_j = torch.where(moved, torso_i, near_i), torch.where(moved, torso_j, near_j)
    on_template = torch.zeros(len(near_i), dtype=torch.bool)
    if front_depth is not None:
        front = front_depth[grid_rows[wanted], grid_cols[wanted]]
        on_template = torch.isfinite(front)
        if front_faces is not None:  # on a template's front: bound to the nearest pixel of a face it may ride
            allowed = covered & front_faces[body_face.clamp(min=0)]
            elsewhere = on_template & ~front_faces[body_face[near_i, near_j]]
            if bool(elsewhere.any()) and bool(allowed.any()):
                _, allowed_i, allowed_j = _nearest_of(allowed, wanted)
                near_i, near_j = torch.where(elsewhere, allowed_i, near_i), torch.where(elsewhere, allowed_j, near_j)
    near_rows, near_cols = grid_rows[near_i, near_j], grid_cols[near_i, near_j]
    face = body_face[near_i, near_j]
    bary = body_raster.barycentrics[near_rows, near_cols]
    depth = body_raster.depth[near_rows, near_cols]
    if front_depth is not None:
        depth = torch.where(on_template, front, depth)
    pixels = torch.stack([grid_cols[wanted], grid_rows[wanted]], -1).float() + 0.5
    points = camera.backproject(pixels, depth)
    offsets = world_points_to_bound(posed_vertices, faces, face, bary, points)
    _, frames = bound_points_to_world(posed_vertices[None], faces, face, bary)
    local = frames[0].transpose(-1, -2) @ _ray_frames(camera, points)
    spacing = stride * depth / float(camera.K[0, 0])
    matter = torch.zeros(len(depth))
    if reach_faces is not None:
        # the image's border counts as the matter's edge: where the frame cuts it, no deeper than the frame
        # shows it wide (a jacket's hem below the frame gave a half-body photo 10-18 cm spikes)
        framed = np.pad(person_grid.numpy(), 1)
        to_outside = torch.as_tensor(distance_transform_edt(framed)[1:-1, 1:-1], dtype=torch.float32)[wanted] * stride
        metres = depth / float(camera.K[0, 0])  # per pixel
        open_sides = ~between_body_parts(covered, person_grid)[wanted]
        to_axis, beside, which = distance_to_axes(points, axes)
        tube = reach_faces[face] & open_sides & beside & straight_axes(axes)[which] & ~on_template & ~moved
        if bent_faces is not None:  # beside a folded arm the matter is the coat round the arm, no tube round the torso
            bent_pixels = covered & bent_faces[body_face.clamp(min=0)]
            if bool(bent_pixels.any()):
                to_bent = torch.as_tensor(distance_transform_edt(~bent_pixels.numpy()), dtype=torch.float32)[wanted] * stride * metres
                tube &= to_bent > BESIDE_BENT_M
        matter = torch.where(tube, matter_reach(to_axis, to_outside * metres), 0.0)
        # matter far beyond the body's outline is no garment round the axis (a bag held beside the legs: a
        # tube through it was a smear tens of centimetres deep from the side): as deep as the photo shows
        # it thick there
        beyond = to_body * stride * metres
        matter = torch.where(beyond > TUBE_BEYOND_M, torch.minimum(matter, to_outside * metres), matter)
        # the torso is no round tube: the matter beside it reaches along the ray no farther than the torso's
        # own half depth there plus its distance beyond the outline (a jacket's flare, 17 cm either side of
        # the turnaround's waist as a tube, was a fan of needles across the belly from the side)
        round_torso = tube & (which == len(axes) - 1)
        if torso_faces is not None and bool(round_torso.any()):
            cap = torso_half_depth(posed_vertices, faces, torso_faces, axes[-1], points[round_torso], camera) + beyond[round_torso]
            matter[round_torso] = torch.minimum(matter[round_torso], cap)
        # a reach far above its neighbours' is no garment round the axis seen there, but a stray row of one
        around = neighbourhood_median(matter, wanted, REACH_MEDIAN_PX)
        matter = torch.where(matter > REACH_OUTLIER * around, around, matter)
    return OffBodySamples(face, bary, offsets, local, feature_map.sample(pixels), pixels, spacing, shell_offsets[faces[face]].mean(-1), matter)


REACH_MEDIAN_PX = 2  # a sample's reach is compared with the median of its neighbours' within this many grid pixels ...
REACH_OUTLIER = 2.0  # ... and more than this times it is an outlier that takes the median: a reach on a few
# isolated rows (andrea's coat flap in front of her thigh, where the tube's conditions held on a few rows) was a
# comb of needles from the side (sigma along the ray up to 10.6 cm); the turnaround's bins move by -0.02 to 0 dB


def neighbourhood_median(values: torch.Tensor, where: torch.Tensor, radius: int) -> torch.Tensor:
    """``(N,)`` the median of ``values (N,)`` (one per True pixel of ``where (H, W)``, in row-major order)
    over each pixel's ``(2 radius + 1)``² neighbourhood, counting only ``where``'s pixels (of an even count,
    the lower of the middle two)."""
    h, w = where.shape
    grid = torch.full((h + 2 * radius, w + 2 * radius), float("inf"))
    grid[radius:radius + h, radius:radius + w][where] = values.float()
    rows, cols = torch.nonzero(where, as_tuple=True)
    steps = torch.arange(-radius, radius + 1)
    window = grid[(rows[:, None, None] + radius + steps[None, :, None]), (cols[:, None, None] + radius + steps[None, None, :])].reshape(len(rows), -1)
    present = torch.isfinite(window).sum(1)
    return window.sort(1).values.gather(1, ((present - 1) // 2)[:, None]).squeeze(1)


def _nearest_of(pixels: torch.Tensor, wanted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each ``wanted (h, w)`` bool grid pixel: its distance ``(N,)`` (grid pixels) to the nearest of the
    ``pixels (h, w)`` bool and that pixel's row and column ``(N,)`` int64."""
    from scipy.ndimage import distance_transform_edt

    distance, (rows, cols) = distance_transform_edt(~pixels.numpy(), return_indices=True)
    return (torch.as_tensor(distance, dtype=torch.float32)[wanted], torch.as_tensor(rows)[wanted], torch.as_tensor(cols)[wanted])


def between_body_parts(body: torch.Tensor, person: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: pixels off the body whose run of person pixels along their row has body pixels on
    both sides of them (matter between an arm and the torso, between the legs: not an outline).

    Args:
        body: ``(H, W)`` bool pixels of the body; person: ``(H, W)`` bool the person mask.
    """
    return _body_before(body, person) & _body_before(body.flip(1), person.flip(1)).flip(1) & ~body


def _body_before(body: torch.Tensor, person: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: a body pixel comes before the pixel (lower column) in its row's run of person pixels."""
    cols = torch.arange(body.shape[1]).expand_as(body)
    last_body = torch.where(body, cols, -1).cummax(1).values
    last_gap = torch.where(person, -1, cols).cummax(1).values
    return last_body > last_gap


#: The body's axes as segments between its COCO keypoints (:func:`body_axes`): limbs, feet, and the torso
#: from the hips' midpoint to the shoulders'.
_AXIS_SEGMENTS = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_heel", "left_big_toe"), ("right_heel", "right_big_toe"),
)  # fmt: skip
_LIMB_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))  # upper and lower segment of each arm and leg in _AXIS_SEGMENTS
#: A limb bent more than this (degrees between its two segments) gives its matter no reach (:func:`straight_axes`).
#: Fitted bends: the turnaround's outstretched arms 33 and 40 (at 30 they lost their reach, -0.5 dB at
#: 135-180), the astronaut's lowered arms 46 and 61, andrea's 56-59, Obama's crossed arms 72-96 (the
#: matter beside them shot out in spikes once the arms were re-posed).
STRAIGHT_LIMB_DEG = 45.0
#: Matter seen farther than this beyond the body's outline (metres at its depth) is taken for an object (a bag,
#: a held helmet), not a garment round the body's axis: its reach is at most its distance to the mask's edge
#: (as deep as the photo shows it thick). Tube samples' distance beyond the outline: Megan's open coat at most
#: 7.7 cm, the turnaround's jacket 9.2 cm (75 of its 4606 beyond 8), andrea's (shopping bags beside her legs)
#: 13 cm at the median, to 24 cm.
TUBE_BEYOND_M = 0.08
#: Matter beside a bent arm within this distance (metres at its depth) of the torso rides the torso
#: (:func:`sample_off_body`'s ``bent_faces``). Obama's and Biden's folded arms: bound to the forearms, the coat
#: beside them swung out as flakes round the arms once re-posed; within 4 cm of the torso half of them
#: stayed, within 6 and 8 cm none round the arms, and a small block of the sleeve beside the elbows stands
#: out at the hips (the elbows stood that far beyond the torso's outline; measured before the test below).
BESIDE_BENT_M = 0.08
#: ... and only where the limb's pixel is this much nearer the camera than the torso's: an arm folded in front
#: of it. Beside or behind it (an arm raised by the head) the sleeve is at the arm's depth; moved onto the
#: torso's, it floated off the body in the back view (synthetic head subjects: back ST-LPIPS 0.148 -> 0.156
#: without this test, 0.148 with it).
FOLDED_IN_FRONT_M = 0.03


def torso_half_depth(posed_vertices: torch.Tensor, faces: torch.Tensor, torso_faces: torch.Tensor, axis: torch.Tensor,
                     points: torch.Tensor, camera: Camera, band_m: float = 0.03) -> torch.Tensor:
    """``(N,)`` metres: half the torso's depth along the camera's view at the height of each of ``points
    (N, 3)`` along the torso's ``axis (2, 3)``: the vertices of ``torso_faces (F,)`` bool in the
    ``band_m`` band of that height and the bands either side (0 where there are none)."""
    ids = torch.unique(faces[torso_faces].reshape(-1))
    verts = posed_vertices[ids]
    direction = torch.nn.functional.normalize(axis[1] - axis[0], dim=0)
    along_view = verts @ camera.R[2].to(verts)
    bands = torch.floor((verts - axis[0]) @ direction / band_m).long()
    wanted = torch.floor((points - axis[0]) @ direction / band_m).long()
    low = int(torch.minimum(bands.min(), wanted.min())) - 1
    size = int(torch.maximum(bands.max(), wanted.max())) - low + 2
    big = torch.finfo(verts.dtype).max
    front = torch.full((size,), big, device=verts.device).scatter_reduce(0, bands - low, along_view, "amin")
    back = torch.full((size,), -big, device=verts.device).scatter_reduce(0, bands - low, along_view, "amax")
    index = wanted - low
    nearest_front = torch.stack([front[index - 1], front[index], front[index + 1]]).amin(0)
    farthest_back = torch.stack([back[index - 1], back[index], back[index + 1]]).amax(0)
    return torch.where(farthest_back >= nearest_front, (farthest_back - nearest_front) / 2, torch.zeros_like(farthest_back))


def bent_limb_faces(body, axes: torch.Tensor, max_bend_deg: float = STRAIGHT_LIMB_DEG) -> torch.Tensor:
    """``(F,)`` bool: the arm and hand faces of each arm bent more than ``max_bend_deg`` (:func:`straight_axes`
    on the posed body's ``axes`` from :func:`body_axes`)."""
    from uvatar.body.parts import PART_NAMES

    parts = body.face_parts.cpu()
    left_side = body.left_faces.cpu()
    arm = (parts == PART_NAMES.index("arms")) | (parts == PART_NAMES.index("hands"))
    straight = straight_axes(axes, max_bend_deg)
    out = torch.zeros(len(parts), dtype=torch.bool)
    for segment, side in ((0, left_side), (2, ~left_side)):  # _AXIS_SEGMENTS: the left arm first, then the right
        if not bool(straight[segment]):
            out |= arm & side
    return out


def body_axes(keypoints: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """``(S, 2, 3)`` segments along the body's limbs, feet and torso from its ``(K, 3)`` COCO keypoints
    named by ``labels`` (:attr:`~uvatar.body.keypoints.BodyKeypoints.coco_labels`)."""
    at = {name: keypoints[labels.index(name)] for name in labels}
    segments = [torch.stack([at[a], at[b]]) for a, b in _AXIS_SEGMENTS]
    hips = (at["left_hip"] + at["right_hip"]) / 2
    shoulders = (at["left_shoulder"] + at["right_shoulder"]) / 2
    return torch.stack(segments + [torch.stack([hips, shoulders])])


def straight_axes(axes: torch.Tensor, max_bend_deg: float = STRAIGHT_LIMB_DEG) -> torch.Tensor:
    """``(S,)`` bool: the segments of :func:`body_axes` that belong to a straight limb (its two segments
    within ``max_bend_deg`` of a line), the feet and the torso. A bent limb's matter is no tube round one
    axis (the sleeve's fold inside an elbow, a coat beside a forearm folded across the body), and
    re-posing the limb swings it out."""
    usable = torch.ones(len(axes), dtype=torch.bool)
    direction = torch.nn.functional.normalize(axes[:, 1] - axes[:, 0], dim=-1)
    for upper, lower in _LIMB_PAIRS:
        cos = float((direction[upper] * direction[lower]).sum())
        usable[[upper, lower]] = cos >= math.cos(math.radians(max_bend_deg))
    return usable


def distance_to_axes(points: torch.Tensor, axes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each of ``points (N, 3)`` against the nearest of the segments ``axes (S, 2, 3)``: ``(N,)`` its
    distance, ``(N,)`` bool whether the point is beside it (its foot on the segment lies between the ends),
    not beyond an end (above the shoulders, past a hand or a foot), and ``(N,)`` that segment's index."""
    start, along = axes[:, 0], axes[:, 1] - axes[:, 0]
    t = ((points[:, None] - start[None]) * along[None]).sum(-1) / along.pow(2).sum(-1).clamp(min=1e-12)[None]
    nearest = start[None] + t.clamp(0, 1)[..., None] * along[None]
    distance, which = (points[:, None] - nearest).norm(dim=-1).min(1)
    foot = t.gather(1, which[:, None])[:, 0]
    return distance, (foot > 0) & (foot < 1), which


def matter_reach(to_axis: torch.Tensor, to_outside: torch.Tensor) -> torch.Tensor:
    """``(N,)`` metres that matter seen beyond the body's outline reaches along the photo's ray either side.

    The matter (a sleeve, a trouser leg, a coat's flare) is taken as a tube round the body's nearest axis
    (:func:`body_axes`) that just meets the person mask's edge: a point at ``x = to_axis`` from the axis,
    ``e = to_outside`` inside the mask's edge, lies on a circle of radius ``x + e``, whose chord through it
    along the ray (which runs across the axis there: the point is at the depth where the ray grazes the
    body) has half-length ``sqrt(e^2 + 2 x e)``. Zero at the mask's edge, deepest next to the body.

    Args:
        to_axis: ``(N,)`` metres from each sample's point to the nearest body axis.
        to_outside: ``(N,)`` metres from each sample's pixel to the nearest pixel off the person mask.
    """
    x, e = to_axis.clamp(min=0), to_outside.clamp(min=0)
    return (e * e + 2 * x * e).sqrt()


OPEN_GAP = 0.5  # a row between the legs whose gap is background in more than this share of its columns is open (spanning_matter):
# at 0.1 the white dress's hem, ragged where the background starts between the ankles, put 425 of its 2376 samples
# between the legs on the legs (115 at 0.5)


def _surrounding_background(person: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: the background of the ``person (H, W)`` mask that reaches the image's border (not the
    holes inside the mask)."""
    from scipy.ndimage import label

    labels, _ = label(~person.numpy())
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return torch.as_tensor(np.isin(labels, border[border > 0]))


def _row_gaps(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image row, the open interval ``(lo, hi)`` of columns between the inner edges of two ``(H, W)``
    bool regions, whichever is on the left (``lo >= hi`` where a row misses either)."""
    width = first.shape[1]
    cols = torch.arange(width)[None].expand_as(first)
    a0, a1 = torch.where(first, cols, width + 1).amin(1), torch.where(first, cols, -1).amax(1)
    b0, b1 = torch.where(second, cols, width + 1).amin(1), torch.where(second, cols, -1).amax(1)
    lo = torch.where(a1 < b0, a1, b1)
    hi = torch.where(a1 < b0, b0, a0)
    both = (a1 >= 0) & (b1 >= 0)
    return torch.where(both, lo, width), torch.where(both, hi, -1)


def spanning_matter(samples: OffBodySamples, body_raster, body, person: torch.Tensor | None = None) -> torch.Tensor:
    """``(N,)`` bool: samples that hang from the hips rather than a leg: bound to a leg with their pixel in
    the gap between the two legs on its row (a skirt, a dress: the person mask joins the legs there).
    Bound to a leg, such matter would split when the legs part. (Matter between an arm and the torso is
    left on the arm: in a photo it is mostly the sleeve's own loose fabric, which must follow the arm.)

    ``body_raster``: the posed body's :class:`~uvatar.render.mesh.MeshRaster` in the photo's camera;
    ``person``: ``(H, W)`` bool, the photo's person mask at the raster's size. With it, a row whose gap
    shows the background around the person (not a hole inside the mask: a fold of a dress) in more
    than :data:`OPEN_GAP` of its columns is open: the matter there is the trousers' own inner edge,
    which follows its leg (bound to the hips, the baggy inner edges of a pair of jeans hung between the
    legs as a dark tail when they parted, seen from behind)."""
    from uvatar.body.parts import PART_NAMES

    if len(samples) == 0:
        return torch.zeros(0, dtype=torch.bool)
    parts = body.face_parts.cpu()
    left_side = body.left_faces.cpu()
    face_id = body_raster.face_index.cpu()
    covered = face_id >= 0
    fid = face_id.clamp(min=0)

    legs = parts == PART_NAMES.index("legs")
    on_legs = covered & legs[fid]
    left_leg, right_leg = on_legs & left_side[fid], on_legs & ~left_side[fid]

    row = samples.pixels[:, 1].floor().long().clamp(0, face_id.shape[0] - 1)
    col = samples.pixels[:, 0]
    lo, hi = _row_gaps(left_leg, right_leg)
    spanning = legs[samples.face] & (col > lo[row]) & (col < hi[row])
    if person is not None and bool(spanning.any()):
        cols = torch.arange(face_id.shape[1])[None]
        gap = (cols > lo[:, None]) & (cols < hi[:, None])
        background = (gap & _surrounding_background(person.cpu().bool())).sum(1)
        open_rows = background > OPEN_GAP * gap.sum(1)
        spanning &= ~open_rows[row]
    return spanning


def rebind(samples: OffBodySamples, which: torch.Tensor, posed_vertices: torch.Tensor, faces: torch.Tensor,
           face: torch.Tensor, barycentrics: torch.Tensor) -> OffBodySamples:  # fmt: skip
    """``samples`` with the ones in ``which (N,)`` bound to other ``face``/``barycentrics`` (one per
    selected sample) of the same posed body: same world points and ray directions, new face frames."""
    points, old_frames = bound_points_to_world(posed_vertices[None], faces, samples.face[which], samples.barycentrics[which],
                                               samples.offsets[which])  # fmt: skip
    _, new_frames = bound_points_to_world(posed_vertices[None], faces, face, barycentrics)
    out = OffBodySamples(*(getattr(samples, name).clone() for name in _FIELDS))
    out.face[which] = face
    out.barycentrics[which] = barycentrics
    out.offsets[which] = world_points_to_bound(posed_vertices, faces, face, barycentrics, points[0])
    out.ray_frames[which] = new_frames[0].transpose(-1, -2) @ old_frames[0] @ samples.ray_frames[which]
    return out
