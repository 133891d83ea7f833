"""3D Gaussian Splatting ``.ply`` files, in the layout the original 3DGS code writes.

The file is binary little endian with one ``vertex`` element whose float32 properties are, in order::

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 .. f_rest_{3(K-1)-1}  opacity  scale_0..2  rot_0..3

with K = (degree + 1)^2 spherical-harmonic coefficients per channel; ``f_rest`` is channel-major (all
R coefficients 1..K-1, then G, then B); ``opacity`` is the logit of the opacity; ``scale_*`` are natural
logs of the scales in metres; ``rot_*`` is the rotation quaternion W, X, Y, Z; normals are zeros.
Viewers that read it: the 3DGS SIBR viewer, SuperSplat, antimatter15/splat, gsplat's examples.

:class:`GaussianCloud` keeps the *stored* values (logits and log scales) so that read -> write is
bit-exact; activated values (``scales``, ``opacities``, ``colors``) are computed on access.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path

__all__ = ["SH_C0", "GaussianCloud", "write_gaussian_ply", "read_gaussian_ply", "gaussian_ply_property_names"]

log = logging.getLogger(__name__)

#: Zeroth real spherical-harmonic basis constant, 1 / (2 sqrt(pi)); colour = SH_C0 * f_dc + 0.5.
SH_C0 = 0.28209479177387814

_EPS = 1e-12


def gaussian_ply_property_names(sh_degree: int) -> list[str]:
    """The vertex property names, in file order, for SH degree ``sh_degree`` (0..3 in practice)."""
    k = (sh_degree + 1) ** 2
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(3 * (k - 1))]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


@dataclass
class GaussianCloud:
    """N 3D Gaussians in world space (metres), holding the values exactly as a 3DGS .ply stores them.

    Attributes:
        means: (N, 3) float32 centres, metres.
        quats_wxyz: (N, 4) float32 rotations, W X Y Z order. Constructors normalise them; values read
            from a file are kept as stored (viewers normalise on load).
        log_scales: (N, 3) float32 natural log of the per-axis standard deviations in metres.
        opacity_logits: (N,) float32 logit of the opacity.
        sh: (N, K, 3) float32 spherical-harmonic coefficients, K = (degree + 1)^2; ``sh[:, 0]`` is the
            DC term (``f_dc``), ``sh[:, 1:]`` the rest, both indexed [gaussian, coefficient, RGB].

    Use :meth:`from_activated` or :meth:`from_colors` to build one from linear scales and opacities.
    """

    means: np.ndarray
    quats_wxyz: np.ndarray
    log_scales: np.ndarray
    opacity_logits: np.ndarray
    sh: np.ndarray

    def __post_init__(self) -> None:
        self.means = _f32(self.means, "means")
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        _check_shape(self.means, (n, 3), "means")
        self.quats_wxyz = _f32(self.quats_wxyz, "quats_wxyz")
        _check_shape(self.quats_wxyz, (n, 4), "quats_wxyz")
        self.log_scales = _f32(self.log_scales, "log_scales")
        _check_shape(self.log_scales, (n, 3), "log_scales")
        self.opacity_logits = _f32(self.opacity_logits, "opacity_logits")
        _check_shape(self.opacity_logits, (n,), "opacity_logits")
        self.sh = _f32(self.sh, "sh")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3 or _degree(self.sh.shape[1]) is None:
            raise InputError(
                f"sh must have shape (N, K, 3) with N={n} and K a square (1, 4, 9, 16), got {self.sh.shape}"
            )

    # -- constructors --------------------------------------------------------------------------------

    @classmethod
    def from_activated(cls, means: Any, quats_wxyz: Any, scales: Any, opacities: Any, sh: Any) -> "GaussianCloud":
        """Build from linear values.

        Args:
            means: (N, 3) metres.
            quats_wxyz: (N, 4) W X Y Z, any non-zero norm (normalised here).
            scales: (N, 3) standard deviations in metres, > 0.
            opacities: (N,) in (0, 1); clamped to [1e-6, 1 - 1e-6] before the logit.
            sh: (N, K, 3) SH coefficients, ``sh[:, 0]`` the DC term.
        """
        scales = _f32(scales, "scales")
        if scales.size and not (scales > 0).all():
            raise InputError("scales must all be > 0 (they are stored as logs)")
        opac = np.clip(_f32(opacities, "opacities").astype(np.float64), 1e-6, 1.0 - 1e-6)
        return cls(
            means=means,
            quats_wxyz=_normalise(_f32(quats_wxyz, "quats_wxyz")),
            log_scales=np.log(scales),
            opacity_logits=np.log(opac / (1.0 - opac)).astype(np.float32),
            sh=sh,
        )

    @classmethod
    def from_colors(
        cls, means: Any, quats_wxyz: Any, scales: Any, opacities: Any, colors: Any, sh_degree: int = 0
    ) -> "GaussianCloud":
        """Build from RGB colours (N, 3) in [0, 1]; higher SH coefficients (if ``sh_degree`` > 0) are 0.

        Other arguments as in :meth:`from_activated`.
        """
        colors = _f32(colors, "colors")
        _check_shape(colors, (colors.shape[0] if colors.ndim == 2 else -1, 3), "colors")
        if not isinstance(sh_degree, int) or not 0 <= sh_degree <= 4:
            raise InputError(f"sh_degree must be an integer in 0..4, got {sh_degree!r}")
        sh = np.zeros((colors.shape[0], (sh_degree + 1) ** 2, 3), np.float32)
        sh[:, 0] = (colors - 0.5) / SH_C0
        return cls.from_activated(means, quats_wxyz, scales, opacities, sh)

    # -- activated views -----------------------------------------------------------------------------

    @property
    def num_gaussians(self) -> int:
        return int(self.means.shape[0])

    def __len__(self) -> int:
        return self.num_gaussians

    @property
    def sh_degree(self) -> int:
        return int(_degree(self.sh.shape[1]))

    @property
    def scales(self) -> np.ndarray:
        """(N, 3) float32 standard deviations in metres, ``exp(log_scales)``."""
        return np.exp(self.log_scales)

    @property
    def opacities(self) -> np.ndarray:
        """(N,) float32 opacities in (0, 1), ``sigmoid(opacity_logits)``."""
        return (1.0 / (1.0 + np.exp(-self.opacity_logits.astype(np.float64)))).astype(np.float32)

    @property
    def colors(self) -> np.ndarray:
        """(N, 3) float32 RGB in [0, 1] from the DC term only (view-independent), clipped."""
        return np.clip(self.sh[:, 0] * SH_C0 + 0.5, 0.0, 1.0).astype(np.float32)


def write_gaussian_ply(path: str | Path, cloud: GaussianCloud) -> Path:
    """Write ``cloud`` as a binary little-endian 3DGS .ply, atomically.

    Args:
        path: destination (.ply); parent folders are created.
        cloud: the Gaussians; values are written exactly as stored (float32).

    Returns:
        The path written.
    """
    path = Path(path)
    if not isinstance(cloud, GaussianCloud):
        raise InputError(f"cloud must be a GaussianCloud, got {type(cloud).__name__}")
    n, k = cloud.num_gaussians, cloud.sh.shape[1]
    names = gaussian_ply_property_names(cloud.sh_degree)
    rows = np.empty((n, len(names)), dtype="<f4")
    rows[:, 0:3] = cloud.means
    rows[:, 3:6] = 0.0
    rows[:, 6:9] = cloud.sh[:, 0]
    # (N, K-1, 3) -> (N, 3, K-1) -> flat: all R coefficients, then G, then B (as the 3DGS code writes).
    rest_end = 9 + 3 * (k - 1)
    rows[:, 9:rest_end] = cloud.sh[:, 1:].transpose(0, 2, 1).reshape(n, 3 * (k - 1))
    rows[:, rest_end] = cloud.opacity_logits
    rows[:, rest_end + 1 : rest_end + 4] = cloud.log_scales
    rows[:, rest_end + 4 : rest_end + 8] = cloud.quats_wxyz
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in names]
    header += ["end_header", ""]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write("\n".join(header).encode("ascii"))
            f.write(np.ascontiguousarray(rows).tobytes())
    log.debug("wrote %d Gaussians (SH degree %d) to %s", n, cloud.sh_degree, path)
    return path


def read_gaussian_ply(path: str | Path) -> GaussianCloud:
    """Read a 3DGS .ply (binary or ASCII, any byte order; extra properties are ignored).

    Returns:
        :class:`GaussianCloud` with the stored values as float32 (bit-exact for float32 files).

    Raises:
        InputError: missing file, not a PLY, a PLY without the 3DGS vertex properties (a mesh or
            point cloud), a compressed (SuperSplat) PLY, or an inconsistent ``f_rest`` count.
    """
    from plyfile import PlyData  # plyfile is light; imported here to keep `import uvatar` lean

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}; pass a 3D Gaussian Splatting .ply")
    try:
        with open(path, "rb") as f:
            if f.read(3) != b"ply":
                raise InputError(f"{path} is not a PLY file; pass a 3D Gaussian Splatting .ply")
        ply = PlyData.read(str(path))
    except InputError:
        raise
    except Exception as e:  # plyfile raises PlyHeaderParseError, PlyElementParseError, ValueError, ...
        raise InputError(f"{path} is not a readable PLY file ({e}); pass a 3D Gaussian Splatting .ply") from None

    names = [el.name for el in ply.elements]
    if "chunk" in names:
        raise InputError(f"{path} is a compressed (SuperSplat) PLY; export it uncompressed and try again")
    if "vertex" not in names:
        raise InputError(f"{path} has no vertex element; pass a 3D Gaussian Splatting .ply")
    vertex = ply["vertex"]
    props = [p.name for p in vertex.properties]
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    required += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    missing = [p for p in required if p not in props]
    if missing:
        kind = "a mesh or point cloud" if "face" in names or {"x", "y", "z"} <= set(props) else "not one"
        raise InputError(
            f"{path} is a PLY without 3D Gaussian properties (missing {', '.join(missing[:4])}"
            f"{', ...' if len(missing) > 4 else ''}); it looks like {kind}, not a 3DGS splat file"
        )
    n_rest = sum(1 for p in props if p.startswith("f_rest_"))
    k = n_rest // 3 + 1
    if n_rest % 3 or _degree(k) is None or any(f"f_rest_{i}" not in props for i in range(n_rest)):
        raise InputError(f"{path} has {n_rest} f_rest_* properties; a 3DGS file has 0, 9, 24 or 45")

    data = vertex.data

    def cols(keys: list[str]) -> np.ndarray:
        n = len(data)
        out = np.empty((n, len(keys)), np.float32)
        for j, key in enumerate(keys):
            out[:, j] = data[key]
        return out

    n = len(data)
    rest = cols([f"f_rest_{i}" for i in range(n_rest)]).reshape(n, 3, k - 1).transpose(0, 2, 1)
    sh = np.concatenate([cols(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None, :], rest], axis=1)
    cloud = GaussianCloud(
        means=cols(["x", "y", "z"]),
        quats_wxyz=cols([f"rot_{i}" for i in range(4)]),
        log_scales=cols([f"scale_{i}" for i in range(3)]),
        opacity_logits=cols(["opacity"])[:, 0],
        sh=sh,
    )
    log.debug("read %d Gaussians (SH degree %d) from %s", n, cloud.sh_degree, path)
    return cloud


# ---------------------------------------------------------------------------------------------------


def _degree(k: int) -> int | None:
    d = math.isqrt(int(k)) - 1
    return d if k >= 1 and (d + 1) ** 2 == k else None


def _f32(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as e:
        raise InputError(f"{name} must be an array, got {type(x).__name__} ({e})") from None
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be a float array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_shape(arr: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    if arr.ndim != len(shape) or any(want >= 0 and got != want for got, want in zip(arr.shape, shape)):
        pretty = "(" + ", ".join("N" if s < 0 else str(s) for s in shape) + ")"
        raise InputError(f"{name} must have shape {pretty}, got {tuple(arr.shape)}")


def _normalise(q: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(q.astype(np.float64), axis=-1, keepdims=True)
    if q.size and not (norm > _EPS).all():
        raise InputError("quats_wxyz has a zero quaternion; every rotation needs a non-zero norm")
    return (q / np.maximum(norm, _EPS)).astype(np.float32)
