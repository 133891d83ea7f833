"""Timing of :func:`uvatar.render.mesh.rasterize_mesh` per backend and image size.

The lead wires this into the CLI; here it is a plain function returning rows.
"""

from __future__ import annotations

import logging
import math
import statistics
import time

import torch

from uvatar.camera import Camera
from uvatar.errors import DependencyError, InputError
from uvatar.render.mesh import rasterize_mesh

__all__ = ["bench_mesh", "framing_camera"]

log = logging.getLogger(__name__)


def framing_camera(vertices: torch.Tensor, size: int, fov_y_deg: float = 30.0, margin: float = 1.05) -> Camera:
    """A square ``size x size`` camera in front of the mesh (on -Y, where Anny faces), Z up, fitting it.

    Args:
        vertices: ``(V, 3)`` world points, metres.
        size: image width and height, pixels.
        fov_y_deg: vertical field of view, degrees.
        margin: >= 1, extra room around the bounding sphere.
    """
    vertices = torch.as_tensor(vertices, dtype=torch.float32)
    lo, hi = vertices.amin(dim=0), vertices.amax(dim=0)
    centre = (lo + hi) / 2
    radius = float(torch.linalg.norm(hi - lo)) / 2
    distance = margin * radius / math.sin(math.radians(fov_y_deg) / 2)
    eye = centre + torch.tensor([0.0, -distance, 0.0])
    return Camera.look_at(eye, centre, size, size, fov_y_deg)


def bench_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    sizes: tuple[int, ...] = (512, 1024),
    backends: tuple[str, ...] | None = None,
    repeats: int = 5,
) -> list[dict]:
    """Median wall time of :func:`rasterize_mesh` (face ids, barycentrics and depth as torch tensors).

    Each (backend, size) gets one untimed warm-up call (context creation, buffers), then ``repeats``
    timed calls; culling on.

    Args:
        vertices: ``(V, 3)`` world points, metres. faces: ``(F, 3)`` integer, CCW seen from outside.
        sizes: square image sizes, pixels.
        backends: names among ``"moderngl"``, ``"torch"``; default both (moderngl skipped with a
            warning if no EGL context can be made).
        repeats: timed calls per row (>= 1).
    Returns:
        one dict per row: ``backend``, ``size``, ``n_faces``, ``covered_pixels``, ``time_ms`` (median wall
        time), ``min_ms``, ``cpu_ms`` (median CPU time of this process, all threads: less sensitive than
        wall time to other processes sharing the cores).
    """
    if repeats < 1:
        raise InputError(f"repeats must be >= 1; got {repeats}")
    backends = tuple(backends) if backends is not None else ("moderngl", "torch")
    rows = []
    for backend in backends:
        for size in sizes:
            camera = framing_camera(vertices, int(size))
            try:
                raster = rasterize_mesh(vertices, faces, camera, backend=backend)
            except DependencyError as exc:
                log.warning("bench_mesh: skipping backend %s: %s", backend, exc)
                break
            times, cpu_times = [], []
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.process_time()
                raster = rasterize_mesh(vertices, faces, camera, backend=backend)
                if raster.face_index.is_cuda:
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
            rows.append(
                {
                    "backend": backend,
                    "size": int(size),
                    "n_faces": int(faces.shape[0]),
                    "covered_pixels": int(raster.mask.sum()),
                    "time_ms": 1e3 * statistics.median(times),
                    "min_ms": 1e3 * min(times),
                    "cpu_ms": 1e3 * statistics.median(cpu_times),
                }
            )
            log.info("bench_mesh %s", rows[-1])
    return rows
