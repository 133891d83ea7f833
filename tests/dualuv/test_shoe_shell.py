"""Shoes round the feet (uvatar.dualuv.shoe_shell), on a synthetic front photo whose person mask reaches a
known number of pixels below each foot."""

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES
from uvatar.camera import Camera
from uvatar.dualuv.shoe_shell import MAX_SOLE_M, MIN_SOLE_M, _foot_vertices, shoe_template, sole_depths
from uvatar.dualuv.template_shell import project_template
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.view import FittedView

SIZE = 768
DISTANCE_M = 3.2


def _photo(body, sole_px: dict[str, int], shift_x_m: float = 0.0):
    """The reference body seen from the front ``DISTANCE_M`` away, ``SIZE`` pixels square (moved
    ``shift_x_m`` to the image's right after the camera is aimed), and a person mask that continues
    ``sole_px[side]`` pixels straight down below each foot's lowest pixel in every column where that foot
    is the lowest part of the body: ``(vertices (V, 3), camera, mask (SIZE, SIZE) bool)``."""
    with torch.no_grad():
        vertices = body.forward(body.default_params(1)).vertices[0].cpu()
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    camera = Camera.look_at(centre + torch.tensor([0.0, -DISTANCE_M, 0.0]), centre, SIZE, SIZE, fov_y_deg=40.0)
    vertices = vertices + torch.tensor([shift_x_m, 0.0, 0.0])
    centre = centre + torch.tensor([shift_x_m, 0.0, 0.0])
    raster = rasterize_mesh(vertices, body.faces, camera)
    face_id = raster.face_index.numpy()
    mask = raster.mask.numpy().copy()
    feet = body.face_parts.cpu().numpy() == PART_NAMES.index("feet")
    centre_col = float(camera.project(centre[None])[0][0, 0])
    for col in range(SIZE):
        rows = np.nonzero(face_id[:, col] >= 0)[0]
        if len(rows) and feet[face_id[rows.max(), col]]:
            side = "left" if col > centre_col else "right"  # the person's left is the image's right, seen from the front
            mask[rows.max() + 1:rows.max() + 1 + sole_px[side], col] = True
    return vertices, camera, mask


def _pixel_m(camera) -> float:
    return DISTANCE_M / float(camera.K[1, 1])


def test_a_sole_below_each_foot_is_measured_in_metres(body):
    vertices, camera, mask = _photo(body, {"left": 10, "right": 6})
    depths = sole_depths(body, vertices, camera, mask)
    # the feet lie within a foot's length of the body's centre plane: their depth is 3.2 m +- 4 %
    assert abs(depths["left"] - 10 * _pixel_m(camera)) <= 0.04 * 10 * _pixel_m(camera) + 1e-6
    assert abs(depths["right"] - 6 * _pixel_m(camera)) <= 0.04 * 6 * _pixel_m(camera) + 1e-6


def test_no_shoe_where_the_mask_ends_at_the_foot_or_reaches_far_below_it(body):
    vertices, camera, mask = _photo(body, {"left": 0, "right": 1})  # 1 px = 4 mm < MIN_SOLE_M
    assert 1 * _pixel_m(camera) < MIN_SOLE_M
    assert sole_depths(body, vertices, camera, mask) == {"left": 0.0, "right": 0.0}
    vertices, camera, mask = _photo(body, {"left": 40, "right": 40})  # 17 cm: a shadow or a caption, capped
    assert sole_depths(body, vertices, camera, mask) == {"left": MAX_SOLE_M, "right": MAX_SOLE_M}


def test_no_shoe_where_the_photo_cuts_the_sole(body):
    vertices, camera, mask = _photo(body, {"left": SIZE, "right": 10})  # the left sole's pixels run off the photo's bottom
    assert sole_depths(body, vertices, camera, mask)["left"] == 0.0


def test_no_shoe_for_feet_outside_the_photo(body):
    vertices, camera, mask = _photo(body, {"left": 10, "right": 10})
    lowered = vertices + torch.tensor([0.0, 0.0, -0.6])  # the body 60 cm lower: its feet below the frame
    assert float(camera.project(lowered)[0][:, 1].max()) > SIZE
    assert sole_depths(body, lowered, camera, mask) == {"left": 0.0, "right": 0.0}


def test_a_foot_across_the_photos_side_is_measured_on_its_columns_inside(body):
    vertices, camera, _ = _photo(body, {"left": 10, "right": 10})
    left = _foot_vertices(body)["left"]  # the person's left foot: the image's right, seen from the front
    pixels, depth = camera.project(vertices[left])
    # 5 % of its vertices beyond the photo's side (metres per pixel at the foot's own depth)
    shift = (SIZE - 0.5 - float(torch.quantile(pixels[:, 0], 0.95))) * float(depth.median()) / float(camera.K[0, 0])
    vertices, camera, mask = _photo(body, {"left": 10, "right": 10}, shift_x_m=shift)
    outside = float((camera.project(vertices[left])[0][:, 0] >= SIZE).float().mean())
    assert 0.0 < outside < 0.1  # the foot is still measured (a tenth outside: it leaves the photo)
    depths = sole_depths(body, vertices, camera, mask)
    assert abs(depths["left"] - 10 * _pixel_m(camera)) <= 0.04 * 10 * _pixel_m(camera) + 1e-6


def test_the_shoes_wrap_the_feet_and_their_heels_are_drawn_from_behind(body):
    vertices, camera, mask = _photo(body, {"left": 10, "right": 10})
    image = np.full((SIZE, SIZE, 3), 0.8, np.float32)
    image[mask & ~rasterize_mesh(vertices, body.faces, camera).mask.numpy()] = (0.9, 0.9, 0.85)  # the soles' pixels
    view = FittedView(image, mask.astype(np.float32), body.default_params(1), vertices, camera)
    template = shoe_template(body, view)
    assert template is not None and template.kind == "garment"
    assert set(body.face_parts.cpu()[template.source_faces].unique().tolist()) == {PART_NAMES.index("feet")}
    # the shoe's sole is below the foot's by about the sole's depth (inflated along the sole's normals)
    sole = 10 * _pixel_m(camera)
    feet = torch.unique(body.faces.cpu()[template.source_faces].reshape(-1))
    lowered = float(vertices[feet, 2].min() - template.vertices[feet, 2].min())
    assert 0.7 * sole <= lowered <= 1.05 * sole
    # projected, every sample rides a foot, and some of the heel's back (hidden from the front) is drawn
    from uvatar.track.templates import work_frame

    _, person = work_frame(view.mask, view.camera)
    samples = project_template(template, image, person.astype(np.float32), vertices, body)
    assert len(samples) > 0
    assert set(body.face_parts.cpu()[samples.face].unique().tolist()) == {PART_NAMES.index("feet")}
    _, depth = camera.project(samples.points)
    assert bool((samples.drawn & (depth > float(camera.project(vertices[feet])[1].median()))).any())
