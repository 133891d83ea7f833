"""``uvatar body-demo``: write the canonical body so a person can look at the body layer.

Writes into the output folder:
  body.obj + body.mtl + material_0.png  rest-pose mesh with per-corner UVs and a UV checker texture
  body.ply                            the same mesh, vertex-coloured by part
  uv_parts.png                        the UV atlas (1024^2) coloured by part, empty texels dark grey
  tpose.ply                           the T-pose, vertex-coloured by part
  report.json                         counts, coverage, bounding box, timings
and whatever ``extra`` writes (the CLI passes :func:`uvatar.assets.demo.write_dressed` for the body
wearing chosen hair, outfit, shoes and hat; the body layer itself does not import the asset layer).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES, texel_parts, vertex_parts
from uvatar.io.atomic import atomic_dir

__all__ = ["PART_COLORS", "checker_texture", "split_uv_seams", "demo_pose", "write_body_demo"]

log = logging.getLogger(__name__)

PART_COLORS = np.array(
    [[230, 180, 150], [70, 130, 180], [240, 200, 80], [220, 90, 90], [90, 170, 90], [150, 100, 190]], dtype=np.uint8
)  # head, torso, arms, hands, legs, feet


def demo_pose(body, name: str = "walk"):
    """Batch-1 parameters of a named demonstration pose (average shape): ``"rest"`` (Anny's reference
    A-pose), ``"walk"`` (mid-stride: left leg forward with a bent knee, right leg back, arms swinging)
    or ``"raise"`` (left arm raised above the head, right elbow bent)."""
    from uvatar.errors import InputError

    rotations = {
        "rest": {},
        "walk": {
            "upperleg01.L": [-0.55, 0.0, 0.0],
            "lowerleg01.L": [0.6, 0.0, 0.0],
            "upperleg01.R": [0.35, 0.0, 0.0],
            "lowerleg01.R": [0.25, 0.0, 0.0],
            "upperarm01.L": [0.4, 0.0, 0.0],
            "upperarm01.R": [-0.4, 0.0, 0.0],
            "lowerarm01.R": [-0.4, 0.0, 0.0],
        },
        "raise": {"upperarm01.L": [0.0, -1.9, 0.0], "lowerarm01.R": [-1.2, 0.0, 0.0]},
    }
    if name not in rotations:
        raise InputError(f"unknown demo pose {name!r}; known: {', '.join(rotations)}")
    return body.params_from_labels(rotations=rotations[name])


def checker_texture(size: int = 1024, squares: int = 32) -> np.ndarray:
    """``(size, size, 3)`` uint8 checker with a colour ramp, so UV stretch and seams are visible."""
    idx = (np.arange(size) * squares // size)
    check = (idx[:, None] + idx[None, :]) % 2
    ramp_u = np.linspace(0, 1, size)[None, :]
    ramp_v = np.linspace(0, 1, size)[:, None]
    rgb = np.stack([0.3 + 0.7 * ramp_u + 0 * ramp_v, 0.3 + 0.7 * ramp_v + 0 * ramp_u, np.full((size, size), 0.6)], -1)
    return (rgb * (0.45 + 0.55 * check[..., None]) * 255).astype(np.uint8)


def split_uv_seams(faces: torch.Tensor, uv_corners: torch.Tensor, face_uv_index: torch.Tensor | None = None):
    """Split vertices along UV seams so every vertex has one UV (what OBJ/GLB viewers want).

    Args:
        faces: ``(F, 3)`` vertex indices; uv_corners: ``(F, 3, 2)``.
    Returns:
        ``source_vertex (V',)`` original vertex of each new vertex, ``new_faces (F, 3)``, ``uv (V', 2)``.
    """
    corner_uv = uv_corners.reshape(-1, 2)
    keys = torch.cat([faces.reshape(-1, 1).double(), torch.round(corner_uv.double() * 1e6)], 1)
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    source_vertex = unique[:, 0].long()
    uv = torch.zeros(len(unique), 2)
    uv[inverse] = corner_uv.float()
    return source_vertex, inverse.reshape(-1, 3), uv


def write_body_demo(out_dir: str | Path, body, overwrite: bool = False, extra=None) -> dict:
    """Write the files listed in the module docstring into ``out_dir`` (:func:`~uvatar.io.atomic.atomic_dir`;
    a non-empty folder UVatar did not write needs ``overwrite``). ``extra(folder) -> dict``, if given,
    writes more files into the same (temporary) folder; its dict is merged into the report."""
    import trimesh
    from PIL import Image

    start = time.perf_counter()
    rest = body.rest_vertices().detach().cpu()
    faces = body.faces.cpu()
    parts = body.face_parts.cpu()
    source, new_faces, uv = split_uv_seams(faces, body.uv_corners.cpu())
    raster = body.uv_raster(1024)
    texel_part = texel_parts(raster, parts)
    atlas = np.full((*texel_part.shape, 3), 40, dtype=np.uint8)
    covered = texel_part >= 0
    atlas[covered.numpy()] = PART_COLORS[texel_part[covered].numpy()]

    vertex_colors = PART_COLORS[vertex_parts(body)]
    tpose = body.forward(body.tpose_params()).vertices[0].detach().cpu()

    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        checker = Image.fromarray(checker_texture())
        mesh = trimesh.Trimesh(
            vertices=rest[source].numpy(),
            faces=new_faces.numpy(),
            visual=trimesh.visual.TextureVisuals(uv=uv.numpy(), image=checker),
            process=False,
        )
        obj_text = trimesh.exchange.obj.export_obj(mesh, include_texture=True, mtl_name="body.mtl", return_texture=True)
        obj_body, textures = obj_text
        (tmp / "body.obj").write_text(obj_body)
        for name, data in textures.items():
            (tmp / name).write_bytes(data)
        trimesh.Trimesh(rest.numpy(), faces.numpy(), vertex_colors=vertex_colors, process=False).export(tmp / "body.ply")
        trimesh.Trimesh(tpose.numpy(), faces.numpy(), vertex_colors=vertex_colors, process=False).export(tmp / "tpose.ply")
        Image.fromarray(atlas).save(tmp / "uv_parts.png")
        extra_report = extra(tmp) if extra is not None else {}
        report = {
            "vertices": int(len(rest)),
            "faces": int(len(faces)),
            "bones": body.n_bones,
            "uv_coverage_1024": raster.coverage,
            "part_faces": {name: int((parts == i).sum()) for i, name in enumerate(PART_NAMES)},
            "rest_bbox_m": [rest.min(0).values.tolist(), rest.max(0).values.tolist()],
            "seconds": round(time.perf_counter() - start, 3),
        }
        report.update(extra_report)
        (tmp / "report.json").write_text(json.dumps(report, indent=2))
    log.info("wrote body demo to %s", out_dir)
    return report
