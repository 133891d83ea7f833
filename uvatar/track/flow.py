"""Dense surface registration between video frames: where the body's visible surface points moved.

Landmarks register a body to a frame at a few dozen sparse points, each a few pixels off and
independently so from frame to frame; between two frames the image itself says, densely and to a
fraction of a pixel, how the seen surface moved. This module turns that into fitting targets:

1. :func:`flow_vertices` picks a fixed set of body vertices spread over the surface (no fingers).
2. :func:`surface_pixels` keeps those of them the camera sees face-on on a fitted mesh (z-buffer,
   normal towards the camera) and gives their pixels, at the grey frame's scale.
3. :func:`flow_targets` follows those pixels into the next frame with optical flow (OpenCV's DIS,
   a library made for it), kept only where the flow back from the next frame returns them to within
   ``max_error`` pixels (occlusions and flow failures do not), both frames have texture there
   (:func:`patch_texture`) and the two patches correlate (a flat occluder).

The video tracker (:mod:`uvatar.track.video`) adds a robust term pulling each followed vertex to its
target: a warm-started frame then stays registered to its predecessor's fit at the texture level,
which is what the re-posed avatar's pixels need.

Frames: grey ``(h, w)`` uint8 copies at the detection scale (:func:`grey_frame`); pixels in that
copy's coordinates (pixel centres at +0.5, as :class:`~uvatar.camera.Camera`'s).
"""

from __future__ import annotations

import numpy as np
import torch

from uvatar.detect.holistic import shrink_to_side
from uvatar.errors import InputError

__all__ = ["grey_frame", "flow_vertices", "surface_pixels", "flow_targets", "patch_texture", "FLOW_PRESET", "MIN_TEXTURE"]

MIN_TEXTURE = 1.0  # grey levels² per pixel²: a gradient of 1 level a pixel in the weaker direction
MIN_FLOW_SIDE = 16  # pixels: OpenCV's DIS refuses frames with both sides under 12
FLOW_PRESET = "FAST"  # DIS preset: FAST 2.7 ms at 640x360 here, MEDIUM 11 ms (measured with random texture)


def grey_frame(frame: np.ndarray, max_side: int) -> np.ndarray:
    """``frame (H, W, 3)`` uint8 RGB -> grey ``(h, w)`` uint8 copy with its longer side at most ``max_side`` (0: full size)."""
    import cv2

    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"grey_frame needs an (H, W, 3) uint8 RGB frame; got {frame.shape} {frame.dtype}")
    return cv2.cvtColor(shrink_to_side(frame, max_side), cv2.COLOR_RGB2GRAY)


def flow_vertices(body, count: int = 1500) -> torch.Tensor:
    """``(N,)`` long: about ``count`` body vertices spread evenly over the surface (farthest-point order
    on the rest mesh from a fixed start, so the same on every machine), none weighted mostly to a
    finger bone (fingers are a few pixels wide and move unlike their neighbours) or an eyeball (it moves
    with the gaze, not the head)."""
    vertices = body.rest_state(body.default_params(1).phenotypes).vertices[0].detach().double()
    weights = body.skinning_weight_matrix
    labels = list(body.bone_labels)
    finger = torch.tensor([name.startswith(("finger", "metacarpal", "eye.")) for name in labels])
    on_finger = weights[:, finger].sum(1) > 0.5
    used = set(int(i) for i in torch.unique(body.faces))
    candidates = torch.tensor([i for i in range(len(vertices)) if i in used and not bool(on_finger[i])])
    points = vertices[candidates]
    count = min(count, len(candidates))
    chosen = torch.empty(count, dtype=torch.long)
    dist = torch.full((len(points),), float("inf"), dtype=torch.float64)
    current = 0
    for k in range(count):
        chosen[k] = current
        dist = torch.minimum(dist, (points - points[current]).pow(2).sum(1))
        current = int(torch.argmax(dist))
    return candidates[chosen].sort().values


def surface_pixels(vertices: torch.Tensor, faces: torch.Tensor, camera, ids: torch.Tensor, width: int, height: int,
                   min_facing: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """The flow vertices ``ids (N,)`` of a posed mesh that ``camera`` sees face-on, and their pixels.

    Seen: in front of the surface a mesh raster's z-buffer shows at its pixel, with 2 cm slack
    (:func:`~uvatar.render.mesh.visible_points`). A point z-buffer of the vertices (2-3 ms against 8-11
    ms) disagreed with it on 10-30 % of the seen vertices (too few vertices per pixel cell on slanted
    surfaces, normals misjudging the outline), so the raster stays. Face-on: the cosine between the
    vertex normal and the direction to the camera is at least ``min_facing``; near the outline a
    point's patch holds background, whose flow would hold the body back.

    Args:
        vertices: ``(V, 3)`` posed body vertices, world metres; faces: ``(F, 3)``.
        camera: the fit's camera (any size); it is scaled to ``width x height`` (the grey frame's).
    Returns:
        ``(ids_seen (M,) long, pixels (M, 2) float32)`` in the ``width x height`` image.
    """
    from uvatar.render.mesh import rasterize_mesh, vertex_normals, visible_points

    cam = camera.resized(width, height)
    with torch.no_grad():
        raster = rasterize_mesh(vertices, faces, cam)
        points = vertices[ids]
        normals = vertex_normals(vertices, faces)[ids]  # unit length
        to_camera = cam.center[None, :] - points
        facing = (normals * to_camera).sum(-1) / to_camera.norm(dim=-1).clamp_min(1e-12)
        seen = visible_points(points, raster, cam, depth_tol=0.02) & (facing >= min_facing)
        pixels, _ = cam.project(points[seen])
    return ids[seen], pixels.float()


def flow_targets(previous: np.ndarray, current: np.ndarray, pixels: torch.Tensor, max_error: float = 1.0,
                 min_texture: float = MIN_TEXTURE, min_correlation: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """Follow ``pixels (M, 2)`` of grey frame ``previous`` into ``current`` (both ``(h, w)`` uint8).

    Flow is computed both ways (DIS, :data:`FLOW_PRESET`); a pixel is kept when the backward flow at
    its forward target brings it back to within ``max_error`` pixels, the target is inside the frame,
    both frames have texture there (:func:`patch_texture` at least ``min_texture``: on a flat patch the
    flow is a guess that both directions agree on, zero on a blank frame) and the two patches look alike
    (zero-mean normalised correlation at least ``min_correlation``: DIS fills a flat occluder with its
    surroundings' flow both ways, so only the pixels tell that the point went behind it).

    Returns:
        ``(targets (M, 2) float32, kept (M,) bool)``.
    """
    import cv2

    if previous.shape != current.shape:
        raise InputError(f"flow needs two frames of one size; got {previous.shape} and {current.shape}")
    if max(previous.shape) < MIN_FLOW_SIDE:  # DIS needs a side of 12 px; a frame this small has no flow to give
        return pixels.detach().float().clone(), torch.zeros(len(pixels), dtype=torch.bool)
    if len(pixels) == 0:  # nothing seen: nothing to follow
        return torch.zeros(0, 2), torch.zeros(0, dtype=torch.bool)
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{FLOW_PRESET}"))
    forward = dis.calc(previous, current, None)
    backward = dis.calc(current, previous, None)
    h, w = previous.shape
    p = pixels.detach().double().numpy() - 0.5  # array coordinates of the pixel centres
    fwd = _bilinear(forward, p)
    moved = p + fwd
    back = _bilinear(backward, moved)
    error = np.linalg.norm(moved + back - p, axis=1)
    inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
    kept = inside & (error <= max_error) & np.isfinite(error)
    kept &= (patch_texture(previous, p) >= min_texture) & (patch_texture(current, moved) >= min_texture)
    kept &= _correlation(_patches(previous, p), _patches(current, moved)) >= min_correlation
    return torch.from_numpy(moved + 0.5).float(), torch.from_numpy(kept)


def patch_texture(grey: np.ndarray, points: np.ndarray, radius: int = 3) -> np.ndarray:
    """Texture at ``points (M, 2)`` (x, y array coordinates) of ``grey (h, w)`` uint8: the smaller
    eigenvalue of the gradient's structure tensor over the ``(2 radius + 1)`` square patch around the
    nearest pixel, per pixel of the patch (grey levels² per pixel²): how well the patch pins a shift down
    in its weaker direction (Shi-Tomasi's corner measure). ``(M,)`` float."""
    patch = _patches(grey, points, radius + 1)  # (M, 2r+3, 2r+3)
    gx = (patch[:, 1:-1, 2:] - patch[:, 1:-1, :-2]) / 2
    gy = (patch[:, 2:, 1:-1] - patch[:, :-2, 1:-1]) / 2
    n = float((2 * radius + 1) ** 2)
    a, b, c = (gx * gx).sum((1, 2)) / n, (gx * gy).sum((1, 2)) / n, (gy * gy).sum((1, 2)) / n
    return (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b * b)


def _patches(grey: np.ndarray, points: np.ndarray, radius: int = 3) -> np.ndarray:
    """``(M, 2 radius + 1, 2 radius + 1)`` float32 squares of ``grey`` around the pixels nearest ``points``
    (x, y array coordinates; squares that would leave the image are moved inside it)."""
    if min(grey.shape) < 2 * radius + 1:  # a tiny frame: its edge repeated
        grey = np.pad(grey, radius, mode="edge")
        points = points + radius
    h, w = grey.shape
    cx = np.clip(np.rint(points[:, 0]).astype(np.int64), radius, max(radius, w - radius - 1))
    cy = np.clip(np.rint(points[:, 1]).astype(np.int64), radius, max(radius, h - radius - 1))
    offsets = np.arange(-radius, radius + 1)
    return grey[(cy[:, None] + offsets)[:, :, None], (cx[:, None] + offsets)[:, None, :]].astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Zero-mean normalised correlation of paired patches ``(M, k, k)`` -> ``(M,)`` in [-1, 1] (0 where one is flat)."""
    a = a.reshape(a.shape[0], a.shape[1] * a.shape[2])
    b = b.reshape(b.shape[0], b.shape[1] * b.shape[2])
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    norm = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(norm > 0, (a * b).sum(1) / np.maximum(norm, 1e-12), 0.0)


def _bilinear(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``field (h, w, C)`` sampled bilinearly at ``points (M, 2)`` (x, y array coordinates, clamped to the edge) -> ``(M, C)``."""
    h, w = field.shape[:2]
    x = np.clip(points[:, 0], 0, w - 1)
    y = np.clip(points[:, 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2 if h > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
