"""Fitting and skinning the asset templates (uvatar.assets.fit).

Distances are from each asset vertex to the nearest body vertex (an upper bound of the distance to the
body surface: Anny's vertices are ~1 cm apart). Bounds are the values measured on this data (commit of
the asset layer) with a margin, noted beside each.
"""

import dataclasses

import numpy as np
import pytest
import torch
from body_helpers import random_params

from uvatar.assets import fit_asset, fit_asset_reference, fit_assets, hidden_body_faces
from uvatar.assets.fit import fit_data
from uvatar.assets.store import load_asset_data
from uvatar.body.demo import demo_pose
from uvatar.body.skinning import vertex_normals
from uvatar.errors import InputError


def _distances(points, out):
    """Mean and max distance to the nearest body vertex (metres), and the share of points more than
    5 mm behind that vertex's tangent plane (inside the body; concave spots such as armpits count too)."""
    verts = out.vertices[0]
    normals = vertex_normals(out.vertices, _distances.faces)[0]
    d, idx = torch.cdist(points, verts).min(1)
    inside = ((points - verts[idx]) * normals[idx]).sum(-1) < -0.005
    return float(d.mean()), float(d.max()), float(inside.float().mean())


def _with_shape(body, params, **phenotypes):
    for label, value in phenotypes.items():
        params.phenotypes[0, body.phenotype_labels.index(label)] = value
    return params


def test_fast_path_matches_the_per_vertex_reference(body):
    # shoes01 and eyelashes01 ride helper vertices (helper-tights, helper-eyelashes), short04 body vertices
    params = random_params(body, 1, seed=5, scale=0.25)
    for name in ("short04", "eyelashes01", "shoes01"):
        fast = fit_asset(name, body, params).vertices.double().numpy()
        reference = fit_asset_reference(name, body, params)
        # float32 fast path against float64 numpy; measured worst 3e-7 m on short04 (random pose)
        assert np.abs(fast - reference).max() < 2e-5, name


def test_one_body_vertex_moves_as_the_body_does(body):
    # a single-index .mhclo line: the asset vertex follows one body vertex, in rest and in any pose
    anny = torch.tensor([100, 5000, 9000])
    hm08 = body.base_mesh_vertex_indices[anny]
    data = dataclasses.replace(
        load_asset_data("short04"),
        refs=torch.stack([hm08, hm08, hm08], 1),
        weights=torch.tensor([[1.0, 0.0, 0.0]] * 3),
        offsets=torch.zeros(3, 3),
    )
    params = random_params(body, 1, seed=2)
    with torch.no_grad():
        out = body.forward(params)
    rest, posed, weights = fit_data(data, body, out)
    assert torch.allclose(rest, out.rest_vertices[0, anny], atol=1e-6)
    assert torch.allclose(weights, body.skinning_weight_matrix[anny], atol=1e-6)
    # the body's own vertices are this same skinning of its rest vertices (translation included)
    assert torch.allclose(posed, out.vertices[0, anny], atol=2e-5)


def test_pose_reuses_the_fit_for_other_frames(body):
    mesh = fit_asset("male_casualsuit03", body, demo_pose(body, "rest"))
    with torch.no_grad():
        walk = body.forward(demo_pose(body, "walk"))
    assert torch.allclose(mesh.pose(walk.bone_transforms)[0], fit_asset("male_casualsuit03", body, demo_pose(body, "walk")).vertices, atol=1e-5)


@pytest.mark.parametrize("shape", ["average", "heavy", "thin"])
def test_garments_follow_the_body_in_poses_and_shapes(body, shape):
    _distances.faces = body.faces
    phenotypes = {"average": {}, "heavy": {"weight": 1.0, "muscle": 0.8}, "thin": {"weight": 0.0, "muscle": 0.0}}[shape]
    # measured (mean, max) nearest-vertex distance over rest/walk/raise and the three shapes, metres:
    # male_casualsuit03 0.016 / 0.051, female_elegantsuit01 (skirt) 0.012 / 0.119, bob02 0.017 / 0.057;
    # "inside" share: casualsuit03 <= 1.8%, elegantsuit01 <= 1.0%, bob02 3.4% (fringe on the forehead)
    bounds = {
        "male_casualsuit03": (0.025, 0.07, 0.04),
        "female_elegantsuit01": (0.02, 0.15, 0.03),
        "bob02": (0.025, 0.08, 0.06),
    }
    for pose in ("rest", "walk", "raise"):
        params = _with_shape(body, demo_pose(body, pose), **phenotypes)
        with torch.no_grad():
            out = body.forward(params)
        for mesh in fit_assets(list(bounds), body, params, output=out):
            mean, worst, inside = _distances(mesh.vertices, out)
            assert mean < bounds[mesh.name][0] and worst < bounds[mesh.name][1], (pose, mesh.name, mean, worst)
            assert inside < bounds[mesh.name][2], (pose, mesh.name, inside)


def test_translation_and_batch_rules(body):
    params = demo_pose(body, "walk")
    moved = demo_pose(body, "walk")
    moved.translation[0] = torch.tensor([0.5, -1.0, 2.0])
    a, b = fit_asset("bob02", body, params), fit_asset("bob02", body, moved)
    assert torch.allclose(b.vertices - a.vertices, moved.translation[0].expand_as(a.vertices), atol=1e-5)
    with pytest.raises(InputError, match="batch 1"):
        fit_asset("bob02", body, body.default_params(2))
    with pytest.raises(InputError, match="known: "):
        fit_asset("nosuch", body, params)


def test_hidden_body_faces(body):
    outfit, hair = fit_assets(["male_casualsuit03", "bob02"], body, body.default_params(1))
    assert len(hair.hidden_body_vertices) == 0 and len(outfit.hidden_body_vertices) > 1000
    hidden = hidden_body_faces([outfit, hair], body)
    assert hidden.shape == (len(body.faces),) and 0.1 < float(hidden.float().mean()) < 0.8
    assert outfit.uv_corners.shape == (len(outfit.faces), 3, 2) and 0 <= float(outfit.uvs.min()) and float(outfit.uvs.max()) < 2


def test_eyebrows_and_eyelashes_follow_facial_actions(body):
    # the fit uses the rest mesh with the face applied, so brows rise with browInnerUp and lashes close
    # with a blink (measured: eyebrow001 4.2 mm, eyelashes01 14.5 mm)
    face = body.default_params(1)
    face.facial[0, body.facial_labels.index("browInnerUp")] = 1.0
    face.facial[0, body.facial_labels.index("eyeBlinkLeft")] = 1.0
    for name, least in (("eyebrow001", 0.002), ("eyelashes01", 0.007)):
        moved = fit_asset(name, body, face).vertices - fit_asset(name, body, body.default_params(1)).vertices
        assert float(moved.norm(dim=-1).max()) > least, name
