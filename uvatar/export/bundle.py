"""The animatable bundle: the ``.uvatar`` file plus what another renderer needs to animate it without UVatar.

``OUT/`` holds:

- ``avatar.uvatar``: the avatar, copied byte for byte (safetensors; layout in its header);
- ``body.glb``: the avatar's body as a rigged, textured glTF mesh bound in Anny's rest pose
  (:mod:`uvatar.export.rig`); glTF triangle ``i`` is the body face ``i`` the Gaussians are bound to;
- ``README.md``: the file layout and the formulas that put the Gaussians on a posed mesh, with a
  numpy reference (:data:`REFERENCE_CODE`, run by the tests);
- ``layout.json``: the same facts for programs (tensor names, shapes, dtypes, meanings, counts).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from uvatar.avatar import FORMAT, LAYOUT
from uvatar.io.atomic import atomic_dir

__all__ = ["REFERENCE_CODE", "bundle_readme", "bundle_layout", "write_bundle"]

#: Numpy reference for placing the Gaussians on posed triangles (quoted in README.md, run by tests).
REFERENCE_CODE = '''\
import json, struct
import numpy as np

def read_safetensors(path):
    """Tensors (dict of numpy arrays) and string metadata of a safetensors file."""
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    metadata = header.pop("__metadata__", {})
    dtypes = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        array = np.frombuffer(data[8 + size + start : 8 + size + end], dtype=dtypes[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors, metadata

def quat_wxyz_to_matrix(q):
    """(N, 4) unit quaternions W, X, Y, Z -> (N, 3, 3) rotation matrices."""
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], 1)

def gaussians_on_triangles(corners, tensors):
    """Gaussians on posed triangles.

    corners: (F, 3, 3) posed triangle corners, triangle i = body face i, corner order kept
             (any frame: Anny's Z-up body space, or glTF's Y-up space of body.glb).
    Returns means (N, 3), rotations (N, 3, 3), covariances (N, 3, 3), colours (N, 3), opacities (N,)
    in the frame of the corners.
    """
    a, b, c = (corners[tensors["face_index"], k].astype(np.float64) for k in range(3))
    tangent = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    bitangent = np.cross(normal, tangent)
    face_frame = np.stack([tangent, bitangent, normal], -1)  # columns: (N, 3, 3) frame-to-world
    bary = tensors["barycentrics"].astype(np.float64)
    surface = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    means = surface + (face_frame @ tensors["offsets"][..., None])[..., 0]
    rotations = face_frame @ quat_wxyz_to_matrix(tensors["rotations_wxyz"].astype(np.float64))
    scales = tensors["scales"].astype(np.float64)
    covariances = rotations @ (scales[:, :, None] ** 2 * rotations.transpose(0, 2, 1))
    return means, rotations, covariances, tensors["colors"], tensors["opacities"]
'''


def bundle_layout(avatar, glb_info: dict) -> dict:
    """The machine-readable description written as ``layout.json``."""
    tensors = {}
    for name, doc in LAYOUT.items():
        value = getattr(avatar, name, None)
        entry = {"meaning": doc}
        if isinstance(value, torch.Tensor):
            entry.update(shape=list(value.shape), dtype=str(value.dtype).replace("torch.", ""))
        tensors[name] = entry
    return {
        "format": FORMAT,
        "files": {
            "avatar.uvatar": "safetensors: 8-byte little-endian header size n, n bytes of JSON header, raw little-endian tensors; header '__metadata__' holds format, layout, meta (JSON strings)",
            "body.glb": "the avatar's body as a rigged glTF 2.0 mesh (Y up), bound in Anny's rest pose; triangle i = body face i, corner order kept",
            "README.md": "this layout and the skinning formulas, with a numpy reference",
        },
        "tensors": tensors,
        "counts": {
            "gaussians": len(avatar),
            "core_gaussians": int((avatar.layer == 0).sum()),
            "shell_gaussians": int((avatar.layer == 1).sum()),
        },
        "body": {
            "model": "Anny 0.6.2 (pip install anny==0.6.2), rig and topology 'anny', float32",
            "frame": "metres, Z up, the body faces -Y, its left at +X",
            "faces": glb_info.get("faces"),
            "vertices": glb_info.get("vertices"),
        },
        "gaussians_on_mesh": {
            "face_frame": LAYOUT["face frame"],
            "mean": "sum_k barycentrics[k] * corner_k + R_face @ offsets",
            "rotation": "R_face @ R(rotations_wxyz)",
            "covariance": "R diag(scales^2) R^T",
            "color": "RGB in [0, 1] as taken from the sRGB photo (sRGB-encoded); 3DGS f_dc = (color - 0.5) / 0.28209479",
            "opacity": "as stored, in [0, 1] (3DGS stores its logit)",
        },
        "meta": avatar.meta,
    }


def bundle_readme(avatar, glb_info: dict) -> str:
    """The text of ``README.md``."""
    rows = "\n".join(
        f"| `{name}` | {doc} |" for name, doc in LAYOUT.items() if name not in ("face frame", "pose")
    )
    core, shell = int((avatar.layer == 0).sum()), int((avatar.layer == 1).sum())
    return f"""# UVatar animatable bundle

{len(avatar)} 3D Gaussians ({core} on the body surface, {shell} on the hair/clothing shell), each bound to
one triangle of a body mesh. Pose the mesh, put the Gaussians on it with the formulas below, render them
with any 3D Gaussian Splatting renderer.

## Files

| file | what it is |
|---|---|
| `avatar.uvatar` | the avatar: a [safetensors](https://github.com/huggingface/safetensors) file (8-byte little-endian header size `n`, `n` bytes of JSON header, raw little-endian tensors). Header metadata `format` = `{FORMAT}`, `layout` (the table below), `meta` (how it was made). |
| `body.glb` | the avatar's body (its shape and face) as a rigged, textured glTF 2.0 mesh: {glb_info.get('vertices')} vertices (split along UV seams), {glb_info.get('faces')} triangles, {glb_info.get('joints')} joints, bound in Anny's rest pose. glTF triangle `i` is body face `i`, corners in the same order. glTF frame: metres, +Y up, the front faces +Z (Anny's `(x, y, z)` is glTF's `(x, z, -y)`). |
| `layout.json` | the same facts for programs. |

## Tensors in `avatar.uvatar`

| name | meaning |
|---|---|
{rows}

Note on `colors`: they are the photo's pixel values scaled to [0, 1], not linearised; treat them as
sRGB-encoded (as 3DGS renderers and `body.glb`'s texture do).

## Posing the body mesh

Either

1. **Anny** (`pip install anny==0.6.2`; rig and topology `anny`, facial actions `all`): set its
   phenotypes and facial actions from the `phenotypes` and `facial` tensors and any pose; this is what
   UVatar does (`uvatar.body.model.BodyModel.forward`, `Avatar.pose`). Faces: Anny's `faces`.
2. **Any glTF skinning engine** on `body.glb` (three.js, Blender, Unity, Godot, ...): pose its joints
   (they are Anny's bones, same names). It keeps the 4 largest of Anny's up to 9 skin weights per
   vertex, so it matches Anny to about 0.2 mm on average and 1-2 cm at worst (shoulders, hips, strong
   poses). Gaussians computed on the glTF triangles come out in glTF's frame.

## Putting the Gaussians on the posed mesh

For Gaussian `n` bound to face `f = face_index[n]` with posed corners `a, b, c` (in the face's corner
order):

- face frame `R_face = [t | s | m]` (columns): `t = normalize(b - a)`, `m = normalize((b - a) x (c - a))`,
  `s = m x t` (tangent, bitangent, outward normal);
- mean `= barycentrics[n, 0] a + barycentrics[n, 1] b + barycentrics[n, 2] c + R_face @ offsets[n]`;
- rotation `R = R_face @ R(rotations_wxyz[n])`, covariance `= R diag(scales[n]^2) R^T`;
- colour and opacity do not change with the pose. Colours are RGB in [0, 1] as taken from the sRGB photo
  (treat them as sRGB-encoded, SH degree 0; a 3DGS `.ply` stores `f_dc = (colour - 0.5) / 0.28209479` and
  `opacity` as a logit, `scale_*` as natural logs).

The frame is rotation-covariant: the same formulas hold in any rigidly rotated frame (Anny's or glTF's).

## Reference code (numpy only)

```python
{REFERENCE_CODE}
# tensors, metadata = read_safetensors("avatar.uvatar")
# means, rotations, covariances, colours, opacities = gaussians_on_triangles(posed_vertices[faces], tensors)
```
"""


def write_bundle(source: str | Path, out_dir: str | Path, avatar, body, texture_size: int = 1024, overwrite: bool = False) -> dict:
    """Write the bundle folder ``out_dir`` for the avatar file ``source`` (:func:`~uvatar.io.atomic.atomic_dir`:
    a non-empty folder UVatar did not write needs ``overwrite``).

    Returns:
        a summary dict (files and counts).
    """
    from uvatar.export.glb import export_glb

    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        shutil.copyfile(source, tmp / "avatar.uvatar")
        glb_info = export_glb(avatar, body, tmp / "body.glb", pose="rest", texture_size=texture_size)
        (tmp / "layout.json").write_text(json.dumps(bundle_layout(avatar, glb_info), indent=1))
        (tmp / "README.md").write_text(bundle_readme(avatar, glb_info))
    return {"format": "bundle", "out": str(out_dir), "files": ["avatar.uvatar", "body.glb", "layout.json", "README.md"], "gaussians": len(avatar)}
