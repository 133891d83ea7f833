"""The photo's grazing pixels as sheets facing it (uvatar.dualuv.grazing, uvatar.model.offbody.grazing_gaussians)
and the texels beneath them filled as unseen (uvatar.model.projection.photo_coloured)."""

import math

import numpy as np
import pytest
import torch
import trimesh
from float_bounds import gamma

from tests.dualuv.test_projection_fidelity import _round_trip_bounds
from uvatar.body.parts import PART_NAMES
from uvatar.body.shell import shell_offsets
from uvatar.body.skinning import bound_points_to_world
from uvatar.camera import Camera
from uvatar.data.photo import make_synthetic_photo
from uvatar.dualuv.grazing import sample_grazing, surface_view_cos
from uvatar.dualuv.project import DualUVConfig, project_dual_uv
from uvatar.encode import get_encoder
from uvatar.model.offbody import GRAZING_LIFT_M, grazing_gaussians
from uvatar.model.projection import ProjectionConfig, decode_projection, photo_coloured
from uvatar.quaternions import wxyz_to_rotmat
from uvatar.render.mesh import rasterize_mesh


def _sphere_view(size: int = 128):
    """An icosphere of radius 0.5 m at the origin seen from 3 m: vertices ``(V, 3)``, faces ``(F, 3)``,
    camera, raster, and the largest angle (radians) between a face's normal and the radius through a corner."""
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.5)  # CCW seen from outside: normals point out
    vertices = torch.tensor(mesh.vertices, dtype=torch.float32)
    faces = torch.tensor(mesh.faces, dtype=torch.int64)
    camera = Camera.look_at(torch.tensor([0.0, -3.0, 0.0]), torch.zeros(3), size, size, fov_y_deg=25.0)
    corners = vertices[faces].double()
    normals = torch.nn.functional.normalize(torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), dim=-1)
    facet = torch.acos((normals[:, None] * torch.nn.functional.normalize(corners, dim=-1)).sum(-1).clamp(max=1)).max()
    return vertices, faces, camera, rasterize_mesh(vertices, faces, camera), float(facet)


def test_view_cos_is_the_sphere_s_within_its_facets():
    vertices, faces, camera, raster, facet = _sphere_view()
    cos = surface_view_cos(raster, camera)
    covered = raster.face_index >= 0
    assert torch.isnan(cos[~covered]).all() and torch.isfinite(cos[covered]).all()
    rows, cols = torch.nonzero(covered, as_tuple=True)
    points = camera.backproject(torch.stack([cols, rows], -1).float() + 0.5, raster.depth[rows, cols]).double()
    exact = (torch.nn.functional.normalize(points, dim=-1) * torch.nn.functional.normalize(camera.center.double() - points, dim=-1)).sum(-1)
    # a facet's normal is within `facet` of the radius at any point of it: |n.v - r.v| <= |n - r| = 2 sin(facet / 2)
    bound = 2 * math.sin(facet / 2) + 1e-5  # + float32 normals and rays (unit vectors from ~10 roundings: < 1e-5)
    assert (cos[rows, cols].double() - exact).abs().max() <= bound
    assert float(cos[covered].min()) < 0.1 and float(cos[covered].max()) > 0.99  # outline to centre


def test_grazing_samples_are_exactly_the_edge_on_pixels_of_the_mask():
    vertices, faces, camera, raster, _ = _sphere_view()
    cos = surface_view_cos(raster, camera)
    person = raster.face_index >= 0
    person[:, :40] = False  # the photo's mask leaves part of the outline out
    image = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    samples = sample_grazing(get_encoder("rgb")(image), raster, vertices, faces, camera, person, 0.3)
    expected = person & (cos < 0.3)
    got = torch.zeros_like(expected)
    col, row = samples.pixels[:, 0].long(), samples.pixels[:, 1].long()
    got[row, col] = True
    assert len(samples) == int(expected.sum()) > 100 and torch.equal(got, expected)
    assert torch.equal(samples.features, torch.as_tensor(image)[row, col])  # the pixel's centre: an exact copy
    assert (samples.reach == 0).all() and (samples.shell_offset == 0).all()
    # on the surface: each sample posed back lands on its pixel at the raster's depth, and its ray frame's third
    # axis is the photo's ray there
    world, frames = bound_points_to_world(vertices[None], faces, samples.face, samples.barycentrics, samples.offsets)
    pixels, depth = camera.project(world[0])
    # float32 round trip (backprojection, binding, posing, projection: ~32 roundings of coordinates <= 3.5 m),
    # seen at focal / depth pixels a metre (measured 8e-6 px, relative depth 0, ray 4e-7)
    metres = gamma(32) * 3.5
    assert (pixels - samples.pixels).abs().max() <= metres * float(camera.K[0, 0]) / float(raster.depth[row, col].min())
    assert ((depth - raster.depth[row, col]).abs()).max() <= metres
    rays = torch.nn.functional.normalize(world[0] - camera.center, dim=-1)
    assert ((frames[0] @ samples.ray_frames)[:, :, 2] * rays).sum(-1).min() >= 1 - 2 * gamma(32)
    # a stride on a large photo: one sample per stride x stride block, at its centre pixel
    strided = sample_grazing(get_encoder("rgb")(image), raster, vertices, faces, camera, person, 0.3, max_side=64)
    assert int(expected[1::2, 1::2].sum()) == len(strided) and (strided.pixels % 2 == 1.5).all()


def test_sheets_face_the_photo_lifted_towards_it():
    vertices, faces, camera, raster, _ = _sphere_view()
    person = raster.face_index >= 0
    image = np.full((128, 128, 3), 0.5, np.float32)
    samples = sample_grazing(get_encoder("rgb")(image), raster, vertices, faces, camera, person, 0.3)
    sheets = grazing_gaussians(samples, sigma=0.6, flat=0.01)
    surface, frames = bound_points_to_world(vertices[None], faces, samples.face, samples.barycentrics, samples.offsets)
    centres, _ = bound_points_to_world(vertices[None], faces, sheets["face_index"], sheets["barycentrics"], sheets["offsets"])
    rays = torch.nn.functional.normalize(surface[0] - camera.center, dim=-1)
    lift = centres[0] - surface[0]
    # GRAZING_LIFT_M towards the camera along the ray (the face frames are orthonormal up to float error;
    # the two posed points carry ~32 roundings of coordinates <= 3.5 m each; measured 2e-8 m)
    assert ((lift + GRAZING_LIFT_M * rays).norm(dim=-1)).max() <= 2 * gamma(32) * 3.5
    world_axes = frames[0] @ wxyz_to_rotmat(sheets["rotations_wxyz"])
    assert ((world_axes[:, :, 2] * rays).sum(-1).abs()).min() >= 1 - 4 * gamma(32)  # thin along the ray
    width = 0.6 * samples.spacing
    assert torch.allclose(sheets["scales"], torch.stack([width, width, 0.01 * width], -1))


@pytest.fixture(scope="module")
def rim_lit_head(body):
    """A synthetic head photo whose pixels where the head is seen at a view cosine below 0.3 are painted
    white (a rim light), projected with the default grazing rule: photo, vertices, painted ``(H, W)`` bool, uv."""
    photo = make_synthetic_photo(body, seed=5, framing="head", size=256)
    with torch.no_grad():
        vertices = body.forward(photo.params).vertices[0]
    raster = rasterize_mesh(vertices, body.faces, photo.camera)
    head = body.face_parts[raster.face_index.clamp(min=0)] == PART_NAMES.index("head")
    mask = torch.as_tensor(photo.mask) > 0.5
    painted = mask & (raster.face_index >= 0) & head & (surface_view_cos(raster, photo.camera) < 0.3)
    image = photo.image.copy()
    image[painted.numpy()] = 1.0
    uv = project_dual_uv(get_encoder("rgb")(image), body, vertices, photo.camera, torch.as_tensor(photo.mask), shell_offsets(body),
                         DualUVConfig(core_resolution=512, shell_resolution=256))  # fmt: skip
    return photo, vertices, painted, uv


def test_the_rim_light_is_on_the_sheets_not_on_the_side_of_the_head(body, rim_lit_head):
    photo, vertices, painted, uv = rim_lit_head
    assert int(painted.sum()) > 200 and uv.grazing is not None and len(uv.grazing) == int(painted.sum())
    # the grazing texels: seen, on the head, below the cosine; the photo's colour is kept on none of them
    grazing = uv.grazing_texels
    assert int(grazing.sum()) > 500 and bool((uv.core_cos[grazing] < 0.3).all()) and bool(uv.core_mask[grazing].all())
    assert not bool((photo_coloured(uv) & grazing).any())
    assert torch.equal(photo_coloured(uv, ProjectionConfig(grazing_sheets=False)), uv.core_mask)
    phenotypes, facial = photo.params.phenotypes[0], photo.params.facial[0]

    def white_head_texels(config):
        gaussians = decode_projection(uv, body, phenotypes, facial, config)
        core = gaussians.layer == 0
        on_head = body.face_parts[gaussians.face_index] == PART_NAMES.index("head")
        return int((core & on_head & (gaussians.colors > 0.97).all(-1)).sum()), gaussians

    white_without, _ = white_head_texels(ProjectionConfig(grazing_sheets=False))
    white_with, gaussians = white_head_texels(ProjectionConfig())
    # without the sheets the rim light smears over the side of the head's texels; with them the few left
    # white lie where a seen texel's kernel reached a painted pixel (a comparison, not a float bound;
    # measured 2738 and 2)
    assert white_without > 1000 and white_with < 0.1 * white_without, (white_without, white_with)
    assert gaussians.meta["stats"]["n_grazing_sheets"] == len(uv.grazing)
    sheets = gaussians.colors[gaussians.layer == 1]
    assert int((sheets > 0.999).all(-1).sum()) == len(uv.grazing)  # every painted pixel, as a white sheet


def test_the_sheets_keep_the_photo_s_own_view(body, rim_lit_head):
    """Seen from the photo, sheets and filled texels together render the photo about as the smeared texels did."""
    from uvatar.avatar import Avatar
    from uvatar.metrics import masked_psnr_ssim

    photo, vertices, painted, uv = rim_lit_head
    phenotypes, facial = photo.params.phenotypes[0], photo.params.facial[0]
    image = torch.as_tensor(photo.image).clone()
    image[painted] = 1.0
    scores = []
    for config in (ProjectionConfig(grazing_sheets=False), ProjectionConfig()):
        avatar = Avatar.from_gaussians(decode_projection(uv, body, phenotypes, facial, config), phenotypes, facial)
        with torch.no_grad():
            render = avatar.on_vertices(vertices, body.faces).render(photo.camera).image.clamp(0, 1)
        scores.append(masked_psnr_ssim(render, image, torch.as_tensor(photo.mask) > 0.5)[0])
    assert scores[1] > scores[0] - 0.5, scores  # a quality comparison (measured 22.30 and 22.14 dB)


def test_several_photos_keep_no_grazing_sheets(rim_lit_head):
    from uvatar.dualuv.blend import blend_uv_features

    _, _, _, uv = rim_lit_head
    both = blend_uv_features([uv, uv])
    assert both.grazing is None and both.grazing_texels is None
    assert torch.equal(photo_coloured(both), both.core_mask)  # every seen texel keeps the blended colour
