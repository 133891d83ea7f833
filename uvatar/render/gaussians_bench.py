"""Benchmark of the Gaussian renderers on an avatar-like scene.

The CLI (``uvatar bench render``) calls :func:`bench_gaussians`; this module prints nothing.

Scene (:func:`avatar_scene`): N Gaussians on and inside a 1.7 m tall ellipsoid standing at the origin
(85% in a 1 cm thick shell at the surface, like an avatar's surface-bound Gaussians, 15% inside),
scales 2-8 mm, random rotations, opacities 0.2-1, random colours, seen by a 40° camera at 3 m. The
body fills ~80% of the image height.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import math
import statistics
import time
from dataclasses import dataclass

import torch

from uvatar.camera import Camera

__all__ = ["AvatarScene", "avatar_scene", "bench_gaussians"]

log = logging.getLogger(__name__)


@dataclass
class AvatarScene:
    """Gaussian parameters (``means (N, 3)`` m, ``quats_wxyz (N, 4)``, ``scales (N, 3)`` m,
    ``opacities (N,)``, ``colors (N, 3)``) and the :class:`Camera` that sees them."""

    means: torch.Tensor
    quats_wxyz: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    colors: torch.Tensor
    camera: Camera

    def to(self, device) -> "AvatarScene":
        move = lambda x: x.to(device)  # noqa: E731
        return AvatarScene(
            move(self.means), move(self.quats_wxyz), move(self.scales), move(self.opacities), move(self.colors),
            self.camera.to(device),
        )  # fmt: skip

    def params(self) -> list[torch.Tensor]:
        return [self.means, self.quats_wxyz, self.scales, self.opacities, self.colors]


def avatar_scene(n: int, size: int = 512, seed: int = 0) -> AvatarScene:
    """A reproducible person-sized cloud of ``n`` Gaussians and a ``size`` x ``size`` camera (float32, CPU)."""
    gen = torch.Generator().manual_seed(seed)
    radii = torch.tensor([0.28, 0.16, 0.85])  # half width, half depth, half height, metres
    centre = torch.tensor([0.0, 0.0, 0.9])
    dirs = torch.randn(n, 3, generator=gen)
    dirs = dirs / torch.linalg.vector_norm(dirs, dim=-1, keepdim=True)
    shell = torch.rand(n, generator=gen) < 0.85
    depth = torch.where(
        shell,
        1.0 + 0.01 * (torch.rand(n, generator=gen) - 0.5) / radii.min(),  # thin shell
        torch.rand(n, generator=gen) ** (1.0 / 3.0),  # uniform inside
    )
    means = centre + dirs * radii * depth.unsqueeze(-1)
    scales = torch.exp(torch.empty(n, 3).uniform_(math.log(0.002), math.log(0.008), generator=gen))  # 2-8 mm
    quats = torch.randn(n, 4, generator=gen)
    quats = quats / torch.linalg.vector_norm(quats, dim=-1, keepdim=True)
    opacities = 0.2 + 0.8 * torch.rand(n, generator=gen)
    colors = torch.rand(n, 3, generator=gen)
    camera = Camera.look_at(eye=[0.0, -3.0, 0.9], target=[0.0, 0.0, 0.9], width=size, height=size, fov_y_deg=40.0)
    return AvatarScene(means, quats, scales, opacities, colors, camera)


def _vm_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _release_free_heap() -> None:
    """Give memory that malloc keeps cached back to the OS (glibc), so RSS deltas see new allocations."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _PeakMemory:
    """Peak extra memory of a block, MB: CUDA allocator peak, or the rise of the process's RSS high-water mark.

    On the CPU, freed heap memory is first returned to the OS (``malloc_trim``), then the high-water
    mark (``VmHWM``) is reset through ``/proc/self/clear_refs`` (Linux); the result is the peak RSS of
    the block minus the RSS before it, ``None`` where that cannot be read.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.mb: float | None = None

    def __enter__(self) -> "_PeakMemory":
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            _release_free_heap()
            self._base = _vm_kib("VmRSS")
            try:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")
            except OSError:
                self._base = None
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif self._base is not None:
            peak = _vm_kib("VmHWM")
            self.mb = None if peak is None else max(0, peak - self._base) / 1024.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_backend(scene: AvatarScene, backend: str, repeats: int) -> dict:
    from uvatar.render.gaussians import render_gaussians

    device = scene.means.device

    def forward():
        with torch.no_grad():
            out = render_gaussians(*scene.params(), camera=scene.camera, backend=backend)
        _sync(device)
        return out

    leaves = [p.detach().clone().requires_grad_(True) for p in scene.params()]

    def forward_backward():
        out = render_gaussians(*leaves, camera=scene.camera, backend=backend)
        loss = out.image.sum() + out.alpha.sum() + out.depth.sum()
        loss.backward()
        _sync(device)
        for p in leaves:
            p.grad = None

    forward()  # warm-up (and compile, for torch-compiled)
    forward_backward()
    fwd, fwd_bwd = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward()
        fwd.append(time.perf_counter() - t0)
    with _PeakMemory(device) as mem:
        for _ in range(repeats):
            t0 = time.perf_counter()
            forward_backward()
            fwd_bwd.append(time.perf_counter() - t0)
    return {
        "forward_s": statistics.median(fwd),
        "forward_backward_s": statistics.median(fwd_bwd),
        "forward_min_s": min(fwd),
        "forward_backward_min_s": min(fwd_bwd),
        "peak_mem_mb": mem.mb,
    }


def bench_gaussians(
    counts=(65536, 262144),
    size: int = 512,
    backends=None,
    repeats: int = 3,
    device: str | torch.device | None = None,
    seed: int = 0,
) -> list[dict]:
    """Time :func:`~uvatar.render.gaussians.render_gaussians` on :func:`avatar_scene` scenes.

    Args:
        counts: numbers of Gaussians to try.
        size: image side in pixels (square images).
        backends: names to run; default ``torch``, ``torch-compiled`` and ``numba``, plus ``gsplat`` when
            :func:`~uvatar.render.gaussians.has_gsplat` is true (then scenes go to CUDA for it).
        repeats: timed runs per measurement (after one warm-up run, which also compiles).
        device: where the torch backends run; default CPU.
    Returns:
        One dict per (backend, count): ``backend, n, size, device, threads, forward_s,
        forward_backward_s, forward_min_s, forward_backward_min_s, peak_mem_mb``. Times are medians (and
        minima, which are steadier on a shared machine) over ``repeats``; ``threads`` is torch's CPU
        thread count; the fwd+bwd loss is the sum of image, alpha and depth. Peak memory is the extra
        memory of the fwd+bwd runs (``None`` where it cannot be read).
    """
    from uvatar.render.gaussians import has_gsplat

    if backends is None:
        backends = ["torch", "torch-compiled", "numba"] + (["gsplat"] if has_gsplat() else [])
    torch_device = torch.device(device) if device is not None else torch.device("cpu")
    rows = []
    for n in counts:
        base = avatar_scene(int(n), size=size, seed=seed)
        for backend in backends:
            dev = torch.device("cuda") if backend == "gsplat" else torch_device
            scene = base.to(dev)
            log.info("bench: backend=%s n=%d size=%d device=%s", backend, n, size, dev)
            timing = _time_backend(scene, backend, repeats)
            row = {"backend": backend, "n": int(n), "size": size, "device": str(dev)}
            rows.append({**row, "threads": torch.get_num_threads(), **timing})
            log.info("bench: %s", rows[-1])
    return rows
