"""moderngl (fast) against the torch reference: face ids first (mismatch ratio), then values where both agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import trimesh

from uvatar.camera import Camera, orbit
from uvatar.render import _mesh_moderngl
from uvatar.render.mesh import rasterize_mesh
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
    ref = rasterize_mesh(verts, faces, cam, cull_backfaces=cull, backend="torch")
    fast = rasterize_mesh(verts, faces, cam, cull_backfaces=cull, backend="moderngl")
    assert ref.mask.sum() > 0.02 * cam.width * cam.height, "test setup: mesh barely visible"
    mismatch = (ref.face_index != fast.face_index).float().mean().item()
    # measured: <= 1.1e-4 (Anny 512^2), pixel centres on edges and GL's 1/256-px vertex snapping
    assert mismatch <= 1e-3
    same = (ref.face_index == fast.face_index) & ref.mask
    # measured: barycentrics <= 2e-7, depth <= 3e-5 m (float32 at 2-4 m)
    assert (ref.barycentrics[same] - fast.barycentrics[same]).abs().max() < 1e-4
    assert (ref.depth[same] - fast.depth[same]).abs().max() < 1e-4
    assert torch.equal(torch.isinf(ref.depth), ~ref.mask) and torch.equal(torch.isinf(fast.depth), ~fast.mask)
    return mismatch


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
