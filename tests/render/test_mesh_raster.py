"""Closed-form checks of the mesh rasterizer, on both backends: coverage, depth, barycentrics, culling, z-buffer."""

from __future__ import annotations

import concurrent.futures

import pytest
import torch
import trimesh
from mesh_bounds import (
    backend_value_bounds,
    coverage_slack_px,
    exact_depth,
    face_geometry,
    reprojection_bounds,
    signed_edge_distance,
    unexplained_face_mismatches,
)

from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.render import _mesh_moderngl
from uvatar.render._mesh_torch import rasterize_torch
from uvatar.render.mesh import rasterize_mesh


def _need_gl():
    if not _mesh_moderngl.moderngl_available():
        pytest.skip("no headless EGL context (install libegl1 libgl1-mesa-dri)")


@pytest.fixture(params=["torch", "moderngl"])
def backend(request):
    if request.param == "moderngl":
        _need_gl()
    return request.param


def _camera(width=20, height=16, skew=0.0):
    """Identity pose (camera frame = world frame), non-centred principal point, optional skew."""
    K = torch.tensor([[100.0, skew, 8.3], [0.0, 110.0, 6.1], [0.0, 0.0, 1.0]])
    return Camera(K, torch.eye(3), torch.zeros(3), width, height)


def _triangle_at(camera, pixels, depth):
    """World corners whose projections are ``pixels (3, 2)`` at camera depth ``depth``."""
    pix = torch.tensor(pixels, dtype=torch.float64)
    homog = torch.cat([pix, torch.ones(3, 1, dtype=torch.float64)], 1)
    cam_pts = homog @ torch.linalg.inv(camera.K.double()).T * depth  # K^-1 (handles skew)
    return ((cam_pts - camera.t.double()) @ camera.R.double()).float()


# Front-facing in the image: (b - a) x (c - a) < 0 in (x right, y down) pixel coordinates.
FRONT = [(2.2, 1.7), (6.3, 14.2), (17.6, 3.1)]


def _expected_coverage(verts, cam, backend):
    """Exact (float64) geometry of face 0 at every pixel centre, from the float32 ``verts`` themselves.

    Returns the per-pixel geometry (``mesh_bounds.face_geometry``) and the inside mask; asserts that no
    centre lies within the coverage slack of an edge (GL's 1/256-px snapping, projection rounding), so
    coverage is decided the same way by any correct rasterizer.
    """
    rows, cols = torch.meshgrid(torch.arange(cam.height), torch.arange(cam.width), indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    verts_cam = cam.world_to_camera(verts)
    geo = face_geometry(verts_cam, torch.tensor([[0, 1, 2]]), cam.K, torch.zeros_like(rows), rows, cols)
    distance = signed_edge_distance(geo)
    assert (distance.abs() > coverage_slack_px(geo, cam.width, cam.height)).all(), "test setup: a centre near an edge"
    return geo, (distance > 0).reshape(cam.height, cam.width)


def _assert_values_exact(raster, geo, inside, what="bary+depth"):
    """Barycentrics and depth at ``inside`` pixels within the per-pixel bounds of ``mesh_bounds`` against the
    exact values of the float32 input (projection, edge-function and perspective-step rounding)."""
    flat = inside.reshape(-1)
    sub = {k: v[flat] for k, v in geo.items()}
    exact_bary = sub["lam"] / sub["z"] / (sub["lam"] / sub["z"]).sum(-1, keepdim=True)
    bary_bound, depth_bound = backend_value_bounds(sub, raster.barycentrics[inside], against="exact")
    bary_err = (raster.barycentrics[inside].double() - exact_bary).abs()
    depth_err = (raster.depth[inside].double() - exact_depth(sub)).abs()
    assert (bary_err <= bary_bound).all(), (float(bary_err.max()), float(bary_bound.min()))
    assert (depth_err <= depth_bound).all(), (float(depth_err.max()), float(depth_bound.min()))


@pytest.mark.parametrize("skew", [0.0, 7.0])
def test_parallel_triangle_closed_form(backend, skew):
    cam = _camera(skew=skew)
    verts = _triangle_at(cam, FRONT, 2.0)
    raster = rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), cam, backend=backend)
    geo, inside = _expected_coverage(verts, cam, backend)
    assert inside.sum() > 50  # test setup: the triangle covers many centres
    assert torch.equal(raster.face_index == 0, inside)
    assert torch.equal(raster.face_index[~inside], torch.full_like(raster.face_index[~inside], -1))
    # parallel to the image plane: perspective-correct = screen-space barycentrics, depth constant (2.0
    # exactly in float32); both within the derived per-pixel bounds (was a flat 2e-5 and 1e-6)
    assert (geo["z"] == 2.0).all()
    _assert_values_exact(raster, geo, inside)
    assert torch.isinf(raster.depth[~inside]).all()
    assert (raster.barycentrics[~inside] == 0).all()


def test_tilted_triangle_barycentrics_are_perspective_correct(backend):
    cam = _camera(64, 48)
    verts = torch.tensor([[-0.3, -0.2, 1.0], [0.05, 0.3, 2.5], [0.4, -0.25, 4.0]])
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize_mesh(verts, faces, cam, cull_backfaces=False, backend=backend)
    rows, cols = torch.nonzero(raster.mask, as_tuple=True)
    assert rows.numel() > 200  # test setup: many covered centres
    point = (raster.barycentrics[rows, cols].unsqueeze(-1) * verts.unsqueeze(0)).sum(1)  # (N, 3) world
    pix, depth = cam.project(point)
    # The interpolated 3D point lies on the ray through the pixel centre, at the reported depth, within the
    # per-pixel bounds derived in mesh_bounds.reprojection_bounds (was 2e-3 px and 1e-5 m flat; now ~1e-3
    # px and ~7e-6 m).
    pix_bound, depth_bound = reprojection_bounds(verts, faces, cam, raster, rows, cols, pix)
    assert ((pix.double() - torch.stack([cols, rows], -1).double() - 0.5).abs().amax(-1) <= pix_bound).all()
    assert ((depth.double() - raster.depth[rows, cols].double()).abs() <= depth_bound).all()


def test_backface_culling(backend):
    cam = _camera()
    front = _triangle_at(cam, FRONT, 2.0)
    faces_front, faces_back = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])
    assert rasterize_mesh(front, faces_front, cam, backend=backend).mask.sum() > 50
    assert rasterize_mesh(front, faces_back, cam, backend=backend).mask.sum() == 0
    both = rasterize_mesh(front, faces_back, cam, cull_backfaces=False, backend=backend)
    assert torch.equal(both.mask, rasterize_mesh(front, faces_front, cam, backend=backend).mask)


def test_outward_mesh_keeps_faces_that_face_the_camera(backend):
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)  # trimesh: CCW seen from outside
    verts = torch.tensor(sphere.vertices, dtype=torch.float32)
    faces = torch.tensor(sphere.faces)
    cam = Camera.look_at([0.4, -2.0, 0.3], [0.0, 0.0, 0.0], 96, 80)
    culled = rasterize_mesh(verts, faces, cam, backend=backend)
    seen = torch.unique(culled.face_index[culled.mask])
    normals = torch.tensor(sphere.face_normals, dtype=torch.float32)[seen]
    to_camera = cam.center - torch.tensor(sphere.triangles_center, dtype=torch.float32)[seen]
    assert ((normals * to_camera).sum(-1) > 0).all()
    # On a closed convex mesh the z-buffer alone gives the same picture, except where the front and back
    # faces meeting at the silhouette tie in depth within the z-test's precision or a centre lies within
    # the coverage slack of an edge: each differing pixel must be one of those (was: < 2e-3 of the pixels).
    unculled = rasterize_mesh(verts, faces, cam, cull_backfaces=False, backend=backend)
    verts_cam = cam.world_to_camera(verts)
    assert not unexplained_face_mismatches(verts_cam, faces, cam.K, 96, 80, culled.face_index, unculled.face_index)


@pytest.mark.parametrize("near_first", [True, False])
def test_zbuffer_nearer_face_wins(backend, near_first):
    cam = _camera()
    near_tri = _triangle_at(cam, FRONT, 1.5)
    far_tri = _triangle_at(cam, [(0.6, 0.4), (0.9, 15.6), (19.3, 0.8)], 3.0)
    verts = torch.cat([near_tri, far_tri])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]]) if near_first else torch.tensor([[3, 4, 5], [0, 1, 2]])
    near_id = 0 if near_first else 1
    raster = rasterize_mesh(verts, faces, cam, backend=backend)
    geo_near, inside_near = _expected_coverage(near_tri, cam, backend)
    geo_far, inside_far = _expected_coverage(far_tri, cam, backend)
    assert (raster.face_index[inside_near] == near_id).all()
    _assert_values_exact(raster, geo_near, inside_near)  # depth 1.5 within the derived bound (was 1e-6)
    far_only = raster.mask & ~inside_near
    assert far_only.sum() > 10  # test setup: the far face shows around the near one
    assert torch.equal(far_only, inside_far & ~inside_near)
    assert (raster.face_index[far_only] == 1 - near_id).all()
    _assert_values_exact(raster, geo_far, far_only)  # depth 3.0 (was 1e-6)


def test_faces_through_the_near_plane_are_dropped(backend):
    cam = _camera()
    verts = _triangle_at(cam, FRONT, 2.0)
    verts[2, 2] = -0.5  # one corner behind the camera
    assert rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), cam, cull_backfaces=False, backend=backend).mask.sum() == 0
    verts = _triangle_at(cam, FRONT, 2.0)
    verts[1, 0] = float("nan")
    assert rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), cam, cull_backfaces=False, backend=backend).mask.sum() == 0


def test_moderngl_clears_between_calls_and_works_from_other_threads():
    _need_gl()
    cam = _camera()
    verts = _triangle_at(cam, FRONT, 2.0)
    full = rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), cam, backend="moderngl")
    assert full.mask.sum() > 50
    empty = rasterize_mesh(verts, torch.tensor([[0, 2, 1]]), cam, backend="moderngl")  # culled: nothing drawn
    assert (empty.face_index == -1).all() and torch.isinf(empty.depth).all() and (empty.barycentrics == 0).all()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(rasterize_mesh, verts, torch.tensor([[0, 1, 2]]), cam, backend="moderngl") for _ in range(4)]
        results = [job.result() for job in jobs]
    for r in results:
        assert torch.equal(r.face_index, full.face_index) and torch.equal(r.barycentrics, full.barycentrics)


def test_auto_falls_back_to_torch_with_a_warning(monkeypatch, caplog):
    from uvatar.errors import DependencyError
    from uvatar.render import mesh

    def no_egl(*args, **kwargs):
        raise DependencyError("no EGL here")

    monkeypatch.setattr(_mesh_moderngl, "rasterize_moderngl", no_egl)
    monkeypatch.setattr(mesh, "_warned_fallback", False)
    cam = _camera()
    verts, faces = _triangle_at(cam, FRONT, 2.0), torch.tensor([[0, 1, 2]])
    with caplog.at_level("WARNING", logger="uvatar.render.mesh"):
        raster = rasterize_mesh(verts, faces, cam, backend="auto")
    assert "falling back to the torch rasterizer" in caplog.text
    assert torch.equal(raster.face_index, rasterize_mesh(verts, faces, cam, backend="torch").face_index)
    with pytest.raises(DependencyError):
        rasterize_mesh(verts, faces, cam, backend="moderngl")


def test_torch_chunking_does_not_change_the_result():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    cam = Camera.look_at([0.2, -1.6, 0.5], [0.0, 0.0, 0.0], 64, 48)
    verts_cam = cam.world_to_camera(torch.tensor(sphere.vertices, dtype=torch.float32))
    faces = torch.tensor(sphere.faces)
    one = rasterize_torch(verts_cam, faces, cam.K, 64, 48)
    many = rasterize_torch(verts_cam, faces, cam.K, 64, 48, max_pairs=50)
    for a, b in zip(one, many):
        assert torch.equal(a, b)


def test_bad_inputs_raise_input_error():
    cam = _camera()
    verts = _triangle_at(cam, FRONT, 2.0)
    with pytest.raises(InputError, match="faces"):
        rasterize_mesh(verts, torch.tensor([[0, 1, 3]]), cam)
    with pytest.raises(InputError, match="quads"):
        rasterize_mesh(verts, torch.tensor([[0, 1, 2, 0]]), cam)
    with pytest.raises(InputError, match="vertices"):
        rasterize_mesh(verts[:, :2], torch.tensor([[0, 1, 2]]), cam)
    with pytest.raises(InputError, match="backend"):
        rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), cam, backend="vulkan")
    with pytest.raises(InputError, match="camera"):
        rasterize_mesh(verts, torch.tensor([[0, 1, 2]]), "cam")
