"""Shell samples taken at the photo's pixels: what the person mask shows off the body.

Beyond the body's outline the shell is seen nearly edge-on, so a UV grid on it gets very few samples:
on the bundled astronaut photo 23K person pixels lie off the body and a 512² Shell-UV grid receives
under a thousand texels, each stretched over many pixels. Sampling the other way round (one shell
point per photo pixel, on a grid of at most ``max_side`` samples along the image's longer side) covers
every such pixel: the pixel's ray hits the shell (rasterized in the photo's camera) at a face and
barycentrics; that point is stored bound to the same face of the body (face-frame offset), so it rides
the body's skinning like every other Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from uvatar.body.skinning import world_points_to_bound
from uvatar.camera import Camera

__all__ = ["ShellPixelSamples", "sample_shell_pixels"]


@dataclass
class ShellPixelSamples:
    """Shell points seen at photo pixels off the body.

    Attributes:
        face: ``(N,)`` int64 body face each point is bound to; barycentrics: ``(N, 3)``.
        offsets: ``(N, 3)`` metres, offset from the body surface point in that face's frame.
        features: ``(N, C)`` image features at the pixels; pixels: ``(N, 2)`` image positions.
        spacing: ``(N,)`` metres between neighbouring samples at the point's depth (sizes the Gaussian).
    """

    face: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    features: torch.Tensor
    pixels: torch.Tensor
    spacing: torch.Tensor

    def __len__(self) -> int:
        return int(self.face.shape[0])

    @staticmethod
    def concatenate(parts: list["ShellPixelSamples"]) -> "ShellPixelSamples":
        """One set from several photos' samples (all bound to the same body faces, so they simply join)."""
        return ShellPixelSamples(*(torch.cat([getattr(p, name) for p in parts]) for name in ("face", "barycentrics", "offsets", "features", "pixels", "spacing")))


def sample_shell_pixels(
    feature_map,
    body_raster,
    shell_raster,
    posed_vertices: torch.Tensor,
    shell: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    person: torch.Tensor,
    keep_faces: torch.Tensor | None = None,
    max_side: int = 512,
) -> ShellPixelSamples:
    """One shell sample per grid pixel that the mask calls person, the body misses and the shell covers.

    Args:
        feature_map: a FeatureMap of the photo (``.sample(pixels (N, 2)) -> (N, C)``).
        body_raster, shell_raster: :class:`~uvatar.render.mesh.MeshRaster` of the posed body and of its
            shell in ``camera`` (same faces).
        posed_vertices: ``(V, 3)`` the fitted body; shell: ``(V, 3)`` its extrusion; faces ``(F, 3)``.
        person: ``(H, W)`` bool person mask at the photo's resolution.
        keep_faces: ``(F,)`` bool, faces that may carry samples (default all).
        max_side: samples along the image's longer side (the grid's stride is
            ``ceil(max(H, W) / max_side)`` pixels).
    """
    height, width = person.shape
    stride = max(1, math.ceil(max(height, width) / max_side))
    rows = torch.arange(stride // 2, height, stride)
    cols = torch.arange(stride // 2, width, stride)
    grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing="ij")
    grid_rows, grid_cols = grid_rows.reshape(-1), grid_cols.reshape(-1)
    face = shell_raster.face_index[grid_rows, grid_cols]
    take = person[grid_rows, grid_cols] & (body_raster.face_index[grid_rows, grid_cols] < 0) & (face >= 0)
    if keep_faces is not None:
        take &= keep_faces[face.clamp(min=0)]
    grid_rows, grid_cols, face = grid_rows[take], grid_cols[take], face[take]
    bary = shell_raster.barycentrics[grid_rows, grid_cols]
    points = (bary[:, :, None] * shell[faces[face]]).sum(1)
    offsets = world_points_to_bound(posed_vertices, faces, face, bary, points)
    pixels = torch.stack([grid_cols, grid_rows], -1).float() + 0.5
    depth = shell_raster.depth[grid_rows, grid_cols]
    spacing = stride * depth / float(camera.K[0, 0])
    return ShellPixelSamples(face, bary, offsets, feature_map.sample(pixels), pixels, spacing)
