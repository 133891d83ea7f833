"""``.glb`` export of an avatar: the rigged body (:mod:`uvatar.export.rig`) with its baked texture
(:mod:`uvatar.export.texture`), written by the small glTF writer (:mod:`uvatar.io.gltf`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from uvatar.export.rig import rigged_body
from uvatar.export.texture import bake_base_color, texture_png
from uvatar.io.gltf import write_glb

__all__ = ["export_glb"]

log = logging.getLogger(__name__)


def export_glb(avatar, body, path: str | Path, pose: str = "rest", texture_size: int = 1024) -> dict:
    """Write the avatar's rigged, textured body as a glTF 2.0 binary (atomically).

    Args:
        avatar: :class:`~uvatar.avatar.Avatar` (its shape, face and colours are used).
        body: :class:`~uvatar.body.model.BodyModel`.
        path: output ``.glb`` path.
        pose: bind pose, a key of :data:`uvatar.export.rig.BIND_POSES`.
        texture_size: side of the square base-colour texture in texels.
    Returns:
        a summary: vertices, faces, joints, texture size, bytes, seconds.
    """
    start = time.perf_counter()
    texture = bake_base_color(avatar, body, texture_size)
    mesh, skin = rigged_body(body, avatar, pose, base_color_png=texture_png(texture))
    path = write_glb(path, mesh, skin, generator="UVatar (uvatar export --format glb)")
    info = {
        "format": "glb",
        "out": str(path),
        "pose": pose,
        "vertices": int(mesh.positions.shape[0]),
        "faces": int(mesh.indices.shape[0]),
        "joints": len(skin.names),
        "texture_size": texture_size,
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - start, 3),
    }
    log.info("wrote %s (%d vertices, %d joints, %d bytes)", path, info["vertices"], info["joints"], info["bytes"])
    return info
