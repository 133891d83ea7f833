import torch

from body_helpers import random_params
from uvatar.body.skinning import bound_points_to_world, face_frames, world_points_to_bound


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
    assert (posed_points - expected).norm(dim=-1).max() < 1e-4
    # and it lies in the plane of its posed face
    normal = torch.linalg.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0])
    normal = torch.nn.functional.normalize(normal, dim=-1)
    distance = ((posed_points - corners[:, :, 0]) * normal).sum(-1).abs()
    assert distance.max() < 1e-4
    assert not torch.allclose(rest_points, posed_points[:1])


def test_offsets_round_trip_and_follow_the_face(body):
    face, bary = _random_bound_points(len(body.faces), 500, seed=5)
    rest = body.forward(body.default_params(1)).rest_vertices[0]
    gen = torch.Generator().manual_seed(6)
    world = bound_points_to_world(rest[None], body.faces, face, bary)[0][0] + torch.randn(500, 3, generator=gen) * 0.02
    offsets = world_points_to_bound(rest, body.faces, face, bary, world)
    again, _ = bound_points_to_world(rest[None], body.faces, face, bary, offsets)
    assert (again[0] - world).abs().max() < 1e-5
    # a rigid motion of the whole body moves bound points rigidly
    rotation = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    moved, _ = bound_points_to_world((rest @ rotation.T)[None], body.faces, face, bary, offsets)
    assert (moved[0] - world @ rotation.T).abs().max() < 1e-5


def test_face_frames_are_rotations(body):
    rest = body.forward(body.default_params(1)).rest_vertices
    frames = face_frames(rest, body.faces)
    eye = torch.eye(3).expand_as(frames)
    good = torch.linalg.cross(rest[0, body.faces[:, 1]] - rest[0, body.faces[:, 0]], rest[0, body.faces[:, 2]] - rest[0, body.faces[:, 0]]).norm(dim=-1) > 1e-10
    assert (frames[0, good].transpose(-1, -2) @ frames[0, good] - eye[0, good]).abs().max() < 1e-4
    assert (torch.linalg.det(frames[0, good]) - 1).abs().max() < 1e-4
