"""Retarget a BVH clip onto Anny's default rig by joint names (Mixamo and CMU naming).

Method (world-space bone-direction alignment):

1. **Axes.** The BVH's up and left directions are read from its rest skeleton (hips -> head, right hip ->
   left hip), giving the rotation ``C`` from file axes to body space (Z up, the body faces -Y, left +X).
   A BVH joint's world rotation relative to its rest pose, ``Q_j`` (BVH rest rotations are the identity,
   so this is its forward-kinematics rotation), becomes ``C Q_j C^T``.
2. **Rest alignment.** BVH rests are usually a T-pose; Anny's reference pose is an A-pose, and its
   T-pose (:meth:`BodyModel.tpose_params`) has world rotations ``T_c`` (relative to the reference).
   For limb bones (upper arm, forearm, hand, thigh, shin, foot) ``A_c`` is the smallest rotation taking
   the Anny T-pose bone direction (head to the head of the next bone down the limb) onto the BVH rest
   direction of the mapped joint; other bones (root, spine, neck, head, clavicles, fingers) take
   ``A_c = I``. A BVH frame at its rest pose thus gives Anny's T-pose with each limb segment laid along
   the BVH's (a straight-armed BVH T-pose straightens Anny's slightly bent T-pose elbows).
3. **Pose.** Mapped bones get the world rotation ``G_c = C Q_j C^T A_c T_c``; so each limb segment
   points exactly where the BVH segment points. Unmapped bones follow their parent (``D_c = I``), and
   ``local-ref`` rotations come from ``D_c = G_parent^T G_c`` (:mod:`uvatar.animate.rotations`).
4. **Limits.** Each bone's angle is clamped to :data:`uvatar.animate.limits.BONE_ANGLE_LIMITS`.
5. **Translation.** The hips' path is scaled by (Anny hip height / BVH hip height, both above the lowest
   point of the rest skeleton): horizontal motion relative to the first frame; vertical motion relative
   to the rest hip height above the clip's ground (its lowest joint over all frames).
"""

from __future__ import annotations

import logging
import re

import roma
import torch

from uvatar.animate.bvh import BvhClip
from uvatar.animate.motion import Motion
from uvatar.animate.rotations import aim_rotation, clamp_rotvec_angles, local_from_world, world_from_local
from uvatar.errors import InputError

__all__ = ["NAME_MAPS", "canonical_joint_name", "detect_naming", "retarget_bvh"]

log = logging.getLogger(__name__)


def _sided(table: dict[str, str]) -> dict[str, str]:
    """Expand ``{side}`` (left/right) and ``{s}`` (L/R) templates into a left and a right entry."""
    out = {}
    for src, dst in table.items():
        if "{side}" in src or "{s}" in src:
            for side, s in (("left", "L"), ("right", "R")):
                out[src.format(side=side, s=s)] = dst.format(s=s)
        else:
            out[src] = dst
    return out


_FINGERS = {f"{{side}}hand{name}{k}": f"finger{n}-{k}.{{s}}" for n, name in enumerate(("thumb", "index", "middle", "ring", "pinky"), 1) for k in (1, 2, 3)}

#: canonical BVH joint name (see :func:`canonical_joint_name`) -> Anny bone label, per naming scheme.
NAME_MAPS: dict[str, dict[str, str]] = {
    "mixamo": _sided(
        {
            "hips": "root",
            "spine": "spine05",
            "spine1": "spine03",
            "spine2": "spine01",
            "neck": "neck01",
            "head": "head",
            "{side}shoulder": "clavicle.{s}",
            "{side}arm": "upperarm01.{s}",
            "{side}forearm": "lowerarm01.{s}",
            "{side}hand": "wrist.{s}",
            "{side}upleg": "upperleg01.{s}",
            "{side}leg": "lowerleg01.{s}",
            "{side}foot": "foot.{s}",
            **_FINGERS,
        }
    ),
    "cmu": _sided(
        {
            "hips": "root",
            "lhipjoint": "pelvis.L",
            "rhipjoint": "pelvis.R",
            "lowerback": "spine05",
            "spine": "spine03",
            "spine1": "spine01",
            "neck": "neck01",
            "neck1": "neck03",
            "head": "head",
            "{side}shoulder": "clavicle.{s}",
            "{side}arm": "upperarm01.{s}",
            "{side}forearm": "lowerarm01.{s}",
            "{side}hand": "wrist.{s}",
            "lthumb": "finger1-1.L",
            "rthumb": "finger1-1.R",
            "{side}upleg": "upperleg01.{s}",
            "{side}leg": "lowerleg01.{s}",
            "{side}foot": "foot.{s}",
        }
    ),
}

# Limb bones aligned by direction: Anny bone -> the Anny bone whose head ends its segment, and BVH
# joints (canonical names) that may end the mapped BVH segment when the end bone itself is unmapped.
_ALIGN = _sided(
    {
        "upperarm01.{s}": "lowerarm01.{s}",
        "lowerarm01.{s}": "wrist.{s}",
        "wrist.{s}": "finger3-1.{s}",
        "upperleg01.{s}": "lowerleg01.{s}",
        "lowerleg01.{s}": "foot.{s}",
        "foot.{s}": "toe3-1.{s}",
    }
)
_END_FALLBACKS = {
    "wrist": ("{side}handmiddle1", "{side}fingerbase", "{side}handindex1"),
    "foot": ("{side}toebase", "{side}toe"),
}


def canonical_joint_name(name: str) -> str:
    """``"mixamorig:LeftArm"`` -> ``"leftarm"``: namespace prefix dropped, lower case, letters and digits."""
    return re.sub(r"[^a-z0-9]", "", name.rsplit(":", 1)[-1].lower())


def detect_naming(names: list[str]) -> str:
    """"mixamo" or "cmu" from a skeleton's joint names (raises :class:`InputError` when neither fits)."""
    canon = {canonical_joint_name(n) for n in names}
    if any(n.lower().startswith("mixamorig") for n in names) or "spine2" in canon:
        return "mixamo"
    if "lowerback" in canon or "lhipjoint" in canon:
        return "cmu"
    hits = {scheme: len(canon & set(table)) for scheme, table in NAME_MAPS.items()}
    best = max(hits, key=hits.get)
    if hits[best] < 6:
        raise InputError(
            f"cannot match the BVH joints ({', '.join(sorted(names)[:8])}, ...) to Mixamo or CMU names; "
            "rename them (Hips, Spine, LeftArm, LeftForeArm, LeftUpLeg, ...) or pass --naming"
        )
    return best


def _bvh_axes(clip: BvhClip, rest_p: torch.Tensor, by_anny: dict[str, int]) -> torch.Tensor:
    """Rotation ``(3, 3)`` from the BVH's axes to body space, from its rest skeleton's up and left."""
    root = by_anny.get("root", 0)
    top = next((by_anny[b] for b in ("head", "neck03", "neck01", "spine01") if b in by_anny), None)
    pairs = [("upperleg01.L", "upperleg01.R"), ("upperarm01.L", "upperarm01.R"), ("clavicle.L", "clavicle.R"), ("pelvis.L", "pelvis.R")]
    side = next(((by_anny[a], by_anny[b]) for a, b in pairs if a in by_anny and b in by_anny), None)
    if top is None or side is None:
        raise InputError("the BVH skeleton lacks a head/neck or left/right limbs, so its up and left axes are unknown; pass a humanoid BVH")
    up = torch.nn.functional.normalize(rest_p[top] - rest_p[root], dim=0)
    left = rest_p[side[0]] - rest_p[side[1]]
    left = torch.nn.functional.normalize(left - (left @ up) * up, dim=0)
    forward = torch.linalg.cross(left, up)
    source = torch.stack([left, forward, up], 1)  # columns: BVH's left, forward, up
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]], dtype=source.dtype).T
    return target @ source.T


def retarget_bvh(clip: BvhClip, body, naming: str = "auto", name: str = "") -> Motion:
    """A :class:`Motion` for Anny from a BVH clip (module doc: method).

    Args:
        clip: parsed BVH (:func:`uvatar.animate.bvh.read_bvh`).
        body: :class:`~uvatar.body.model.BodyModel` (its rig labels and T-pose).
        naming: "mixamo", "cmu" or "auto" (from the joint names).
    Returns:
        Motion at the clip's frame rate, driving the mapped bones; ``meta`` lists the joint map, the
        unmapped joints, the scale and how many bone angles were clamped.
    """
    from uvatar.animate.limits import max_angles

    if naming == "auto":
        naming = detect_naming(clip.names)
    if naming not in NAME_MAPS:
        raise InputError(f"unknown BVH naming {naming!r}; use one of auto, {', '.join(NAME_MAPS)}")
    table = NAME_MAPS[naming]
    mapping: dict[int, str] = {}
    for j, joint in enumerate(clip.joints):
        label = table.get(canonical_joint_name(joint.name))
        if label is not None and label not in mapping.values():
            mapping[j] = label
    if len(mapping) < 6:
        raise InputError(f"only {len(mapping)} BVH joints match {naming} names; pass --naming with the right scheme")
    by_anny = {label: j for j, label in mapping.items()}
    canon_index = {canonical_joint_name(jt.name): k for k, jt in enumerate(clip.joints)}

    world_r, world_p = clip.forward_kinematics()  # (T, J, 3, 3), (T, J, 3)
    _, rest_p = clip.forward_kinematics(rest=True)
    rest_p = rest_p[0]
    C = _bvh_axes(clip, rest_p, by_anny)
    Q = C @ world_r @ C.T  # world rotation relative to the BVH rest, body axes

    # Anny's T-pose: world rotations relative to the reference and bone heads
    with torch.no_grad():
        tpose = body.tpose_params(1)
        tpose_out = body.forward(tpose)
    parents = list(body.bone_parents)
    T_world = world_from_local(roma.rotvec_to_rotmat(tpose.rotvecs[0]).double(), parents)  # (J, 3, 3)
    heads = tpose_out.bone_poses[0, :, :3, 3].double()

    def bvh_end(j: int, anny_end: str, anny_bone: str) -> torch.Tensor | None:
        """Rest direction (body axes) of the BVH segment starting at joint ``j``."""
        k = by_anny.get(anny_end)
        candidates = [k] if k is not None else []
        side = "left" if anny_bone.endswith(".L") else "right"
        for pattern in _END_FALLBACKS.get(anny_bone.split(".")[0], ()):
            idx = canon_index.get(pattern.format(side=side))
            if idx is not None:
                candidates.append(idx)
        candidates += clip.children(j)
        for c in candidates:
            if _is_descendant(clip, c, j):
                d = rest_p[c] - rest_p[j]
                if d.norm() > 1e-6:
                    return C @ d
        site = clip.joints[j].end_site
        if site is not None and site.norm() > 1e-6:
            return C @ site.double()
        return None

    align: dict[str, torch.Tensor] = {}
    for j, label in mapping.items():
        if label in _ALIGN:
            d_bvh = bvh_end(j, _ALIGN[label], label)
            if d_bvh is not None:
                d_anny = heads[body.bone_index(_ALIGN[label])] - heads[body.bone_index(label)]
                align[label] = aim_rotation(d_anny, d_bvh)

    frames = clip.n_frames
    G = torch.empty(frames, len(parents), 3, 3, dtype=torch.float64)
    for c, p in enumerate(parents):
        label = body.bone_labels[c]
        j = by_anny.get(label)
        if j is None:
            G[:, c] = G[:, p] if p >= 0 else torch.eye(3, dtype=torch.float64)
            continue
        G[:, c] = Q[:, j] @ align.get(label, torch.eye(3, dtype=torch.float64)) @ T_world[c]
    local = local_from_world(G, parents)
    rotvecs = roma.rotmat_to_rotvec(local).float()
    unmapped = [b for b in body.bone_labels if b not in by_anny]
    rotvecs[:, [body.bone_index(b) for b in unmapped]] = 0.0
    limits = max_angles(body.bone_labels)
    over = rotvecs.norm(dim=-1) > limits + 1e-4
    rotvecs = clamp_rotvec_angles(rotvecs, limits)

    translation, scale = _root_translation(clip, world_r, world_p, rest_p, C, body, by_anny)
    meta = {
        "source": "bvh",
        "naming": naming,
        "joint_map": {clip.joints[j].name: label for j, label in mapping.items()},
        "unmapped_joints": [jt.name for k, jt in enumerate(clip.joints) if k not in mapping],
        "aligned_bones": sorted(align),
        "scale": round(float(scale), 6),
        "clamped_angles": int(over.sum()),
        "bvh_fps": round(clip.fps, 4),
    }
    if meta["clamped_angles"]:
        log.info("retarget: clamped %d bone angles to the joint limits", meta["clamped_angles"])
    return Motion(
        fps=clip.fps, rotvecs=rotvecs, translation=translation.float(), bone_labels=list(body.bone_labels),
        bones=[body.bone_labels[c] for c in range(len(parents)) if body.bone_labels[c] in by_anny],
        facial=None, facial_labels=list(body.facial_labels), loop=False, name=name, meta=meta,
    )  # fmt: skip


def _is_descendant(clip: BvhClip, k: int, ancestor: int) -> bool:
    while k >= 0:
        k = clip.joints[k].parent
        if k == ancestor:
            return True
    return False


def _root_translation(clip, world_r, world_p, rest_p, C, body, by_anny) -> tuple[torch.Tensor, float]:
    """``(T, 3)`` body-space translation of the hips and the BVH-to-metres scale."""
    root = by_anny.get("root", 0)
    up = C.T[:, 2]  # BVH up direction in file axes
    rest_points = torch.cat([rest_p, clip.end_points(*clip.forward_kinematics(rest=True))[0]])
    rest_height = float((rest_p[root] - rest_points).matmul(up).max())
    with torch.no_grad():
        heads = body.forward(body.default_params(1)).bone_poses[0, :, :3, 3]
    anny_height = float(heads[0, 2] - heads[:, 2].min())
    if rest_height <= 1e-6:
        raise InputError("the BVH rest skeleton has no height below its hips; pass a humanoid BVH")
    scale = anny_height / rest_height
    points = torch.cat([world_p, clip.end_points(world_r, world_p)], 1)  # (T, J+E, 3)
    ground = float(points.matmul(up).min())
    hips = world_p[:, root] @ C.T  # (T, 3) body axes, file units
    translation = torch.zeros_like(hips)
    translation[:, :2] = hips[:, :2] - hips[:1, :2]
    translation[:, 2] = (hips[:, 2] - ground) - rest_height
    return translation * scale, scale
