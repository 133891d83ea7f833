"""Dual-UV: the closed-form projection of image features into the body's UV space.

Core-UV: surface points sampled on the fitted (posed) body at the texel centres of a sampling raster of
the UV atlas (``supersample`` x finer than the output grid), seen by the photo's camera (back faces
culled, z-buffer with a depth tolerance, inside the person mask), sample the feature map bilinearly and
are scattered into the UV grid with the paper's normalized kernel sum (:mod:`uvatar.dualuv.scatter`).

Shell-UV: the same on the shell (the body extruded along its normals, same UV layout), on a coarser
grid, where the shell is seen, the body is not, and the person mask says there is a person: hair, hats,
loose clothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from uvatar.body.shell import shell_vertices
from uvatar.body.uv import UVRaster, surface_uv
from uvatar.camera import Camera
from uvatar.dualuv.floaters import hold_floating_matter
from uvatar.dualuv.scatter import scatter_to_uv
from uvatar.dualuv.offbody import OffBodySamples, bent_limb_faces, body_axes, rebind, sample_off_body, spanning_matter
from uvatar.dualuv.template_shell import bind_to_nearest_faces, project_template, template_front_depth
from uvatar.render.mesh import rasterize_mesh, visible_points

__all__ = ["UVFeatures", "SurfaceSamples", "project_surface", "project_dual_uv", "DualUVConfig"]


@dataclass(frozen=True)
class DualUVConfig:
    """Resolutions and tolerances of the projection."""

    core_resolution: int = 512
    shell_resolution: int = 256
    supersample: int = 2  # sampling raster is this many times finer than the grid, per axis
    depth_tol: float = 0.015  # metres behind the z-buffer still counted as visible
    min_cos: float = 0.05  # grazing views (|cos| below this) are not sampled
    mask_threshold: float = 0.5
    shell_margin: float = 1 / 400  # shell samples keep this fraction of the image's longer side (>= 1 px)
    # off the body and inside the mask edge
    shell_pixel_side: int = 512  # image-space shell samples along the photo's longer side (0: none)
    garment_shell: bool = True  # a loose garment's surface from the silhouette (uvatar.dualuv.garment_shell)
    shoe_shell: bool = True  # shoes round the feet as deep as the photo shows their soles (uvatar.dualuv.shoe_shell)
    skirts_on_hips: bool = True  # off-body samples between the legs (skirts, dresses) bind to the hips, not a leg
    open_gaps_on_legs: bool = True  # except on rows where the photo shows the background between the legs (trousers' inner edges ride their leg)
    off_body_reach: bool = True  # off-body samples record how deep their matter reaches (uvatar.dualuv.offbody.matter_reach)
    beside_bent_on_torso: bool = True  # off-body samples beside a bent arm and near the torso ride the torso, not the arm
    mouth_seen: bool = True  # the mouth's inside (cavity, tongue) takes the photo's pixels where an open mouth shows it (teeth)
    hold_floaters: bool = True  # off-body pieces that float off the body in the reference pose ride the matter they hung on (uvatar.dualuv.floaters)
    template_front_off_limbs: bool = True  # off-body samples on a template's front ride the nearest face off the arms and hands (front_faces)


@dataclass
class UVFeatures:
    """Projected features of one or more photos.

    Attributes:
        core: ``(C, H, W)`` features on the body surface; ``core_weight (H, W)`` kernel weight sum
            (0 = unseen); ``core_cos (H, W)`` mean cosine between surface normal and view ray.
        shell: ``(C, Hs, Ws)`` features on the shell; ``shell_weight``, ``shell_cos`` likewise.
        encoder: name of the feature encoder.
        off_body: the person's pixels off the body, sampled at the photo's pixels
            (:class:`~uvatar.dualuv.offbody.OffBodySamples`), or None without a person mask.
        shell_offsets: ``(V,)`` metres, the shell surface the Shell-UV was projected on (the first
            photo's, for several), or None.
        templates: the photo projected onto its fitted hair and garment templates
            (:class:`~uvatar.dualuv.template_shell.TemplateSamples`, one per template; the first photo's).
    """

    core: torch.Tensor
    core_weight: torch.Tensor
    core_cos: torch.Tensor
    shell: torch.Tensor
    shell_weight: torch.Tensor
    shell_cos: torch.Tensor
    encoder: str = "rgb"
    stats: dict = field(default_factory=dict)
    off_body: OffBodySamples | None = None
    shell_offsets: torch.Tensor | None = None
    templates: list = field(default_factory=list)

    @property
    def core_mask(self) -> torch.Tensor:
        return self.core_weight > 0.25

    @property
    def shell_mask(self) -> torch.Tensor:
        return self.shell_weight > 0.25


@dataclass
class SurfaceSamples:
    """Points sampled on a surface at the texels of a sampling raster.

    Attributes:
        uv: ``(N, 2)``; points: ``(N, 3)`` world; normals: ``(N, 3)`` unit face normals; face: ``(N,)``.
    """

    uv: torch.Tensor
    points: torch.Tensor
    normals: torch.Tensor
    face: torch.Tensor


def sample_surface(vertices: torch.Tensor, faces: torch.Tensor, uv_corners: torch.Tensor, raster: UVRaster, keep_faces: torch.Tensor | None = None) -> SurfaceSamples:
    """Surface points at the covered texels of ``raster`` (``vertices (V, 3)``, ``faces (F, 3)``)."""
    _, face, bary = raster.covered()
    if keep_faces is not None:
        ok = keep_faces[face]
        face, bary = face[ok], bary[ok]
    corners = vertices[faces[face]]  # (N, 3, 3)
    points = (bary[:, :, None] * corners).sum(1)
    normals = torch.nn.functional.normalize(torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), dim=-1)
    return SurfaceSamples(surface_uv(uv_corners, face, bary), points, normals, face)


def _view_cos(samples: SurfaceSamples, camera: Camera) -> torch.Tensor:
    to_camera = torch.nn.functional.normalize(camera.center[None] - samples.points, dim=-1)
    return (samples.normals * to_camera).sum(-1)


def _mask_at(mask: torch.Tensor | None, pixels: torch.Tensor, threshold: float) -> torch.Tensor:
    if mask is None:
        return torch.ones(len(pixels), dtype=torch.bool)
    h, w = mask.shape
    col = pixels[:, 0].floor().long().clamp(0, w - 1)
    row = pixels[:, 1].floor().long().clamp(0, h - 1)
    return mask[row, col] > threshold


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """``(H, W)`` bool mask grown by ``radius`` pixels (square structuring element)."""
    if radius <= 0:
        return mask
    grown = torch.nn.functional.max_pool2d(mask.float()[None, None], 2 * radius + 1, stride=1, padding=radius)
    return grown[0, 0] > 0.5


def project_surface(
    feature_map,
    samples: SurfaceSamples,
    visible: torch.Tensor,
    camera: Camera,
    height: int,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample features at the visible points and scatter them into a ``height x width`` grid.

    Returns:
        grid ``(C, H, W)``, weight ``(H, W)``, mean view cosine ``(H, W)``.
    """
    pixels, _ = camera.project(samples.points[visible])
    features = feature_map.sample(pixels)
    uv = samples.uv[visible]
    cos = _view_cos(samples, camera)[visible]
    ones = torch.ones(len(uv))
    grid, weight = scatter_to_uv(uv, features, ones, height, width)
    cos_grid, _ = scatter_to_uv(uv, cos[:, None], ones, height, width)
    return grid, weight, cos_grid[0]


def project_dual_uv(
    feature_map,
    body,
    posed_vertices: torch.Tensor,
    camera: Camera,
    person_mask: torch.Tensor | None,
    shell_offsets: torch.Tensor,
    config: DualUVConfig = DualUVConfig(),
    templates: list | None = None,
    image=None,
    rest_vertices: torch.Tensor | None = None,
) -> UVFeatures:
    """Core-UV and Shell-UV of one photo.

    Args:
        feature_map: a FeatureMap (``.sample(pixels (N, 2)) -> (N, C)``, ``.encoder``).
        body: the BodyModel (faces, UV atlas, interior faces).
        posed_vertices: ``(V, 3)`` fitted body in the photo's world, metres.
        camera: the photo's camera.
        person_mask: ``(H, W)`` float in [0, 1] or None.
        shell_offsets: ``(V,)`` extrusion of the shell, metres.
        templates: fitted :class:`~uvatar.track.templates.ShellTemplate` surfaces (hair, loose garments):
            the photo is projected onto each (:func:`~uvatar.dualuv.template_shell.project_template`,
            which needs ``image (H, W, 3)``, the photo's RGB), and off-body pixels on a template's
            matter lie on its front (:func:`~uvatar.dualuv.template_shell.template_front_depth`).
        rest_vertices: ``(V, 3)`` the same body in the reference pose: with ``config.hold_floaters``,
            off-body pieces that float there ride the matter they hung on in the photo
            (:func:`~uvatar.dualuv.floaters.hold_floating_matter`); None: not looked for.
    """
    from uvatar.body.parts import PART_NAMES, interior_faces, mouth_faces

    faces = body.faces
    keep = ~interior_faces(body)
    mask = torch.as_tensor(person_mask, dtype=torch.float32) if person_mask is not None else None
    body_raster = rasterize_mesh(posed_vertices, faces, camera)

    core_keep = keep | mouth_faces(body) if config.mouth_seen else keep
    core_samples = sample_surface(posed_vertices, faces, body.uv_corners, body.uv_raster(config.core_resolution * config.supersample), core_keep)
    core_pixels, _ = camera.project(core_samples.points)
    core_visible = (
        visible_points(core_samples.points, body_raster, camera, config.depth_tol)
        & (_view_cos(core_samples, camera) > config.min_cos)
        & _mask_at(mask, core_pixels, config.mask_threshold)
    )
    core, core_weight, core_cos = project_surface(feature_map, core_samples, core_visible, camera, config.core_resolution, config.core_resolution)

    shell = shell_vertices(posed_vertices[None], faces, shell_offsets)[0]
    shell_raster = rasterize_mesh(shell, faces, camera)
    shell_samples = sample_surface(shell, faces, body.uv_corners, body.uv_raster(config.shell_resolution * config.supersample), keep)
    shell_pixels, _ = camera.project(shell_samples.points)
    in_image = camera.in_frame(shell_pixels)
    col = shell_pixels[:, 0].floor().long().clamp(0, camera.width - 1)
    row = shell_pixels[:, 1].floor().long().clamp(0, camera.height - 1)
    # Off the body by a margin, and inside the person mask by a margin: pixels at the body's outline or the
    # mask's edge mix the body, the background and the shell, and smear into floating shell Gaussians.
    margin = max(1, round(config.shell_margin * max(camera.width, camera.height)))
    body_near = _dilate(body_raster.face_index >= 0, margin)
    body_free = ~body_near[row, col]
    shell_mask = None if mask is None else ~_dilate(mask <= config.mask_threshold, margin)
    shell_visible = (
        visible_points(shell_samples.points, shell_raster, camera, config.depth_tol)
        & in_image
        & body_free
        & (_view_cos(shell_samples, camera) > config.min_cos)
        & _mask_at(None if shell_mask is None else shell_mask.float(), shell_pixels, 0.5)
    )
    shell_grid, shell_weight, shell_cos = project_surface(
        feature_map, shell_samples, shell_visible, camera, config.shell_resolution, config.shell_resolution
    )
    stats = {
        "core_points_visible": int(core_visible.sum()),
        "shell_points_visible": int(shell_visible.sum()),
    }
    off_body = None
    templates = templates if mask is not None else []
    template_samples = [_project_template(t, image, mask, posed_vertices, body) for t in templates or []]
    for samples in template_samples:
        stats[f"template_{samples.names[0]}_samples"] = len(samples)
        stats[f"template_{samples.names[0]}_seen"] = int(samples.seen.sum())
    if mask is not None:
        person = mask > config.mask_threshold
        if config.shell_pixel_side > 0:
            front = template_front_depth(templates, camera, camera.height, camera.width) if templates else None
            reach_faces = axes = bent = torso = None
            if config.off_body_reach:  # below the head: hair beyond its template gets no depth (it streaked)
                reach_faces = body.face_parts.to(faces.device) != PART_NAMES.index("head")
                keypoints = body.keypoints.coco(posed_vertices[None].to(body.device))[0].to(posed_vertices.device)
                axes = body_axes(keypoints, body.keypoints.coco_labels)
                # folded arms: the coat beside them is the coat's, not flaps that swing out with the forearms
                bent = bent_limb_faces(body, axes).to(faces.device) if config.beside_bent_on_torso else None
                torso = body.face_parts.to(faces.device) == PART_NAMES.index("torso")  # its depth caps the reach beside it
            front_faces = None
            if config.template_front_off_limbs:  # a coat's matter beside a hanging arm rides the torso, not the arm
                limbs = torch.tensor([PART_NAMES.index("arms"), PART_NAMES.index("hands")], device=faces.device)
                front_faces = ~torch.isin(body.face_parts.to(faces.device), limbs)
            off_body = sample_off_body(feature_map, body_raster, posed_vertices, faces, camera, person, shell_offsets, keep, config.shell_pixel_side, front,
                                       reach_faces, axes, bent, torso, front_faces)  # fmt: skip
            stats["shell_pixel_samples"] = len(off_body)
            if config.skirts_on_hips:  # matter spanning the legs rides the hips
                spanning = spanning_matter(off_body, body_raster, body, person if config.open_gaps_on_legs else None)
                if spanning.any():
                    face, bary, _ = bind_to_nearest_faces(off_body.world_points(posed_vertices, faces)[spanning], posed_vertices, body, ("torso",))
                    off_body = rebind(off_body, spanning, posed_vertices, faces, face, bary)
                stats["shell_pixels_between_legs"] = int(spanning.sum())
            if config.hold_floaters and rest_vertices is not None:
                off_body, held = hold_floating_matter(off_body, template_samples, posed_vertices, rest_vertices, faces)
                stats.update(held)
        shell_cover = (shell_raster.face_index >= 0) & person
        stats["mask_covered_by_body"] = float(((body_raster.face_index >= 0) & person).sum() / person.sum().clamp(min=1))
        stats["mask_covered_by_body_or_shell"] = float((((body_raster.face_index >= 0) | shell_cover) & person).sum() / person.sum().clamp(min=1))
    return UVFeatures(core, core_weight, core_cos, shell_grid, shell_weight, shell_cos, getattr(feature_map, "encoder", "rgb"), stats, off_body,
                      shell_offsets, template_samples)  # fmt: skip


def _project_template(template, image, mask: torch.Tensor, posed_vertices: torch.Tensor, body):
    """One template's samples, with the person mask brought to the template's working size."""
    if image is None:
        raise ValueError("projecting onto templates needs the photo's RGB image (image=...)")
    small = torch.nn.functional.interpolate(mask[None, None], size=template.pixels.shape, mode="area")[0, 0].numpy()
    return project_template(template, image, small, posed_vertices, body)
