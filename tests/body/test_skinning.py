import torch
from body_helpers import random_params
from float_bounds import gamma

from uvatar.body.skinning import (
    bound_points_to_world,
    face_frames,
    world_points_to_bound,
)


def _random_bound_points(n_faces: int, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    face = torch.randint(0, n_faces, (n,), generator=gen)
    bary = torch.rand(n, 3, generator=gen)
    bary = bary / bary.sum(-1, keepdim=True)
    return face, bary


def test_bound_points_land_on_posed_surface(body):
    face, bary = _random_bound_points(len(body.faces), 2000, seed=3)
    rest = body.forward(body.default_params(1)).rest_vertices
    rest_points, _ = bound_points_to_world(rest, body.faces, face, bary)
    out = body.forward(random_params(body, 2, seed=4))
    posed_points, _ = bound_points_to_world(out.vertices, body.faces, face, bary)
    # the same surface point, computed independently from the posed triangle's corners
    corners = out.vertices[:, body.faces[face]]
    expected = torch.einsum("nk,bnkd->bnd", bary, corners)
    # both are sum_k b_k corner_k in float32 (3 products and 2 sums, sum b = 1): gamma(3) |v|max per
    # coordinate each, sqrt(3) for the norm (was 1e-4)
    v_max = float(out.vertices.abs().max())
    assert (posed_points - expected).norm(dim=-1).max() <= 2 * 3**0.5 * gamma(3) * v_max
    # and it lies in the plane of its posed face: the point is within gamma(3) |v| of it, and the computed
    # unit normal's direction is off by gamma(6) |e1| |e2| / |e1 x e2| (cross product and normalisation of
    # a triangle's edges), seen at |point - corner| (was 1e-4 for every face)
    e1, e2 = corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0]
    normal = torch.linalg.cross(e1, e2)
    cond = (e1.double().norm(dim=-1) * e2.double().norm(dim=-1) / normal.double().norm(dim=-1))
    normal = torch.nn.functional.normalize(normal, dim=-1)
    arm = (posed_points - corners[:, :, 0]).double().norm(dim=-1)
    distance = ((posed_points - corners[:, :, 0]) * normal).sum(-1).abs()
    assert (distance <= 3**0.5 * gamma(3) * v_max + arm * (gamma(6) * (1 + cond) + gamma(4))).all()
    assert not torch.allclose(rest_points, posed_points[:1])


def test_offsets_round_trip_and_follow_the_face(body):
    face, bary = _random_bound_points(len(body.faces), 500, seed=5)
    rest = body.forward(body.default_params(1)).rest_vertices[0]
    gen = torch.Generator().manual_seed(6)
    world = bound_points_to_world(rest[None], body.faces, face, bary)[0][0] + torch.randn(500, 3, generator=gen) * 0.02
    offsets = world_points_to_bound(rest, body.faces, face, bary, world)
    again, _ = bound_points_to_world(rest[None], body.faces, face, bary, offsets)
    # The surface point is computed identically both ways; the offset goes through F^T then F, exact only
    # for an orthonormal F: off by |F F^T - I| (measured on these float32 frames) plus gamma(8) (two
    # 3-term products, the subtraction) of 3 |world - surface|, plus the final sum's u |world| (was 1e-5).
    frames = face_frames(rest[None], body.faces[face])[0].double()
    orth = float((frames @ frames.transpose(-1, -2) - torch.eye(3, dtype=torch.float64)).abs().max())
    arm = float((world - bound_points_to_world(rest[None], body.faces, face, bary)[0][0]).abs().max())
    assert (again[0] - world).abs().max() <= (3 * orth + gamma(8)) * 3 * arm + gamma(1) * float(world.abs().max())
    # a rigid motion of the whole body moves bound points rigidly: this 90-degree turn maps coordinates
    # exactly (permutation and sign), so only the frames' normalisations (sums of squares in another
    # order: gamma(6) per frame entry) differ, seen through offsets of |offset| <= 3 x 0.02 m (was 1e-5)
    rotation = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    moved, _ = bound_points_to_world((rest @ rotation.T)[None], body.faces, face, bary, offsets)
    off_max = float(offsets.abs().max())
    assert (moved[0] - world @ rotation.T).abs().max() <= 2 * gamma(8) * 3 * off_max + gamma(2) * float(world.abs().max())


def test_face_frames_are_rotations(body):
    rest = body.forward(body.default_params(1)).rest_vertices
    frames = face_frames(rest, body.faces)
    eye = torch.eye(3).expand_as(frames)
    e1 = (rest[0, body.faces[:, 1]] - rest[0, body.faces[:, 0]]).double()
    e2 = (rest[0, body.faces[:, 2]] - rest[0, body.faces[:, 0]]).double()
    area2 = torch.linalg.cross(e1, e2).norm(dim=-1)
    good = area2 > 1e-10
    # Per face: the unit tangent and normal are unit within gamma(4); the normal is orthogonal to the
    # tangent only up to its direction error gamma(6) |e1| |e2| / |e1 x e2| (large for slivers); the
    # bitangent (their cross product) adds gamma(3); det and F^T F collect <= 3 of these (was 1e-4 flat).
    cond = e1.norm(dim=-1) * e2.norm(dim=-1) / area2.clamp_min(1e-300)
    tol = (3 * gamma(6) * (1 + cond) + 3 * gamma(4))[good]
    ftf = frames[0, good].transpose(-1, -2) @ frames[0, good] - eye[0, good]
    assert (ftf.double().abs().amax((-1, -2)) <= tol).all()
    assert ((torch.linalg.det(frames[0, good].double()) - 1).abs() <= tol).all()
