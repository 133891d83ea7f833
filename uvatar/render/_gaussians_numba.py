"""Compiled CPU tile rasterizer for 3D Gaussians (numba): forward and hand-written backward.

The fast CPU path of :func:`uvatar.render.gaussians.render_gaussians` (backend ``"numba"``). Same
rules and results as the torch tile rasterizer (``_gaussians_torch.py``) and the brute-force oracle
(``_gaussians_reference.py``); the tests compare it with both, forward and backward.

Why numba (docs/cpu_renderer.md): its wheel carries its own LLVM, so it compiles on any x86-64 or
ARM64 machine with no C++ compiler, runs ``prange`` loops on several threads, and caches the machine
code on disk (``cache=True``: ~12 s on the first call of a fresh install, ~0.4 s to load after). NVIDIA
Warp runs CPU kernels on one thread (STACK.md: gswarp's splatting backward 15-25x slower than the torch
path); a C++ torch extension needs a compiler at run time, as ``torch.compile`` does.

Pipeline, every stage a compiled kernel (``_gaussians_numba_kernels.py``), the Gaussian tensors read as
numpy views (no copies), float32 or float64:

1. **Projection** (``project_forward``, parallel over Gaussians): EWA, the maths of
   ``_gaussians_torch.project_gaussians``; the exact alpha >= 1/255 footprint box of
   ``_pixel_footprint``; culling (near/far, off image, opacity < 1/255, non-finite). One 64-byte row per
   Gaussian (float32) and its depth key.
2. **Depth order** (``depth_order``): a stable parallel LSD radix sort of the depths' bits in the
   tensors' dtype, so equal depths keep the input order, as in the torch path.
3. **Tile lists** (``bin_gaussians``): the rows copied into depth order, then a parallel counting sort of
   the (Gaussian, 16x16 tile) pairs; every list stays front to back.
4. **Compositing** (``composite_forward``, parallel over tiles): each Gaussian of a tile's list visits
   the pixels of its box that have not stopped, with the literal 3DGS rules (``alpha = min(0.99,
   o·exp(-½ dᵀΣ⁻¹d))``, skip below 1/255, stop before T drops below 1e-4); with a backward to come it
   keeps, per pixel, how far down the list it blended and its final T.
5. **Backward** (``composite_backward``, parallel over tiles; ``project_backward``, parallel over
   Gaussians): lists walked back to front, ``T`` before each Gaussian recovered as ``T_after / (1 -
   alpha)`` (3DGS's backward); one gradient row per (Gaussian, tile) pair, so no two threads write one
   row; each Gaussian's rows summed in a fixed order (the result does not depend on the thread count) and
   carried through the projection by hand.

The arithmetic inside the kernels is float64 whatever the tensors' dtype; outputs and gradients come
back in the tensors' dtype. Other dtypes (float16, bfloat16) are the torch backend's. Rows read in a
list's order (stages 3-5) are prefetched a few items ahead (``_numba_intrinsics.prefetch_row``).
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import torch

from uvatar.errors import interrupts_unwrapped
from uvatar.render._gaussians_torch import CLAMP_FOV

__all__ = ["rasterize_numba", "set_numba_threads", "load_kernels", "DTYPES"]

DTYPES = (torch.float32, torch.float64)  # what the kernels take

log = logging.getLogger(__name__)

_kernels = None  # the kernels module, imported on first use (importing numba takes ~0.3 s)


def load_kernels():
    """Import the compiled kernels (``_gaussians_numba_kernels``); numba compiles them on their first
    call, or loads them from its disk cache."""
    global _kernels
    if _kernels is None:
        from uvatar.render import _gaussians_numba_kernels

        _kernels = _gaussians_numba_kernels
    return _kernels


def set_numba_threads(n: int) -> int:
    """Run the kernels on ``n`` threads (clamped to numba's pool); returns the count in use."""
    import numba

    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


_scratch_local = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A buffer kept between calls (per thread): writing fresh multi-MB pages from two threads costs
    page faults that doubled the backward's time now and then. Only for arrays that do not outlive one
    backward pass."""
    bufs = _scratch_local.__dict__.setdefault("bufs", {})
    size = math.prod(shape)
    buf = bufs.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = np.empty(size, dtype)
        bufs[name] = buf
    return buf[:size].reshape(shape)


def _camera_arrays(K, R, t, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``cam (16,)`` = R row-major, t, fx, fy, cx, cy and ``lims (4,)`` of the Jacobian's x/z, y/z clamp."""
    k = K.detach().double().cpu().numpy()
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    cam = np.concatenate(
        [R.detach().double().cpu().numpy().reshape(-1), t.detach().double().cpu().numpy().reshape(-1), [fx, fy, cx, cy]]
    )
    margin_x = (CLAMP_FOV - 1.0) * 0.5 * width / fx
    margin_y = (CLAMP_FOV - 1.0) * 0.5 * height / fy
    lims = np.array(
        [-(cx / fx + margin_x), (width - cx) / fx + margin_x, -(cy / fy + margin_y), (height - cy) / fy + margin_y]
    )
    return cam, lims


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


class _NumbaRasterize(torch.autograd.Function):
    """Gaussians ``(means, quats, scales, opacities, rgb)`` -> ``acc (H, W, 5)`` = Σ w·(r, g, b, z, 1)."""

    @staticmethod
    def forward(ctx, means, quats, scales, opacities, rgb, cam, lims, width, height, near, far, with_pairs):
        k = load_kernels()
        n = means.shape[0]
        means_n, quats_n, scales_n, opac_n, rgb_n = (_np(x) for x in (means, quats, scales, opacities, rgb))
        proj = np.empty((n, k.N_SPLAT), means_n.dtype)
        depths = np.empty(n, means_n.dtype)
        k.project_forward(means_n, quats_n, scales_n, opac_n, rgb_n, cam, lims, width, height, near, far, proj, depths)
        # Depth keys in the tensors' dtype: float32 depths that tie keep the input order, as in the torch path.
        order = k.depth_order(depths.view(np.int32 if depths.dtype == np.float32 else np.int64))
        splats = np.empty((order.shape[0], k.N_SPLAT), means_n.dtype)
        tiles_x, tiles_y = -(-width // k.TILE), -(-height // k.TILE)
        offsets, entries, entry_of, pair_start = k.bin_gaussians(
            proj, order, tiles_x, tiles_x * tiles_y, splats, with_pairs
        )
        acc = np.empty((height, width, k.N_FEATS), means_n.dtype)
        n_used = np.empty((height, width) if with_pairs else (0, 0), np.int32)
        t_final = np.empty((height, width) if with_pairs else (0, 0))
        k.composite_forward(offsets, entries, splats, tiles_x, width, height, acc, n_used, t_final, with_pairs)
        ctx.state = (means_n, quats_n, scales_n, opac_n, cam, lims, width, height, near, order, splats, tiles_x,
                     offsets, entries, entry_of, pair_start, n_used, t_final)  # fmt: skip
        return torch.from_numpy(acc)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_acc):
        k = load_kernels()
        (means_n, quats_n, scales_n, opac_n, cam, lims, width, height, near, order, splats, tiles_x,
         offsets, entries, entry_of, pair_start, n_used, t_final) = ctx.state  # fmt: skip
        grad_np = grad_acc.detach().contiguous().numpy()
        pair_grads = _scratch("pair_grads", (entries.shape[0], k.N_PAIR_GRADS), splats.dtype)
        n, dtype = means_n.shape[0], means_n.dtype
        g_means, g_quats, g_scales = np.zeros((n, 3), dtype), np.zeros((n, 4), dtype), np.zeros((n, 3), dtype)
        g_opac, g_rgb = np.zeros(n, dtype), np.zeros((n, 3), dtype)
        with interrupts_unwrapped():
            k.composite_backward(offsets, entries, splats, tiles_x, width, height, grad_np, n_used, t_final,
                                 pair_grads)  # fmt: skip
            k.project_backward(means_n, quats_n, scales_n, opac_n, cam, lims, near, order, pair_start, entry_of,
                               pair_grads, splats, g_means, g_quats, g_scales, g_opac, g_rgb)  # fmt: skip
        out = (torch.from_numpy(a) for a in (g_means, g_quats, g_scales, g_opac, g_rgb))
        return (*out, None, None, None, None, None, None, None)


def rasterize_numba(
    means: torch.Tensor,
    quats_wxyz: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    width: int,
    height: int,
    background: torch.Tensor,
    near: float,
    far: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render with the compiled CPU kernels; same arguments and results as ``rasterize_torch``.

    CPU tensors only, float32 or float64 (:data:`DTYPES`). SH colours are evaluated by ``eval_sh`` in
    torch first (its gradient by autograd). Returns image ``(H, W, 3)``, alpha ``(H, W)``, depth ``(H, W)``.
    """
    from uvatar.render._gaussians_torch import eval_sh, finish_outputs

    set_numba_threads(torch.get_num_threads())
    rgb = eval_sh(colors, means + R.T @ t) if colors.dim() == 3 else colors
    cam, lims = _camera_arrays(K, R, t, width, height)
    needs_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (means, quats_wxyz, scales, opacities, rgb))
    with interrupts_unwrapped():
        acc = _NumbaRasterize.apply(
            means, quats_wxyz, scales, opacities, rgb, cam, lims, width, height, near, far, needs_grad
        )
        if needs_grad:
            return finish_outputs(acc, background)
        # No backward: the same arithmetic in one compiled pass (bit-identical, tested).
        dtype = acc.dtype
        image = torch.empty(height, width, 3, dtype=dtype)
        alpha, depth = torch.empty(height, width, dtype=dtype), torch.empty(height, width, dtype=dtype)
        consts = np.array([1.0, 1e-10, 0.0], dtype=acc.numpy().dtype)
        k = load_kernels()
        k.finish_image(acc.numpy(), _np(background), consts, image.numpy(), alpha.numpy(), depth.numpy())
    return image, alpha, depth
