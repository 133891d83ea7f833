"""Differentiable rendering of 3D Gaussians (3D Gaussian Splatting) into one pinhole camera.

One public function, :func:`render_gaussians`, over separate backends:

- ``"torch"``: the pure-PyTorch tile rasterizer (``_gaussians_torch.py``), any device; autograd
  through the projection, a hand-written backward for the compositing.
- ``"torch-compiled"``: the same with its projection and compositing kernels under ``torch.compile``
  (the first calls compile for 30-60 s and need a C++ compiler; later calls in the process reuse it).
- ``"numba"``: the same tile rules as compiled CPU kernels with a hand-written backward
  (``_gaussians_numba.py``), CPU tensors only; the kernels compile once per install (numba's disk
  cache), then load in about a second.
- ``"gsplat"``: gsplat's CUDA rasterizer (``_gaussians_gsplat.py``), CUDA tensors only.
- ``"reference"``: the per-pixel brute force (``_gaussians_reference.py``), the test oracle; tiny
  scenes only (time and memory grow as pixels x Gaussians).

Measured on 2 CPU threads (``uvatar bench render``, 262K avatar Gaussians, 512x512, one quiet run,
2026-12-05): ``torch`` 0.184 s forward / 0.473 s forward+backward, ``torch-compiled`` 0.144 / 0.331 s,
``numba`` 0.041 / 0.112 s (docs/cpu_renderer.md).
- ``"auto"``: ``gsplat`` when the tensors are on CUDA and gsplat imports, ``numba`` for float32 or
  float64 CPU tensors, else ``torch``.

Conventions: world = Anny body space, metres; quaternions in WXYZ order (need not be normalised);
camera in the OpenCV convention (:class:`uvatar.camera.Camera`), pixel centres at +0.5. Blending rules
are 3DGS's: EWA-projected 2D covariance + 0.3 px² blur, ``alpha = min(0.99, o·exp(-½ dᵀΣ⁻¹d))``,
alpha < 1/255 skipped, a pixel stops before its transmittance drops below 1e-4, Gaussians sorted by
camera z with ties kept in input order. Double backward is not supported. Colours given as SH
coefficients follow 3DGS: ``rgb = max(0, Σ Y_k(dir) c_k + 0.5)`` with ``dir`` from the camera centre.

>>> from uvatar.camera import Camera
>>> cam = Camera.look_at([0.0, -2.0, 0.0], [0.0, 0.0, 0.0], width=33, height=33)  # centre pixel on the axis
>>> out = render_gaussians(torch.zeros(1, 3), torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.05),
...                        torch.tensor([0.9]), torch.tensor([[1.0, 0.0, 0.0]]), cam)
>>> out.image.shape, round(float(out.alpha[16, 16]), 4), round(float(out.depth[16, 16]), 4)
(torch.Size([33, 33, 3]), 0.9, 2.0)
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

import torch

from uvatar.camera import Camera
from uvatar.errors import DependencyError, InputError

__all__ = ["RenderOutput", "render_gaussians", "has_gsplat", "BACKENDS"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "torch-compiled", "numba", "gsplat", "reference")
_SH_SIZES = (1, 4, 9, 16)
_REFERENCE_MAX_WORK = 2**26  # pixels x Gaussians the brute-force reference accepts
_NUMBA_DTYPES = (torch.float32, torch.float64)  # what the compiled kernels take (_gaussians_numba.DTYPES)


@dataclass
class RenderOutput:
    """What :func:`render_gaussians` returns.

    Attributes:
        image: ``(H, W, 3)`` RGB, composited over the background.
        alpha: ``(H, W)`` accumulated opacity in [0, 1].
        depth: ``(H, W)`` alpha-weighted expected camera z in metres (``Σ w_i z_i / Σ w_i``); 0 where alpha is 0.
    """

    image: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor


def has_gsplat() -> bool:
    """True when gsplat can be imported and CUDA is available (nothing is imported by the probe)."""
    return importlib.util.find_spec("gsplat") is not None and torch.cuda.is_available()


def _check_tensor(name: str, value, shape_doc: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise InputError(f"render_gaussians: {name} must be a torch.Tensor {shape_doc}; got {type(value).__name__}")
    if not value.is_floating_point():
        raise InputError(f"render_gaussians: {name} must be a floating-point tensor {shape_doc}; got {value.dtype}")
    return value


def _validate(means, quats_wxyz, scales, opacities, colors, camera, background, backend, near, far) -> torch.Tensor:
    """Check shapes, dtypes and devices; return the background as a ``(3,)`` tensor like ``means``."""
    if backend not in BACKENDS:
        raise InputError(f"render_gaussians: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not isinstance(camera, Camera):
        raise InputError(f"render_gaussians: camera must be a uvatar.camera.Camera; got {type(camera).__name__}")
    if float(camera.K[0, 1]) != 0.0:
        raise InputError("render_gaussians: cameras with skew (K[0, 1] != 0) are not supported; use a zero-skew K")
    if not (0.0 < near < far):
        raise InputError(f"render_gaussians: need 0 < near < far (metres); got near={near}, far={far}")
    means = _check_tensor("means", means, "(N, 3)")
    if means.dim() != 2 or means.shape[1] != 3:
        raise InputError(f"render_gaussians: means must be (N, 3); got {tuple(means.shape)}")
    n = means.shape[0]
    expected = {"quats_wxyz": (quats_wxyz, (n, 4)), "scales": (scales, (n, 3)), "opacities": (opacities, (n,))}
    for name, (value, shape) in expected.items():
        _check_tensor(name, value, str(shape))
        if tuple(value.shape) != shape:
            raise InputError(
                f"render_gaussians: {name} must be {shape} to match means {tuple(means.shape)}; "
                f"got {tuple(value.shape)}"
            )
    _check_tensor("colors", colors, "(N, 3) or (N, K, 3)")
    rgb_ok = colors.dim() == 2 and tuple(colors.shape) == (n, 3)
    sh_ok = colors.dim() == 3 and colors.shape[0] == n and colors.shape[2] == 3 and colors.shape[1] in _SH_SIZES
    if not (rgb_ok or sh_ok):
        raise InputError(
            f"render_gaussians: colors must be ({n}, 3) RGB or ({n}, K, 3) SH coefficients with K in {_SH_SIZES}; "
            f"got {tuple(colors.shape)}"
        )
    for name, value in (("quats_wxyz", quats_wxyz), ("scales", scales), ("opacities", opacities), ("colors", colors)):
        if value.device != means.device or value.dtype != means.dtype:
            raise InputError(
                f"render_gaussians: {name} is {value.dtype} on {value.device} but means is {means.dtype} on "
                f"{means.device}; put all Gaussian tensors on one device with one dtype"
            )
    if background is None:
        return torch.zeros(3, dtype=means.dtype, device=means.device)
    background = torch.as_tensor(background, dtype=means.dtype, device=means.device)
    if tuple(background.shape) != (3,):
        raise InputError(f"render_gaussians: background must be (3,) RGB; got {tuple(background.shape)}")
    return background


def render_gaussians(
    means: torch.Tensor,
    quats_wxyz: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    camera: Camera,
    background: torch.Tensor | None = None,
    backend: str = "auto",
    near: float = 0.01,
    far: float = 100.0,
) -> RenderOutput:
    """Render N 3D Gaussians into ``camera``; differentiable w.r.t. every Gaussian tensor.

    Args:
        means: ``(N, 3)`` centres, world frame, metres.
        quats_wxyz: ``(N, 4)`` rotations as quaternions in WXYZ order (normalised inside).
        scales: ``(N, 3)`` standard deviations along the rotated axes, metres (linear, not log).
        opacities: ``(N,)`` in [0, 1] (not logits).
        colors: ``(N, 3)`` RGB in [0, 1], or ``(N, K, 3)`` real SH coefficients, K in 1, 4, 9, 16.
        camera: the view; image size ``camera.height x camera.width``.
        background: ``(3,)`` RGB behind the Gaussians; default black.
        backend: ``"auto"``, ``"torch"``, ``"torch-compiled"``, ``"numba"``, ``"gsplat"`` or ``"reference"``
            (module doc).
        near, far: Gaussians whose centre's camera z is outside ``[near, far]`` metres are dropped.
    Returns:
        :class:`RenderOutput` with ``image (H, W, 3)``, ``alpha (H, W)``, ``depth (H, W)``, in the dtype
        and on the device of ``means``.
    Raises:
        InputError: a wrong shape, dtype, device or option (the message names the argument).
        DependencyError: ``backend="gsplat"`` without gsplat or without CUDA tensors.
    """
    background = _validate(means, quats_wxyz, scales, opacities, colors, camera, background, backend, near, far)
    if backend == "auto":
        if means.is_cuda:
            backend = "gsplat" if has_gsplat() else "torch"
        else:
            backend = "numba" if means.device.type == "cpu" and means.dtype in _NUMBA_DTYPES else "torch"
    cam = camera.to(means.device)
    K, R, t = (x.to(means.dtype) for x in (cam.K, cam.R, cam.t))
    args = (means, quats_wxyz, scales, opacities, colors, K, R, t, camera.width, camera.height, background, near, far)

    if backend in ("torch", "torch-compiled"):
        from uvatar.render._gaussians_torch import rasterize_torch

        image, alpha, depth = rasterize_torch(*args, compiled=backend == "torch-compiled")
    elif backend == "numba":
        if means.device.type != "cpu" or means.dtype not in _NUMBA_DTYPES:
            raise InputError(
                f"render_gaussians: backend='numba' takes float32 or float64 CPU tensors; got {means.dtype} on "
                f"{means.device}; use backend='auto' (it picks the torch renderer for those) or convert them"
            )
        from uvatar.render._gaussians_numba import rasterize_numba

        image, alpha, depth = rasterize_numba(*args)
    elif backend == "reference":
        from uvatar.render._gaussians_reference import rasterize_reference

        work = camera.width * camera.height * means.shape[0]
        if work > _REFERENCE_MAX_WORK:
            raise InputError(
                "render_gaussians: the reference backend is for tiny scenes "
                f"(pixels x Gaussians <= {_REFERENCE_MAX_WORK}); "
                f"got {camera.width}x{camera.height} x {means.shape[0]}; use backend='torch'"
            )
        image, alpha, depth = rasterize_reference(*args)
    else:  # gsplat
        if not means.is_cuda:
            raise DependencyError(
                "render_gaussians: backend='gsplat' needs CUDA tensors; move them with .cuda() or use backend='torch'"
            )
        from uvatar.render._gaussians_gsplat import rasterize_gsplat

        image, alpha, depth = rasterize_gsplat(*args)
    return RenderOutput(image=image, alpha=alpha, depth=depth)
