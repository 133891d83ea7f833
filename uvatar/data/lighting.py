"""Random lighting for synthetic subjects: a procedural environment map, its spherical harmonics and a key light.

One :class:`Lighting` per subject, fixed in world (body) space, so every view of a subject is lit the
same way (multi-view consistent shading up to the specular term). Three kinds of environment, drawn
from :class:`LightingConfig`:

* ``studio``: a coloured cyclorama backdrop (seamless floor), one to three soft boxes;
* ``outdoor``: a sky gradient with low-frequency clouds, a sun (the key light's direction), a dark
  band of trees or buildings at the horizon and a ground of grass, asphalt, sand or paving;
* ``indoor``: walls, one or two bright windows, a ceiling, a wooden or carpeted floor.

The map is an equirectangular ``(He, We, 3)`` float32 array of LINEAR radiance; row 0 is straight up
(+Z), column 0 looks along +Y (behind the body) and longitude grows towards +X: texel ``(row, col)``
looks along ``(sin lon cos lat, -cos lon cos lat, sin lat)`` with ``lon = 2 pi (col + 0.5) / We - pi``
and ``lat = pi / 2 - pi (row + 0.5) / He``.
The diffuse fill is its order-2 spherical-harmonics irradiance (9 RGB coefficients, Ramamoorthi and
Hanrahan 2001); the key light is directional (``key_dir`` points from the surface towards the light)
with irradiance ``key_rgb`` on a surface facing it. Everything is scaled so that the average
irradiance (fill + key) over horizontal normals is ``pi``: an albedo-``a`` surface then looks about
``a`` bright, before the view's exposure.

>>> import numpy as np
>>> light = sample_lighting(np.random.default_rng(0))
>>> light.env.shape, light.sh.shape
((64, 128, 3), (9, 3))
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LightingConfig",
    "Lighting",
    "sample_lighting",
    "env_directions",
    "sh_basis",
    "sh_project",
    "sh_irradiance",
    "turned_direction",
    "turned_lighting",
]

ENV_KINDS = ("studio", "outdoor", "indoor")


@dataclass(frozen=True)
class LightingConfig:
    """How lighting is drawn.

    Attributes:
        kinds: environment kinds to draw from; ``probs`` their probabilities.
        env_height: rows of the equirectangular map (width is twice that).
        key_ratio: range of the key light's irradiance over the fill's (contrast).
        shadow_softness: range of the shadow filter radius, in shadow-map texels.
    """

    kinds: tuple[str, ...] = ENV_KINDS
    probs: tuple[float, ...] = (0.4, 0.35, 0.25)
    env_height: int = 64
    key_ratio: tuple[float, float] = (0.4, 2.5)
    shadow_softness: tuple[float, float] = (1.0, 3.0)


@dataclass
class Lighting:
    """One subject's lighting (world frame, linear radiance).

    Attributes:
        kind: ``studio``, ``outdoor`` or ``indoor``.
        env: ``(He, We, 3)`` float32 equirectangular radiance (see the module docstring).
        sh: ``(9, 3)`` float32 SH coefficients of ``env`` (radiance, not yet convolved).
        key_dir: ``(3,)`` unit direction from the surface towards the key light.
        key_rgb: ``(3,)`` irradiance of the key light on a surface facing it.
        ground_rgb: ``(3,)`` linear albedo of the floor (None: no floor is drawn).
        shadow_softness: shadow filter radius in shadow-map texels.
        info: what was drawn (for meta.json and stats).
    """

    kind: str
    env: np.ndarray
    sh: np.ndarray
    key_dir: np.ndarray
    key_rgb: np.ndarray
    ground_rgb: np.ndarray | None
    shadow_softness: float
    info: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The lighting without the map, JSON-ready (the map is re-derivable from the seed)."""
        return {
            "kind": self.kind,
            "sh": np.round(self.sh, 5).tolist(),
            "key_dir": np.round(self.key_dir, 5).tolist(),
            "key_rgb": np.round(self.key_rgb, 5).tolist(),
            "ground_rgb": None if self.ground_rgb is None else np.round(self.ground_rgb, 5).tolist(),
            "shadow_softness": round(float(self.shadow_softness), 3),
            **self.info,
        }


def turned_direction(direction: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """``direction (3,)`` turned by ``azimuth_deg`` about the world's Z axis, as :func:`uvatar.camera.orbit_camera`
    turns a camera (counter-clockwise seen from above); float64."""
    a = math.radians(azimuth_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return rz @ np.asarray(direction, dtype=np.float64)


def turned_lighting(lighting: Lighting, azimuth_deg: float) -> Lighting:
    """``lighting`` turned by ``azimuth_deg`` about the world's Z axis (counter-clockwise seen from above, as
    :func:`uvatar.camera.orbit_camera` turns a camera): the map's longitudes shift by the angle (linear
    between neighbouring columns), its SH are projected again, the key light turns; the rest is kept. A
    view lit by the lighting turned with its camera sees the subject as a person turning before a fixed
    camera and lamp."""
    shift = azimuth_deg / 360.0 * lighting.env.shape[1]  # a direction's longitude grows by the angle
    whole = math.floor(shift)
    frac = shift - whole
    env = ((1 - frac) * np.roll(lighting.env, whole, axis=1) + frac * np.roll(lighting.env, whole + 1, axis=1)).astype(np.float32)
    key = turned_direction(lighting.key_dir, azimuth_deg).astype(np.asarray(lighting.key_dir).dtype)
    return Lighting(lighting.kind, env, sh_project(env), key, lighting.key_rgb, lighting.ground_rgb, lighting.shadow_softness,
                    {**lighting.info, "turned_deg": round(float(azimuth_deg), 3)})  # fmt: skip


# ---------------------------------------------------------------------------------------------- SH
def env_directions(height: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions ``(He, We, 3)`` of the texel centres of a ``He x 2He`` map and their solid angles ``(He, We)``."""
    width = 2 * height
    lat = math.pi / 2 - math.pi * (np.arange(height) + 0.5) / height
    lon = 2 * math.pi * (np.arange(width) + 0.5) / width - math.pi
    clat, slat = np.cos(lat)[:, None], np.sin(lat)[:, None]
    dirs = np.stack(np.broadcast_arrays(np.sin(lon)[None] * clat, -np.cos(lon)[None] * clat, slat + 0 * lon[None]), -1)
    solid = (2 * math.pi / width) * (math.pi / height) * np.broadcast_to(clat, (height, width))
    return dirs.astype(np.float32), solid.astype(np.float32)


def sh_basis(dirs: np.ndarray) -> np.ndarray:
    """Real SH basis up to order 2: ``(..., 3)`` unit directions -> ``(..., 9)``."""
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    return np.stack(
        [
            0.282095 + 0 * x,
            0.488603 * y,
            0.488603 * z,
            0.488603 * x,
            1.092548 * x * y,
            1.092548 * y * z,
            0.315392 * (3 * z * z - 1),
            1.092548 * x * z,
            0.546274 * (x * x - y * y),
        ],
        -1,
    )


_BAND = np.array([math.pi] + [2 * math.pi / 3] * 3 + [math.pi / 4] * 5, dtype=np.float32)


def sh_project(env: np.ndarray) -> np.ndarray:
    """``(He, We, C)`` equirectangular radiance -> ``(9, C)`` SH coefficients."""
    dirs, solid = env_directions(env.shape[0])
    basis = sh_basis(dirs) * solid[..., None]  # (He, We, 9)
    return np.einsum("hwk,hwc->kc", basis, env).astype(np.float32)


def sh_irradiance(sh: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Irradiance ``(..., C)`` at unit ``normals (..., 3)`` of the radiance with coefficients ``sh (9, C)``."""
    return np.einsum("...k,kc->...c", sh_basis(normals), sh * _BAND[:, None])


# ---------------------------------------------------------------------------------------------- maps
def _hsv(h, s, v) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _lin(rgb) -> np.ndarray:
    return np.power(np.clip(np.asarray(rgb, np.float32), 0, None), 2.2)


def _noise(rng, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    """Smooth noise ``(height, width)`` in about [-1, 1], periodic in longitude."""
    from scipy import ndimage

    grid = rng.normal(0, 1, cells)
    grid = np.concatenate([grid, grid[:, :3]], 1)  # wrap for periodic interpolation
    zoom = (height / cells[0], width / cells[1])
    up = ndimage.zoom(grid, zoom, order=3, mode="nearest")[:height, :width]
    return (up / max(1e-6, np.abs(up).max())).astype(np.float32)


def _blob(dirs: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    """Soft spot ``(He, We)`` in [0, 1] around the unit ``centre``, angular radius about ``width`` radians."""
    cos = dirs @ centre
    return np.exp((cos - 1.0) / (width * width)).astype(np.float32)


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit world direction; azimuth 0 = in front of the body (-Y), growing towards +X (its left)."""
    return np.array(
        [math.sin(azimuth) * math.cos(elevation), -math.cos(azimuth) * math.cos(elevation), math.sin(elevation)],
        dtype=np.float32,
    )


def _studio(rng, dirs, key_dir):
    up = dirs[..., 2]
    hue = rng.uniform(0, 1)
    backdrop = _lin(_hsv(hue, rng.uniform(0.0, 0.45), rng.uniform(0.35, 0.95)))
    grad = 0.75 + 0.25 * np.clip(up, -1, 1)[..., None]
    env = backdrop * grad * (1 + 0.08 * _noise(rng, *dirs.shape[:2], (4, 8)))[..., None]
    lamp = _lin(_hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.15), 1.0))
    key_blob = 6.0 * lamp * _blob(dirs, key_dir, rng.uniform(0.15, 0.3))[..., None]
    for _ in range(int(rng.integers(0, 3))):  # fill / rim boxes
        d = _direction(rng.uniform(-math.pi, math.pi), rng.uniform(0.1, 0.8))
        env = env + rng.uniform(1.0, 3.0) * lamp * _blob(dirs, d, rng.uniform(0.15, 0.35))[..., None]
    floor = backdrop * rng.uniform(0.6, 0.95)
    return env, key_blob, floor, {"backdrop": np.round(backdrop, 3).tolist()}


def _outdoor(rng, dirs, key_dir):
    up = dirs[..., 2]
    overcast = rng.uniform() < 0.35
    zenith = _lin(_hsv(rng.uniform(0.55, 0.62), rng.uniform(0.3, 0.7) * (0.3 if overcast else 1.0), rng.uniform(0.6, 0.9)))
    horizon = _lin(_hsv(rng.uniform(0.5, 0.62), rng.uniform(0.05, 0.25), rng.uniform(0.85, 1.0)))
    t = np.clip(up, 0, 1)[..., None] ** 0.5
    sky = horizon * (1 - t) + zenith * t
    clouds = np.clip(_noise(rng, *dirs.shape[:2], (6, 12)) * 1.5 + (0.8 if overcast else -0.2), 0, 1)[..., None]
    sky = sky * (1 - clouds * 0.7) + _lin([0.92, 0.92, 0.95]) * clouds * 0.7
    sun = 0.0 if overcast else 40.0
    key_blob = sun * _lin([1.0, 0.95, 0.85]) * _blob(dirs, key_dir, 0.04)[..., None]
    ground_kind = str(rng.choice(["grass", "asphalt", "sand", "paving"]))
    ground_hsv = {"grass": (0.25, 0.5, 0.35), "asphalt": (0.6, 0.05, 0.3), "sand": (0.1, 0.35, 0.65), "paving": (0.08, 0.1, 0.55)}
    h, s, v = ground_hsv[ground_kind]
    ground = _lin(_hsv(h + rng.uniform(-0.03, 0.03), s * rng.uniform(0.7, 1.2), v * rng.uniform(0.8, 1.1)))
    ground_map = ground * (0.9 + 0.15 * _noise(rng, *dirs.shape[:2], (8, 16)))[..., None]
    # trees or buildings: a dark band a few degrees above the horizon, with a ragged top
    band_top = np.radians(rng.uniform(3, 14)) * (1 + 0.5 * _noise(rng, *dirs.shape[:2], (2, 24)))
    lat = np.arcsin(np.clip(up, -1, 1))
    band = ((lat >= 0) & (lat < band_top))[..., None]
    band_colour = _lin(_hsv(rng.uniform(0.2, 0.4) if rng.uniform() < 0.6 else rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.5)))
    env = np.where(up[..., None] >= 0, np.where(band, band_colour * (0.8 + 0.2 * sky), sky), ground_map * 0.9)
    return env.astype(np.float32), key_blob, ground, {"ground": ground_kind, "overcast": bool(overcast)}


def _indoor(rng, dirs, key_dir):
    up = dirs[..., 2]
    wall = _lin(_hsv(rng.uniform(0.05, 0.15) if rng.uniform() < 0.7 else rng.uniform(0, 1), rng.uniform(0.05, 0.35), rng.uniform(0.45, 0.9)))
    env = wall * (0.85 + 0.2 * _noise(rng, *dirs.shape[:2], (4, 12)))[..., None]
    # furniture / pictures: a few darker or coloured soft patches on the walls
    for _ in range(int(rng.integers(2, 6))):
        d = _direction(rng.uniform(-math.pi, math.pi), rng.uniform(-0.2, 0.4))
        colour = _lin(_hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.6), rng.uniform(0.15, 0.7)))
        w = _blob(dirs, d, rng.uniform(0.15, 0.4))[..., None]
        env = env * (1 - w) + colour * w
    # windows: bright rectangles (the key light comes through one of them)
    lon = np.arctan2(dirs[..., 0], -dirs[..., 1])
    lat = np.arcsin(np.clip(up, -1, 1))
    key_lon = math.atan2(float(key_dir[0]), -float(key_dir[1]))
    for i in range(int(rng.integers(1, 3))):
        c_lon = key_lon if i == 0 else rng.uniform(-math.pi, math.pi)
        half_w, half_h = np.radians(rng.uniform(12, 30)), np.radians(rng.uniform(12, 25))
        c_lat = np.radians(rng.uniform(5, 25))
        d_lon = np.angle(np.exp(1j * (lon - c_lon)))
        window = np.clip(1 - np.maximum(np.abs(d_lon) / half_w, np.abs(lat - c_lat) / half_h), 0, 0.15) / 0.15
        env = env + rng.uniform(4.0, 9.0) * _lin([1.0, 0.97, 0.92])[None, None] * window[..., None]
    ceiling = up[..., None] > 0.8
    env = np.where(ceiling, wall * 1.1, env)
    floor_kind = str(rng.choice(["wood", "carpet", "tiles"]))
    floor_hsv = {"wood": (0.07, 0.55, 0.45), "carpet": (rng.uniform(0, 1), 0.25, 0.35), "tiles": (0.1, 0.05, 0.7)}
    h, s, v = floor_hsv[floor_kind]
    floor = _lin(_hsv(h, s * rng.uniform(0.7, 1.2), v * rng.uniform(0.8, 1.1)))
    env = np.where(up[..., None] < -0.05, floor * (0.6 + 0.1 * _noise(rng, *dirs.shape[:2], (8, 16)))[..., None], env)
    return env.astype(np.float32), 0.0, floor, {"floor": floor_kind}


# ---------------------------------------------------------------------------------------------- sample
def sample_lighting(rng: np.random.Generator, config: LightingConfig = LightingConfig()) -> Lighting:
    """Draw one subject's lighting (environment, SH fill, key light, floor), normalised (module docstring).

    Args:
        rng: the subject's generator (consumed in a fixed order: deterministic).
        config: :class:`LightingConfig`.
    Returns:
        :class:`Lighting`.
    """
    kind = str(rng.choice(list(config.kinds), p=np.asarray(config.probs) / np.sum(config.probs)))
    # the key light is mostly in front of the body (which faces -Y), above the horizon
    if kind == "outdoor":
        key_dir = _direction(rng.uniform(-2.2, 2.2), rng.uniform(0.25, 1.1))
    else:
        key_dir = _direction(rng.uniform(-1.6, 1.6), rng.uniform(0.15, 0.8))
    dirs, _ = env_directions(config.env_height)
    env, key_blob, ground, info = {"studio": _studio, "outdoor": _outdoor, "indoor": _indoor}[kind](rng, dirs, key_dir)
    # the key light's own bright spot (soft box, sun) is left out of the fill's SH so that it is not
    # counted twice; the map keeps it, so it shows in backgrounds
    sh = sh_project(env)
    env = env + key_blob
    ratio = float(rng.uniform(*config.key_ratio))
    if kind == "outdoor" and info.get("overcast"):
        ratio *= 0.25
    warm = rng.uniform(-0.08, 0.12)
    key_colour = np.array([1.0 + warm, 1.0, 1.0 - warm], np.float32)
    horizontal = np.stack([_direction(a, 0.0) for a in np.linspace(-math.pi, math.pi, 8, endpoint=False)])
    fill = float(sh_irradiance(sh, horizontal).mean())
    key_rgb = key_colour * ratio * fill
    total = fill + float((np.clip(horizontal @ key_dir, 0, None)[:, None] * key_rgb).mean())
    scale = math.pi / max(total, 1e-6)
    env, sh, key_rgb = env * scale, sh * scale, key_rgb * scale
    ground_rgb = ground if rng.uniform() < 0.85 else None
    softness = float(rng.uniform(*config.shadow_softness)) * (0.6 if kind == "outdoor" and not info.get("overcast") else 1.0)
    info = {**info, "key_ratio": round(ratio, 3)}
    return Lighting(kind, env.astype(np.float32), sh.astype(np.float32), key_dir, key_rgb.astype(np.float32),
                    None if ground_rgb is None else ground_rgb.astype(np.float32), softness, info)
