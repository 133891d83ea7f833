"""The chosen hairstyle grown to the photo's hair outline (uvatar.track.hair_outline): the excess along rays
on drawn discs, and a sphere grown to a bigger sphere's outline."""

import math

import numpy as np
import torch
import trimesh

from uvatar.assets import AssetMesh
from uvatar.camera import Camera
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.hair_outline import RAYS, TOP_DEG, _ray_angles, grow_to_outline, outline_excess

STEP_SLACK_PX = 1.5  # the march's half-pixel steps and the discs' pixel edges


def _disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.mgrid[:size, :size]
    return (cols + 0.5 - centre[0]) ** 2 + (rows + 0.5 - centre[1]) ** 2 <= radius**2


def test_the_excess_is_how_far_the_hair_reaches_beyond_the_template_over_the_top():
    centre = (60.0, 60.0)
    excess = outline_excess(_disc(120, centre, 20), _disc(120, centre, 30), centre, max_px=100)
    top = np.abs(_ray_angles()) <= math.radians(TOP_DEG)
    assert len(excess) == RAYS
    assert np.all(np.abs(excess[top] - 10) <= STEP_SLACK_PX), excess[top]
    assert np.all(excess[~top] == 0)  # lower rays meet the ears and hanging hair: no growth there
    assert outline_excess(_disc(120, centre, 20), _disc(120, centre, 30), centre, max_px=4).max() == 4


def test_hair_beyond_a_gap_is_not_the_outline():
    centre = (60.0, 60.0)
    hair = (_disc(120, centre, 24) & ~_disc(120, centre, 20)) | (_disc(120, centre, 35) & ~_disc(120, centre, 30))
    excess = outline_excess(_disc(120, centre, 20), hair, centre, max_px=100)
    top = np.abs(_ray_angles()) <= math.radians(TOP_DEG)
    assert np.all(np.abs(excess[top] - 4) <= STEP_SLACK_PX), excess[top]  # the inner ring only, not 15 px


def _sphere(radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces, dtype=torch.int64)


def test_a_sphere_grows_round_to_a_bigger_spheres_outline():
    vertices, faces = _sphere(0.10)
    mesh = AssetMesh("ball", "hair", False, vertices, vertices.clone(), faces, torch.zeros(1, 2), torch.zeros_like(faces), torch.ones(len(vertices), 1),
                     torch.zeros(0, dtype=torch.int64))  # fmt: skip
    camera = Camera.look_at(torch.tensor([0.0, -1.0, 0.0]), torch.zeros(3), 256, 256, fov_y_deg=40.0)  # +Z up in the image
    bigger, bigger_faces = _sphere(0.13)
    hair = rasterize_mesh(bigger, bigger_faces, camera).mask.numpy()
    grown, growth = grow_to_outline(mesh, hair, camera, torch.zeros(3), torch.zeros(3))
    pixel_m = 1.0 / float(camera.K[0, 0])  # metres per pixel at the centre's depth
    tolerance = STEP_SLACK_PX * pixel_m + 0.002  # + the outline of a sphere seen in perspective, 0.1 % at 1 m
    assert abs(growth - 0.03) <= tolerance
    radius = grown.vertices.norm(dim=1)
    direction = vertices / vertices.norm(dim=1, keepdim=True)
    top, bottom = direction[:, 2] > 0.95, direction[:, 2] < -0.95
    assert torch.all((radius[top] - 0.13).abs() <= tolerance)  # seen on the outline
    # pointing away from the photo: the mean excess of the top rays, blended with its own ray's (0 when that
    # ray is below the top ones) by its sideways share
    back = int(direction[:, 1].argmax())
    sideways = math.sqrt(max(0.0, 1 - float(direction[back, 1]) ** 2))
    assert abs(float(radius[back]) - 0.13) <= tolerance + sideways * growth
    # below the top rays: as it was but for the mean excess's share of what points along the view (1.2 mm at most here)
    in_plane = direction[:, [0, 2]].norm(dim=1)
    assert torch.all(radius[bottom] >= 0.10 - 1e-5)
    assert torch.all(radius[bottom] - 0.10 <= (1 - in_plane[bottom]) * growth + 1e-5)
    assert torch.allclose(grown.rest_vertices, grown.vertices, atol=1e-6)  # the rest pose grows alike (same centre here)
    unchanged, none = grow_to_outline(mesh, rasterize_mesh(vertices, faces, camera).mask.numpy(), camera, torch.zeros(3), torch.zeros(3))
    assert none <= STEP_SLACK_PX * pixel_m and torch.allclose(unchanged.vertices, vertices, atol=STEP_SLACK_PX * pixel_m)
