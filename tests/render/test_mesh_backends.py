"""moderngl (fast) against the torch reference: face ids first (every mismatch explained), then values where both agree.

The bounds are per pixel and derived from each triangle's screen geometry (tests/render/mesh_bounds.py):
barycentrics on a sliver triangle legitimately differ far more than on a fat one (2e-4 on an AVX-512 AMD
EPYC against a fixed 1e-4: one ulp of difference in the vertex projection, which MKL and OpenBLAS may round
differently, over a 0.1-px altitude), so a fixed bound is too tight there and too loose everywhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import trimesh
from mesh_bounds import backend_value_bounds, face_geometry, unexplained_face_mismatches

from uvatar.camera import Camera, orbit
from uvatar.render import _mesh_moderngl
from uvatar.render._mesh_moderngl import rasterize_moderngl
from uvatar.render._mesh_torch import rasterize_torch
from uvatar.render.mesh import MeshRaster
from uvatar.render.mesh_bench import bench_mesh, framing_camera

os.environ.setdefault("ANNY_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".cache" / "anny"))


@pytest.fixture(autouse=True)
def _need_gl():
    if not _mesh_moderngl.moderngl_available():
        pytest.skip("no headless EGL context (install libegl1 libgl1-mesa-dri)")


@pytest.fixture(scope="module")
def anny_mesh():
    anny = pytest.importorskip("anny")
    if not Path(os.environ["ANNY_CACHE_DIR"]).is_dir():
        pytest.skip("Anny cache not built (first build takes ~90 s)")
    model = anny.Anny()
    verts = model()["vertices"][0].float()
    faces = model.faces.long()
    if faces.shape[1] == 4:  # quads (a, b, c, d) -> (a, b, c), (a, c, d)
        faces = torch.cat([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]])
    return verts, faces


def assert_backends_agree(verts, faces, cam, cull=True):
    """Per-pixel bounds derived in ``mesh_bounds`` (nothing measured): the face ids agree except where a
    centre is within the coverage slack of an edge (GL's 1/256-px snapping, projection rounding) or two
    faces tie within the z-test's precision; where both give a pixel the same face, barycentrics and depth
    agree within what the projection and float32 edge-function rounding allow for THAT triangle."""
    # One shared float32 camera-frame input, so the backends differ only in their own arithmetic.
    verts_cam = cam.world_to_camera(verts.float())
    W, H = cam.width, cam.height
    ref = MeshRaster(*rasterize_torch(verts_cam, faces, cam.K, W, H, cull), faces=faces, vertices=verts)
    fast = MeshRaster(*rasterize_moderngl(verts_cam, faces, cam.K, W, H, cull), faces=faces, vertices=verts)
    assert ref.mask.sum() > 0.02 * W * H, "test setup: mesh barely visible"

    # A backend may drop a marginal face (then whatever is behind it shows), never a solid nearer one.
    assert not unexplained_face_mismatches(verts_cam, faces, cam.K, W, H, ref.face_index, fast.face_index)

    rows, cols = torch.nonzero((ref.face_index == fast.face_index) & ref.mask, as_tuple=True)
    geo = face_geometry(verts_cam, faces, cam.K, ref.face_index[rows, cols], rows, cols)
    bary_bound, depth_bound = backend_value_bounds(geo, ref.barycentrics[rows, cols])
    bary_err = (ref.barycentrics[rows, cols].double() - fast.barycentrics[rows, cols].double()).abs()
    depth_err = (ref.depth[rows, cols].double() - fast.depth[rows, cols].double()).abs()
    worst = int((bary_err / bary_bound).amax(-1).argmax())
    assert (bary_err <= bary_bound).all(), (float(bary_err[worst].max()), bary_bound[worst].tolist(), geo["h"][worst].tolist())
    worst = int((depth_err / depth_bound).argmax())
    assert (depth_err <= depth_bound).all(), (float(depth_err[worst]), float(depth_bound[worst]))
    assert torch.equal(torch.isinf(ref.depth), ~ref.mask) and torch.equal(torch.isinf(fast.depth), ~fast.mask)
    return float((ref.face_index != fast.face_index).float().mean())


def test_anny_body_front_512(anny_mesh):
    verts, faces = anny_mesh
    assert_backends_agree(verts, faces, framing_camera(verts, 512))


@pytest.mark.parametrize("view", range(3))
def test_anny_body_orbit_non_square(anny_mesh, view):
    verts, faces = anny_mesh
    centre = ((verts.amin(0) + verts.amax(0)) / 2).tolist()
    cam = orbit(centre, 2.6, 3, 320, 416, fov_y_deg=40.0, elevation_deg=15.0, start_azimuth_deg=35.0)[view]
    K = cam.K.clone()
    K[0, 2] += 23.7  # off-centre principal point
    K[1, 2] -= 31.2
    assert_backends_agree(verts, faces, Camera(K, cam.R, cam.t, cam.width, cam.height), cull=view != 1)


@pytest.mark.parametrize("seed", range(4))
def test_random_closed_mesh(seed):
    gen = torch.Generator().manual_seed(seed)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    verts = torch.tensor(sphere.vertices, dtype=torch.float32)
    verts = verts * (1.0 + 0.25 * torch.rand(verts.shape[0], 1, generator=gen))  # bumpy, still closed
    faces = torch.tensor(sphere.faces)
    eye = torch.nn.functional.normalize(torch.randn(3, generator=gen), dim=0) * (1.2 + 2 * torch.rand(1, generator=gen))
    cam = Camera.look_at(eye, torch.zeros(3), 97 + seed * 50, 83 + seed * 40, fov_y_deg=45.0)
    assert_backends_agree(verts, faces, cam, cull=seed % 2 == 0)


def test_bench_rows(anny_mesh):
    verts, faces = anny_mesh
    rows = bench_mesh(verts, faces, sizes=(128,), repeats=1)
    assert [(r["backend"], r["size"]) for r in rows] == [("moderngl", 128), ("torch", 128)]
    assert all(r["n_faces"] == faces.shape[0] and r["time_ms"] > 0 and r["covered_pixels"] > 0 for r in rows)
