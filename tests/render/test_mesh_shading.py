"""interpolate, sample_texture, render_mesh_colors and visible_points."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh
from float_bounds import gamma
from mesh_bounds import reprojection_bounds

from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.render.mesh import (
    interpolate,
    rasterize_mesh,
    render_mesh_colors,
    sample_texture,
    vertex_normals,
    visible_points,
)


@pytest.fixture(scope="module")
def sphere():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces)


@pytest.fixture(scope="module")
def cam():
    return Camera.look_at([0.3, -2.0, 0.4], [0.0, 0.0, 0.0], 80, 64)


def test_interpolate_positions_gives_the_surface_point_on_each_pixel_ray(sphere, cam):
    verts, faces = sphere
    raster = rasterize_mesh(verts, faces, cam, backend="torch")
    points = interpolate(verts, raster)  # (H, W, 3)
    rows, cols = torch.nonzero(raster.mask, as_tuple=True)
    pix, depth = cam.project(points[rows, cols])
    # per-pixel bounds derived in mesh_bounds.reprojection_bounds (was 1e-3 px and 1e-5 m flat; now
    # ~5e-4 px and ~7e-6 m)
    pix_bound, depth_bound = reprojection_bounds(verts, faces, cam, raster, rows, cols, pix)
    assert ((pix.double() - torch.stack([cols, rows], -1).double() - 0.5).abs().amax(-1) <= pix_bound).all()
    assert ((depth.double() - raster.depth[rows, cols].double()).abs() <= depth_bound).all()
    assert (points[~raster.mask] == 0).all()
    per_corner = interpolate(verts[faces], raster)  # (F, 3, 3) gives the same
    # the same 3-term sum of the same products: each within gamma(3) |X|max of exact (was atol 1e-6)
    assert torch.allclose(per_corner, points, rtol=0, atol=2 * gamma(3) * float(verts.abs().max()))
    with pytest.raises(InputError):
        interpolate(verts[:10], raster)


def _bilinear_reference(texture, u, v):
    """Plain loop: OBJ uv (0,0) bottom-left, texel centres at half-integers, clamp to edge."""
    height, width, _ = texture.shape
    x = min(max(u * width - 0.5, 0.0), width - 1.0)
    y = min(max((1.0 - v) * height - 0.5, 0.0), height - 1.0)
    x0, y0 = int(math.floor(x)), int(math.floor(y))
    x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_sample_texture_convention_and_reference():
    gen = torch.Generator().manual_seed(0)
    texture = torch.rand(5, 7, 3, generator=gen)
    # grid_sample's float32 texel coordinate ((2u - 1 + 1) W - 1) / 2 is within gamma(4) (2W + 1) of exact
    # (4 roundings of magnitudes <= 2W + 1 for |2u - 1| <= 1.4), so a value in [0, 1] moves by that per
    # axis; the bilinear blends (4 weight products, 3 sums) add gamma(6) on each side. (Was 1e-5 and the
    # default allclose, whose rtol 1e-5 * |texel| is < 1 ulp of the coordinate error for dark texels.)
    height, width = texture.shape[:2]
    tol = gamma(4) * (2 * width + 1) + gamma(4) * (2 * height + 1) + 2 * gamma(6)
    # texel centre of (row 0, col 0) is the top-left: u = 0.5/7, v = 1 - 0.5/5
    assert torch.allclose(sample_texture(texture, torch.tensor([0.5 / 7, 1 - 0.5 / 5])), texture[0, 0], rtol=0, atol=tol)
    # bottom-left: clamped to the edge texel exactly
    assert torch.equal(sample_texture(texture, torch.tensor([0.0, 0.0])), texture[4, 0])
    uv = torch.rand(50, 2, generator=gen) * 1.2 - 0.1
    ours = sample_texture(texture, uv)
    ref = torch.stack([_bilinear_reference(texture, float(a), float(b)) for a, b in uv])
    assert (ours - ref).abs().max() <= tol
    as_uint8 = sample_texture((texture * 255).round().to(torch.uint8), uv)
    # uint8 quantisation moves each texel by <= 0.5/255 (+ the rounding of *255 and /255), a convex blend
    # of texels by no more; plus both blends' rounding (was 3e-3)
    assert (as_uint8 - ours).abs().max() <= 0.5 / 255 + gamma(3) + 2 * gamma(6) + tol


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_textured_quad_is_upright(backend):
    # A 1x1 m quad in the plane y = 0 facing the camera (-Y); its top edge is at +Z.
    verts = torch.tensor([[-0.5, 0.0, -0.5], [0.5, 0.0, -0.5], [0.5, 0.0, 0.5], [-0.5, 0.0, 0.5]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])  # CCW seen from -Y
    corner_uv = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])[faces]  # (F, 3, 2)
    texture = torch.zeros(8, 8, 3)
    texture[:4, :, 0] = 1.0  # top half red
    texture[4:, :, 2] = 1.0  # bottom half blue
    texture[:, :4, 1] = 1.0  # left half green
    cam = Camera.look_at([0.0, -2.0, 0.0], [0.0, 0.0, 0.0], 64, 64, fov_y_deg=40.0)
    image, mask = render_mesh_colors(verts, faces, cam, uvs=corner_uv, texture=texture, background=0.5, backend=backend)
    assert image.shape == (64, 64, 3) and mask.dtype == torch.bool
    # Both pixels sample well inside a quadrant of equal texels: the bilinear weights (products of 2, summed
    # over 4) give 1 within gamma(6), the clamp to [0, 1] only helps (was atol 1e-5).
    assert torch.allclose(image[20, 20], torch.tensor([1.0, 1.0, 0.0]), rtol=0, atol=gamma(6))  # top-left: red + green
    assert torch.allclose(image[44, 44], torch.tensor([0.0, 0.0, 1.0]), rtol=0, atol=gamma(6))  # bottom-right: blue
    assert torch.equal(image[0, 0], torch.tensor([0.5, 0.5, 0.5]))  # background, copied
    assert not mask[0, 0] and mask[32, 32]


def test_vertex_colours_and_headlight(sphere, cam):
    verts, faces = sphere
    colours = torch.tensor([0.2, 0.6, 1.0]).expand(verts.shape[0], 3)
    flat, mask = render_mesh_colors(verts, faces, cam, vertex_colors=colours, backend="torch")
    # sum_i b_i c with c the same at all corners: the 3-term sum (gamma(3) c) and the raster's own
    # sum b - 1 (its q_i / Q with Q = fl(sum q): gamma(3)) (was atol 1e-5)
    assert torch.allclose(flat[mask], torch.tensor([0.2, 0.6, 1.0]).expand(int(mask.sum()), 3), rtol=0, atol=gamma(6))
    lit, _ = render_mesh_colors(verts, faces, cam, vertex_colors=colours, light="headlight", backend="torch")
    centre = cam.project(torch.zeros(1, 3))[0][0].long()
    centre_value = lit[centre[1], centre[0], 2]
    # Geometry, not float bounds: an exact sphere gives 1 at the centre pixel and the ambient 0.35 at the
    # silhouette; the icosphere (subdivision 3) measured 0.99989 and 0.498 (its outermost centres are not
    # quite grazing). Margins 0.05 and 0.1.
    assert centre_value > 0.95  # the normal faces the camera
    assert lit[mask][:, 2].min() < 0.6  # grazing at the silhouette
    normals = vertex_normals(verts, faces)
    # area-weighted normals of an icosphere vs its radii: measured >= 0.99993 (a discretisation property)
    assert (torch.nn.functional.cosine_similarity(normals, verts, dim=-1) > 0.99).all()  # outward
    with pytest.raises(InputError):
        render_mesh_colors(verts, faces, cam)


def test_visible_points_on_a_sphere(sphere):
    verts, faces = sphere
    cam = Camera.look_at([0.3, -2.0, 0.4], [0.0, 0.0, 0.0], 160, 128)
    # Vertices within ~0.1 of the smooth terminator can lie on the polyhedron's own silhouette: skip them.
    raster = rasterize_mesh(verts, faces, cam, backend="torch")
    visible = visible_points(verts, raster, cam, depth_tol=0.01)
    to_camera = torch.nn.functional.normalize(cam.center - verts, dim=-1)
    cosine = (torch.nn.functional.normalize(verts, dim=-1) * to_camera).sum(-1)
    # Geometry margins, not float bounds: measured, every vertex with cosine > -0.0027 is visible and every
    # one with cosine < -0.121 hidden (the polyhedron's silhouette wanders around the smooth terminator).
    assert visible[cosine > 0.15].all()
    assert not visible[cosine < -0.15].any()
    extra = torch.tensor([[0.0, -0.8, 0.0], [0.0, 0.8, 0.0], [5.0, 0.0, 0.0], [0.0, -3.0, 0.0]])
    # in front of the sphere / behind it / outside the image / behind the camera
    assert visible_points(extra, raster, cam).tolist() == [True, False, False, False]
