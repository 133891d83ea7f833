"""The body wearing catalogue assets, for ``uvatar body-demo --hair/--outfit/--shoes/--hat``.

Writes (into the demo's output folder, through :func:`uvatar.body.demo.write_body_demo`'s ``extra``):
  dressed.ply        the body wearing the assets in the rest pose, coloured by kind (body faces the assets
                     hide are left out, as MakeHuman does)
  dressed_walk.ply   the same in a walking pose (the assets skinned with the body)
  dressed.png        front, left-side and back views: rest pose (top row), walking pose (bottom row)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from uvatar.assets.fit import fit_assets, hidden_body_faces
from uvatar.body.demo import demo_pose
from uvatar.camera import Camera
from uvatar.render.mesh import render_mesh_colors

__all__ = ["KIND_COLORS", "SKIN_COLOR", "dressed_mesh", "render_views", "write_dressed"]

SKIN_COLOR = np.array([225, 180, 155], dtype=np.uint8)
KIND_COLORS = {
    "hair": np.array([90, 60, 35], dtype=np.uint8),
    "outfit": np.array([70, 110, 170], dtype=np.uint8),
    "shoes": np.array([50, 45, 45], dtype=np.uint8),
    "hat": np.array([160, 40, 40], dtype=np.uint8),
    "eyebrows": np.array([60, 40, 25], dtype=np.uint8),
    "eyelashes": np.array([20, 20, 20], dtype=np.uint8),
}


def dressed_mesh(body, params, names: list[str]):
    """The body wearing the named assets, as one mesh.

    Args:
        body: :class:`~uvatar.body.model.BodyModel`; params: batch-1 body parameters; names: catalogue names.
    Returns:
        vertices ``(V', 3)`` metres, faces ``(F', 3)`` int64, colours ``(V', 3)`` uint8 (skin, or
        :data:`KIND_COLORS` by kind) and the fitted :class:`~uvatar.assets.fit.AssetMesh` list.
    """
    with torch.no_grad():
        out = body.forward(params)
    meshes = fit_assets(names, body, params, output=out)
    keep = ~hidden_body_faces(meshes, body)
    vertices, faces = [out.vertices[0].cpu()], [body.faces.cpu()[keep]]
    colors = [np.tile(SKIN_COLOR, (body.n_vertices, 1))]
    start = body.n_vertices
    for mesh in meshes:
        vertices.append(mesh.vertices)
        faces.append(mesh.faces + start)
        colors.append(np.tile(KIND_COLORS[mesh.kind], (len(mesh.vertices), 1)))
        start += len(mesh.vertices)
    return torch.cat(vertices), torch.cat(faces), np.concatenate(colors), meshes


def render_views(vertices: torch.Tensor, faces: torch.Tensor, colors: np.ndarray, size: int = 512) -> np.ndarray:
    """``(size, 3 * size, 3)`` uint8: front, left-side and back views of a vertex-coloured mesh, lit
    from the camera, both sides of each face drawn (hair and garments are open sheets)."""
    lo, hi = vertices.min(0).values, vertices.max(0).values
    center = (lo + hi) / 2
    distance = float(hi[2] - lo[2]) * 1.6 + 0.5
    tiles = []
    for direction in ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]):
        camera = Camera.look_at(center + distance * torch.tensor(direction), center, size, size, fov_y_deg=40.0)
        image, _ = render_mesh_colors(
            vertices, faces, camera, vertex_colors=torch.as_tensor(colors).float() / 255,
            light="headlight", background=1.0, cull_backfaces=False,
        )
        tiles.append((image.numpy() * 255).astype(np.uint8))
    return np.concatenate(tiles, 1)


def write_dressed(folder: Path, body, names: list[str]) -> dict:
    """Write the files of the module docstring into ``folder``; returns the report's ``assets`` entry."""
    import trimesh
    from PIL import Image

    dressed = {pose: dressed_mesh(body, demo_pose(body, pose), list(names)) for pose in ("rest", "walk")}
    for pose, (vertices, faces, colors, _) in dressed.items():
        name = "dressed.ply" if pose == "rest" else f"dressed_{pose}.ply"
        trimesh.Trimesh(vertices.numpy(), faces.numpy(), vertex_colors=colors, process=False).export(Path(folder) / name)
    rows = [render_views(*dressed[pose][:3]) for pose in ("rest", "walk")]
    Image.fromarray(np.concatenate(rows, 0)).save(Path(folder) / "dressed.png")
    return {
        "assets": {
            mesh.name: {"kind": mesh.kind, "vertices": len(mesh.vertices), "hidden_body_vertices": len(mesh.hidden_body_vertices)}
            for mesh in dressed["rest"][3]
        }
    }
