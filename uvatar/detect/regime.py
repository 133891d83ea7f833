"""Framing regime of a photo: ``head``, ``half`` or ``full``, from landmark visibility AND position.

Visibility alone is not enough (MediaPipe gives hip visibility ~0.25 on half-body photos whose waist is
at the bottom edge, and ankle visibility ~0.35 on full-body photos cut at the shins), so the rule also
measures how much of each body segment lies inside the frame, using MediaPipe's landmark positions,
which it extrapolates beyond the frame edges. The rule, in order:

1. ``head`` when no shoulder is in frame, or the face is so large (face-mesh or face-detector box height
   > 35% of the image height) that the frame cannot reach the waist (head + torso to the waist is ~3.5
   face heights).
2. ``full`` when the legs are seen below the knees: on at least one leg, the knee is in frame, at least
   half of the shin (knee -> ankle) lies in frame, and the leg is seen there: knee visibility > 0.5, or
   the person mask covers the middle of the in-frame part of the shin (a coat or dress lowers knee
   visibility but not the mask; a desk in front of the legs lowers both); or both ankles are visible
   and in frame.
3. ``half`` when most of the torso is in frame: the fraction of the shoulder-midpoint -> hip-midpoint
   segment inside the frame is >= 0.6 (the waist sits ~0.75 of the way down), or both hips are visible
   and in frame. ``lower_extent`` then says where the frame cuts the body: ``waist`` (above ~1/4 of the
   way from hips to knees), ``thigh``, or ``knee`` (at or below ~3/4 of the way).
4. ``head`` otherwise (head with at most the shoulders and upper chest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uvatar.detect.detections import BODY_INDEX, Detections

__all__ = ["RegimeDecision", "classify_regime", "REGIMES"]

REGIMES = ("head", "half", "full")

VISIBLE = 0.5  # MediaPipe visibility above which a landmark counts as seen
FACE_DOMINANT = 0.35  # face-mesh height / image height above which the photo is a head shot
TORSO_IN_FRAME = 0.6  # fraction of shoulder->hip segment in frame for a half-body photo
SHIN_IN_FRAME = 0.5  # fraction of knee->ankle segment in frame for a full-body photo


@dataclass
class RegimeDecision:
    """The framing regime of one photo and why.

    Attributes:
        regime: ``"head"``, ``"half"`` or ``"full"``.
        lower_extent: for ``half``, where the frame cuts the body: ``"waist"``, ``"thigh"`` or ``"knee"``;
            None for the other regimes.
        reason: one sentence naming the rule that decided.
        evidence: the numbers the rule looked at: per-landmark ``visibility`` and ``in_frame`` for
            shoulders, hips, knees and ankles, ``torso_in_frame`` and ``shin_in_frame`` (fractions in
            [0, 1]), ``shin_mask`` (person-mask value mid-shin, or None), ``face_height`` (fraction of
            the image height, from the face mesh or face detector box, or None without either).
    """

    regime: str
    lower_extent: str | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _segment_in_frame(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """Fraction in [0, 1] of the 2D segment a -> b (pixels) that lies inside the image ``size`` (W, H)."""
    W, H = size
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, dp, lo, hi in ((a[0], d[0], 0.0, W), (a[1], d[1], 0.0, H)):
        if abs(dp) < 1e-9:
            if not lo <= p <= hi:
                return 0.0
            continue
        ta, tb = (lo - p) / dp, (hi - p) / dp
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    return float(max(0.0, t1 - t0))


def classify_regime(det: Detections) -> RegimeDecision:
    """Classify the framing of a photo from its detections.

    Args:
        det: detections of one photo (pixels of the original image).

    Returns:
        :class:`RegimeDecision` with the regime, ``lower_extent`` for ``half``, and the evidence.
    """
    W, H = det.image_size
    vis, inside, p = det.body_visibility, det.body_in_frame, det.body.astype(np.float64)

    def seen(name: str) -> bool:
        i = BODY_INDEX[name]
        return bool(vis[i] > VISIBLE and inside[i])

    names = [f"{s}_{j}" for j in ("shoulder", "hip", "knee", "ankle") for s in ("left", "right")]
    ev: dict[str, Any] = {
        n: {"visibility": round(float(vis[BODY_INDEX[n]]), 3), "in_frame": bool(inside[BODY_INDEX[n]])} for n in names
    }
    P = {n: p[BODY_INDEX[n]] for n in names}
    sh_mid = (P["left_shoulder"] + P["right_shoulder"]) / 2
    hip_mid = (P["left_hip"] + P["right_hip"]) / 2
    torso = _segment_in_frame(sh_mid, hip_mid, (W, H))
    shins = {s: _segment_in_frame(P[f"{s}_knee"], P[f"{s}_ankle"], (W, H)) for s in ("left", "right")}
    # Face height: the larger of the face mesh's and the face detector's (which does not depend on the
    # pose, so it stays right when the pose model garbles a tight crop).
    heights = []
    if det.face is not None:
        heights.append(float(det.face[:, 1].max() - det.face[:, 1].min()) / H)
    if det.face_detection is not None:
        heights.append(float(det.face_detection[3] - det.face_detection[1]) / H)
    face_h = max(heights) if heights else None
    ev["torso_in_frame"] = round(torso, 3)
    ev["shin_in_frame"] = {s: round(v, 3) for s, v in shins.items()}
    ev["face_height"] = None if face_h is None else round(face_h, 3)

    def decision(regime: str, reason: str, extent: str | None = None) -> RegimeDecision:
        return RegimeDecision(regime, extent, reason, ev)

    if not (inside[BODY_INDEX["left_shoulder"]] or inside[BODY_INDEX["right_shoulder"]]):
        return decision("head", "no shoulder is in frame")
    if face_h is not None and face_h > FACE_DOMINANT:
        return decision("head", f"the face fills {face_h:.0%} of the image height (> {FACE_DOMINANT:.0%})")
    shin_mask = {s: _mask_at(det, P[f"{s}_knee"] + 0.5 * shins[s] * (P[f"{s}_ankle"] - P[f"{s}_knee"])) for s in ("left", "right")}
    ev["shin_mask"] = {s: None if v is None else round(v, 3) for s, v in shin_mask.items()}
    legs = [
        s
        for s in ("left", "right")
        if inside[BODY_INDEX[f"{s}_knee"]]
        and shins[s] >= SHIN_IN_FRAME
        and (vis[BODY_INDEX[f"{s}_knee"]] > VISIBLE or (shin_mask[s] or 0.0) > 0.5)
    ]
    if legs:
        s = legs[0]
        how = "visible" if vis[BODY_INDEX[f"{s}_knee"]] > VISIBLE else "covered by the person mask"
        return decision("full", f"the {s} knee is {how} and {shins[s]:.0%} of that shin is in frame")
    if seen("left_ankle") and seen("right_ankle"):
        return decision("full", "both ankles are visible and in frame")
    if torso >= TORSO_IN_FRAME or (seen("left_hip") and seen("right_hip")):
        why = (
            f"{torso:.0%} of the torso (shoulders to hips) is in frame"
            if torso >= TORSO_IN_FRAME
            else "both hips are visible and in frame"
        )
        return decision("half", why, _lower_extent(P, hip_mid, H))
    return decision("head", f"only {torso:.0%} of the torso is in frame (< {TORSO_IN_FRAME:.0%})")


def _mask_at(det: Detections, xy: np.ndarray) -> float | None:
    """Person-mask value at pixel ``xy`` (x, y), or None without a mask or outside the image."""
    if det.mask is None:
        return None
    x, y = int(np.floor(xy[0])), int(np.floor(xy[1]))
    h, w = det.mask.shape
    return float(det.mask[y, x]) if 0 <= x < w and 0 <= y < h else None


def _lower_extent(P: dict[str, np.ndarray], hip_mid: np.ndarray, H: int) -> str:
    """Where the bottom edge of a half-body frame cuts the body: waist, thigh or knee."""
    knee_mid = (P["left_knee"] + P["right_knee"]) / 2
    thigh = knee_mid[1] - hip_mid[1]
    if thigh <= 1e-6:  # lying / seated with knees raised: judge by the hips only
        return "waist" if hip_mid[1] >= H * 0.95 else "thigh"
    t = (H - hip_mid[1]) / thigh  # 0 at the hips, 1 at the knees
    if t < 0.25:
        return "waist"
    if t < 0.75:
        return "thigh"
    return "knee"
