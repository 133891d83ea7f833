"""Synthetic portrait photos of the body model with known truth (body parameters and camera).

The single-photo generator behind the tracker and novel-view benchmarks (:mod:`uvatar.eval`); the
multi-view dataset generator is :mod:`uvatar.data.synth`. Its outputs are frozen: the benchmark numbers
in the README were measured on them, so changes here must keep every seed's photo identical.

:func:`make_synthetic_photo` draws, from one integer seed (deterministically):

* a body: phenotypes uniform in [0.1, 0.9] (age in [0.4, 0.9], so adults; redrawn until the standing
  height is 1.50-1.95 m, which leaves a mean near 1.75 m), a natural pose (small
  spine/neck/head rotations; each arm hanging, relaxed, bent forward, on the hip or raised; legs
  standing, apart or stepping) and a facial expression (2-4 of a few common actions at 0..0.6);
* an appearance painted in the body's UV atlas (so details do not depend on the mesh resolution):
  skin tone from light to dark, a painted hair cap, brows, lash lines and irises placed geometrically
  on the reference body, lips between the mouth landmarks of :mod:`uvatar.body.face_map`, a top
  (long, three-quarter, short or no sleeves; crew or V neck), trousers or shorts, shoes;
* a scene: a key light (direction ``light``, Lambert) plus ambient, a smooth random background
  (gradient plus low-frequency noise), mild sensor noise, 2x supersampling;
* a camera framing the body as ``"head"`` (head and shoulders, the face about 40-50% of the image
  height), ``"half"`` (head to between the waist and mid-thigh) or ``"full"`` (the whole body with a
  margin), yaw mostly in [-40, 40] degrees (sometimes up to 70), pitch in [-8, 12] degrees, vertical
  field of view 35-60 degrees.

The truth body sits at the origin with its root unrotated (facing -Y); the camera moves around it.
Truth in camera coordinates is ``x_cam = camera.R @ x_world + camera.t``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.camera import Camera
from uvatar.data.atlas import texel_layout
from uvatar.data.cameras import FRAMINGS, framing_anchors as _framing_anchors, place_camera as _place_camera
from uvatar.data.subjects import mirror_rotvec, standing_leg_rotations

__all__ = [
    "FRAMINGS", "SyntheticPhoto", "SyntheticScene", "make_synthetic_photo", "synthetic_scene", "render_scene",
    "sample_body_params", "paint_texture", "contact_sheet",
]  # fmt: skip

log = logging.getLogger(__name__)

_TEXTURE_SIZE = 1024
_SUPERSAMPLE = 2

_SKIN_TONES = np.array(
    [[0.96, 0.82, 0.72], [0.90, 0.72, 0.60], [0.80, 0.60, 0.46], [0.64, 0.44, 0.32], [0.46, 0.30, 0.21], [0.32, 0.21, 0.15]]
)
_HAIR_COLOURS = np.array(
    [[0.05, 0.04, 0.04], [0.14, 0.09, 0.06], [0.30, 0.19, 0.11], [0.62, 0.48, 0.28], [0.50, 0.50, 0.50], [0.42, 0.17, 0.08]]
)
_HAIR_PROBS = np.array([0.32, 0.26, 0.18, 0.1, 0.08, 0.06])
_IRIS_COLOURS = np.array([[0.22, 0.13, 0.07], [0.35, 0.22, 0.10], [0.25, 0.40, 0.55], [0.28, 0.38, 0.22]])
_FACIAL_CHOICES = (
    ("mouthSmileLeft", "mouthSmileRight"),
    ("jawOpen",),
    ("browInnerUp",),
    ("browDownLeft", "browDownRight"),
    ("eyeSquintLeft", "eyeSquintRight"),
    ("cheekSquintLeft", "cheekSquintRight"),
    ("mouthFunnel",),
    ("mouthPucker",),
    ("mouthFrownLeft", "mouthFrownRight"),
    ("eyeWideLeft", "eyeWideRight"),
    ("mouthStretchLeft", "mouthStretchRight"),
    ("mouthSmileLeft",),
    ("eyeBlinkLeft", "eyeBlinkRight"),
)


@dataclass
class SyntheticPhoto:
    """One synthetic photo and its truth.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
        mask: ``(H, W)`` bool, pixels covered by the body (at least half of the supersamples).
        params: batch-1 :class:`BodyParams` of the truth body (body space, root unrotated, no translation).
        camera: the truth :class:`Camera` (OpenCV, world = body space).
        framing: ``"head"``, ``"half"`` or ``"full"``.
        seed: the seed that made it.
        info: what was drawn (yaw, pitch, fov, arm/leg pose styles, clothing), for reports.
    """

    image: np.ndarray
    mask: np.ndarray
    params: BodyParams
    camera: Camera
    framing: str
    seed: int = 0
    info: dict = field(default_factory=dict)



def _arm(rng: np.random.Generator) -> tuple[str, list[float], list[float]]:
    """One arm's style, upperarm01 and lowerarm01 rotation vectors (left side, world-aligned axes)."""
    u = rng.uniform
    style = rng.choice(["hanging", "relaxed", "forward", "hip", "raised"], p=[0.4, 0.2, 0.18, 0.1, 0.12])
    if style == "hanging":
        upper = [u(-0.2, 0.15), u(0.5, 0.8), u(-0.15, 0.15)]
        lower = [u(0.2, 0.8), u(-0.1, 0.1), u(-0.1, 0.1)]
    elif style == "relaxed":
        upper = [u(-0.3, 0.2), u(0.15, 0.5), u(-0.2, 0.2)]
        lower = [u(-0.2, 0.6), u(-0.1, 0.2), u(-0.1, 0.1)]
    elif style == "forward":
        upper = [u(-0.7, -0.2), u(0.4, 0.75), u(-0.2, 0.1)]
        lower = [u(-1.0, -0.4), u(0.0, 0.4), u(-0.1, 0.1)]
    elif style == "hip":
        upper = [u(0.0, 0.25), u(0.15, 0.35), u(0.2, 0.45)]
        lower = [u(-0.2, 0.2), u(0.9, 1.3), u(-0.1, 0.1)]
    else:  # raised to the side, up to a bit above the horizontal
        upper = [u(-0.3, 0.1), u(-1.3, -0.5), u(-0.2, 0.2)]
        lower = [u(-0.3, 0.3), u(-0.9, 0.0), u(-0.1, 0.1)]
    return str(style), upper, lower


def sample_body_params(body: BodyModel, rng: np.random.Generator) -> tuple[BodyParams, dict]:
    """A random adult in a natural pose with a facial expression.

    Returns:
        batch-1 :class:`BodyParams` (no translation, root unrotated) and a dict naming the styles drawn.
    """
    u, n = rng.uniform, rng.normal
    rot: dict[str, list[float]] = {}
    for bone in ("spine01", "spine02", "spine03"):
        rot[bone] = [n(0, 0.04), n(0, 0.03), n(0, 0.05)]
    for bone in ("neck01", "neck02"):
        rot[bone] = [n(0, 0.04), n(0, 0.03), n(0, 0.06)]
    rot["head"] = [u(-0.1, 0.2), u(-0.12, 0.12), u(-0.35, 0.35)]  # +x looks down
    info = {}
    for side in ("L", "R"):
        style, upper, lower = _arm(rng)
        rot[f"clavicle.{side}"] = [0.0, u(-0.05, 0.1), 0.0]
        if side == "R":
            upper, lower, rot[f"clavicle.{side}"] = mirror_rotvec(upper), mirror_rotvec(lower), mirror_rotvec(rot[f"clavicle.{side}"])
        rot[f"upperarm01.{side}"], rot[f"lowerarm01.{side}"] = upper, lower
        rot[f"wrist.{side}"] = [n(0, 0.15), n(0, 0.15), n(0, 0.15)]
        info[f"arm_{side}"] = style
    legs = rng.choice(["together", "apart", "step"], p=[0.45, 0.3, 0.25])
    info["legs"] = str(legs)
    rot.update(standing_leg_rotations(rng, str(legs)))
    # phenotypes: uniform in [0.1, 0.9], adults (age >= 0.4); redrawn (up to 30 times) until the
    # standing height lies in [1.50, 1.95] m (Anny's height also grows with age: 1.1-2.3 m otherwise)
    for _ in range(30):
        phenotypes = {label: u(0.1, 0.9) for label in body.phenotype_labels}
        phenotypes["age"] = u(0.4, 0.9)
        values = torch.tensor([[phenotypes[label] for label in body.phenotype_labels]])
        with torch.no_grad():
            rest = body.rest_vertices(values)
        height = float(rest[:, 2].max() - rest[:, 2].min())
        if 1.5 <= height <= 1.95:
            break
    info["height_m"] = round(height, 3)
    facial = {}
    picks = rng.choice(len(_FACIAL_CHOICES), size=int(rng.integers(2, 5)), replace=False)
    for k in picks:
        value = u(0.0, 0.6)
        for label in _FACIAL_CHOICES[int(k)]:
            facial[label] = value * (0.5 if label.startswith("eyeBlink") else 1.0)
    params = body.params_from_labels(rotations=rot, phenotypes=phenotypes, facial=facial)
    info["facial"] = {k: round(v, 3) for k, v in facial.items()}
    return params, info


# ---------------------------------------------------------------------------------------------- appearance
def _random_colour(rng, sat=(0.15, 0.8), val=(0.15, 0.9)) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)))


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def paint_texture(body: BodyModel, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random appearance painted in the UV atlas.

    Returns:
        ``(S, S, 3)`` float32 texture (S = 1024, row 0 at the top, islands padded) and a dict of choices.
    """
    L = texel_layout(body, _TEXTURE_SIZE)
    pos, part, bone = L["pos"], L["part"], L["bone"]
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    P = {name: part == i for i, name in enumerate(L["part_names"])}
    B, bp, coco = L["bones"], L["bone_pos"], L["coco"]

    t = rng.uniform(0, len(_SKIN_TONES) - 1)
    i0 = int(np.floor(t))
    i1 = min(i0 + 1, len(_SKIN_TONES) - 1)
    skin = (_SKIN_TONES[i0] * (1 - (t - i0)) + _SKIN_TONES[i1] * (t - i0)) * rng.uniform(0.95, 1.05, 3)
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_PROBS)] * rng.uniform(0.85, 1.15)
    top = _random_colour(rng)
    bottom = _random_colour(rng, sat=(0.05, 0.6), val=(0.1, 0.7))
    shoes = _random_colour(rng, sat=(0.0, 0.5), val=(0.05, 0.95))
    sleeves = str(rng.choice(["long", "three_quarter", "short", "none"], p=[0.35, 0.15, 0.4, 0.1]))
    trousers = str(rng.choice(["long", "capri", "shorts"], p=[0.65, 0.15, 0.2]))
    neckline = str(rng.choice(["crew", "v"], p=[0.6, 0.4]))
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
    info = {"skin_tone": round(float(t), 2), "sleeves": sleeves, "trousers": trousers, "neckline": neckline}

    colour = np.tile(skin, (len(pos), 1))
    # ---- clothing
    hip_z = 0.5 * (coco["left_hip"][2] + coco["right_hip"][2])
    waist_z = hip_z + rng.uniform(0.06, 0.14)
    # neckline: a sphere round the base of the neck (plus a wedge in front for a V neck)
    neck_dist = np.linalg.norm(pos - bp["neck01"], axis=1)
    radius = rng.uniform(0.085, 0.1)
    if neckline == "v":
        radius = radius + rng.uniform(0.04, 0.08) * np.clip(1 - np.abs(x) / 0.07, 0, 1) * (y < bp["neck01"][1] - 0.03)
    collar = neck_dist > radius
    torso_top = P["torso"] & collar & (z >= waist_z)
    if sleeves == "none":  # tank top: round armholes
        for s in ("L", "R"):
            torso_top &= np.linalg.norm(pos - bp[f"upperarm01.{s}"], axis=1) > 0.095
    colour[torso_top] = top
    colour[P["torso"] & (z < waist_z)] = bottom

    def along(a, b_):  # fraction along the segment a -> b of each texel's projection
        d = b_ - a
        return ((pos - a) @ d) / (d @ d)

    for s in ("L", "R"):
        arm = P["arms"] & ((x > 0) if s == "L" else (x < 0))
        f = along(bp[f"upperarm01.{s}"], bp[f"wrist.{s}"])
        cut = {"long": 0.97, "three_quarter": 0.72, "short": 0.3, "none": -1.0}[sleeves]
        colour[arm & (f < cut) & collar] = top
        leg = P["legs"] & ((x > 0) if s == "L" else (x < 0))
        f = along(bp[f"upperleg01.{s}"], bp[f"foot.{s}"])
        cut = {"long": 1.1, "capri": 0.75, "shorts": 0.42}[trousers]
        colour[leg & (f < cut)] = bottom
    colour[P["feet"]] = shoes
    # fabric: gentle low-frequency variation in 3D
    k = rng.uniform(8, 20, 3)
    fabric = 1.0 + 0.05 * np.sin(k[0] * x + 1.3) * np.sin(k[1] * z + 0.4) + 0.03 * np.sin(k[2] * (y + z))
    clothed = ~(P["head"] | P["hands"]) & np.any(np.abs(colour - skin) > 1e-6, axis=1)
    colour[clothed] *= fabric[clothed, None]

    # ---- head: hair cap, brows, lash lines, eyes, lips
    head = P["head"] & ~L["interior"]
    eyes = np.isin(bone, [B["eye.L"], B["eye.R"]])
    centre = np.array([0.0, 0.5 * (coco["left_ear"][1] + coco["nose"][1]) + 0.01, 0.5 * (coco["left_ear"][2] + coco["left_eye"][2])])
    d = pos - centre
    elevation = np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1]))
    azimuth = np.abs(np.arctan2(d[:, 0], -d[:, 1]))  # 0 in front, pi at the back
    raise_front = rng.uniform(-0.08, 0.1)
    hairline = np.interp(azimuth, [0.0, 0.9, 1.4, 1.75, 2.3, np.pi], [0.78 + raise_front, 0.62 + raise_front, 0.15, 0.05, -0.35, -0.55])
    ear = np.minimum(
        np.linalg.norm(pos - coco["left_ear"], axis=1), np.linalg.norm(pos - coco["right_ear"], axis=1)
    ) < 0.03
    hair_w = _smoothstep(-0.03, 0.03, elevation - hairline) * head * ~eyes * ~ear
    colour = colour * (1 - hair_w[:, None]) + hair[None] * hair_w[:, None]
    strands = 0.5 + 0.5 * np.sin(220 * z + 60 * x)  # a little texture in the hair
    colour *= (1.0 - 0.25 * hair_w * strands)[:, None]

    front = y < coco["nose"][1] + 0.06
    brow_dark = hair * 0.7 + skin * 0.1 if float(hair.mean()) < 0.4 else skin * 0.35
    lash = skin * 0.3
    for side, sign in (("L", 1.0), ("R", -1.0)):
        eye_c = bp[f"eye.{side}"]
        xr = sign * (x - eye_c[0])  # + towards the ear
        arch = eye_c[2] + 0.019 + 0.004 * (1 - np.clip(((xr - 0.004) / 0.024) ** 2, 0, 1))
        brow = head & ~eyes & front & (xr > -0.02) & (xr < 0.028) & (np.abs(z - arch) < 0.0035 * (1.1 - 0.4 * np.clip(xr / 0.028, 0, 1)))
        colour[brow] = brow_dark
        rim = head & ~eyes & front & (np.linalg.norm(pos - eye_c, axis=1) < L["eye_radius"] + 0.0012)
        colour[rim] = colour[rim] * 0.5 + lash * 0.5
        ball = eyes & (np.abs(x - eye_c[0]) < 0.03)
        dv = pos[ball] - eye_c
        cosang = -dv[:, 1] / np.linalg.norm(dv, axis=1).clip(1e-9)
        angle = np.arccos(np.clip(cosang, -1, 1))
        c = np.tile(np.array([0.88, 0.86, 0.82]), (len(dv), 1))
        c[angle < 0.55] = iris
        c[(angle > 0.45) & (angle < 0.55)] *= 0.6
        c[angle < 0.22] = [0.02, 0.02, 0.02]
        colour[ball] = c
    # lips: between MediaPipe's mouth corners (61, 291) on the body, up to the upper lip's top (0)
    # and down to the lower lip's bottom (17), around the lip opening (13, 14)
    fp = L["face"]
    half_w = 0.5 * abs(fp[291, 0] - fp[61, 0]) * rng.uniform(1.0, 1.1)
    mouth_z = 0.5 * (fp[13, 2] + fp[14, 2])
    prof = np.clip(1 - (x / half_w) ** 2, 0, 1) ** 0.6
    dz = z - mouth_z
    thick = rng.uniform(0.75, 1.0)
    upper = (dz >= -0.0005) & (dz < 0.001 + thick * (fp[0, 2] - mouth_z - 0.001) * prof)
    lower = (dz < 0.0005) & (dz > -(0.001 + thick * (mouth_z - fp[17, 2] - 0.001) * prof))
    lips = head & front & (np.abs(x) < half_w) & (upper | lower) & (y < coco["nose"][1] + 0.035)
    lip_colour = skin * np.array([0.8, 0.58, 0.56]) * rng.uniform(0.85, 1.0)
    colour[lips] = lip_colour
    colour[P["head"] & L["interior"]] = skin * 0.25  # mouth and eye cavities

    colour = np.clip(colour, 0.0, 1.0)
    tex = np.zeros((_TEXTURE_SIZE * _TEXTURE_SIZE, 3), dtype=np.float32)
    tex[L["index"]] = colour
    tex = tex.reshape(_TEXTURE_SIZE, _TEXTURE_SIZE, 3)
    nearest = L["nearest"]
    tex = tex[nearest[0], nearest[1]]  # pad every island with its edge colour
    return tex.astype(np.float32), info

def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """``(size, size, 3)`` smooth random background: a two-colour gradient plus low-frequency noise."""
    a, b = _random_colour(rng, sat=(0.0, 0.35), val=(0.25, 0.95)), _random_colour(rng, sat=(0.0, 0.35), val=(0.25, 0.95))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = np.clip(0.5 + (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle), 0, 1)[..., None]
    image = a * (1 - t) + b * t
    grid = rng.normal(0, 0.04, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 1)) + rng.normal(0, 0.015, (1, 1, 3))
    noise = torch.nn.functional.interpolate(
        torch.as_tensor(grid).permute(2, 0, 1)[None], size=(size, size), mode="bicubic", align_corners=True
    )[0].permute(1, 2, 0).numpy()
    return np.clip(image + noise, 0, 1)

# ---------------------------------------------------------------------------------------------- scene
@dataclass
class SyntheticScene:
    """Everything that makes one synthetic subject, so it can be rendered from any camera.

    Attributes:
        params: batch-1 truth :class:`BodyParams`.
        vertices: ``(V, 3)`` true posed vertices (world = body space).
        texture: ``(S, S, 3)`` float32 UV texture.
        light: ``(3,)`` world direction towards the key light (unnormalised).
        ambient: ambient term of the shading.
        exposure: brightness factor applied to the person.
        camera: the photo's truth camera.
        size: the photo's side in pixels.
        info: what was drawn (yaw, pitch, fov, pose styles, clothing, light).
    """

    params: BodyParams
    vertices: torch.Tensor
    texture: np.ndarray
    light: np.ndarray
    ambient: float
    exposure: float
    camera: Camera
    size: int
    info: dict = field(default_factory=dict)


def _rng(seed: int, framing: str) -> np.random.Generator:
    from uvatar.errors import InputError

    if framing not in FRAMINGS:
        raise InputError(f"framing must be one of {FRAMINGS}; got {framing!r}")
    return np.random.default_rng([int(seed), FRAMINGS.index(framing)])


def _sample_scene(body: BodyModel, rng: np.random.Generator, framing: str, size: int) -> SyntheticScene:
    """Draw body, texture, camera, light and exposure from ``rng`` (in this order: the photo's
    background and noise are drawn after it, so a scene is the same with or without the photo)."""
    params, info = sample_body_params(body, rng)
    with torch.no_grad():
        out = body.forward(params)
    vertices = out.vertices[0].cpu()
    coco = dict(zip(body.keypoints.coco_labels, body.keypoints.coco(out.vertices)[0].cpu().numpy().astype(np.float64)))
    texture, look = paint_texture(body, rng)
    info.update(look)

    if rng.uniform() < 0.15:
        yaw = math.radians(rng.choice([-1, 1]) * rng.uniform(40, 70))
    else:
        yaw = math.radians(rng.uniform(-40, 40))
    pitch = math.radians(rng.uniform(-8, 12))
    fov = float(rng.uniform(35, 60))
    top, bottom, top_at, bottom_at = _framing_anchors(body, vertices, coco, framing, rng)
    camera = _place_camera(vertices.numpy(), top, bottom, top_at, bottom_at, yaw, pitch, fov, size, framing, rng)
    info.update(yaw_deg=round(math.degrees(yaw), 1), pitch_deg=round(math.degrees(pitch), 1), fov_deg=round(fov, 1))

    to_camera = camera.center.numpy() - 0.5 * (top + bottom)
    to_camera /= np.linalg.norm(to_camera)
    side = np.cross(to_camera, [0.0, 0.0, 1.0])
    side /= max(np.linalg.norm(side), 1e-9)
    light = to_camera + rng.uniform(0.2, 0.9) * np.array([0.0, 0.0, 1.0]) + rng.uniform(-0.8, 0.8) * side
    ambient = float(rng.uniform(0.35, 0.55))
    exposure = float(rng.uniform(0.9, 1.1))  # brightness of the whole person varies a little
    info["light"] = [round(float(c), 3) for c in light]
    info["ambient"] = round(ambient, 3)
    return SyntheticScene(params, vertices, texture, light, ambient, exposure, camera, int(size), info)


def synthetic_scene(body: BodyModel, seed: int, framing: str = "half", size: int = 512) -> SyntheticScene:
    """The scene :func:`make_synthetic_photo` renders for the same arguments (same body, texture, light,
    exposure and camera)."""
    return _sample_scene(body, _rng(seed, framing), framing, size)


def render_scene(body: BodyModel, scene: SyntheticScene, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Render the subject of ``scene`` from ``camera`` (2x2 supersampled).

    Returns:
        person image ``(H, W, 3)`` (exposure applied, black where empty) and coverage ``(H, W)`` in [0, 1].
    """
    from uvatar.render.mesh import render_mesh_colors

    s, w, h = _SUPERSAMPLE, camera.width, camera.height
    big = camera.resized(w * s, h * s)
    with torch.no_grad():
        image, mask = render_mesh_colors(
            scene.vertices, body.faces.cpu(), big, uvs=body.uv_corners.cpu(), texture=torch.as_tensor(scene.texture),
            light=torch.as_tensor(scene.light, dtype=torch.float32), ambient=scene.ambient,
        )
    image = image.numpy().reshape(h, s, w, s, 3).mean((1, 3)) * scene.exposure
    cover = mask.numpy().astype(np.float64).reshape(h, s, w, s).mean((1, 3))
    return image, cover

# ---------------------------------------------------------------------------------------------- photo
def make_synthetic_photo(body: BodyModel, seed: int, framing: str = "half", size: int = 512) -> SyntheticPhoto:
    """Render one synthetic photo with known truth (deterministic in ``seed``, ``framing``, ``size``).

    Args:
        body: the body model.
        seed: any integer; the same seed gives the same photo.
        framing: ``"head"``, ``"half"`` or ``"full"`` (see the module docstring).
        size: image side in pixels (square image).
    Returns:
        :class:`SyntheticPhoto`.
    """
    rng = _rng(seed, framing)
    scene = _sample_scene(body, rng, framing, size)
    image, cover = render_scene(body, scene, scene.camera)
    bg = _background(rng, size)
    photo = image + (1 - cover[..., None]) * bg
    photo = photo + rng.normal(0, 0.008, photo.shape)
    photo = np.clip(photo, 0, 1).astype(np.float32)
    log.debug("synthetic %s photo, seed %d: %s", framing, seed, scene.info)
    return SyntheticPhoto(photo, cover >= 0.5, scene.params, scene.camera, framing, int(seed), scene.info)


def contact_sheet(photos: list[np.ndarray], columns: int = 4, thumb: int = 256) -> np.ndarray:
    """``(rows * thumb, columns * thumb, 3)`` uint8 grid of ``(H, W, 3)`` float images (for looking at)."""
    from PIL import Image

    rows = max(1, math.ceil(len(photos) / columns))
    sheet = np.zeros((rows * thumb, columns * thumb, 3), np.uint8)
    for i, img in enumerate(photos):
        small = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((thumb, thumb), Image.BILINEAR)
        r, c = divmod(i, columns)
        sheet[r * thumb : (r + 1) * thumb, c * thumb : (c + 1) * thumb] = np.asarray(small)
    return sheet
