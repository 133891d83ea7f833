"""Triangle-mesh rasterization: which face covers each pixel, where on it, and how far.

One public entry point, :func:`rasterize_mesh`, over two backends that give the same answer:

- ``"moderngl"`` (:mod:`uvatar.render._mesh_moderngl`): OpenGL on headless EGL (Mesa llvmpipe on a CPU
  machine), the fast path on the CPU.
- ``"torch"`` (:mod:`uvatar.render._mesh_torch`): plain PyTorch edge functions; the reference, and the
  fallback; runs on CUDA tensors too.

Conventions (both backends):

- World points are metres in Anny body space; the camera is a :class:`uvatar.camera.Camera` (OpenCV:
  x right, y down, z forward; ``x_cam = R @ x_world + t``).
- Sampling at pixel centres: pixel ``(row, col)`` is the point ``(col + 0.5, row + 0.5)`` of
  :meth:`Camera.project`. A centre exactly on an edge may go to either neighbouring face.
- Winding: a face is FRONT-facing when its corners ``(a, b, c)`` appear counter-clockwise in the image
  as displayed (row 0 at the top), i.e. when ``(b - a) x (c - a) < 0`` in (x right, y down) pixel
  coordinates. For a closed mesh wound counter-clockwise seen from outside (trimesh, OBJ and Anny
  convention: normals point outward), the front faces are those that face the camera, so back-face
  culling keeps the visible side.
- Faces with any vertex at camera depth ``<= near`` are dropped whole (there is no near-plane
  clipping: meant for cameras outside the mesh).
- Barycentrics are perspective-correct: the 3D point seen at a pixel is ``sum_i b_i * X_i`` over the
  face's corners, and ``depth = sum_i b_i * z_i``.

>>> import torch
>>> from uvatar.camera import Camera
>>> cam = Camera.look_at(eye=[0.0, -2.0, 0.0], target=[0.0, 0.0, 0.0], width=8, height=8)
>>> tri = torch.tensor([[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # faces -Y (the camera)
>>> raster = rasterize_mesh(tri, torch.tensor([[0, 1, 2]]), cam, backend="torch")
>>> int(raster.face_index[4, 4]), round(float(raster.depth[4, 4]), 3)
(0, 2.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from uvatar.camera import Camera
from uvatar.errors import DependencyError, InputError
from uvatar.render._mesh_moderngl import depth_mapping, moderngl_available, shared_context
from uvatar.render._mesh_torch import rasterize_torch

__all__ = [
    "moderngl_available",
    "shared_context",
    "depth_mapping",
    "MeshRaster",
    "rasterize_mesh",
    "interpolate",
    "sample_texture",
    "vertex_normals",
    "render_mesh_colors",
    "visible_points",
]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "moderngl", "torch")
_warned_fallback = False


@dataclass
class MeshRaster:
    """Per-pixel result of :func:`rasterize_mesh`.

    Attributes:
        face_index: ``(H, W)`` int64, index of the face seen at each pixel centre; -1 where empty.
        barycentrics: ``(H, W, 3)`` float32, perspective-correct weights of that face's 3 corners (in the
            order of ``faces``), summing to 1; zeros where empty.
        depth: ``(H, W)`` float32, camera z of the surface point, metres; ``inf`` where empty.
        faces: ``(F, 3)`` int64, the faces that were rasterized (so :func:`interpolate` can gather).
        vertices: ``(V, 3)`` float32 world vertices that were rasterized, metres (detached).
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    depth: torch.Tensor
    faces: torch.Tensor
    vertices: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """``(H, W)`` bool, True where a face covers the pixel centre."""
        return self.face_index >= 0

    @property
    def height(self) -> int:
        return int(self.face_index.shape[0])

    @property
    def width(self) -> int:
        return int(self.face_index.shape[1])


# ---------------------------------------------------------------------------------------------- checks
def _check_mesh(vertices, faces) -> tuple[torch.Tensor, torch.Tensor]:
    vertices = torch.as_tensor(vertices)
    faces = torch.as_tensor(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not vertices.is_floating_point():
        raise InputError(
            f"vertices must be a float (V, 3) tensor in metres; got {tuple(vertices.shape)} {vertices.dtype}"
        )
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.is_floating_point() or faces.dtype == torch.bool:
        raise InputError(
            f"faces must be an integer (F, 3) tensor of vertex indices; got {tuple(faces.shape)} {faces.dtype}"
            " (split quads (a, b, c, d) into (a, b, c) and (a, c, d))"
        )
    faces = faces.long().to(vertices.device)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[0]):
        raise InputError(
            f"faces index vertices out of range: indices span [{int(faces.min())}, {int(faces.max())}]"
            f" but there are {vertices.shape[0]} vertices"
        )
    return vertices, faces


def _check_camera(camera) -> None:
    if not isinstance(camera, Camera):
        raise InputError(f"camera must be a uvatar.camera.Camera; got {type(camera).__name__}")


# ---------------------------------------------------------------------------------------------- raster
def rasterize_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    cull_backfaces: bool = True,
    backend: str = "auto",
    near: float = 1e-3,
) -> MeshRaster:
    """Rasterize a triangle mesh: face id, perspective-correct barycentrics and depth per pixel.

    Args:
        vertices: ``(V, 3)`` float world points (Anny body space), metres.
        faces: ``(F, 3)`` integer vertex indices, wound counter-clockwise seen from outside (see the
            module docstring for the exact winding rule).
        camera: the view; output is ``camera.height x camera.width``.
        cull_backfaces: drop faces turned away from the camera (winding rule above); ``False`` draws
            both sides, the nearer surface wins.
        backend: ``"moderngl"`` (OpenGL on headless EGL, CPU), ``"torch"`` (reference; any device) or
            ``"auto"``: torch for CUDA tensors, else moderngl, falling back to torch with a warning if
            no EGL context can be created.
        near: faces with any vertex at camera depth ``<= near`` metres are dropped whole.
    Returns:
        :class:`MeshRaster` on the device of ``vertices`` (moderngl computes on the CPU and copies back).
    Raises:
        InputError: bad shapes, indices, camera or backend name.
        DependencyError: ``backend="moderngl"`` and no EGL context can be created.
    """
    global _warned_fallback
    vertices, faces = _check_mesh(vertices, faces)
    _check_camera(camera)
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if not near > 0:
        raise InputError(f"near must be a positive depth in metres; got {near}")
    device = vertices.device
    vertices = vertices.detach().float()
    verts_cam = camera.to(device).world_to_camera(vertices)

    use = backend
    if backend == "auto":
        use = "torch" if device.type != "cpu" else "moderngl"
    if use == "moderngl":
        from uvatar.render import _mesh_moderngl

        try:
            fi, bary, depth = _mesh_moderngl.rasterize_moderngl(
                verts_cam, faces, camera.K, camera.width, camera.height, cull_backfaces, near
            )
            fi, bary, depth = fi.to(device), bary.to(device), depth.to(device)
        except DependencyError as exc:
            if backend == "moderngl":
                raise
            if not _warned_fallback:
                log.warning("mesh rasterizer: %s; falling back to the torch rasterizer (slower)", exc)
                _warned_fallback = True
            use = "torch"
    if use == "torch":
        fi, bary, depth = rasterize_torch(
            verts_cam, faces, camera.K.to(device), camera.width, camera.height, cull_backfaces, near
        )
    return MeshRaster(face_index=fi, barycentrics=bary, depth=depth, faces=faces, vertices=vertices)


# ---------------------------------------------------------------------------------------------- attributes
def interpolate(attributes: torch.Tensor, raster: MeshRaster, background: float = 0.0) -> torch.Tensor:
    """Interpolate per-vertex or per-corner attributes over the image.

    Args:
        attributes: ``(V, C)`` per-vertex values, or ``(F, 3, C)`` per-corner values (one per face corner,
            e.g. UVs with seams), ``F`` the number of faces of ``raster``.
        raster: the result of :func:`rasterize_mesh`.
        background: value of empty pixels.
    Returns:
        ``(H, W, C)`` tensor, dtype of ``attributes`` (floating), ``sum_i b_i * attr_i`` at each covered pixel.
    """
    attributes = torch.as_tensor(attributes)
    faces = raster.faces
    if not attributes.is_floating_point():
        attributes = attributes.float()
    if attributes.ndim == 3 and attributes.shape[:2] == (faces.shape[0], 3):
        per_corner = True
    elif attributes.ndim == 2:
        per_corner = False
        if faces.numel() and attributes.shape[0] <= int(faces.max()):
            raise InputError(
                f"interpolate: per-vertex attributes have {attributes.shape[0]} rows but faces index vertex"
                f" {int(faces.max())}"
            )
    else:
        raise InputError(
            f"interpolate: attributes must be (V, C) or (F, 3, C) with F={faces.shape[0]};"
            f" got {tuple(attributes.shape)}"
        )
    device = raster.face_index.device
    attributes = attributes.to(device)
    channels = attributes.shape[-1]
    out = torch.full((raster.height * raster.width, channels), float(background), dtype=attributes.dtype, device=device)
    flat_faces = raster.face_index.reshape(-1)
    pix = torch.nonzero(flat_faces >= 0).squeeze(1)
    if pix.numel():
        f = flat_faces[pix]
        corner_values = attributes[f] if per_corner else attributes[faces[f]]  # (N, 3, C)
        weights = raster.barycentrics.reshape(-1, 3)[pix].to(attributes.dtype)
        out[pix] = (weights.unsqueeze(-1) * corner_values).sum(dim=1)
    return out.view(raster.height, raster.width, channels)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture look-up with clamp-to-edge.

    UV convention (OBJ / Anny): ``(0, 0)`` is the BOTTOM-left corner of the texture image and ``(1, 1)``
    the top-right; ``u`` grows with the column, ``v`` grows upwards (against the row index). Texel
    ``(row, col)`` has its centre at ``u = (col + 0.5) / Wt``, ``v = 1 - (row + 0.5) / Ht``.

    Args:
        texture: ``(Ht, Wt, C)`` image, row 0 at the top; uint8 is scaled to [0, 1].
        uv: ``(..., 2)`` texture coordinates.
    Returns:
        ``(..., C)`` float32 samples.
    """
    texture = torch.as_tensor(texture)
    uv = torch.as_tensor(uv)
    if texture.ndim != 3:
        raise InputError(f"texture must be (Ht, Wt, C); got {tuple(texture.shape)}")
    if uv.shape[-1] != 2:
        raise InputError(f"uv must be (..., 2); got {tuple(uv.shape)}")
    tex = texture.float() / 255.0 if texture.dtype == torch.uint8 else texture.float()
    tex = tex.to(uv.device)
    batch = uv.shape[:-1]
    flat = uv.reshape(1, -1, 1, 2).float()
    # grid_sample (align_corners=False): x=-1 is the left edge of column 0, y=-1 the top edge of row 0.
    grid = torch.stack([2.0 * flat[..., 0] - 1.0, 1.0 - 2.0 * flat[..., 1]], dim=-1)
    sampled = F.grid_sample(
        tex.permute(2, 0, 1).unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False
    )  # (1, C, N, 1)
    return sampled[0, :, :, 0].T.reshape(*batch, tex.shape[-1])


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``(V, 3)`` of a counter-clockwise (outward) wound mesh.

    Args:
        vertices: ``(V, 3)`` float, metres. faces: ``(F, 3)`` integer.
    """
    vertices, faces = _check_mesh(vertices, faces)
    corners = vertices[faces]
    face_n = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # |n| = 2 area
    normals = torch.zeros_like(vertices)
    normals.index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, dim=0))
    return F.normalize(normals, dim=-1)


def render_mesh_colors(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    vertex_colors: torch.Tensor | None = None,
    uvs: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    light: str | torch.Tensor | None = None,
    ambient: float = 0.35,
    background: float | tuple[float, float, float] = 0.0,
    cull_backfaces: bool = True,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a coloured or textured mesh (previews, synthetic data).

    Give either ``vertex_colors`` or ``uvs`` + ``texture``.

    Args:
        vertices: ``(V, 3)`` float world points, metres. faces: ``(F, 3)`` integer, CCW seen from outside.
        camera: the view.
        vertex_colors: ``(V, 3)`` per-vertex or ``(F, 3, 3)`` per-corner RGB in [0, 1].
        uvs: ``(F, 3, 2)`` per-corner texture coordinates, ``(0, 0)`` = bottom-left of the texture
            (OBJ/Anny; see :func:`sample_texture`).
        texture: ``(Ht, Wt, 3)`` RGB image, row 0 at the top, float in [0, 1] or uint8; sampled bilinearly.
        light: ``None`` (unlit albedo), ``"headlight"`` (light from the camera) or a ``(3,)`` world
            direction pointing from the surface towards the light. Lambert shading on smooth vertex
            normals: ``albedo * (ambient + (1 - ambient) * max(n . l, 0))``.
        ambient: ambient fraction in [0, 1].
        background: value of empty pixels (scalar or RGB).
        cull_backfaces, backend: as in :func:`rasterize_mesh`.
    Returns:
        image ``(H, W, 3)`` float32 in [0, 1] and mask ``(H, W)`` bool (covered pixels).
    """
    vertices, faces = _check_mesh(vertices, faces)
    if (vertex_colors is None) == (uvs is None or texture is None):
        raise InputError("render_mesh_colors: pass either vertex_colors, or both uvs and texture")
    raster = rasterize_mesh(vertices, faces, camera, cull_backfaces=cull_backfaces, backend=backend)
    if vertex_colors is not None:
        albedo = interpolate(torch.as_tensor(vertex_colors).float(), raster)
    else:
        uvs = torch.as_tensor(uvs)
        if uvs.shape != (faces.shape[0], 3, 2):
            raise InputError(f"uvs must be per-corner (F, 3, 2) with F={faces.shape[0]}; got {tuple(uvs.shape)}")
        albedo = sample_texture(texture, interpolate(uvs.float(), raster))
    if albedo.shape[-1] != 3:
        raise InputError(f"colours must have 3 channels (RGB); got {albedo.shape[-1]}")
    mask = raster.mask
    image = albedo
    if light is not None:
        if isinstance(light, str):
            if light != "headlight":
                raise InputError(f"light must be None, 'headlight' or a (3,) direction; got {light!r}")
            direction = -camera.R[2].to(vertices)  # towards the camera
        else:
            direction = torch.as_tensor(light, dtype=torch.float32, device=vertices.device).reshape(-1)
            if direction.shape != (3,):
                raise InputError(f"light direction must be (3,); got {tuple(direction.shape)}")
        direction = F.normalize(direction.float(), dim=0)
        normals = F.normalize(interpolate(vertex_normals(vertices.float(), faces), raster), dim=-1)
        lambert = (normals @ direction).clamp_min(0.0)
        image = albedo * (ambient + (1.0 - ambient) * lambert).unsqueeze(-1)
    bg = torch.as_tensor(background, dtype=torch.float32, device=image.device).expand(3)
    image = torch.where(mask.unsqueeze(-1), image.clamp(0.0, 1.0), bg)
    return image, mask


# ---------------------------------------------------------------------------------------------- visibility
def visible_points(
    points: torch.Tensor, raster: MeshRaster, camera: Camera, depth_tol: float = 0.01
) -> torch.Tensor:
    """Which 3D points are seen by ``camera``, given the z-buffer of ``raster``.

    A point is visible when it is in front of the camera, inside the image, and not behind the surface
    seen at the pixel it falls in by more than ``depth_tol``. The surface depth is taken along the
    point's own ray (its exact sub-pixel position): the plane of the face seen at that pixel, so points on
    the surface (e.g. its vertices) are judged without pixel-size error; where that plane is nearly
    edge-on to the ray (|cos| < 0.1) the pixel-centre z-buffer depth is used. An empty pixel hides nothing.

    Args:
        points: ``(N, 3)`` float world points, metres.
        raster: :func:`rasterize_mesh` output for ``camera``.
        camera: the camera of ``raster``.
        depth_tol: slack in metres (camera z) for points on or just behind the surface.
    Returns:
        ``(N,)`` bool.
    """
    points = torch.as_tensor(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"points must be (N, 3); got {tuple(points.shape)}")
    _check_camera(camera)
    if (camera.height, camera.width) != (raster.height, raster.width):
        raise InputError(
            f"camera is {camera.width}x{camera.height} but the raster is {raster.width}x{raster.height}"
        )
    device = raster.depth.device
    cam = camera.to(device)
    points_cam = cam.world_to_camera(points.to(device).float())
    pixels, depth = cam.project(points.to(device).float())
    col = torch.floor(pixels[:, 0])
    row = torch.floor(pixels[:, 1])
    inside = (depth > 0) & (col >= 0) & (col < raster.width) & (row >= 0) & (row < raster.height)
    col = torch.where(inside, col, torch.zeros_like(col)).long()
    row = torch.where(inside, row, torch.zeros_like(row)).long()
    surface = raster.depth[row, col].clone()
    face = raster.face_index[row, col]
    on_face = inside & (face >= 0)
    if bool(on_face.any()):
        corners = cam.world_to_camera(raster.vertices[raster.faces[face[on_face]]])  # (M, 3, 3)
        normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        ray = points_cam[on_face] / depth[on_face].unsqueeze(-1)  # z component 1
        n_dot_ray = (normal * ray).sum(-1)
        plane_depth = (normal * corners[:, 0]).sum(-1) / n_dot_ray
        cosine = n_dot_ray.abs() / (normal.norm(dim=-1) * ray.norm(dim=-1)).clamp_min(1e-30)
        usable = (cosine > 0.1) & torch.isfinite(plane_depth) & (plane_depth > 0)
        surface[on_face] = torch.where(usable, plane_depth, surface[on_face])
    return inside & (depth <= surface + depth_tol)
