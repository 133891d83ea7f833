"""Make the built-in motions shipped in ``uvatar/data/motions/`` (idle, wave, talk, walk, turn).

Run from the checkout (about 10 s; needs the Anny cache)::

    python tools/make_builtin_motions.py            # rewrites uvatar/data/motions/*.json
    python tools/make_builtin_motions.py --check    # exits 1 if the shipped files differ from a rebuild

Every motion is keyframed and loops: each channel is a list of ``(time, value)`` keys interpolated by a
periodic cubic spline whose period is the clip length, so the frame after the last is the first.
Channels come in two kinds:

* **turns**: ``(bone, axis, keys in degrees)``: a rotation about a body-space axis (X = the body's
  left, Y = its back, Z = up) or about the bone's own reference direction ("twist"), applied as that bone's ``local-ref`` rotation (Anny composes these in
  world-aligned axes: +X nods the head or bends the spine forward, +Z turns towards the body's left,
  +Y tilts the top towards its left). Several turns of one bone multiply in list order.
* **aims**: ``(bone, keys of direction vectors)``: the direction the bone's segment (its head to the
  head of the next bone down the limb) should point at, in body axes turned with the root (so arms
  stay by the sides while the body turns); solved as the smallest swing from where the parents carry
  the bone (so no twist is added). Used for arms, where angles about fixed axes are hard to read.

Facial actions (``talk`` and the blinks) are keys of weights, added to the avatar's own expression
(``facial_mode = "add"``); weights are clamped to [0, 1].
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
import roma
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))

from uvatar.animate.limits import clamp_to_limits  # noqa: E402
from uvatar.animate.motion import Motion  # noqa: E402
from uvatar.animate.rotations import aim_rotation, local_from_world, wrap_angle  # noqa: E402

OUT = REPO / "uvatar" / "data" / "motions"
FPS = 30.0
_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
_SEGMENT_END = {
    "clavicle": "upperarm01",
    "upperarm01": "lowerarm01",
    "lowerarm01": "wrist",
    "wrist": "finger3-1",
    "upperleg01": "lowerleg01",
    "lowerleg01": "foot",
}


def curve(keys, duration: float, times: np.ndarray) -> np.ndarray:
    """Periodic cubic spline through ``keys`` [(t, value or vector), ...] (t in [0, duration))."""
    from scipy.interpolate import CubicSpline

    keys = sorted(keys, key=lambda k: k[0])
    t = np.array([k[0] for k in keys] + [keys[0][0] + duration], dtype=np.float64)
    v = np.array([k[1] for k in keys] + [keys[0][1]], dtype=np.float64)
    if len(keys) == 1:
        return np.repeat(v[:1], len(times), axis=0)
    spline = CubicSpline(t, v, bc_type="periodic", axis=0)
    return spline((times - t[0]) % duration + t[0])


def sine_keys(amplitude: float, period: float, duration: float, phase: float = 0.0, offset: float = 0.0, per_period: int = 8):
    """Keys sampling ``offset + amplitude * sin(2 pi (t / period) + phase)`` (period divides duration)."""
    n = int(round(duration / period)) * per_period
    return [(duration * k / n, offset + amplitude * math.sin(2 * math.pi * (duration * k / n) / period + phase)) for k in range(n)]


class Builder:
    """Accumulates turns, aims and facial keys, then solves ``local-ref`` rotations per frame."""

    def __init__(self, body, name: str, duration: float) -> None:
        self.body, self.name, self.duration = body, name, duration
        self.frames = int(round(duration * FPS))
        self.times = np.arange(self.frames) / FPS
        self.turns: list[tuple[str, str, list]] = []
        self.aims: list[tuple[str, list]] = []
        self.spins: list[tuple[str, str, float]] = []
        self.facial: dict[str, list] = {}
        self.translation: dict[int, list] = {}
        with torch.no_grad():
            heads = body.forward(body.default_params(1)).bone_poses[0, :, :3, 3]
        self.heads = heads
        self.segments = {}
        for c, label in enumerate(body.bone_labels):
            stem, _, side = label.partition(".")
            if stem in _SEGMENT_END:
                end = body.bone_index(_SEGMENT_END[stem] + (f".{side}" if side else ""))
                self.segments[c] = heads[end] - heads[c]

    def turn(self, bone: str, axis: str, keys) -> "Builder":
        self.turns.append((bone, axis, keys))
        return self

    def spin(self, bone: str, axis: str, turns: float) -> "Builder":
        """A steady rotation: ``turns`` whole turns over the clip (loops seamlessly)."""
        self.spins.append((bone, axis, turns))
        return self

    def aim(self, bone: str, keys) -> "Builder":
        self.aims.append((bone, keys))
        return self

    def face(self, action: str, keys) -> "Builder":
        self.facial[action] = keys
        return self

    def move(self, axis: str, keys) -> "Builder":
        self.translation["xyz".index(axis)] = keys
        return self

    def _axis(self, c: int, axis: str) -> torch.Tensor:
        """Unit axis of a turn: a body axis, or "twist": the bone's own direction in the reference pose."""
        if axis != "twist":
            return torch.tensor(_AXES[axis])
        child = self.body.bone_parents.index(c)
        return torch.nn.functional.normalize(self.heads[child] - self.heads[c], dim=0)

    def build(self, note: str) -> Motion:
        body = self.body
        n_bones = len(body.bone_labels)
        local = torch.eye(3).repeat(self.frames, n_bones, 1, 1)
        spins = [(bone, axis, [(0.0, 0.0)], turns) for bone, axis, turns in self.spins]
        for bone, axis, keys, turns in [(b, a, k, 0.0) for b, a, k in self.turns] + spins:
            angles = curve(keys, self.duration, self.times) + 360.0 * turns * self.times / self.duration
            angles = torch.tensor([math.degrees(wrap_angle(math.radians(a))) for a in angles.tolist()])
            c = body.bone_index(bone)
            rotvec = self._axis(c, axis) * torch.deg2rad(angles)[:, None]
            local[:, c] = local[:, c] @ roma.rotvec_to_rotmat(rotvec)
        aims = {body.bone_index(b): torch.tensor(curve(k, self.duration, self.times), dtype=torch.float32) for b, k in self.aims}
        world = [None] * n_bones
        for c, p in enumerate(body.bone_parents):
            parent = world[p] if p >= 0 else torch.eye(3).expand(self.frames, 3, 3)
            if c in aims:
                carried = parent @ local[:, c] @ self.segments[c]
                target = (world[0] @ aims[c][..., None])[..., 0]  # aims turn with the root
                world[c] = aim_rotation(carried, target) @ parent @ local[:, c]
            else:
                world[c] = parent @ local[:, c]
        rotvecs = roma.rotmat_to_rotvec(local_from_world(torch.stack(world, 1), list(body.bone_parents)))
        rotvecs = clamp_to_limits(rotvecs, body.bone_labels)
        driven = sorted({body.bone_index(b) for b, _, _ in self.turns + self.spins} | set(aims))
        translation = torch.zeros(self.frames, 3)
        for axis, keys in self.translation.items():
            translation[:, axis] = torch.tensor(curve(keys, self.duration, self.times), dtype=torch.float32)
        facial = None
        if self.facial:
            facial = torch.zeros(self.frames, len(body.facial_labels))
            for action, keys in self.facial.items():
                facial[:, body.facial_labels.index(action)] = torch.tensor(curve(keys, self.duration, self.times), dtype=torch.float32).clamp(0, 1)
        return Motion(
            fps=FPS, rotvecs=rotvecs, translation=translation, bone_labels=list(body.bone_labels),
            bones=[body.bone_labels[c] for c in driven], facial=facial, facial_labels=list(body.facial_labels),
            facial_mode="add", loop=True, name=self.name,
            meta={"source": "builtin", "tool": "tools/make_builtin_motions.py", "note": note},
        )  # fmt: skip


# --------------------------------------------------------------------------------- shared pieces
def relaxed_arms(b: Builder, swing_deg: float = 0.0, period: float = 3.0, phase: float = 0.0) -> None:
    """Arms hanging close to the body (elbows slightly bent), optionally swinging forward/back."""
    for side, sign in (("L", 1.0), ("R", -1.0)):
        keys = []
        for t, swing in sine_keys(math.radians(swing_deg), period, b.duration, phase + (0 if side == "L" else math.pi)):
            keys.append((t, [sign * 0.22, -math.sin(swing) * 0.97, -math.cos(swing) * 0.97]))
        b.aim(f"upperarm01.{side}", keys)
        b.aim(f"lowerarm01.{side}", [(0.0, [sign * 0.12, -0.45, -0.88])])


def breathing(b: Builder, period: float) -> None:
    b.turn("spine01", "x", sine_keys(-1.2, period, b.duration))
    b.turn("spine03", "x", sine_keys(-0.6, period, b.duration))
    b.turn("neck01", "x", sine_keys(1.5, period, b.duration))


def blink(b: Builder, at: float) -> None:
    keys = [(0.0, 0.0), (max(0.0, at - 0.08), 0.0), (at, 1.0), (at + 0.1, 0.0)]
    b.face("eyeBlinkLeft", keys)
    b.face("eyeBlinkRight", keys)


# --------------------------------------------------------------------------------- the motions
def idle(body) -> Motion:
    b = Builder(body, "idle", 3.0)
    breathing(b, 3.0)
    relaxed_arms(b, swing_deg=2.0, period=3.0)
    b.turn("root", "y", sine_keys(1.2, 3.0, 3.0))  # weight shift
    b.move("x", sine_keys(0.01, 3.0, 3.0))
    b.turn("spine03", "y", sine_keys(-1.0, 3.0, 3.0))
    b.turn("head", "z", sine_keys(5.0, 3.0, 3.0, phase=0.6))
    b.turn("head", "y", sine_keys(2.0, 1.5, 3.0))
    blink(b, 1.6)
    return b.build("standing: breathing, a weight shift, a slow look around and a blink; 3 s loop")


def wave(body) -> Motion:
    b = Builder(body, "wave", 2.0)
    breathing(b, 2.0)
    # left arm relaxed; right arm raised beside the head, forearm up, waving side to side twice a second
    b.aim("upperarm01.L", [(0.0, [0.22, -0.05, -0.97])])
    b.aim("lowerarm01.L", [(0.0, [0.12, -0.45, -0.88])])
    b.aim("upperarm01.R", [(0.0, [-0.85, -0.25, 0.35])])
    keys = []
    for t, a in sine_keys(math.radians(22.0), 0.5, 2.0, offset=math.radians(-12.0)):
        keys.append((t, [math.sin(a), -0.25, math.cos(a)]))
    b.aim("lowerarm01.R", keys)
    b.turn("lowerarm02.R", "twist", [(0.0, -70.0)])  # palm towards the camera
    b.turn("head", "y", [(0.0, -4.0)])
    b.turn("spine01", "y", sine_keys(1.0, 0.5, 2.0))
    b.face("mouthSmileLeft", [(0.0, 0.35)])
    b.face("mouthSmileRight", [(0.0, 0.35)])
    return b.build("right hand raised and waving (2 Hz) with a smile; 2 s loop")


def talk(body) -> Motion:
    duration = 4.0
    b = Builder(body, "talk", duration)
    breathing(b, 4.0)
    relaxed_arms(b, swing_deg=1.5, period=2.0)
    rng = np.random.default_rng(7)  # fixed syllable pattern
    jaw, funnel, smile = [], [], []
    t = 0.0
    while t < duration - 0.2:
        pause = (1.7 < t < 2.05) or t > 3.7  # a breath between phrases, closed at the loop point
        jaw.append((t, 0.0 if pause else float(rng.uniform(0.25, 0.6))))
        jaw.append((t + 0.1, 0.05 if pause else float(rng.uniform(0.0, 0.1))))
        funnel.append((t, 0.0 if pause else float(rng.choice([0.0, 0.0, 0.4]))))
        smile.append((t, 0.15 + (0.0 if pause else float(rng.uniform(0.0, 0.15)))))
        t += 0.2
    b.face("jawOpen", jaw)
    b.face("mouthFunnel", funnel)
    b.face("mouthSmileLeft", smile)
    b.face("mouthSmileRight", smile)
    b.face("browInnerUp", [(0.0, 0.0), (0.6, 0.35), (1.0, 0.0), (2.4, 0.0), (2.7, 0.4), (3.1, 0.0)])
    blink(b, 2.2)
    b.turn("neck02", "x", [(0.0, 0.0), (0.5, 5.0), (0.9, -1.0), (1.4, 4.0), (1.9, 0.0), (2.6, 6.0), (3.0, -1.0), (3.5, 3.0)])
    b.turn("head", "z", sine_keys(6.0, 4.0, duration, phase=0.3))
    b.turn("head", "y", sine_keys(3.0, 2.0, duration))
    return b.build("talking: jaw and mouth in syllables (facial actions, added), head nods and turns; 4 s loop")


def walk(body) -> Motion:
    period, duration = 1.0, 2.0
    b = Builder(body, "walk", duration)
    thigh = sine_keys(-28.0, period, duration)  # left thigh forward (negative about X) first
    b.turn("upperleg01.L", "x", thigh)
    b.turn("upperleg01.R", "x", [(t, -a) for t, a in thigh])
    # gait cycle of the left leg: heel strike at t = 0.25 s (thigh furthest forward, knee nearly
    # straight), a soft knee while loading, push-off at 0.75 s, the knee bent most early in the swing
    knee = [(k * period / 8, a) for k, a in enumerate((55, 35, 5, 15, 8, 5, 10, 35))]
    knee_keys = [(t + n * period, a) for n in range(int(duration / period)) for t, a in knee]
    b.turn("lowerleg01.L", "x", [(t % duration, a) for t, a in knee_keys])
    b.turn("lowerleg01.R", "x", [((t + period / 2) % duration, a) for t, a in knee_keys])
    b.turn("foot.L", "x", sine_keys(-10.0, period, duration))  # toes up at heel strike, down at push-off
    b.turn("foot.R", "x", sine_keys(-10.0, period, duration, phase=math.pi))
    relaxed_arms(b, swing_deg=18.0, period=period, phase=math.pi)
    b.turn("root", "z", sine_keys(5.0, period, duration))
    b.turn("spine03", "z", sine_keys(-6.0, period, duration))
    b.turn("spine01", "x", [(0.0, 3.0)])
    b.turn("head", "z", sine_keys(2.0, period, duration))
    b.move("z", sine_keys(0.012, period / 2, duration, phase=math.pi / 2, offset=-0.012))
    b.move("x", sine_keys(0.012, period, duration))
    return b.build("walking in place: legs, knees and feet in a 1 s gait cycle, counter-swinging arms, hip bob; 2 s loop")


def turn(body) -> Motion:
    duration = 4.0
    b = Builder(body, "turn", duration)
    breathing(b, 4.0)
    relaxed_arms(b, swing_deg=3.0, period=2.0)
    b.spin("root", "z", turns=1.0)
    return b.build("one full turn on the spot (90 degrees a second) while standing relaxed; 4 s loop")


BUILTINS = {"idle": idle, "wave": wave, "talk": talk, "walk": walk, "turn": turn}


def build_all(body) -> dict[str, Motion]:
    return {name: make(body) for name, make in BUILTINS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files instead of writing")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from uvatar.body.model import load_body_model

    body = load_body_model()
    motions = build_all(body)
    if args.check:
        bad = []
        for name, motion in motions.items():
            shipped = Motion.load(args.out / f"{name}.json")
            if shipped.n_frames != motion.n_frames or not torch.allclose(shipped.rotvecs, motion.rotvecs, atol=1e-4):
                bad.append(name)
        print("differ:" if bad else "all built-in motions match", *bad)
        return 1 if bad else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, motion in motions.items():
        path = motion.save(args.out / f"{name}.json")
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {motion.n_frames} frames, {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
