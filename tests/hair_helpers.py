"""A synthetic photo of a head wearing a known shipped hairstyle (import as ``from hair_helpers import ...``)."""

import torch

from uvatar.assets import fit_asset
from uvatar.camera import Camera
from uvatar.render.mesh import render_mesh_colors
from uvatar.track.hair import _skull_centre, scale_mesh
from uvatar.track.view import FittedView

SKIN = (0.80, 0.62, 0.52)
HAIR = (0.25, 0.16, 0.10)
BACKGROUND = (0.55, 0.65, 0.75)


def hair_photo(body, style: str | None, scale: float = 1.0, size: int = 384):
    """A front photo (flat colours: skin, hair, background) of the reference body's head and shoulders
    wearing ``style`` scaled by ``scale`` about the skull, as a :class:`FittedView` with the TRUE body and
    camera, and the true hair mesh (None for a bald head)."""
    params = body.default_params(1)
    with torch.no_grad():
        out = body.forward(params)
    vertices = out.vertices[0].cpu()
    head = out.bone_poses[0, body.bone_index("head"), :3, 3].cpu()
    target = head + torch.tensor([0.0, 0.0, 0.02])
    camera = Camera.look_at(target + torch.tensor([0.0, -1.1, 0.0]), target, size, size, fov_y_deg=30.0)
    colors = [torch.tensor(SKIN).expand(len(vertices), 3)]
    all_vertices, all_faces, mesh = [vertices], [body.faces.cpu()], None
    if style is not None:
        posed_centre, rest_centre = _skull_centre(body, out)
        mesh = scale_mesh(fit_asset(style, body, params, out), scale, posed_centre, rest_centre)
        all_vertices.append(mesh.vertices.float())
        all_faces.append(mesh.faces + len(vertices))
        colors.append(torch.tensor(HAIR).expand(len(mesh.vertices), 3))
    image, covered = render_mesh_colors(torch.cat(all_vertices), torch.cat(all_faces), camera, torch.cat(colors), light=None,
                                        ambient=1.0, background=BACKGROUND, cull_backfaces=False)  # fmt: skip
    view = FittedView(image.numpy(), covered.float().numpy(), params, vertices, camera)
    return view, mesh
