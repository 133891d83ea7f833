"""Random subjects for the synthetic data: body shape, natural pose, facial expression and hands.

Shape: Anny's own calibrated distribution (:class:`anny.shape_distribution.SimpleShapeDistribution`,
WHO height-for-age data): a morphological age in years is drawn from :attr:`SubjectConfig.age_groups`
(mostly teenagers and adults), mapped to Anny's age, and height, weight, muscle and proportions are
drawn from its age- and gender-conditional Beta distributions (weight and muscle spread widely: all
body types); gender is uniform in [0, 1].

Pose (all rotations are Anny ``local-ref`` rotation vectors, see :mod:`uvatar.body.model`; the root is
never rotated, so every subject faces -Y and the cameras move around it):

* a stance: ``standing`` (legs together, apart or stepping) or ``sitting`` (hips and knees bent about
  90 degrees, for head and half-body views only);
* small spine, neck and head rotations;
* arms: one both-arm gesture (arms crossed, hands behind the back, hands in the front pockets, hands
  clasped in front, both hands on the hips, hands on the thighs when sitting) or one style per arm
  (hanging, relaxed, forward gesture, hand on the hip, waving, hand at the chin, holding a phone,
  hand in a pocket). Targets for the wrists are placed relative to the posed torso and reached by a
  closed-form two-bone IK (:func:`two_bone_ik`) that keeps the elbow a hinge; hanging, relaxed and
  hand-on-hip arms whose hands would sink into the thighs or hips (heavy subjects) are swung out
  (:func:`clear_hands`);
* hands: every finger joint flexes about its own axis (relaxed, curled, fist or open);
* face: an expression archetype (neutral, smile, laugh, talking, surprise, frown, or a random mix of
  2-4 ARKit actions) plus small gaze and blink values.

>>> # doctest: +SKIP
>>> subject = sample_subject(body, np.random.default_rng(0))
>>> subject.params.rotvecs.shape
torch.Size([1, 104, 3])
"""

from __future__ import annotations

import functools
import math
import weakref
from dataclasses import dataclass, field

import numpy as np
import roma
import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.errors import InputError

__all__ = ["SubjectConfig", "SubjectSample", "sample_subject", "sample_phenotypes", "two_bone_ik", "age_group"]

AGE_GROUPS = ("child", "teen", "adult", "senior")


@dataclass(frozen=True)
class SubjectConfig:
    """How subjects are drawn.

    Attributes:
        age_probs: probabilities of the age groups ``child`` (8-12 years), ``teen`` (13-19), ``adult``
            (20-59) and ``senior`` (60-85).
        sitting_prob: probability of a sitting subject (only head and half-body views).
        gesture_probs: probabilities of ``independent`` arms and of the both-arm gestures
            ``crossed``, ``behind_back``, ``pockets``, ``clasped``, ``hips``.
        neutral_face_prob: probability of a neutral expression.
    """

    age_probs: tuple[float, float, float, float] = (0.03, 0.2, 0.65, 0.12)
    sitting_prob: float = 0.1
    gesture_probs: tuple[float, ...] = (0.5, 0.12, 0.09, 0.12, 0.09, 0.08)
    neutral_face_prob: float = 0.25

    def __post_init__(self) -> None:
        for name in ("age_probs", "gesture_probs"):
            probs = np.asarray(getattr(self, name), dtype=float)
            if (probs < 0).any() or probs.sum() <= 0:
                raise InputError(f"SubjectConfig.{name} must be non-negative with a positive sum; got {probs.tolist()}")
        if len(self.age_probs) != 4 or len(self.gesture_probs) != len(_GESTURES):
            raise InputError(f"SubjectConfig: age_probs needs 4 values and gesture_probs {len(_GESTURES)} ({_GESTURES})")


_AGE_RANGES = ((8.0, 12.99), (13.0, 19.99), (20.0, 59.99), (60.0, 85.0))
_GESTURES = ("independent", "crossed", "behind_back", "pockets", "clasped", "hips")
_ARM_STYLES = ("hanging", "relaxed", "forward", "hip", "wave", "chin", "phone", "pocket")
_ARM_PROBS = (0.32, 0.2, 0.14, 0.08, 0.06, 0.06, 0.08, 0.06)


@dataclass
class SubjectSample:
    """One drawn subject (no appearance yet).

    Attributes:
        params: batch-1 :class:`BodyParams` (root unrotated, no translation).
        age_years: morphological age; ``age_group`` its group.
        sitting: whether the subject sits (head and half-body views only).
        info: what was drawn (styles, expression), for meta.json.
    """

    params: BodyParams
    age_years: float
    age_group: str
    sitting: bool
    info: dict = field(default_factory=dict)


def age_group(age_years: float) -> str:
    """``child`` (< 13), ``teen`` (< 20), ``adult`` (< 60) or ``senior``."""
    return "child" if age_years < 13 else "teen" if age_years < 20 else "adult" if age_years < 60 else "senior"


# ---------------------------------------------------------------------------------------------- shape
_DISTRIBUTIONS: "weakref.WeakKeyDictionary[BodyModel, object]" = weakref.WeakKeyDictionary()


def _distribution(body: BodyModel):
    if body not in _DISTRIBUTIONS:
        from anny.shape_distribution import SimpleShapeDistribution

        _DISTRIBUTIONS[body] = SimpleShapeDistribution(body.anny)
    return _DISTRIBUTIONS[body]


def sample_phenotypes(body: BodyModel, rng: np.random.Generator, config: SubjectConfig = SubjectConfig()) -> tuple[dict, float]:
    """Phenotypes from Anny's calibrated distribution (module docstring).

    Returns:
        label -> value in [0, 1] (``BodyModel.phenotype_labels``) and the morphological age in years.
    """
    dist = _distribution(body)
    probs = np.asarray(config.age_probs, dtype=float)
    group = int(rng.choice(4, p=probs / probs.sum()))
    years = float(rng.uniform(*_AGE_RANGES[group]))
    dtype = body.anny.dtype if hasattr(body.anny, "dtype") else torch.float32
    age = dist.morphological_age_mapping.morphological_to_anny_age(torch.tensor([years], dtype=dtype))
    gender = float(rng.uniform(0.0, 1.0))
    sex = "boys" if gender <= 0.5 else "girls"
    values = {"gender": gender, "age": float(age[0])}
    for label in ("height", "weight", "muscle", "proportions"):
        a, b = getattr(dist, f"{sex}_conditional_{label}_distribution").get_distribution_params(age)
        values[label] = float(np.clip(rng.beta(max(float(a[0]), 1e-3), max(float(b[0]), 1e-3)), 0.0, 1.0))
    return {label: values[label] for label in body.phenotype_labels}, years


# ---------------------------------------------------------------------------------------------- IK
def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(3, 3)`` taking direction ``a`` to direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return roma.rotvec_to_rotmat(torch.as_tensor(perp / np.linalg.norm(perp) * math.pi)).numpy().astype(np.float64)
    return roma.rotvec_to_rotmat(torch.as_tensor(axis / s * math.atan2(s, c))).numpy().astype(np.float64)


def _frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Orthonormal frame ``(3, 3)`` (columns) with first axis along ``x`` and second in the plane of ``x, y``."""
    e1 = x / np.linalg.norm(x)
    e2 = y - (y @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], 1)


def two_bone_ik(
    shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray, target: np.ndarray, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World rotations that bring a two-bone chain's end onto ``target`` with the middle joint a hinge.

    Args:
        shoulder, elbow, wrist: ``(3,)`` current joint positions (the chain is slightly bent, so its
            hinge axis is ``(elbow - shoulder) x (wrist - elbow)``).
        target: ``(3,)`` wanted wrist position (pulled in or out to the reachable range).
        pole: ``(3,)`` direction the elbow should point to (away from the shoulder-target line).
    Returns:
        ``R_upper`` ``(3, 3)`` (about the shoulder), ``R_lower`` ``(3, 3)`` (about the new elbow, applied
        after ``R_upper``) and the reached wrist position ``(3,)``.
    """
    l1 = float(np.linalg.norm(elbow - shoulder))
    l2 = float(np.linalg.norm(wrist - elbow))
    d = target - shoulder
    dist = float(np.clip(np.linalg.norm(d), abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4))
    d_hat = d / max(np.linalg.norm(d), 1e-9)
    reach = shoulder + d_hat * dist
    cos_a = np.clip((l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist), -1.0, 1.0)
    bend = pole - (pole @ d_hat) * d_hat
    if np.linalg.norm(bend) < 1e-6:
        bend = np.cross(d_hat, [0.0, 0.0, 1.0])
    bend = bend / np.linalg.norm(bend)
    new_elbow = shoulder + l1 * (cos_a * d_hat + math.sqrt(1 - cos_a * cos_a) * bend)
    upper0, fore0 = elbow - shoulder, wrist - elbow
    upper1, fore1 = new_elbow - shoulder, reach - new_elbow
    hinge0 = np.cross(upper0, fore0)
    hinge1 = np.cross(upper1, fore1)
    if np.linalg.norm(hinge0) < 1e-8 or np.linalg.norm(hinge1) < 1e-8:
        r_upper = _rotation_between(upper0, upper1)
    else:
        r_upper = _frame(upper1, hinge1) @ _frame(upper0, hinge0).T
    r_lower = _rotation_between(r_upper @ fore0, fore1)
    return r_upper, r_lower, reach


# ---------------------------------------------------------------------------------------------- pose
def mirror_rotvec(rotvec) -> list[float]:
    """Rotation vector of the left side -> the right side's (mirror x -> -x)."""
    return [rotvec[0], -rotvec[1], -rotvec[2]]


def standing_leg_rotations(rng: np.random.Generator, legs: str) -> dict[str, list[float]]:
    """Local rotation vectors of both legs (upper leg, knee, foot) for a standing style ``legs``
    ("together", "apart", "step": one leg forward, knee slightly bent, the other back).

    The order of the random draws is fixed: the single-photo generator (:mod:`uvatar.data.photo`)
    shares this function and its photos must stay the same for the same seed.
    """
    u, n = rng.uniform, rng.normal
    rot: dict[str, list[float]] = {}
    for side in ("L", "R"):
        inward = {"together": u(0.06, 0.12), "apart": u(-0.04, 0.05), "step": u(0.0, 0.1)}[legs]
        upper = [n(0, 0.04), inward, n(0, 0.06)]
        rot[f"upperleg01.{side}"] = upper if side == "L" else mirror_rotvec(upper)
        rot[f"lowerleg01.{side}"] = [u(0.0, 0.08), 0.0, 0.0]
        foot = [u(-0.05, 0.05), 0.0, n(0, 0.05)]
        rot[f"foot.{side}"] = foot if side == "L" else mirror_rotvec(foot)
    if legs == "step":
        front = str(rng.choice(["L", "R"]))
        back = "R" if front == "L" else "L"
        swing = u(0.12, 0.3)
        rot[f"upperleg01.{front}"][0] -= swing
        rot[f"lowerleg01.{front}"][0] += u(0.05, 0.25)
        rot[f"upperleg01.{back}"][0] += 0.5 * swing
        rot[f"foot.{front}"][0] += 0.5 * swing
    return rot


def _fk_arm_style(style: str, rng) -> tuple[list[float], list[float]]:
    """Upper and lower arm rotation vectors (left side) of the styles set by angles, not IK."""
    u = rng.uniform
    if style == "hanging":
        return [u(-0.2, 0.15), u(0.5, 0.8), u(-0.15, 0.15)], [u(0.2, 0.8), u(-0.1, 0.1), u(-0.1, 0.1)]
    if style == "relaxed":
        return [u(-0.3, 0.2), u(0.15, 0.5), u(-0.2, 0.2)], [u(-0.2, 0.6), u(-0.1, 0.2), u(-0.1, 0.1)]
    if style == "forward":
        return [u(-0.7, -0.2), u(0.4, 0.75), u(-0.2, 0.1)], [u(-1.0, -0.4), u(0.0, 0.4), u(-0.1, 0.1)]
    # hip
    return [u(0.0, 0.25), u(0.15, 0.35), u(0.2, 0.45)], [u(-0.2, 0.2), u(0.9, 1.3), u(-0.1, 0.1)]


@functools.lru_cache(maxsize=4)
def _chains(body_id: int, bone_parents: tuple[int, ...], labels: tuple[str, ...]) -> dict[str, list[int]]:
    """Ancestors (root first) of each upper arm's parent."""
    out = {}
    for side in "LR":
        j = labels.index(f"upperarm01.{side}")
        chain = []
        p = bone_parents[j]
        while p >= 0:
            chain.append(p)
            p = bone_parents[p]
        out[side] = chain[::-1]
    return out


def _torso_section(verts: np.ndarray, z: float, half_width: float = 0.05) -> tuple[float, float]:
    """Front (min y) and back (max y) of the torso near the midline at height ``z``."""
    sel = (np.abs(verts[:, 0]) < half_width) & (np.abs(verts[:, 2] - z) < 0.025)
    if not sel.any():
        return -0.12, 0.12
    return float(verts[sel, 1].min()), float(verts[sel, 1].max())


def _targets(style: str, side: str, joints: dict, verts: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Wrist target and elbow pole (world) of an IK style for one side (``L`` at +X)."""
    u = rng.uniform
    sx = 1.0 if side == "L" else -1.0
    hip = 0.5 * (joints["upperleg01.L"] + joints["upperleg01.R"])
    chest_z = float(joints["spine02"][2])
    belly_z = float(0.5 * (hip[2] + chest_z))
    shoulder = joints[f"upperarm01.{side}"]
    out = np.array([sx, 0.0, 0.0])
    if style == "crossed":  # this hand goes to the other side, one forearm over the other
        front, _ = _torso_section(verts, chest_z - 0.06)
        over = 1.0 if side == "L" else 0.0
        target = np.array([-sx * u(0.11, 0.15), front - 0.05 - 0.045 * over, chest_z - u(0.06, 0.1) + 0.02 * over])
        pole = out * 0.6 + np.array([0.0, 0.3, -1.0])
    elif style == "behind_back":
        _, back = _torso_section(verts, float(hip[2]) + 0.08, 0.08)
        target = np.array([sx * u(0.02, 0.06), back + 0.06, float(hip[2]) + u(0.0, 0.1)])
        pole = out + np.array([0.0, 0.8, -0.3])
    elif style == "pocket":
        front, _ = _torso_section(verts, float(hip[2]) - 0.02, 0.2)
        width = float(abs(joints[f"upperleg01.{side}"][0])) + u(0.03, 0.06)
        target = np.array([sx * width, front + u(0.03, 0.06), float(hip[2]) - u(0.0, 0.06)])
        pole = out + np.array([0.0, 0.6, -0.2])
    elif style == "clasped":
        front, _ = _torso_section(verts, belly_z - 0.05)
        target = np.array([sx * u(0.015, 0.04), front - u(0.06, 0.12), float(hip[2]) + u(-0.05, 0.1)])
        pole = out + np.array([0.0, 0.2, -0.6])
    elif style == "thighs":
        knee = joints[f"lowerleg01.{side}"]
        t = u(0.45, 0.8)
        target = joints[f"upperleg01.{side}"] * (1 - t) + knee * t + np.array([sx * u(-0.02, 0.03), 0.0, u(0.07, 0.1)])
        pole = out + np.array([0.0, 0.5, -0.5])
    elif style == "chin":
        chin = joints["head"] + np.array([0.0, -0.09, -0.07])
        target = chin + np.array([sx * u(0.0, 0.03), u(-0.06, -0.03), u(-0.1, -0.07)])
        pole = np.array([sx * 0.3, 0.0, -1.0])
    elif style == "phone":
        front, _ = _torso_section(verts, chest_z)
        target = np.array([sx * u(0.04, 0.14), front - u(0.2, 0.3), chest_z + u(-0.05, 0.12)])
        pole = out * 0.5 + np.array([0.0, 0.2, -1.0])
    elif style == "wave":
        target = shoulder + np.array([sx * u(0.2, 0.35), u(-0.15, 0.0), u(0.25, 0.4)])
        pole = out * 0.3 + np.array([0.0, 0.3, -1.0])
    else:
        raise InputError(f"unknown arm IK style {style!r}")
    return target, pole


def _finger_rotations(body: BodyModel, rest_frames: np.ndarray, side: str, curl: float, spread: float, rng) -> dict:
    """Finger joint rotations (world-aligned rotation vectors) flexing each joint about its bone's local X."""
    rot = {}
    for finger in range(1, 6):
        for joint in range(1, 4):
            label = f"finger{finger}-{joint}.{side}"
            axis = rest_frames[body.bone_index(label)][:3, 0]
            scale = {1: 0.7, 2: 1.0, 3: 0.8}[joint] * (0.6 if finger == 1 else 1.0)
            angle = curl * scale * (1.0 + rng.normal(0, 0.15)) * (1.0 + 0.08 * (finger - 2))
            vec = axis * angle
            if joint == 1 and finger > 1:  # spread the fingers a little about the palm normal
                normal = rest_frames[body.bone_index(label)][:3, 2]
                vec = vec + normal * spread * (finger - 3) * 0.1
            rot[label] = vec.tolist()
    return rot


def _facial(body: BodyModel, rng, config: SubjectConfig) -> tuple[dict, str]:
    u = rng.uniform
    facial: dict[str, float] = {}
    if rng.uniform() < config.neutral_face_prob:
        kind = "neutral"
    else:
        kind = str(rng.choice(["smile", "laugh", "talking", "surprise", "frown", "mix"], p=[0.3, 0.1, 0.2, 0.08, 0.1, 0.22]))
    both = lambda name, value: facial.update({f"{name}Left": value, f"{name}Right": value * u(0.85, 1.15)})  # noqa: E731
    if kind == "smile":
        both("mouthSmile", u(0.3, 0.9))
        both("cheekSquint", u(0.0, 0.4))
        both("eyeSquint", u(0.0, 0.3))
    elif kind == "laugh":
        both("mouthSmile", u(0.6, 1.0))
        facial["jawOpen"] = u(0.15, 0.4)
        both("cheekSquint", u(0.3, 0.7))
        both("eyeSquint", u(0.2, 0.5))
    elif kind == "talking":
        facial["jawOpen"] = u(0.05, 0.3)
        facial[str(rng.choice(["mouthFunnel", "mouthPucker", "mouthClose", "mouthShrugUpper"]))] = u(0.1, 0.5)
        both("mouthLowerDown", u(0.0, 0.4))
    elif kind == "surprise":
        facial["browInnerUp"] = u(0.4, 0.9)
        both("browOuterUp", u(0.3, 0.8))
        both("eyeWide", u(0.3, 0.8))
        facial["jawOpen"] = u(0.0, 0.35)
    elif kind == "frown":
        both("browDown", u(0.2, 0.7))
        both("mouthFrown", u(0.2, 0.7))
        both("mouthPress", u(0.0, 0.5))
    elif kind == "mix":
        choices = ("mouthSmile", "browDown", "browOuterUp", "eyeSquint", "cheekSquint", "mouthFrown", "mouthStretch",
                   "mouthDimple", "mouthUpperUp", "noseSneer", "mouthPress")
        for k in rng.choice(len(choices), size=int(rng.integers(2, 5)), replace=False):
            both(choices[int(k)], u(0.0, 0.6))
        if rng.uniform() < 0.4:
            facial["jawOpen"] = u(0.0, 0.3)
    # gaze and blink
    look_x, look_y = rng.normal(0, 0.15), rng.normal(0, 0.12)
    if look_x > 0:
        facial["eyeLookOutLeft"], facial["eyeLookInRight"] = min(look_x, 0.6), min(look_x, 0.6)
    else:
        facial["eyeLookInLeft"], facial["eyeLookOutRight"] = min(-look_x, 0.6), min(-look_x, 0.6)
    if look_y > 0:
        facial["eyeLookUpLeft"] = facial["eyeLookUpRight"] = min(look_y, 0.5)
    else:
        facial["eyeLookDownLeft"] = facial["eyeLookDownRight"] = min(-look_y, 0.5)
    blink = u(0.0, 0.25) if rng.uniform() > 0.04 else u(0.85, 1.0)
    facial["eyeBlinkLeft"] = facial["eyeBlinkRight"] = blink
    facial = {k: float(np.clip(v, 0.0, 1.0)) for k, v in facial.items() if k in body.facial_labels}
    return facial, kind


def sample_subject(body: BodyModel, rng: np.random.Generator, config: SubjectConfig = SubjectConfig()) -> SubjectSample:
    """Draw one subject: shape, stance, arm gesture (IK), hands and face (module docstring).

    Args:
        body: the body model.
        rng: the subject's body generator (consumed in a fixed order: deterministic).
        config: :class:`SubjectConfig`.
    Returns:
        :class:`SubjectSample`.
    """
    u, n = rng.uniform, rng.normal
    phenotypes, years = sample_phenotypes(body, rng, config)
    sitting = bool(rng.uniform() < config.sitting_prob)
    rot: dict[str, list[float]] = {}
    for bone in ("spine01", "spine02", "spine03"):
        rot[bone] = [n(0, 0.04), n(0, 0.03), n(0, 0.05)]
    for bone in ("neck01", "neck02"):
        rot[bone] = [n(0, 0.04), n(0, 0.03), n(0, 0.06)]
    rot["head"] = [u(-0.12, 0.2), u(-0.12, 0.12), u(-0.35, 0.35)]  # +x looks down
    info: dict = {"stance": "sitting" if sitting else "standing"}
    # ---- legs
    if sitting:
        apart = u(0.0, 0.12)
        for side, sx in (("L", 1.0), ("R", -1.0)):
            hip = [-u(1.35, 1.6), 0.0, 0.0]
            hip[1] = -apart if side == "L" else apart  # knees apart
            rot[f"upperleg01.{side}"] = hip
            rot[f"lowerleg01.{side}"] = [u(1.25, 1.65), 0.0, 0.0]
            rot[f"foot.{side}"] = [u(-0.1, 0.15), 0.0, n(0, 0.05) * sx]
        rot["spine03"][0] += u(-0.05, 0.15)
        info["legs"] = "sitting"
    else:
        legs = str(rng.choice(["together", "apart", "step"], p=[0.45, 0.3, 0.25]))
        info["legs"] = legs
        rot.update(standing_leg_rotations(rng, legs))
    # ---- arms
    probs = np.asarray(config.gesture_probs, dtype=float)
    gesture = _GESTURES[int(rng.choice(len(_GESTURES), p=probs / probs.sum()))]
    if sitting and gesture in ("pockets", "behind_back") :
        gesture = "thighs"
    styles = {}
    for side in ("L", "R"):
        if gesture == "independent":
            styles[side] = str(rng.choice(_ARM_STYLES, p=np.asarray(_ARM_PROBS) / np.sum(_ARM_PROBS)))
            if sitting and styles[side] in ("pocket", "hip"):
                styles[side] = "thighs"
        else:
            styles[side] = {"crossed": "crossed", "behind_back": "behind_back", "pockets": "pocket", "clasped": "clasped",
                            "hips": "hip", "thighs": "thighs"}[gesture]
        rot[f"clavicle.{side}"] = [0.0, u(-0.05, 0.1), 0.0] if side == "L" else mirror_rotvec([0.0, u(-0.05, 0.1), 0.0])
        rot[f"wrist.{side}"] = [n(0, 0.15), n(0, 0.15), n(0, 0.15)]
    info["gesture"] = gesture
    info["arm_L"], info["arm_R"] = styles["L"], styles["R"]
    for side in ("L", "R"):
        if styles[side] in ("hanging", "relaxed", "forward", "hip"):
            upper, lower = _fk_arm_style(styles[side], rng)
            if side == "R":
                upper, lower = mirror_rotvec(upper), mirror_rotvec(lower)
            rot[f"upperarm01.{side}"], rot[f"lowerarm01.{side}"] = upper, lower
    # ---- hands
    curl_kind = str(rng.choice(["relaxed", "curled", "fist", "open"], p=[0.5, 0.25, 0.1, 0.15]))
    curl = {"relaxed": u(0.15, 0.45), "curled": u(0.5, 0.9), "fist": u(1.1, 1.4), "open": u(-0.05, 0.1)}[curl_kind]
    info["hands"] = curl_kind
    facial, expression = _facial(body, rng, config)
    info["expression"] = expression
    params = body.params_from_labels(rotations=rot, phenotypes=phenotypes, facial=facial)
    # ---- IK arms and fingers (need the posed torso and the rest bone frames of this shape)
    with torch.no_grad():
        out = body.forward(params)
    rest_frames = out.rest_bone_poses[0].cpu().numpy().astype(np.float64)
    for side in ("L", "R"):
        side_curl = curl if styles[side] not in ("pocket", "crossed") else max(curl, 0.6)
        for label, vec in _finger_rotations(body, rest_frames, side, side_curl, u(0.0, 1.0), rng).items():
            params.rotvecs[0, body.bone_index(label)] = torch.as_tensor(vec, dtype=torch.float32)
    ik_sides = [s for s in ("L", "R") if styles[s] not in ("hanging", "relaxed", "forward", "hip")]
    if ik_sides:
        _apply_ik(body, params, out, styles, ik_sides, rng)
    posed_by_angles = [s for s in ("L", "R") if styles[s] in ("hanging", "relaxed", "hip")]
    if posed_by_angles:
        info["hands_cleared_deg"] = clear_hands(body, params, posed_by_angles)
    info["facial"] = {k: round(v, 3) for k, v in facial.items() if v > 0.02}
    return SubjectSample(params, years, age_group(years), sitting, info)


HAND_CLEARANCE_M = 0.01  # a hanging hand ends this far outside the thigh or hip it would sink into
HAND_DEPTH_LIMIT_M = 0.005  # sinking less than this is left alone (skin contact)


@functools.lru_cache(maxsize=4)
def _hand_layout(body: BodyModel) -> dict:
    """Vertex indices of each hand (hand part, mostly skinned to that side's hand bones) and of the
    surfaces a hanging hand can sink into (torso and legs)."""
    from uvatar.body.parts import vertex_parts

    part = vertex_parts(body)
    weights = body.skinning_weight_matrix.cpu().numpy()
    out = {"surface": np.nonzero(np.isin(part, [1, 4]))[0]}  # PART_NAMES: torso 1, legs 4; hands 3
    for side in "LR":
        bones = [i for i, label in enumerate(body.bone_labels)
                 if label.endswith(f".{side}") and any(k in label for k in ("wrist", "finger", "thumb", "metacarpal"))]
        out[side] = np.nonzero((part == 3) & (weights[:, bones].sum(1) > 0.5))[0]
    return out


def hand_depths(body: BodyModel, vertices: torch.Tensor) -> dict[str, tuple[float, np.ndarray]]:
    """How deep each hand sinks into the torso or legs of the posed ``vertices (V, 3)``: per side, the
    largest depth (metres, 0 when outside) of a hand vertex behind the nearest torso or leg vertex (within
    4 cm) along that vertex's normal, and the mean normal of the surface it sinks into (``(3,)``)."""
    from scipy.spatial import cKDTree

    from uvatar.body.skinning import vertex_normals

    layout = _hand_layout(body)
    normals = vertex_normals(vertices[None].float(), body.faces)[0].cpu().numpy().astype(np.float64)
    v = vertices.cpu().numpy().astype(np.float64)
    surface = layout["surface"]
    tree = cKDTree(v[surface])
    out = {}
    for side in "LR":
        hand = v[layout[side]]
        distance, nearest = tree.query(hand)
        on = surface[nearest]
        behind = -np.einsum("nd,nd->n", hand - v[on], normals[on])
        inside = (distance < 0.04) & (behind > 0.0)
        depth = float(behind[inside].max()) if inside.any() else 0.0
        normal = normals[on[inside]].mean(0) if inside.any() else np.zeros(3)
        out[side] = (depth, normal)
    return out


def clear_hands(body: BodyModel, params: BodyParams, sides: list[str], rounds: int = 8, max_deg: float = 45.0) -> dict[str, float]:
    """Swing the upper arms of ``sides`` out until their hands no longer sink into the thighs or hips
    (deeper than :data:`HAND_DEPTH_LIMIT_M`; heavy subjects with hanging arms): each round turns the
    upper arm about the shoulder, away from the surface the hand is in, by the angle that moves the hand
    :data:`HAND_CLEARANCE_M` past it, at most ``rounds`` rounds and ``max_deg`` in all. Edits ``params``
    in place; returns the total turn per side, degrees."""
    chains = _chains(id(body), tuple(body.bone_parents), tuple(body.bone_labels))
    turned = {side: 0.0 for side in sides}
    for _ in range(rounds):
        with torch.no_grad():
            out = body.forward(params)
        depths = hand_depths(body, out.vertices[0])
        todo = [side for side in sides if depths[side][0] > HAND_DEPTH_LIMIT_M and turned[side] < max_deg]
        if not todo:
            break
        poses = out.bone_poses[0].cpu().numpy().astype(np.float64)
        rotmats = roma.rotvec_to_rotmat(params.rotvecs[0].double()).numpy()
        for side in todo:
            depth, normal = depths[side]
            iu = body.bone_index(f"upperarm01.{side}")
            shoulder, wrist = poses[iu, :3, 3], poses[body.bone_index(f"wrist.{side}"), :3, 3]
            arm = wrist - shoulder
            away = normal - (normal @ arm) / (arm @ arm) * arm  # the push, across the arm
            if np.linalg.norm(away) < 1e-9:
                continue
            axis = np.cross(arm, away)
            angle = min(math.atan2(depth + HAND_CLEARANCE_M, float(np.linalg.norm(arm))), math.radians(max_deg - turned[side]))
            world = roma.rotvec_to_rotmat(torch.as_tensor(axis / np.linalg.norm(axis) * angle)).numpy()
            parent = np.eye(3)
            for j in chains[side]:
                parent = parent @ rotmats[j]
            local = parent.T @ world @ parent @ rotmats[iu]  # the world turn on top of the arm's own
            params.rotvecs[0, iu] = roma.rotmat_to_rotvec(torch.as_tensor(local)).float()
            turned[side] += math.degrees(angle)
    return {side: round(value, 2) for side, value in turned.items()}


def _apply_ik(body: BodyModel, params: BodyParams, out, styles: dict, sides: list[str], rng) -> None:
    """Set the upper and lower arm rotations of ``sides`` so the wrists reach their style's targets."""
    poses = out.bone_poses[0].cpu().numpy().astype(np.float64)
    verts = out.vertices[0].cpu().numpy().astype(np.float64)
    joints = {label: poses[i, :3, 3] for i, label in enumerate(body.bone_labels)}
    chains = _chains(id(body), tuple(body.bone_parents), tuple(body.bone_labels))
    rotmats = roma.rotvec_to_rotmat(params.rotvecs[0].double()).numpy()
    for side in sides:
        target, pole = _targets(styles[side], side, joints, verts, rng)
        parent = np.eye(3)
        for j in chains[side]:
            parent = parent @ rotmats[j]
        # the chain as posed with this side's arm deltas at identity
        iu, il = body.bone_index(f"upperarm01.{side}"), body.bone_index(f"lowerarm01.{side}")
        shoulder = joints[f"upperarm01.{side}"]
        # positions with the arm's own deltas removed: undo them about the shoulder and elbow
        r_u_now = parent @ rotmats[iu] @ parent.T
        elbow_now, wrist_now = joints[f"lowerarm01.{side}"], joints[f"wrist.{side}"]
        elbow0 = shoulder + r_u_now.T @ (elbow_now - shoulder)
        r_l_now = (parent @ rotmats[iu]) @ rotmats[il] @ (parent @ rotmats[iu]).T
        wrist0 = elbow0 + r_u_now.T @ (r_l_now.T @ (wrist_now - elbow_now))
        r_upper, r_lower, _ = two_bone_ik(shoulder, elbow0, wrist0, target, pole)
        d_upper = parent.T @ r_upper @ parent
        chain = parent @ d_upper
        d_lower = chain.T @ r_lower @ chain
        params.rotvecs[0, iu] = roma.rotmat_to_rotvec(torch.as_tensor(d_upper)).float()
        params.rotvecs[0, il] = roma.rotmat_to_rotvec(torch.as_tensor(d_lower)).float()
