"""The MediaPipe-478 face landmark correspondence on Anny's head (uvatar.body.face_map)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from float_bounds import U32, U64, gamma

from uvatar.body.face_map import (
    FACE_OVAL,
    LEFT_IRIS,
    N_FACE_LANDMARKS,
    RIGHT_IRIS,
    face_points,
    load_face_correspondence,
)
from uvatar.body.parts import PART_NAMES, interior_faces

REPO = Path(__file__).resolve().parents[2]
CANONICAL_OBJ = REPO.parent / "shared" / "assets" / "mediapipe_canonical_face_model.obj"
MIRROR = torch.tensor([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def corr():
    return load_face_correspondence()


@pytest.fixture(scope="module")
def rest_points(body, corr):
    return face_points(body.rest_vertices()[None], body.faces, corr)[0]


def _tool():
    path = REPO / "tools" / "build_face_correspondence.py"
    spec = importlib.util.spec_from_file_location("build_face_correspondence", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_loads_with_expected_shapes(corr):
    n = N_FACE_LANDMARKS
    assert corr.face_index.shape == (n,) and corr.face_index.dtype == torch.int64
    assert corr.barycentrics.shape == (n, 3) and corr.barycentrics.dtype == torch.float32
    assert corr.residual_m.shape == corr.weights.shape == corr.mirror_index.shape == (n,)
    # float64 barycentrics that sum to 1, stored as float32 (u each) and summed here in float32
    # (gamma(2)): gamma(5) (was atol 1e-5). The closest-point tool's weights are (1 - v - w, v, w) with v, w > 0
    # inside a triangle, so only 1 - v - w can dip below 0, by float64 rounding (gamma(2, u64)) (was -1e-6)
    assert torch.allclose(corr.barycentrics.sum(1), torch.ones(n), rtol=0, atol=gamma(5))
    assert (corr.barycentrics >= -gamma(2, U64)).all()
    assert (corr.weights > 0).all() and (corr.weights <= 1).all()
    assert torch.equal(corr.mirror_index[corr.mirror_index], torch.arange(n))  # an involution
    assert load_face_correspondence() is corr  # cached
    assert 0.8 < corr.scale < 1.0  # the fitted canonical-face scale (0.902): a fit property


def test_weights_down_weight_contour_and_large_residuals(corr):
    oval = torch.zeros(N_FACE_LANDMARKS, dtype=torch.bool)
    oval[list(FACE_OVAL)] = True
    assert corr.weights[oval].max() <= 0.25  # the tool's face-oval weight 0.3 times Cauchy weights (measured 0.241)
    inner = ~oval
    inner[468:] = False
    big, small = corr.residual_m[inner].argmax(), corr.residual_m[inner].argmin()
    assert corr.weights[inner][big] < corr.weights[inner][small]


def test_faces_are_head_faces_and_not_interior(body, corr):
    assert (body.face_parts[corr.face_index] == PART_NAMES.index("head")).all()
    assert not interior_faces(body)[corr.face_index].any()


def test_rest_points_match_the_stored_ones(corr, rest_points):
    # both are sum_k b_k corner_k (gamma(3) |v|max each, float32), the stored ones rounded once more (was 1e-5)
    tol = 2 * gamma(4) * float(rest_points.abs().max())
    assert torch.allclose(rest_points, corr.rest_points, rtol=0, atol=tol)


def test_sides_and_layout_on_the_rest_body(rest_points):
    # anatomical layout with margins (measured: sides >= 19.7 mm off the midline, nose tip at x = 0 and 37 mm
    # in front of the eyes, iris radii 5.6-5.9 mm), not float bounds
    x, y, z = rest_points.unbind(-1)
    for left, right in ((263, 33), (362, 133), (291, 61), (454, 234), (473, 468)):
        assert x[left] > 0.01 and x[right] < -0.01, (left, right)
    assert z[10] > z[468] > z[4] > z[13] > z[152]  # forehead, eyes, nose, mouth, chin
    assert abs(float(x[4])) < 1e-3 and y[4] < y[263] - 0.02  # nose tip on the midline, in front of the eyes
    # each iris lies between its eye's corners, on the eye's front
    for iris, outer, inner in ((RIGHT_IRIS, 33, 133), (LEFT_IRIS, 263, 362)):
        lo, hi = sorted((float(x[outer]), float(x[inner])))
        assert lo < float(x[iris[0]]) < hi
        ring = rest_points[list(iris[1:])] - rest_points[iris[0]]
        radius = ring.norm(dim=-1)
        assert ((radius > 0.0045) & (radius < 0.0065)).all()
        assert ring[0, 0] > 0.004 and ring[1, 2] > 0.004 and ring[2, 0] < -0.004 and ring[3, 2] < -0.004


def test_mirror_pairs_map_to_mirror_images(corr, rest_points):
    mirrored = rest_points[corr.mirror_index] * MIRROR
    err = (mirrored - rest_points).norm(dim=-1)
    # a quality floor of the fitted correspondence (measured 1.36 mm), not a float bound
    assert err.max() < 0.003, f"worst mirror error {err.max() * 1000:.2f} mm at landmark {int(err.argmax())}"
    assert corr.mirror_index[263] == 33 and corr.mirror_index[291] == 61 and corr.mirror_index[1] == 1


def test_mirror_index_matches_the_canonical_face(corr):
    if not CANONICAL_OBJ.is_file():
        pytest.skip(f"{CANONICAL_OBJ} not found")
    verts, _ = _tool().read_obj(CANONICAL_OBJ)
    dist = np.linalg.norm(verts[corr.mirror_index[:468].numpy()] * [-1, 1, 1] - verts, axis=1)
    assert dist.max() < 1e-4  # MediaPipe's canonical face is symmetric to its file's printed precision (cm)
    assert (corr.mirror_index[468:473] == torch.tensor([473, 476, 475, 474, 477])).all()


def test_residuals_are_small_and_match_the_metadata(corr):
    mesh_mm = corr.residual_m[:468].numpy() * 1000
    # fit quality floors (measured median 1.96 mm, max 7.03 mm, irises 0.42 mm), not float bounds
    assert np.median(mesh_mm) < 5.0
    assert mesh_mm.max() < 10.0
    assert corr.residual_m[468:].max() < 0.001
    meta = json.loads((importlib.resources.files("uvatar") / "data" / "face_correspondence.json").read_text())
    # the metadata prints millimetres to 3 decimals (<= 5e-4 off) from float32 residuals (u x 10 mm)
    # (was abs 1e-3)
    printed = 5e-4 + U32 * 10
    assert meta["residuals_468"]["median_mm"] == pytest.approx(float(np.median(mesh_mm)), abs=printed)
    assert meta["residuals_468"]["max_mm"] == pytest.approx(float(mesh_mm.max()), abs=printed)
    # and the scale to 7 decimals (<= 5e-8) (was rel 1e-6)
    assert meta["similarity"]["fitted_scale"] == pytest.approx(corr.scale, rel=0, abs=5e-8 + U64)


def test_face_points_follow_the_head(body, corr):
    params = body.default_params(2)
    params.rotvecs[1] = body.params_from_labels(rotations={"head": [0, 0, 0.5]}).rotvecs[0]
    out = body(params)
    points = face_points(out.vertices, body.faces, corr)
    assert points.shape == (2, N_FACE_LANDMARKS, 3)
    moved = (points[1] - points[0]).norm(dim=-1)
    assert moved.min() > 0.02  # a 0.5 rad turn moves every face point by centimetres (measured >= 33 mm)
    head = body.bone_index("head")
    rigid = out.bone_transforms[1, head] @ torch.linalg.inv(out.bone_transforms[0, head])
    predicted = points[0] @ rigid[:3, :3].T + rigid[:3, 3]
    # they turn with the head bone: face points near the neck also carry neck weights, so this is a skinning
    # property (measured 1.13 mm), not a float bound
    assert (predicted - points[1]).norm(dim=-1).max() < 0.002


def test_tool_closest_point_and_umeyama():
    tool = _tool()
    rng = np.random.default_rng(0)
    tris = rng.normal(size=(20, 3, 3))
    points = rng.normal(size=(30, 3)) * 2
    face, bary, closest, dist = tool.closest_points_on_triangles(points, tris)
    # dense barycentric sampling never beats the analytic closest point
    g = np.linspace(0, 1, 41)
    u, v = np.meshgrid(g, g)
    keep = (u + v) <= 1
    w = np.stack([1 - u[keep] - v[keep], u[keep], v[keep]], 1)
    samples = np.einsum("sk,fkd->fsd", w, tris).reshape(-1, 3)
    brute = np.linalg.norm(points[:, None] - samples[None], axis=-1).min(1)
    # float64: both distances are within gamma(16) (|p| + |corners|) of exact (was + 1e-9)
    mag = np.abs(points).max() + np.abs(tris).max()
    assert (dist <= brute + 2 * gamma(16, U64) * mag * 3).all()
    # the grid (step 1/40 in barycentrics) has a sample within (|e1| + |e2|) / 80 of any triangle point,
    # in particular of the closest one (was 0.05, which random triangles of size ~5 could exceed)
    e = tris[face]
    spacing = (np.linalg.norm(e[:, 1] - e[:, 0], axis=1) + np.linalg.norm(e[:, 2] - e[:, 0], axis=1)) / 80
    assert (brute - dist <= spacing + 2 * gamma(16, U64) * mag * 3).all()
    assert np.allclose(np.einsum("nk,nkd->nd", bary, tris[face]), closest, rtol=0, atol=2 * gamma(4, U64) * mag)
    # a known similarity is recovered
    angle = 0.3
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    src = rng.normal(size=(10, 3))
    s, r, t = tool.weighted_umeyama(src, 0.7 * src @ rot.T + [1, 2, 3], np.ones(10))
    # exact data: float64 rounding of the covariance and its SVD (backward error ~ 3 u |A|), amplified by
    # the point cloud's conditioning sigma_max / sigma_min (rotation) and |t| + |src| (translation)
    sv = np.linalg.svd(src - src.mean(0), compute_uv=False)
    tol = gamma(100, U64) * sv[0] / sv[-1]
    assert s == pytest.approx(0.7, rel=tol) and np.allclose(r, rot, rtol=0, atol=tol)
    assert np.allclose(t, [1, 2, 3], rtol=0, atol=tol * (4 + np.abs(src).max()))
