"""Pinhole camera in the OpenCV convention.

Convention: camera x right, y down, z forward (into the scene). ``R, t`` map world to camera:
``x_cam = R @ x_world + t``. ``K`` holds the intrinsics in pixels; the pixel (0, 0) centre sits at
coordinate (0.5, 0.5), so a pixel's centre is ``(col + 0.5, row + 0.5)``. World space is Anny's body
space: metres, Z up, the body faces -Y.

>>> cam = Camera.look_at(eye=[0.0, -3.0, 1.0], target=[0.0, 0.0, 1.0], width=64, height=64, fov_y_deg=40.0)
>>> px, depth = cam.project(torch.tensor([[0.0, 0.0, 1.0]]))
>>> [round(v, 3) for v in px[0].tolist()], round(float(depth[0]), 3)
([32.0, 32.0], 3.0)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from uvatar.errors import InputError

__all__ = ["Camera", "framed_centre", "intrinsics_from_fov", "look_at_rotation", "orbit", "orbit_camera"]


def intrinsics_from_fov(width: int, height: int, fov_y_deg: float) -> torch.Tensor:
    """Intrinsics ``(3, 3)`` with square pixels, principal point at the image centre.

    Args:
        width, height: image size in pixels.
        fov_y_deg: vertical field of view in degrees, in (0, 180).
    """
    if not 0.0 < fov_y_deg < 180.0:
        raise InputError(f"fov_y_deg must be in (0, 180) degrees; got {fov_y_deg}")
    focal = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2.0)
    return torch.tensor(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=torch.float32
    )


def look_at_rotation(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """World-to-camera rotation ``(3, 3)`` of an OpenCV camera at ``eye`` looking at ``target``.

    Args:
        eye, target: ``(3,)`` world points, metres.
        up: ``(3,)`` world direction that appears up in the image (-y of the camera).
    """
    forward = target - eye
    norm = torch.linalg.norm(forward)
    if norm < 1e-9:
        raise InputError("look_at: eye and target coincide; move the camera away from its target")
    z_axis = forward / norm
    x_axis = torch.linalg.cross(z_axis, up)
    if torch.linalg.norm(x_axis) < 1e-9:
        raise InputError("look_at: viewing direction is parallel to 'up'; pass another up vector")
    x_axis = x_axis / torch.linalg.norm(x_axis)
    y_axis = torch.linalg.cross(z_axis, x_axis)
    return torch.stack([x_axis, y_axis, z_axis], dim=0)


@dataclass
class Camera:
    """One pinhole camera.

    Attributes:
        K: ``(3, 3)`` intrinsics in pixels.
        R: ``(3, 3)`` world-to-camera rotation.
        t: ``(3,)`` world-to-camera translation, metres.
        width, height: image size in pixels.
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = torch.as_tensor(self.K, dtype=torch.float32)
        self.R = torch.as_tensor(self.R, dtype=torch.float32)
        self.t = torch.as_tensor(self.t, dtype=torch.float32).reshape(3)
        if self.K.shape != (3, 3) or self.R.shape != (3, 3):
            raise InputError(f"Camera: K and R must be (3, 3); got {tuple(self.K.shape)} and {tuple(self.R.shape)}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise InputError(f"Camera: width and height must be positive; got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(
        cls,
        eye,
        target,
        width: int,
        height: int,
        fov_y_deg: float = 40.0,
        up=(0.0, 0.0, 1.0),
    ) -> "Camera":
        """A camera at ``eye`` (metres, world) looking at ``target``; world +Z appears up by default."""
        eye_t = torch.as_tensor(eye, dtype=torch.float32)
        target_t = torch.as_tensor(target, dtype=torch.float32)
        rotation = look_at_rotation(eye_t, target_t, torch.as_tensor(up, dtype=torch.float32))
        return cls(intrinsics_from_fov(width, height, fov_y_deg), rotation, -rotation @ eye_t, width, height)

    # ------------------------------------------------------------------ properties
    @property
    def focal(self) -> tuple[float, float]:
        return float(self.K[0, 0]), float(self.K[1, 1])

    @property
    def center(self) -> torch.Tensor:
        """Camera centre in world coordinates ``(3,)``."""
        return -self.R.T @ self.t

    @property
    def world_to_cam(self) -> torch.Tensor:
        """``(4, 4)`` world-to-camera matrix."""
        mat = torch.eye(4)
        mat[:3, :3] = self.R
        mat[:3, 3] = self.t
        return mat

    def to(self, device) -> "Camera":
        return Camera(self.K.to(device), self.R.to(device), self.t.to(device), self.width, self.height)

    def resized(self, width: int, height: int) -> "Camera":
        """The same view at another image size (intrinsics scaled per axis)."""
        scale = torch.tensor([[width / self.width], [height / self.height], [1.0]], device=self.K.device)
        return Camera(self.K * scale, self.R, self.t, width, height)

    # ------------------------------------------------------------------ geometry
    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """``(..., 3)`` world points to ``(..., 3)`` camera-frame points."""
        return points @ self.R.to(points).T + self.t.to(points)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points.

        Args:
            points: ``(..., 3)`` world points, metres.
        Returns:
            pixels ``(..., 2)`` (x right, y down, pixel-centre convention above) and depth ``(...)``
            (camera z, metres). Points behind the camera get non-finite or mirrored pixels: check depth.
        """
        cam = self.world_to_camera(points)
        depth = cam[..., 2]
        uvw = cam @ self.K.to(points).T
        pixels = uvw[..., :2] / depth.unsqueeze(-1)
        return pixels, depth

    def in_frame(self, pixels: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """``(...)`` bool: the ``pixels (..., 2)`` of :meth:`project` lie inside the image (and, given their
        ``depth (...)``, in front of the camera)."""
        inside = (pixels[..., 0] >= 0) & (pixels[..., 0] < self.width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < self.height)
        return inside & (depth > 0) if depth is not None else inside

    def backproject(self, pixels: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`project`: ``(..., 2)`` pixels and ``(...)`` depth to ``(..., 3)`` world points."""
        K = self.K.to(pixels)
        x = (pixels[..., 0] - K[0, 2]) / K[0, 0]
        y = (pixels[..., 1] - K[1, 2]) / K[1, 1]
        cam = torch.stack([x * depth, y * depth, depth], dim=-1)
        return (cam - self.t.to(pixels)) @ self.R.to(pixels)

    def pixel_rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Ray origin ``(3,)`` and unit directions ``(H, W, 3)`` through every pixel centre (world frame)."""
        rows, cols = torch.meshgrid(
            torch.arange(self.height, dtype=torch.float32) + 0.5,
            torch.arange(self.width, dtype=torch.float32) + 0.5,
            indexing="ij",
        )
        points = self.backproject(torch.stack([cols, rows], -1), torch.ones(self.height, self.width))
        dirs = points - self.center
        return self.center, dirs / torch.linalg.norm(dirs, dim=-1, keepdim=True)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {
            "convention": "opencv; x_cam = R @ x_world + t; pixel centres at +0.5",
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Camera":
        try:
            return cls(data["K"], data["R"], data["t"], data["width"], data["height"])
        except KeyError as exc:
            raise InputError(f"camera JSON lacks the key {exc}; expected K, R, t, width, height") from None

    def save(self, path: str | Path) -> None:
        from uvatar.io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Camera":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read camera JSON {path}: {exc}") from None


def orbit(
    target,
    radius: float,
    n_views: int,
    width: int,
    height: int,
    fov_y_deg: float = 40.0,
    elevation_deg: float = 0.0,
    start_azimuth_deg: float = 0.0,
) -> list[Camera]:
    """``n_views`` cameras on a circle around ``target`` (world Z up).

    Azimuth 0 is in front of the body (on -Y, where Anny faces); angles grow counter-clockwise seen
    from above, so azimuth 90 looks at the body's left side (+X).
    """
    target_t = torch.as_tensor(target, dtype=torch.float32)
    cams = []
    for i in range(n_views):
        azimuth = math.radians(start_azimuth_deg + 360.0 * i / n_views)
        elevation = math.radians(elevation_deg)
        offset = torch.tensor(
            [
                math.sin(azimuth) * math.cos(elevation),
                -math.cos(azimuth) * math.cos(elevation),
                math.sin(elevation),
            ]
        )
        cams.append(Camera.look_at(target_t + radius * offset, target_t, width, height, fov_y_deg))
    return cams


def framed_centre(camera: Camera, vertices: torch.Tensor) -> torch.Tensor:
    """``(3,)`` the median of the ``vertices (V, 3)`` that ``camera`` frames (in front of it, projecting
    inside its image; all of them when it frames none): the point to orbit a view about so that it keeps
    what the photo framed. The bounding box of the whole body would not do: for a head photo its centre
    lies at the chest or beside a raised arm, and a head turned about it leaves the frame."""
    inside = camera.in_frame(*camera.project(vertices))
    framed = vertices[inside] if bool(inside.any()) else vertices
    return framed.median(0).values


def orbit_camera(camera: Camera, vertices: torch.Tensor, azimuth_deg: float) -> Camera:
    """``camera`` turned rigidly by ``azimuth_deg`` about the world-Z axis through the bounding-box
    centre of ``vertices (V, 3)`` (counter-clockwise seen from above; 0 returns the same view).

    Distance to the axis, height, pitch and intrinsics are kept.
    """
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    a = math.radians(azimuth_deg)
    rz = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    pivot = torch.tensor([float(centre[0]), float(centre[1]), 0.0])
    eye = pivot + rz @ (camera.center - pivot)
    rotation = camera.R @ rz.T
    return Camera(camera.K.clone(), rotation, -rotation @ eye, camera.width, camera.height)
