"""interpolate, sample_texture, render_mesh_colors and visible_points."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh

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
    assert (pix - torch.stack([cols, rows], -1).float() - 0.5).abs().max() < 1e-3
    assert (depth - raster.depth[rows, cols]).abs().max() < 1e-5
    assert (points[~raster.mask] == 0).all()
    per_corner = interpolate(verts[faces], raster)  # (F, 3, 3) gives the same
    assert torch.allclose(per_corner, points, atol=1e-6)
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
    # texel centre of (row 0, col 0) is the top-left: u = 0.5/7, v = 1 - 0.5/5
    assert torch.allclose(sample_texture(texture, torch.tensor([0.5 / 7, 1 - 0.5 / 5])), texture[0, 0])
    assert torch.allclose(sample_texture(texture, torch.tensor([0.0, 0.0])), texture[4, 0])  # bottom-left
    uv = torch.rand(50, 2, generator=gen) * 1.2 - 0.1
    ours = sample_texture(texture, uv)
    ref = torch.stack([_bilinear_reference(texture, float(a), float(b)) for a, b in uv])
    assert (ours - ref).abs().max() < 1e-5
    as_uint8 = sample_texture((texture * 255).round().to(torch.uint8), uv)
    assert (as_uint8 - ours).abs().max() < 3e-3


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
    assert torch.allclose(image[20, 20], torch.tensor([1.0, 1.0, 0.0]), atol=1e-5)  # top-left: red + green
    assert torch.allclose(image[44, 44], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)  # bottom-right: blue
    assert torch.allclose(image[0, 0], torch.tensor([0.5, 0.5, 0.5]))  # background
    assert not mask[0, 0] and mask[32, 32]


def test_vertex_colours_and_headlight(sphere, cam):
    verts, faces = sphere
    colours = torch.tensor([0.2, 0.6, 1.0]).expand(verts.shape[0], 3)
    flat, mask = render_mesh_colors(verts, faces, cam, vertex_colors=colours, backend="torch")
    assert torch.allclose(flat[mask], torch.tensor([0.2, 0.6, 1.0]).expand(int(mask.sum()), 3), atol=1e-5)
    lit, _ = render_mesh_colors(verts, faces, cam, vertex_colors=colours, light="headlight", backend="torch")
    centre = cam.project(torch.zeros(1, 3))[0][0].long()
    centre_value = lit[centre[1], centre[0], 2]
    assert centre_value > 0.95  # the normal faces the camera
    assert lit[mask][:, 2].min() < 0.6  # grazing at the silhouette
    normals = vertex_normals(verts, faces)
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
    assert visible[cosine > 0.15].all()
    assert not visible[cosine < -0.15].any()
    extra = torch.tensor([[0.0, -0.8, 0.0], [0.0, 0.8, 0.0], [5.0, 0.0, 0.0], [0.0, -3.0, 0.0]])
    # in front of the sphere / behind it / outside the image / behind the camera
    assert visible_points(extra, raster, cam).tolist() == [True, False, False, False]
