"""A loose garment's surface from the photo's silhouette, as a shell template (coats, puffer jackets,
dresses, skirts, wide trousers and sleeves).

The silhouette-fitted shell (:func:`uvatar.dualuv.shell_fit.silhouette_shell_offsets`) widens the body's
shell where the person's outline reaches beyond the body, but along each vertex's normal: a coat that
flares at the sides in a front photo grows sideways only, and from the side it would be as thin as the
body. Cloth hangs around the body: the garment surface here inflates the body all round by the widening
found at the same height of the same part (torso and legs: bands of :data:`BAND_M` metres of the
reference pose; a band takes the :data:`INFLATION_QUANTILE` quantile of its vertices' widening, and the
larger of its neighbours' so a hem does not step). A part wears one garment: the bands between its
lowest and highest loose band take at least the smaller of the nearest loose bands above and below
(:func:`bridge_gaps`): an arm hanging beside a coat, or folded in front of it, hides the silhouette at
some heights, and Biden three-quarter's suit coat, measured loose in three separate runs of bands, stood
out from the side as three rings with open edges (flaps) and showed gaps across the back. At the hips,
where the two parts share heights, each vertex takes the larger of its own part's band and the other's:
a jacket's flare is seen beside the hips (the legs' vertices) and hangs round the buttocks too (the
torso's, at the back), else the jacket's back ends a hand above its hem with a hole over the seat; the
unseen back of those leg faces takes the torso's colour (:func:`torso_colour_faces`), not the
trousers'. Only faces whose three vertices inflate by at least :data:`LOOSE_M` form the template: tight
clothes stay on the body (Core-UV). A vertex's widening counts only where its widened point lies beside
the body and off the hair (another template's matter): long hair beside the neck widened it, and the
garment grown from it stood out through the hair at the nape; nor where it reaches across a folded arm
(:func:`across_folded_arm`).

Its matter is the person's pixels off the body and off the hair; the projection
(:func:`uvatar.dualuv.template_shell.project_template`) carves it to the outline, puts the photo's
off-body pixels on its front, and leaves its back to the decoder, which colours it like the dressed body
under it (:mod:`uvatar.model.template_gaussians`). Each sample stays bound to the body face it was
extruded from.
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES, vertex_parts
from uvatar.body.shell import shell_offsets
from uvatar.body.skinning import vertex_normals
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.templates import ShellTemplate, work_frame

__all__ = ["BAND_M", "LOOSE_M", "across_folded_arm", "bridge_gaps", "garment_bands", "garment_inflation", "garment_template", "torso_colour_faces"]

BAND_M = 0.04
LOOSE_M = 0.03  # widening (metres) below this is tight clothing or fit error: no garment shell there
INFLATION_QUANTILE = 0.9
PARTS = ("torso", "legs")  # sleeves are left out: the arms move most between the photo and other poses,
# and matter between an arm and the torso in the photo would become a web between them


def garment_inflation(body, fitted_offsets: torch.Tensor, off_body: torch.Tensor | None = None) -> torch.Tensor:
    """``(V,)`` metres each vertex of the torso and legs is inflated by (module docstring; 0 elsewhere),
    from the silhouette-fitted ``fitted_offsets (V,)``; ``off_body (V,)`` bool: vertices whose widening
    counts (their widened point lies beside the body in the photo, not over another part of it, as an
    inner thigh's normal points at the other leg)."""
    return garment_bands(body, fitted_offsets, off_body)[0]


def garment_bands(body, fitted_offsets: torch.Tensor, off_body: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`garment_inflation`'s ``(V,)`` inflation and ``(V,)`` bool: the legs' vertices at heights the
    torso shares (the hips, where a jacket's flare hangs round the buttocks: that cloth is the torso's
    garment, not the trousers')."""
    widening = (fitted_offsets.cpu() - shell_offsets(body).cpu()).clamp(min=0)
    if off_body is not None:
        widening = torch.where(off_body.cpu(), widening, torch.zeros_like(widening))
    heights = body.forward(body.default_params(1)).vertices[0, :, 2].detach().cpu()
    bands = torch.floor(heights / BAND_M).long()
    parts = torch.as_tensor(vertex_parts(body))  # one part per vertex, the same every run (a border vertex's is fixed)
    inflation = torch.zeros_like(widening)
    per_part = {}
    for name in PARTS:
        in_part = parts == PART_NAMES.index(name)
        if not in_part.any():
            continue
        part_bands = bands[in_part]
        low = int(part_bands.min())
        per_band = torch.zeros(int(part_bands.max()) - low + 1)
        for b in torch.unique(part_bands).tolist():
            per_band[b - low] = torch.quantile(widening[in_part][part_bands == b], INFLATION_QUANTILE)
        padded = torch.nn.functional.pad(per_band[None, None], (1, 1), mode="replicate")[0, 0]
        smooth = bridge_gaps(torch.stack([padded[:-2], padded[1:-1], padded[2:]]).amax(0))
        inflation[in_part] = smooth[part_bands - low]
        per_part[name] = (low, smooth)
    from_torso = torch.zeros_like(widening, dtype=torch.bool)
    if len(per_part) == 2:  # the hips: where the parts share heights, each takes the other's band if larger
        for name, other in (("torso", "legs"), ("legs", "torso")):
            low, smooth = per_part[other]
            shared = (parts == PART_NAMES.index(name)) & (bands >= low) & (bands < low + len(smooth))
            if name == "legs":
                from_torso |= shared
            inflation[shared] = torch.maximum(inflation[shared], smooth[bands[shared] - low])
    return inflation, from_torso


def bridge_gaps(per_band: torch.Tensor) -> torch.Tensor:
    """``(B,)`` a part's inflation per band (lowest first) with the bands between its lowest and highest
    loose one (at least :data:`LOOSE_M`) that are not loose raised to the smaller of the nearest loose
    bands above and below: one part wears one garment (module docstring)."""
    loose = torch.nonzero(per_band >= LOOSE_M).squeeze(1).tolist()
    out = per_band.clone()
    for below, above in zip(loose[:-1], loose[1:]):
        if above - below > 1:
            out[below + 1:above] = torch.maximum(per_band[below + 1:above], torch.minimum(per_band[below], per_band[above]))
    return out


def across_folded_arm(body, vertices: torch.Tensor, camera, raster, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """``(V,)`` bool: torso vertices (of the posed body ``vertices (V, 3)``) whose widened point, at pixel
    ``(row (V,), col (V,))`` of the body's ``raster`` (:class:`~uvatar.render.mesh.MeshRaster`) in
    ``camera``, lies nearest the pixel of a bent arm (:func:`~uvatar.dualuv.offbody.bent_limb_faces`) that is
    :data:`~uvatar.dualuv.offbody.FOLDED_IN_FRONT_M` nearer the camera than the vertex: the vertex lies
    behind an arm folded in front of it, and the silhouette beyond it is the arm and the sleeve round it,
    not cloth hanging from the torso. Counted, the widening across Obama's and Biden's folded arms and the
    astronaut's lowered ones grew the chest bands all round, into fins behind the back from the side.
    Beside a straight arm (the turnaround's outstretched ones) or level with a bent one at the body's side
    (Megan's, andrea's) the matter is the coat's own: it counts (taken out too, Megan's coat lost its upper
    back to the top under it, andrea's its red below the waist)."""
    from scipy.ndimage import distance_transform_edt

    from uvatar.dualuv.offbody import FOLDED_IN_FRONT_M, bent_limb_faces, body_axes

    keypoints = body.keypoints.coco(vertices[None].to(body.device))[0].cpu()
    bent = bent_limb_faces(body, body_axes(keypoints, body.keypoints.coco_labels)).numpy()
    torso = vertex_parts(body) == PART_NAMES.index("torso")
    face_id = raster.face_index.cpu().numpy()
    on_body = face_id >= 0
    if not bent.any() or not on_body.any():
        return np.zeros(len(torso), bool)
    _, (near_row, near_col) = distance_transform_edt(~on_body, return_indices=True)
    near_row, near_col = near_row[row, col], near_col[row, col]
    nearest = face_id[near_row, near_col]
    _, vertex_depth = camera.project(vertices)
    in_front = raster.depth.cpu().numpy()[near_row, near_col] < vertex_depth.numpy() - FOLDED_IN_FRONT_M
    return torso & (nearest >= 0) & bent[np.clip(nearest, 0, None)] & in_front


def garment_template(body, view, fitted_offsets: torch.Tensor, exclude: np.ndarray | None = None) -> ShellTemplate | None:
    """The loose garment of a :class:`~uvatar.track.view.FittedView` as a shell template, or None when
    nothing is loose (or the view has no person mask).

    Args:
        fitted_offsets: ``(V,)`` the view's silhouette-fitted shell offsets.
        exclude: ``(h, w)`` bool pixels at the working size that are another template's matter (hair).
    """
    if view.mask is None:
        return None
    faces = body.faces.cpu()
    vertices = view.vertices.detach().cpu()
    normals = vertex_normals(vertices[None], faces)[0]
    camera, person = work_frame(view.mask, view.camera)
    h, w = person.shape
    raster = rasterize_mesh(vertices, faces, camera)
    on_body = raster.mask.cpu().numpy()
    widened, _ = camera.project(vertices + normals * fitted_offsets.cpu()[:, None])
    col = widened[:, 0].floor().long().clamp(0, w - 1).numpy()
    row = widened[:, 1].floor().long().clamp(0, h - 1).numpy()
    beside = ~on_body[row, col]  # a widening is the garment's where it reaches beside the body ...
    if exclude is not None:
        beside &= ~exclude[row, col]  # ... and not onto the hair (long hair widens the neck and shoulders)
    beside &= ~across_folded_arm(body, vertices, camera, raster, row, col)  # ... nor across a folded arm
    inflation, from_torso = garment_bands(body, fitted_offsets, torch.as_tensor(beside))
    loose = (inflation[faces] >= LOOSE_M).all(1)
    if not loose.any():
        return None
    surface = vertices + normals * inflation[:, None]
    matter = person & ~on_body
    if exclude is not None:
        matter &= ~exclude
    kept = torch.nonzero(loose).squeeze(1)
    colour_faces = torso_colour_faces(body, vertices, kept, from_torso[faces[kept]].any(1))
    return ShellTemplate("garment", "garment", surface, faces[kept], matter, camera, PARTS, source_faces=kept,
                         colour_faces=colour_faces)  # fmt: skip


def torso_colour_faces(body, vertices: torch.Tensor, kept: torch.Tensor, hem: torch.Tensor) -> torch.Tensor:
    """``(F',)`` int64: the body face whose dressed colour each garment face's unseen samples take: its own
    (``kept (F',)``, the body faces the garment was extruded from), but for the ``hem (F',)`` bool faces
    (legs' faces with a vertex at the torso's heights: :func:`garment_bands`) the nearest torso face (face centres
    of the posed ``vertices (V, 3)``). A jacket's back hangs over the seat on the legs' faces; coloured like
    the legs under it, it ended in a band of the jeans' colour (the turnaround's jacket)."""
    colour_faces = kept.clone()
    torso = torch.nonzero(body.face_parts.cpu() == PART_NAMES.index("torso")).squeeze(1)
    if not bool(hem.any()) or len(torso) == 0:
        return colour_faces
    from scipy.spatial import cKDTree

    centres = vertices[body.faces.cpu()].mean(1)
    _, nearest = cKDTree(centres[torso].numpy()).query(centres[kept[hem]].numpy())
    colour_faces[hem] = torso[torch.as_tensor(nearest, dtype=torch.long)]
    return colour_faces
