"""Shell-UV on fitted templates: the photo projected in closed form onto a hair (or garment) surface.

The template (:class:`~uvatar.track.templates.ShellTemplate`) is sampled evenly over its area
(:func:`sample_surface`, one point per ``spacing``² of surface). Each point is then judged against the
photo and the fitted body (drawn in the photo's camera):

* its pixel is not the person's (the mask, widened by ``carve_px`` pixels): the photo sees background
  along that ray, so there is no matter there: the point is dropped (the template is carved to the
  photo's outline, whether the point faces the camera or not);
* it lies below the matter's lowest pixel row in the photo (plus ``length_px``): hair behind the back
  is as long as the photo shows it beside the body, not as long as the template;
* it is in front of the body (or beside it) and its pixel is not the template's matter
  (``template.pixels``: e.g. the face's skin or a shirt where the template puts hair): dropped too;
* it is in front of the body on the template's matter: SEEN, with the photo's colour there (on the
  matter's edge pixels, which mix in their neighbours: kept, but coloured like the unseen). Seen points
  are colour sources only (``drawn`` False): the photo's own pixels draw what it saw at full resolution,
  on the body (Core-UV) or, off the body's outline, on the template's front (:func:`template_front_depth`,
  used by :func:`uvatar.dualuv.offbody.sample_off_body`); splats a few times coarser in front of them
  cost the photo's own view up to 2 dB (a hat taken for hair);
* it is behind the body, far enough inside its outline that its splat stays there and at least
  :data:`UNDER_SEEN_M` behind the body's front: UNSEEN, its colour left to the decoder
  (:mod:`uvatar.model.template_gaussians`); behind the body but nearer the outline than its splat
  reaches: dropped (it would show beside the body in the photo's own view); just behind the body's
  front: dropped (it lies under the skin or cloth the photo saw, and showed through it);
* it is beside the body on the matter, :data:`SELF_HIDDEN_SPACINGS` spacings behind the template's own
  front at its pixel (the back half of a bun, a coat's flare towards the back) and far enough inside the
  matter that its splat stays there: UNSEEN too. A garment's such points nearer the matter's edge are
  kept as well, their splats shrunk towards it (to no less than :data:`EDGE_SPLAT_MIN` of their size):
  dropped, they left a seam down each side of a jacket's back where its rays pass beside the body, seen
  from behind as two light lines (the hair keeps the rule: its back half's splats spilled over the face).

Every kept point is bound to the body face its template face was extruded from (a garment shell), or to
the nearest body face among the template's ``bind_parts`` (a separate mesh: hair), with its offset in
that face's frame, so it rides the body's skinning like every other Gaussian of the avatar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES
from uvatar.body.skinning import bound_points_to_world, world_points_to_bound
from uvatar.render.mesh import rasterize_mesh, visible_points
from uvatar.track.templates import ShellTemplate

__all__ = ["TemplateSamples", "sample_surface", "project_template", "template_front_depth", "bind_to_nearest_faces", "R2_ALPHA"]

#: the R2 low-discrepancy sequence's step (1/g, 1/g²) with g the plastic number: even, deterministic
#: sample positions inside each triangle
R2_ALPHA = (0.7548776662466927, 0.5698402909980532)
SELF_HIDDEN_SPACINGS = 3.0  # a point this many sample spacings behind the template's own front is hidden by it
EDGE_SPLAT_MIN = 0.4  # a garment's hidden point near the matter's edge keeps at least this share of its splat's size
UNDER_SEEN_M = 0.01  # a hidden point nearer than this behind the body's front at its pixel is dropped (project_template):
# Biden official's hair, 3.7 % of its hidden points (4.2 % within 2 cm), showed through his forehead (own view
# 30.01 -> 30.24 dB without them, Obama podium's 31.83 -> 32.33)
SPLAT_SIGMA = 0.6  # the decoder's Gaussian sigma in sample spacings (uvatar.model.projection.ProjectionConfig)
_FIELDS = ("face", "barycentrics", "offsets", "frames", "points", "colors", "seen", "drawn", "spacing")


@dataclass
class TemplateSamples:
    """Kept points of one or more templates, bound to the body.

    Attributes:
        face: ``(N,)`` int64 body face; barycentrics: ``(N, 3)``; offsets: ``(N, 3)``
            metres in that face's frame.
        frames: ``(N, 3, 3)`` rotation in the face frame whose third column is the template's normal.
        points: ``(N, 3)`` metres, in the photo's world and pose; colors: ``(N, 3)`` RGB, valid where seen.
        seen: ``(N,)`` bool, the photo saw the point on the template's matter.
        drawn: ``(N,)`` bool, the point becomes a Gaussian (False: the photo's off-body pixels draw it).
        spacing: ``(N,)`` metres between neighbouring samples, the size of the point's splat (smaller for a
            garment's hidden points near the matter's edge).
        view_dir: ``(3,)`` the photo camera's viewing axis in the world (for the decoder's fill).
        names: templates that contributed; kind: their catalogue kind (``"hair"``, ``"garment"``).
        skin: ``(3,)`` RGB of the face's skin in the photo (the template's), or None.
        colour_face: ``(N,)`` int64 the body face whose dressed colour an unseen point takes (a garment's:
            :attr:`~uvatar.track.templates.ShellTemplate.colour_faces`), or None (``face``).
    """

    face: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    frames: torch.Tensor
    points: torch.Tensor
    colors: torch.Tensor
    seen: torch.Tensor
    drawn: torch.Tensor
    spacing: torch.Tensor
    view_dir: torch.Tensor
    names: tuple[str, ...] = ()
    kind: str = "hair"
    skin: torch.Tensor | None = None
    colour_face: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.face.shape[0])


def sample_surface(vertices: torch.Tensor, faces: torch.Tensor, spacing: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points spread evenly over a mesh: about one per ``spacing``² of area (at least one per face).

    Args:
        vertices: ``(V, 3)`` metres; faces: ``(F, 3)`` int64.
    Returns:
        points ``(N, 3)``, unit face normals ``(N, 3)``, the face of each point ``(N,)`` and its
        barycentrics ``(N, 3)``.
    """
    corners = vertices[faces]
    cross = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = cross.norm(dim=-1) / 2
    counts = (area / spacing**2).round().clamp(min=1).long()
    face = torch.repeat_interleave(torch.arange(len(faces)), counts)
    start = torch.cumsum(counts, 0) - counts
    k = torch.arange(len(face)) - start[face]
    # R2 sequence per face, shifted by the face index so neighbouring faces do not repeat one pattern
    u = torch.frac(0.5 + (k + face * 0.37).double() * R2_ALPHA[0]).float()
    v = torch.frac(0.5 + (k + face * 0.61).double() * R2_ALPHA[1]).float()
    root = u.sqrt()
    bary = torch.stack([1 - root, root * (1 - v), root * v], -1)
    points = (bary[:, :, None] * corners[face]).sum(1)
    normals = torch.nn.functional.normalize(cross, dim=-1)[face]
    return points, normals, face, bary


def _pixel_lookup(pixels: torch.Tensor, height: int, width: int):
    """Nearest-pixel lookup at ``pixels (N, 2)`` (x, y, clamped to the image) in ``(height, width[, C])``
    images: the function ``image -> (N[, C])`` tensor (the indices are computed once for many images)."""
    col = pixels[:, 0].floor().long().clamp(0, width - 1).numpy()
    row = pixels[:, 1].floor().long().clamp(0, height - 1).numpy()
    return lambda image: torch.as_tensor(np.asarray(image)[row, col])


def _tangent_frames(normals: torch.Tensor) -> torch.Tensor:
    """``(N, 3, 3)`` world rotations whose third column is ``normals (N, 3)``."""
    helper = torch.where(normals[:, 2:3].abs() < 0.9, torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]))
    first = torch.nn.functional.normalize(torch.linalg.cross(helper, normals), dim=-1)
    second = torch.linalg.cross(normals, first)
    return torch.stack([first, second, normals], -1)


def bind_to_nearest_faces(points: torch.Tensor, vertices: torch.Tensor, body, parts: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each point's nearest body face among ``parts`` (by face centroid), bound at that centroid.

    Args:
        points: ``(N, 3)`` world; vertices: ``(V, 3)`` the body in the same pose.
    Returns:
        face ``(N,)``, barycentrics ``(N, 3)``, offsets ``(N, 3)`` in the face frame.
    """
    from scipy.spatial import cKDTree

    faces = body.faces.cpu()
    allowed = torch.zeros(len(faces), dtype=torch.bool)
    for part in parts:
        allowed |= (body.face_parts == PART_NAMES.index(part)).cpu()
    candidates = torch.nonzero(allowed).squeeze(1)
    centroids = vertices[faces[candidates]].mean(1)
    _, nearest = cKDTree(centroids.numpy()).query(points.numpy())
    face = candidates[torch.as_tensor(nearest, dtype=torch.long)]
    bary = torch.full((len(face), 3), 1.0 / 3.0)
    return face, bary, world_points_to_bound(vertices, faces, face, bary, points)


def project_template(template: ShellTemplate, image: np.ndarray, mask: np.ndarray, vertices: torch.Tensor, body,
                     spacing: float = 0.004, carve_px: int = 2, length_px: int = 4) -> TemplateSamples:  # fmt: skip
    """The template's kept points with the photo's colours where seen (module docstring).

    Args:
        template: the fitted template (its ``pixels`` and ``camera`` at a working size ``(w, h)``).
        image: ``(H, W, 3)`` the photo, RGB in [0, 1]; mask: ``(h, w)`` person mask in [0, 1] at the
            working size.
        vertices: ``(V, 3)`` the fitted body in the photo's world.
        spacing: metres between samples on the template.
        carve_px: the mask is widened by this many pixels before carving (its edge is soft).
        length_px: points more than this many pixels below the matter's lowest pixel row are dropped.
    """
    from scipy.ndimage import binary_dilation, binary_erosion, distance_transform_edt

    camera = template.camera
    points, normals, sample_face, sample_bary = sample_surface(template.vertices, template.faces, spacing)
    raster = rasterize_mesh(vertices, body.faces.cpu(), camera)
    in_front = visible_points(points, raster, camera, depth_tol=0.0)
    pixels, depth = camera.project(points)
    inside = camera.in_frame(pixels, depth)
    person = binary_dilation(mask > 0.5, iterations=carve_px) if carve_px > 0 else mask > 0.5
    matter = binary_dilation(template.pixels, iterations=1)
    core = binary_erosion(template.pixels, iterations=1)  # the matter's edge pixels mix in their neighbours
    at = _pixel_lookup(pixels, camera.height, camera.width)  # every map below is at the working size
    in_person = at(person) & inside
    on_matter = at(matter) & inside
    on_core = at(core) & inside
    # a hidden point's splat (3 sigma) must stay inside the body's outline in the photo, else it shows there
    inset = at(distance_transform_edt(raster.mask.cpu().numpy())).float()
    reach = 3 * SPLAT_SIGMA * spacing * float(camera.K[0, 0]) / depth.clamp(min=1e-3)
    # ... and well behind the body's front there: just behind it, the point lies under the skin or cloth
    # the photo saw (a hairstyle's front under the forehead); Gaussians are sorted by their centres, so it
    # showed through the seen skin in the photo's own view, and from above it put hair on a bare forehead
    body_front = at(raster.depth.cpu().numpy()).float()
    hidden = ~in_front & (inset >= reach) & (depth >= body_front + UNDER_SEEN_M)
    # beside the body, on the matter: the photo sees the template's own front there; what lies behind it
    # along the same ray (the back half of a bun, a coat's flare towards the back) is hidden by it
    own = rasterize_mesh(template.vertices, template.faces, camera, cull_backfaces=False).depth
    own_front = at(own.cpu().numpy()).float()
    matter_inset = at(distance_transform_edt(template.pixels)).float()
    behind_front = in_front & on_matter & (depth > own_front + SELF_HIDDEN_SPACINGS * spacing)
    if template.kind != "garment":
        behind_front &= matter_inset >= reach
    # a garment's hidden point near the matter's edge: its splat shrunk towards the edge (module docstring)
    shrink = torch.where(behind_front & (matter_inset < reach), (matter_inset / reach).clamp(min=EDGE_SPLAT_MIN, max=1.0), 1.0)
    rows = np.nonzero(template.pixels.any(1))[0]
    lowest = float(rows.max() + 1 + length_px) if len(rows) else -1.0
    above_end = pixels[:, 1] <= lowest
    keep = in_person & above_end & (hidden | (in_front & on_matter))
    seen = (in_front & on_core & ~behind_front)[keep]
    drawn = (hidden | behind_front)[keep]
    full = pixels[keep] * torch.tensor([image.shape[1] / camera.width, image.shape[0] / camera.height])
    colors = _pixel_lookup(full, image.shape[0], image.shape[1])(image).float().reshape(-1, 3)
    points, normals = points[keep], normals[keep]
    colour_face = None
    if template.source_faces is not None:  # a shell of the body: on the face it was extruded from
        face, bary = template.source_faces[sample_face[keep]], sample_bary[keep]
        if template.colour_faces is not None:
            colour_face = template.colour_faces[sample_face[keep]]
        offsets = world_points_to_bound(vertices, body.faces.cpu(), face, bary, points)
    else:
        face, bary, offsets = bind_to_nearest_faces(points, vertices, body, template.bind_parts)
    _, body_frames = bound_points_to_world(vertices[None], body.faces.cpu(), face, bary)
    frames = body_frames[0].transpose(-1, -2) @ _tangent_frames(normals)
    return TemplateSamples(face, bary, offsets, frames, points, colors, seen, drawn, float(spacing) * shrink[keep],
                           camera.R[2].clone(), (template.name,), template.kind,
                           None if template.skin is None else torch.as_tensor(template.skin, dtype=torch.float32),
                           colour_face)  # fmt: skip


def template_front_depth(templates: list[ShellTemplate], camera, height: int, width: int) -> torch.Tensor:
    """``(height, width)`` camera depth of the nearest template surface on each template's matter
    (``inf`` elsewhere), for the photo's off-body pixels to lie on (``camera``: the photo's, at that size)."""
    depth = torch.full((height, width), float("inf"))
    for template in templates:
        raster = rasterize_mesh(template.vertices, template.faces, camera, cull_backfaces=False)
        small = torch.as_tensor(template.pixels)
        rows = (torch.arange(height) * small.shape[0] // height).clamp(max=small.shape[0] - 1)
        cols = (torch.arange(width) * small.shape[1] // width).clamp(max=small.shape[1] - 1)
        on_matter = small[rows][:, cols]
        depth = torch.where(on_matter & (raster.depth < depth), raster.depth, depth)
    return depth
