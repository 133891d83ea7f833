"""Small BVH files for the tests, written from a skeleton table: a Mixamo-named one (centimetres,
Y up, facing +Z, left at +X, ZXY channels) and a CMU-named one (smaller units, Y up, facing -Z,
left at -X, ZYX channels), with poses given as rotation vectors in Mixamo's axes."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.transform import Rotation

# (name, parent, offset in Mixamo axes and centimetres); the root first.
MIXAMO = [
    ("Hips", None, (0, 100, 0)),
    ("Spine", "Hips", (0, 10, 0)),
    ("Spine1", "Spine", (0, 12, 0)),
    ("Spine2", "Spine1", (0, 12, 0)),
    ("Neck", "Spine2", (0, 15, 0)),
    ("Head", "Neck", (0, 10, 0)),
    ("LeftShoulder", "Spine2", (6, 10, 0)),
    ("LeftArm", "LeftShoulder", (12, 0, 0)),
    ("LeftForeArm", "LeftArm", (27, 0, 0)),
    ("LeftHand", "LeftForeArm", (25, 0, 0)),
    ("LeftHandMiddle1", "LeftHand", (9, 0, 0)),
    ("RightShoulder", "Spine2", (-6, 10, 0)),
    ("RightArm", "RightShoulder", (-12, 0, 0)),
    ("RightForeArm", "RightArm", (-27, 0, 0)),
    ("RightHand", "RightForeArm", (-25, 0, 0)),
    ("RightHandMiddle1", "RightHand", (-9, 0, 0)),
    ("LeftUpLeg", "Hips", (9, -6, 0)),
    ("LeftLeg", "LeftUpLeg", (0, -42, 0)),
    ("LeftFoot", "LeftLeg", (0, -40, 0)),
    ("LeftToeBase", "LeftFoot", (0, -6, 13)),
    ("RightUpLeg", "Hips", (-9, -6, 0)),
    ("RightLeg", "RightUpLeg", (0, -42, 0)),
    ("RightFoot", "RightLeg", (0, -40, 0)),
    ("RightToeBase", "RightFoot", (0, -6, 13)),
]
END_SITES = {"Head": (0, 18, 0), "LeftHandMiddle1": (4, 0, 0), "RightHandMiddle1": (-4, 0, 0), "LeftToeBase": (0, 0, 6), "RightToeBase": (0, 0, 6)}

# CMU names for the same joints (and CMU's extra joints, inserted with zero-length-free offsets below)
CMU_NAMES = {
    "Hips": "Hips", "Spine": "LowerBack", "Spine1": "Spine", "Spine2": "Spine1", "Neck": "Neck", "Head": "Head",
    "LeftShoulder": "LeftShoulder", "LeftArm": "LeftArm", "LeftForeArm": "LeftForeArm", "LeftHand": "LeftHand",
    "LeftHandMiddle1": "LeftFingerBase", "RightShoulder": "RightShoulder", "RightArm": "RightArm",
    "RightForeArm": "RightForeArm", "RightHand": "RightHand", "RightHandMiddle1": "RightFingerBase",
    "LeftUpLeg": "LeftUpLeg", "LeftLeg": "LeftLeg", "LeftFoot": "LeftFoot", "LeftToeBase": "LeftToeBase",
    "RightUpLeg": "RightUpLeg", "RightLeg": "RightLeg", "RightFoot": "RightFoot", "RightToeBase": "RightToeBase",
}  # fmt: skip

# file axes = FLIP @ Mixamo axes for the CMU-style file (left at -X, facing -Z)
CMU_FLIP = np.diag([-1.0, 1.0, -1.0])
CMU_SCALE = 0.4

# Poses: joint -> rotation vector in degrees (Mixamo axes, relative to the parent), root translation.
POSES = {
    "tpose": ({}, (0, 100, 0)),
    "arms_up": ({"LeftArm": (0, 0, 90), "RightArm": (0, 0, -90)}, (0, 100, 0)),
    "knee_bend": ({"LeftUpLeg": (-90, 0, 0), "LeftLeg": (90, 0, 0), "RightLeg": (60, 0, 0)}, (0, 100, 0)),
    "mixed": (
        {"Hips": (0, 30, 0), "Spine1": (0, 20, 0), "Head": (15, 0, 0), "LeftForeArm": (0, -90, 0), "RightArm": (0, 0, -40), "RightUpLeg": (-30, 0, 0)},
        (5, 100, 10),
    ),
    # hips 24 cm lower, both legs folded so that the feet stay flat on the ground
    "crouch": ({"LeftUpLeg": (-45, 0, 0), "LeftLeg": (90, 0, 0), "LeftFoot": (-45, 0, 0),
                "RightUpLeg": (-45, 0, 0), "RightLeg": (90, 0, 0), "RightFoot": (-45, 0, 0)}, (0, 76, 0)),  # fmt: skip
}


def _hierarchy(joints, channels_root, channels, names, transform, scale, end_sites):
    children = {}
    for name, parent, _ in joints:
        children.setdefault(parent, []).append(name)
    offsets = {name: np.asarray(off, float) for name, _, off in joints}
    lines = ["HIERARCHY"]

    def emit(name, depth, root):
        pad = "  " * depth
        off = transform @ offsets[name] * scale
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {names[name]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.4f} {off[1]:.4f} {off[2]:.4f}")
        chans = channels_root if root else channels
        lines.append(f"{pad}  CHANNELS {len(chans)} {' '.join(chans)}")
        for child in children.get(name, []):
            emit(child, depth + 1, False)
        if name in end_sites:
            site = transform @ np.asarray(end_sites[name], float) * scale
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {site[0]:.4f} {site[1]:.4f} {site[2]:.4f}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(joints[0][0], 0, True)
    return lines


def make_bvh(style: str = "mixamo", poses=("tpose", "arms_up", "knee_bend", "mixed"), random_frames: int = 0, seed: int = 0) -> str:
    """BVH text of the test skeleton in ``style`` ("mixamo" or "cmu") with the named poses as frames
    (plus ``random_frames`` frames of random rotations on every joint, for robustness tests)."""
    if style == "mixamo":
        names = {n: f"mixamorig:{n}" for n, _, _ in MIXAMO}
        transform, scale = np.eye(3), 1.0
        root_ch = ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
        ch = ["Zrotation", "Xrotation", "Yrotation"]
    else:
        names = CMU_NAMES
        transform, scale = CMU_FLIP, CMU_SCALE
        root_ch = ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
        ch = ["Zrotation", "Yrotation", "Xrotation"]
    lines = _hierarchy(MIXAMO, root_ch, ch, names, transform, scale, END_SITES)
    order = "".join(c[0] for c in ch)
    rng = np.random.default_rng(seed)
    frames = []
    specs = [POSES[p] for p in poses] + [("random", None)] * random_frames
    for rotations, root in specs:
        values = []
        if rotations == "random":
            root = (0, 100, 0)
        pos = transform @ np.asarray(root, float) * scale
        values += list(pos)
        for name, _, _ in MIXAMO:
            if rotations == "random":
                rotvec = rng.uniform(-180, 180, 3) * rng.uniform(0, 1)
            else:
                rotvec = np.asarray(rotations.get(name, (0, 0, 0)), float)
            matrix = transform @ Rotation.from_rotvec(np.radians(rotvec)).as_matrix() @ transform.T
            with warnings.catch_warnings():  # 90-degree test poses sit in gimbal lock; the matrix is still exact
                warnings.simplefilter("ignore")
                values += list(Rotation.from_matrix(matrix).as_euler(order, degrees=True))
        frames.append(" ".join(f"{v:.6f}" for v in values))
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0333333"] + frames
    return "\n".join(lines) + "\n"


def expected_direction(pose: str, joint: str, child: str) -> np.ndarray:
    """World direction (body space: Z up, facing -Y, left +X) of the segment ``joint -> child`` in a pose."""
    rotations, _ = POSES[pose]
    parent = {n: p for n, p, _ in MIXAMO}
    offsets = {n: np.asarray(o, float) for n, _, o in MIXAMO}

    def world_rot(name):
        r = Rotation.from_rotvec(np.radians(rotations.get(name, (0, 0, 0)))).as_matrix()
        return r if parent[name] is None else world_rot(parent[name]) @ r

    d = world_rot(joint) @ offsets[child]
    d = np.array([d[0], -d[2], d[1]])  # Mixamo axes -> body space
    return d / np.linalg.norm(d)
