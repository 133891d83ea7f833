"""Plain PyTorch triangle rasterizer: the reference twin of :mod:`uvatar.render._mesh_moderngl`.

Edge functions evaluated at pixel centres inside each face's bounding box, perspective-correct
barycentrics, a z-buffer resolved with ``scatter_reduce(amin)`` over a packed ``(depth bits, face id)``
int64 key (nearest depth wins; on an exact depth tie the lower face id wins). Runs on any torch device
(CPU or CUDA). Faces are processed in chunks so that at most ``max_pairs`` (face, pixel) candidate
pairs are held at once.

It never calls the moderngl path; tests compare the two.
"""

from __future__ import annotations

import torch

__all__ = ["rasterize_torch", "face_screen_setup"]

_EMPTY_KEY = torch.iinfo(torch.int64).max


def face_screen_setup(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    cull_backfaces: bool,
    near: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project faces to the image and decide which are drawn.

    Args:
        verts_cam: ``(V, 3)`` camera-frame vertices (OpenCV: x right, y down, z forward), metres.
        faces: ``(F, 3)`` int64 vertex indices.
        K: ``(3, 3)`` intrinsics, pixels.
        cull_backfaces: drop faces whose signed pixel area is >= 0 (see :func:`rasterize_torch`).
        near: faces with any vertex at camera z <= ``near`` (metres) are dropped whole (no clipping).
    Returns:
        tri ``(F, 3, 2)`` pixel positions of the corners, tri_z ``(F, 3)`` corner depths (metres),
        area ``(F,)`` signed pixel area x2 ``(b - a) x (c - a)`` in (x right, y down) pixel coordinates,
        drawn ``(F,)`` bool.
    """
    z = verts_cam[:, 2]
    uv = verts_cam @ K.to(verts_cam).T
    pix = uv[:, :2] / torch.where(z > near, z, torch.ones_like(z)).unsqueeze(-1)
    tri = pix[faces]
    tri_z = z[faces]
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    drawn = (tri_z > near).all(dim=1) & torch.isfinite(area)
    drawn &= (area < 0) if cull_backfaces else (area != 0)
    return tri, tri_z, area, drawn


def _barycentric_at(
    tri: torch.Tensor, tri_z: torch.Tensor, area: torch.Tensor, px: torch.Tensor, py: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen-space barycentrics ``(N, 3)`` of points ``(px, py)`` and their interpolated 1/z ``(N,)``.

    ``tri (N, 3, 2)``, ``tri_z (N, 3)``, ``area (N,)`` are per-pair copies of the face setup.
    """
    ax, ay = tri[:, 0, 0], tri[:, 0, 1]
    bx, by = tri[:, 1, 0], tri[:, 1, 1]
    cx, cy = tri[:, 2, 0], tri[:, 2, 1]
    w0 = (cx - bx) * (py - by) - (cy - by) * (px - bx)
    w1 = (ax - cx) * (py - cy) - (ay - cy) * (px - cx)
    w2 = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    screen = torch.stack([w0, w1, w2], dim=-1) / area.unsqueeze(-1)
    inv_z = (screen / tri_z).sum(dim=-1)
    return screen, inv_z


def rasterize_torch(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    width: int,
    height: int,
    cull_backfaces: bool = True,
    near: float = 1e-3,
    max_pairs: int = 1 << 20,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterize a triangle mesh at pixel centres ``(col + 0.5, row + 0.5)``.

    Winding: a face is front-facing when its signed pixel area ``(b - a) x (c - a)``, computed in
    (x right, y down) pixel coordinates, is negative, i.e. it looks counter-clockwise in the image as
    displayed. An outward-oriented closed mesh (trimesh/OBJ convention) keeps the faces facing the camera.
    A pixel centre on an edge counts as inside (so shared edges leave no holes).

    Args:
        verts_cam: ``(V, 3)`` float camera-frame vertices, metres.
        faces: ``(F, 3)`` int64 vertex indices.
        K: ``(3, 3)`` intrinsics, pixels.
        width, height: image size, pixels.
        cull_backfaces: drop back faces (signed area >= 0); otherwise draw both sides.
        near: faces with any vertex at z <= near (metres) are dropped whole.
        max_pairs: most (face, pixel) candidate pairs processed at once (memory bound).
    Returns:
        face_index ``(H, W)`` int64 (-1 empty), barycentrics ``(H, W, 3)`` float32 (perspective-correct,
        zeros where empty), depth ``(H, W)`` float32 camera z in metres (inf where empty). On the device
        of ``verts_cam``.
    """
    device = verts_cam.device
    verts_cam = verts_cam.float()
    faces = faces.long()
    tri, tri_z, area, drawn = face_screen_setup(verts_cam, faces, K.float(), cull_backfaces, near)

    # Pixel-centre bounding boxes: columns c with c + 0.5 in [min x, max x].
    lo = tri.amin(dim=1).clamp(-2.0, float(max(width, height)) + 2.0)
    hi = tri.amax(dim=1).clamp(-2.0, float(max(width, height)) + 2.0)
    x0 = torch.ceil(lo[:, 0] - 0.5).long().clamp_min(0)
    y0 = torch.ceil(lo[:, 1] - 0.5).long().clamp_min(0)
    x1 = torch.floor(hi[:, 0] - 0.5).long().clamp_max(width - 1)
    y1 = torch.floor(hi[:, 1] - 0.5).long().clamp_max(height - 1)
    drawn &= (x1 >= x0) & (y1 >= y0)

    ids = torch.nonzero(drawn).squeeze(1)
    bw = (x1 - x0 + 1)[ids]
    bh = (y1 - y0 + 1)[ids]
    counts = bw * bh

    keys = torch.full((height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)
    if ids.numel() > 0:
        # Chunks of consecutive faces holding at most max_pairs pairs (a bigger face gets its own chunk).
        ends = torch.cumsum(counts, 0)
        bounds = [0]
        ends_cpu = ends.cpu()
        start_total = 0
        while bounds[-1] < ids.numel():
            nxt = int(torch.searchsorted(ends_cpu, start_total + max_pairs, right=True))
            nxt = max(nxt, bounds[-1] + 1)
            bounds.append(min(nxt, ids.numel()))
            start_total = int(ends_cpu[bounds[-1] - 1])
        for s, e in zip(bounds[:-1], bounds[1:]):
            f = ids[s:e]
            cnt = counts[s:e]
            total = int(cnt.sum())
            k = torch.repeat_interleave(torch.arange(e - s, device=device), cnt, output_size=total)
            start = torch.cumsum(cnt, 0) - cnt
            local = torch.arange(total, device=device) - start[k]
            w_k = bw[s:e][k]
            col = x0[f][k] + local % w_k
            row = y0[f][k] + local // w_k
            face_k = f[k]
            screen, inv_z = _barycentric_at(
                tri[face_k], tri_z[face_k], area[face_k], col.float() + 0.5, row.float() + 0.5
            )
            inside = (screen >= 0).all(dim=-1) & (inv_z > 0)
            depth = (1.0 / inv_z[inside]).float()
            key = (depth.view(torch.int32).long() << 32) | face_k[inside]
            keys.scatter_reduce_(0, (row * width + col)[inside], key, reduce="amin", include_self=True)

    face_index = torch.full((height * width,), -1, dtype=torch.int64, device=device)
    barycentrics = torch.zeros(height * width, 3, dtype=torch.float32, device=device)
    depth_map = torch.full((height * width,), float("inf"), dtype=torch.float32, device=device)
    pix = torch.nonzero(keys != _EMPTY_KEY).squeeze(1)
    if pix.numel() > 0:
        f = keys[pix] & 0xFFFFFFFF
        px = (pix % width).float() + 0.5
        py = (pix // width).float() + 0.5
        screen, inv_z = _barycentric_at(tri[f], tri_z[f], area[f], px, py)
        face_index[pix] = f
        barycentrics[pix] = (screen / tri_z[f]) / inv_z.unsqueeze(-1)
        depth_map[pix] = 1.0 / inv_z
    return (
        face_index.view(height, width),
        barycentrics.view(height, width, 3),
        depth_map.view(height, width),
    )
