"""clean_person_mask on a synthetic photo: the silhouette of a T-posed Anny body 3 m in front of the fit's
camera, plus shapes drawn in metres on the body's plane (projected by the same camera).

Foreign matter (a chair-like block beside the hips, a caption strip under the feet) must go; worn matter
(hair on the head, a skirt flaring from the hips) must stay. The limits these shapes test against are
:class:`PersonMaskConfig`'s defaults; each shape's distance to them is given beside it.
"""

import math

import cv2
import numpy as np
import pytest
import torch

from uvatar.errors import InputError
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.fit import photo_camera
from uvatar.track.person_mask import PersonMaskConfig, clean_person_mask

DEPTH = 3.0  # body origin (pelvis) 3 m in front of the camera
PLANE = 2.95  # the shapes lie in a plane through the body's middle (its outline is ~5 cm in front of the pelvis)


@pytest.fixture(scope="module")
def scene(body):
    params = body.tpose_params(1)
    params.translation[0] = torch.tensor([0.0, DEPTH, 0.0])
    out = body.forward(params)
    camera = photo_camera(480, 640)
    vertices = out.vertices[0].detach()
    silhouette = rasterize_mesh(vertices, body.faces, camera, cull_backfaces=False).mask.numpy()
    up = out.bone_transforms[0, body.bone_index("root"), :3, 2]  # the root's +Z: the body's up
    return {"vertices": vertices, "camera": camera, "silhouette": silhouette, "up": up, "faces": body.faces, "parts": body.face_parts}


def _shape(camera, corners_xz) -> np.ndarray:
    """``(H, W)`` bool polygon drawn from world (x, z) corners (metres) on the plane y = PLANE."""
    points = torch.tensor([[x, PLANE, z] for x, z in corners_xz], dtype=torch.float32)
    pixels, _ = camera.project(points)
    canvas = np.zeros((camera.height, camera.width), np.uint8)
    cv2.fillPoly(canvas, [np.round(pixels.numpy() * 8).astype(np.int32)], 1, shift=3)  # pixel centres at +0.5: <1 px
    return canvas.astype(bool)


def _ellipse(cx, cz, ax, az, n=64):
    return [(cx + ax * math.cos(2 * math.pi * k / n), cz + az * math.sin(2 * math.pi * k / n)) for k in range(n)]


def _far_from(silhouette, camera, metres) -> np.ndarray:
    """Pixels farther than ``metres`` (at the body's depth) from the silhouette."""
    from scipy.ndimage import distance_transform_edt

    return distance_transform_edt(~silhouette) > metres * camera.focal[0] / PLANE


COLOURS = {"background": (0.45, 0.5, 0.6), "body": (0.8, 0.6, 0.5), "hair": (0.25, 0.15, 0.1), "skirt": (0.95, 0.95, 0.92),
           "chair": (0.5, 0.3, 0.12), "caption": (0.95, 0.85, 0.1)}  # fmt: skip


def _photo(scene, layers) -> np.ndarray:
    """``(H, W, 3)`` RGB: the body, then each ``(name, shape)`` painted over it (a skirt covers the thighs),
    with a little noise (sigma 0.02) so that colours are not exact."""
    silhouette = scene["silhouette"]
    image = np.empty(silhouette.shape + (3,), np.float32)
    image[:] = COLOURS["background"]
    image[silhouette] = COLOURS["body"]
    for name, shape in layers:
        image[shape] = COLOURS[name]
    noise = np.random.default_rng(0).normal(0.0, 0.02, image.shape).astype(np.float32)
    return (image + noise).clip(0.0, 1.0)


def _clean(scene, mask, image=None):
    return clean_person_mask(mask.astype(np.float32), scene["vertices"], scene["faces"], scene["camera"], scene["parts"], up=scene["up"], image=image)


def _chair(scene):
    """A chair's seat block beside the hips and thighs, from inside the hip's outline out to x = 0.95 m: past
    x ~0.45 it is beyond the legs' 0.30 m and the torso's 0.20 m, and ~0.6 m from the T-posed hand (reach
    0.45), so most of it is "far" (rule 1) and what is left near the hip is the stump of a cut piece (rule 3)."""
    return _shape(scene["camera"], [(0.1, -0.15), (0.95, -0.15), (0.95, -0.5), (0.1, -0.5)])


def _skirt(scene):
    """A skirt flaring from the hips (x = +-0.17 at z = 0) to a hem at x = +-0.35, 0.55 m lower: at the hem
    ~0.2 m beyond the knees' outline (legs reach 0.30 m)."""
    return _shape(scene["camera"], [(-0.17, 0.0), (0.17, 0.0), (0.35, -0.55), (-0.35, -0.55)])


def test_the_body_alone_is_kept(scene):
    cleaned, stats = _clean(scene, scene["silhouette"])
    assert stats["dropped_fraction"] < 1e-6, stats
    np.testing.assert_array_equal(cleaned, scene["silhouette"].astype(np.float32))


def test_a_chair_and_a_caption_are_removed(scene):
    camera, vertices, silhouette = scene["camera"], scene["vertices"], scene["silhouette"]
    sole = float(vertices[:, 2].min())
    chair = _chair(scene)
    # A caption strip touching the soles, 0.15 m tall and 1.2 m wide: 0.09 m of it lies beyond the sole
    # margin (0.06 m, rule 2), the rest is the stump of the same piece (rule 3).
    caption = _shape(camera, [(-0.6, sole + 0.01), (0.6, sole + 0.01), (0.6, sole - 0.15), (-0.6, sole - 0.15)])
    mask = silhouette | chair | caption
    cleaned, stats = _clean(scene, mask, _photo(scene, [("chair", chair), ("caption", caption)]))
    # Judged off the body: the 4 cm core band around the silhouette counts as the body; 6 cm leaves one
    # working pixel (1.25 px here) for the keep map's bilinear upsampling.
    off_body = _far_from(silhouette, camera, 0.06)
    for name, shape in (("chair", chair), ("caption", caption)):
        left = cleaned[shape & off_body]
        assert left.size > 1000, name
        assert left.max() < 1e-6, (name, float(left.mean()))
    assert cleaned[silhouette].min() == 1.0  # the body itself is untouched
    assert stats["dropped_fraction"] == pytest.approx((mask.sum() - cleaned.sum()) / mask.sum(), abs=1e-6)
    assert stats["dropped_far"] > 0 and stats["dropped_below_soles"] > 0 and stats["dropped_pieces"] > 0, stats


def test_a_strip_held_on_at_the_feet_only_is_removed(scene):
    """A floor caption (or shadow) beside a foot, within the sole margin, from the foot out to x = 0.6 m:
    only ~30% of it lies beyond the legs' reach (not "mostly removed"), but it touches the body at the feet
    only, so it goes (its stump by colour)."""
    camera, vertices, silhouette = scene["camera"], scene["vertices"], scene["silhouette"]
    sole = float(vertices[:, 2].min())
    strip = _shape(camera, [(0.12, sole + 0.03), (0.6, sole + 0.03), (0.6, sole - 0.03), (0.12, sole - 0.03)])
    cleaned, stats = _clean(scene, silhouette | strip, _photo(scene, [("caption", strip)]))
    assert cleaned[strip & _far_from(silhouette, camera, 0.06)].max() < 1e-6
    assert stats["dropped_pieces"] > 0, stats


def test_without_the_photo_the_stump_is_split_by_position(scene):
    """No colours: a stump pixel goes when it is nearer to the removed part than to the body's core band,
    so about half of the stump stays, all of it within the legs' reach of the body."""
    camera, silhouette = scene["camera"], scene["silhouette"]
    chair = _chair(scene)
    cleaned, _ = _clean(scene, silhouette | chair)
    beyond_reach = _far_from(silhouette, camera, 0.30 + 0.01)  # + ~2 px for the working grid
    assert cleaned[chair & beyond_reach].max() < 1e-6
    stump = chair & ~beyond_reach & _far_from(silhouette, camera, 0.06)
    assert 0.2 < cleaned[stump].mean() < 0.8


def test_a_chair_touching_a_skirt_takes_its_stump_not_the_skirt(scene):
    silhouette = scene["silhouette"]
    chair, skirt = _chair(scene), _skirt(scene)
    chair_only = chair & ~skirt
    cleaned, _ = _clean(scene, silhouette | chair | skirt, _photo(scene, [("chair", chair), ("skirt", skirt)]))
    worn = skirt & ~silhouette
    # the skirt's pixels next to a removed chair pixel blend with it in the keep map (one working pixel)
    assert cleaned[worn].mean() > 0.98, float(cleaned[worn].mean())
    assert cleaned[chair_only & _far_from(silhouette | skirt, scene["camera"], 0.02)].max() < 1e-6


def test_hair_and_a_skirt_are_kept(scene):
    camera, vertices, silhouette = scene["camera"], scene["vertices"], scene["silhouette"]
    top = float(vertices[:, 2].max())
    # Hair: an ellipse over the crown standing 0.12 m above the scalp and ~0.05 m beside the head
    # (head reach 0.25 m: half of it used).
    hair = _shape(camera, _ellipse(0.0, top - 0.08, 0.14, 0.20))
    skirt = _skirt(scene)
    for image in (None, _photo(scene, [("hair", hair), ("skirt", skirt)])):
        cleaned, stats = _clean(scene, silhouette | hair | skirt, image)
        for name, shape in (("hair", hair), ("skirt", skirt)):
            worn = shape & ~silhouette
            assert worn.sum() > 1000, name
            assert cleaned[worn].min() == 1.0, (name, float(cleaned[worn].mean()))
        assert stats["dropped_fraction"] < 1e-6, stats


def test_the_limits_scale_with_the_reach(scene):
    """The same skirt goes once the legs' reach is below its flare (the limits are what they say)."""
    camera, silhouette = scene["camera"], scene["silhouette"]
    skirt = _skirt(scene)
    tight = PersonMaskConfig(legs=0.05, torso=0.05, hands=0.05)
    cleaned, stats = clean_person_mask((silhouette | skirt).astype(np.float32), scene["vertices"], scene["faces"], camera, scene["parts"], up=scene["up"], config=tight)
    assert cleaned[skirt & _far_from(silhouette, camera, 0.05 + 0.01)].max() < 1e-6
    assert stats["dropped_far"] > 0.02, stats


def test_bad_inputs_say_what_is_wrong(scene):
    camera = scene["camera"]
    with pytest.raises(InputError, match="mask must be"):
        clean_person_mask(np.zeros((10, 10), np.float32), scene["vertices"], scene["faces"], camera, scene["parts"])
    with pytest.raises(InputError, match="face_parts"):
        clean_person_mask(scene["silhouette"].astype(np.float32), scene["vertices"], scene["faces"], camera, scene["parts"][:5])
    empty, stats = clean_person_mask(np.zeros((camera.height, camera.width), np.float32), scene["vertices"], scene["faces"], camera, scene["parts"])
    assert empty.sum() == 0 and stats["dropped_fraction"] == 0.0
