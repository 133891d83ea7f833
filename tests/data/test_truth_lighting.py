"""Synthetic truth views lit with their camera (``synthetic-view-lit:N``) or in the world (``synthetic:N``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from uvatar.camera import Camera, orbit_camera
from uvatar.data.lighting import turned_direction
from uvatar.data.truth import SyntheticSubjects, open_subjects

torch.set_num_threads(1)


@pytest.mark.parametrize("azimuth", [37.0, 90.0, 180.0, -120.0])
def test_the_turned_light_keeps_its_angle_to_the_turned_camera(azimuth):
    """The light turned as :func:`orbit_camera` turns the camera: in the camera's own frame it is the same
    direction (a person turning before a fixed camera and lamp)."""
    camera = Camera.look_at((0.3, -2.5, 1.4), (0.0, 0.0, 1.0), 64, 64, 60.0)
    light = np.array([0.4, -0.8, 0.6])
    turned = orbit_camera(camera, torch.zeros(1, 3), azimuth)
    before = camera.R.double().numpy() @ light
    after = turned.R.double().numpy() @ turned_direction(light, azimuth)
    # float32 rotations (the camera's R) against float64 light: a few 1e-7 of a unit vector
    assert np.allclose(before, after, atol=1e-6), (before, after)
    assert np.allclose(turned_direction(light, 0.0), light) and math.isclose(np.linalg.norm(turned_direction(light, azimuth)), np.linalg.norm(light))


def test_view_lit_subjects_light_their_backs_as_their_fronts(body):
    """Same subject either way: the input view identical; from the back, lit with the camera, the person
    is about as bright as from the front, while the world's light leaves the back in shade."""
    lit = open_subjects("synthetic-view-lit:1", body, size=48, seed=3, azimuths=(0.0, 180.0))
    world = open_subjects("synthetic:1", body, size=48, seed=3, azimuths=(0.0, 180.0))
    assert isinstance(lit, SyntheticSubjects) and lit.view_lit and not world.view_lit and lit.describe()["view_lit"]
    a, b = lit.raw(0), world.raw(0)
    assert torch.equal(a.views[0].image, b.views[0].image) and np.array_equal(a.view.image, b.view.image)

    def brightness(view):
        mask = view.mask > 0.5
        return float(view.image[mask].mean())

    front, back_lit, back_world = brightness(a.views[0]), brightness(a.views[1]), brightness(b.views[1])
    # a measured property of the scene's lighting, not a float bound: this subject's back is 1.02x its front
    # lit with the camera and 0.65x under the world's light (the key light sits near the input camera)
    assert back_lit > back_world + 0.05 and back_lit > 0.75 * front, (front, back_lit, back_world)
