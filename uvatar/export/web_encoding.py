"""What the web player gets: rest-pose Gaussians with 4 bones each, quantized, and bone matrices per frame.

The page (``uvatar/data/web/player.js``, built from ``tools/web-player``) skins every Gaussian on the GPU
by linear blend skinning with at most 4 bones, the way a glTF engine skins vertices:

    mean_posed  = sum_k w_k T_{b_k} mean_rest          (T: rest-to-posed bone transform, 3x4)
    cov_posed   = A cov_rest A^T,   A = sum_k w_k R_{b_k}  (R: the 3x3 part of T)

Per Gaussian (:func:`web_gaussians`): the rest mean and rotation are the avatar's Gaussians placed on
its body in Anny's rest pose (:meth:`Avatar.on_vertices`); the 4 bones and weights are the 4 largest of
its face's vertices' skin weights blended by its barycentrics (up to 27 bones), renormalised. This is
the face-bound pose of :mod:`uvatar.avatar` up to two approximations that :func:`skin_gaussians` lets
tests measure: a Gaussian's weights are interpolated instead of its face's corners being skinned, and
only 4 of them are kept.

Encoding (:func:`encode_gaussians`, ``uvatar.web.gaussians/1``): component planes, little-endian,
gzip-compressed, 25 bytes per Gaussian before compression:

==========  ==========  ===============================================================
plane       type        meaning
==========  ==========  ===============================================================
position    uint16 x3   rest mean, each axis mapped linearly onto ``bounds`` (header)
rotation    int8 x4     unit quaternion X, Y, Z, W times 127 (W >= 0), renormalised on load
log_scale   uint8 x3    ln(scale) mapped linearly onto ``log_scale`` (header)
rgba        uint8 x4    colour (sRGB-encoded, as stored) and opacity times 255
bones       uint8 x4    bone indices (Anny's bone order)
weights     uint8 x4    skin weights times 255, summing to exactly 255
==========  ==========  ===============================================================

Planes are stored one after the other in that order, each component as its own run of N values
(``x0 x1 .. xN-1 y0 ..``), which gzip compresses better than interleaved records.

Motions (:func:`motion_transforms`, ``uvatar.web.motion/1``): per frame, per bone, the rest-to-posed
transform ``T`` (Anny body space: metres, Z up), 12 numbers in column-major order (the three columns of
the rotation part, then the translation), quantized to int16: the 9 rotation entries times 32767
(|entry| <= 1 for a rotation), the translation mapped linearly onto the motion's ``translation_bounds``
([[x, y, z] low, high], in the motion's header). Stored as planes ``(J, 12, T)`` (one bone's one entry
over time, which gzip compresses well), gzip-compressed. Quantization moves a point 1 m from the origin
by at most about 0.05 mm.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.errors import InputError
from uvatar.quaternions import rotmat_to_wxyz, wxyz_to_xyzw

__all__ = [
    "GAUSSIANS_FORMAT",
    "MOTION_FORMAT",
    "WebGaussians",
    "web_gaussians",
    "encode_gaussians",
    "decode_gaussians",
    "motion_transforms",
    "encode_motion",
    "decode_motion",
    "skin_gaussians",
]

GAUSSIANS_FORMAT = "uvatar.web.gaussians/1"
MOTION_FORMAT = "uvatar.web.motion/1"
#: Bones per Gaussian (what the page's shader reads, and glTF's JOINTS_0).
BONES_PER_GAUSSIAN = 4
#: Bytes per Gaussian before compression (the table in the module doc).
BYTES_PER_GAUSSIAN = 6 + 4 + 3 + 4 + 4 + 4
#: Gaussians per chunk when blending skin weights (dense (chunk, J) float32: 27 MB at 104 bones).
_CHUNK = 65_536
#: Bounds of the quantized log-scale range, so a degenerate range still maps (ln 1e-7 .. ln 10).
_LOG_SCALE_LIMITS = (-16.2, 2.31)


@dataclass
class WebGaussians:
    """Rest-pose Gaussians with 4 bones each (Anny body space, metres, float32 unless stated).

    Attributes:
        means: ``(N, 3)``; quats_xyzw: ``(N, 4)`` unit, X Y Z W; scales: ``(N, 3)`` standard deviations;
        colors: ``(N, 3)`` in [0, 1]; opacities: ``(N,)`` in [0, 1];
        bones: ``(N, 4)`` int64 bone indices; weights: ``(N, 4)`` non-negative, summing to 1.
    """

    means: np.ndarray
    quats_xyzw: np.ndarray
    scales: np.ndarray
    colors: np.ndarray
    opacities: np.ndarray
    bones: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return int(self.means.shape[0])


@torch.no_grad()
def rest_state(body, avatar):
    """The avatar's body in Anny's rest pose: ``(V, 3)`` vertices (its own expression) and the
    :class:`~uvatar.body.model.RestState` motions are posed from."""
    rest = body.rest_state(avatar.phenotypes.reshape(1, -1).float())
    facial = avatar.facial.reshape(1, -1).float()
    vertices = rest.vertices[0] + torch.einsum("bf,fvd->bvd", facial, body.facial_basis)[0]
    return vertices, rest


@torch.no_grad()
def gaussian_skin_weights(body, face_index: torch.Tensor, barycentrics: torch.Tensor, k: int = BONES_PER_GAUSSIAN) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest of each Gaussian's barycentrically blended vertex skin weights.

    Args:
        face_index: ``(N,)`` int64 body faces; barycentrics: ``(N, 3)``.
    Returns:
        bones ``(N, k)`` int64 and weights ``(N, k)`` float32 summing to 1 (unused slots: bone 0, weight 0).
    """
    corners = body.faces[face_index]  # (N, 3)
    n, joints = int(face_index.shape[0]), body.n_bones
    bones = np.zeros((n, k), dtype=np.int64)
    weights = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(n, start + _CHUNK))
        vertex = corners[part]  # (n, 3)
        w = body.vertex_bone_weights[vertex] * barycentrics[part, :, None]  # (n, 3, 9)
        dense = torch.zeros(vertex.shape[0], joints).scatter_add_(1, body.vertex_bone_indices[vertex].reshape(-1, 27), w.reshape(-1, 27))
        top = dense.topk(k, dim=1)
        total = top.values.sum(1, keepdim=True)
        if bool((total <= 0).any()):
            raise InputError("a Gaussian's face has no skin weight; the body model data is broken (rebuild ANNY_CACHE_DIR)")
        value = top.values / total
        bones[part] = torch.where(value > 0, top.indices, torch.zeros_like(top.indices)).numpy()
        weights[part] = value.numpy()
    return bones, weights


@torch.no_grad()
def web_gaussians(avatar, body) -> WebGaussians:
    """The avatar's Gaussians in Anny's rest pose with 4 skin bones each (module doc)."""
    vertices, _ = rest_state(body, avatar)
    posed = avatar.on_vertices(vertices, body.faces)
    bones, weights = gaussian_skin_weights(body, avatar.face_index, avatar.barycentrics)
    quats = posed.quats_wxyz
    quats = torch.nn.functional.normalize(wxyz_to_xyzw(quats), dim=1)
    return WebGaussians(
        means=posed.means.float().numpy(),
        quats_xyzw=quats.float().numpy(),
        scales=avatar.scales.float().numpy(),
        colors=avatar.colors.clamp(0, 1).float().numpy(),
        opacities=avatar.opacities.clamp(0, 1).float().numpy(),
        bones=bones,
        weights=weights,
    )


# ---------------------------------------------------------------------- quantization
def _unit_u8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _weights_u8(weights: np.ndarray) -> np.ndarray:
    """``(N, 4)`` weights summing to 1 as uint8 summing to exactly 255 (the largest takes the rounding)."""
    q = np.clip(np.rint(weights * 255.0), 0, 255).astype(np.int64)
    largest = np.argmax(weights, axis=1)
    rows = np.arange(len(q))
    q[rows, largest] += 255 - q.sum(1)
    return q.astype(np.uint8)


def _planes(array: np.ndarray) -> bytes:
    """``(N, C)`` as C runs of N values (component planes), little-endian."""
    return np.ascontiguousarray(array.T).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def encode_gaussians(g: WebGaussians) -> tuple[bytes, dict]:
    """gzip-compressed planes (module doc) and the header the page needs to read them.

    Returns:
        ``(data, header)``: header holds ``format``, ``count``, ``bounds`` ([[x, y, z] low, high]),
        ``log_scale`` ([low, high]) and ``raw_bytes`` (the size before compression).
    """
    n = len(g)
    if n < 1:
        raise InputError("the avatar has no Gaussians to export")
    low, high = g.means.min(0).astype(np.float64), g.means.max(0).astype(np.float64)
    span = np.maximum(high - low, 1e-6)
    position = np.rint((g.means - low) / span * 65535.0).clip(0, 65535).astype(np.uint16)
    quats = g.quats_xyzw * np.where(g.quats_xyzw[:, 3:] < 0, -1.0, 1.0)
    rotation = np.clip(np.rint(quats * 127.0), -127, 127).astype(np.int8)
    log_scale = np.log(np.maximum(g.scales, 1e-30))
    lo = float(max(_LOG_SCALE_LIMITS[0], log_scale.min()))
    hi = float(min(_LOG_SCALE_LIMITS[1], log_scale.max()))
    hi = max(hi, lo + 1e-3)
    scale_q = np.clip(np.rint((log_scale - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    rgba = np.concatenate([_unit_u8(g.colors), _unit_u8(g.opacities[:, None])], 1)
    bones = g.bones.astype(np.int64)
    if bones.min() < 0 or bones.max() > 255:
        raise InputError("a Gaussian's bone index does not fit in a byte (the page reads at most 256 bones)")
    raw = b"".join(_planes(a) for a in (position, rotation, scale_q, rgba, bones.astype(np.uint8), _weights_u8(g.weights)))
    header = {
        "format": GAUSSIANS_FORMAT,
        "count": n,
        "bounds": [low.tolist(), (low + span).tolist()],
        "log_scale": [lo, hi],
        "raw_bytes": len(raw),
    }
    return gzip.compress(raw, compresslevel=9, mtime=0), header


def decode_gaussians(data: bytes, header: dict) -> WebGaussians:
    """The Python twin of the page's decoder: :func:`encode_gaussians` data back to float arrays."""
    n = int(header["count"])
    raw = gzip.decompress(data)
    if len(raw) != n * BYTES_PER_GAUSSIAN:
        raise InputError(f"web avatar data holds {len(raw)} bytes; {n} Gaussians need {n * BYTES_PER_GAUSSIAN}")
    offset = 0

    def plane(dtype, components: int) -> np.ndarray:
        nonlocal offset
        size = np.dtype(dtype).itemsize * n * components
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=n * components, offset=offset)
        offset += size
        return values.reshape(components, n).T

    low, high = (np.asarray(b, dtype=np.float64) for b in header["bounds"])
    lo, hi = header["log_scale"]
    position = plane(np.uint16, 3).astype(np.float64) / 65535.0 * (high - low) + low
    rotation = plane(np.int8, 4).astype(np.float64) / 127.0
    rotation /= np.maximum(np.linalg.norm(rotation, axis=1, keepdims=True), 1e-12)
    scales = np.exp(plane(np.uint8, 3).astype(np.float64) / 255.0 * (hi - lo) + lo)
    rgba = plane(np.uint8, 4).astype(np.float32) / 255.0
    bones = plane(np.uint8, 4).astype(np.int64)
    weights = plane(np.uint8, 4).astype(np.float32) / 255.0
    return WebGaussians(position.astype(np.float32), rotation.astype(np.float32), scales.astype(np.float32), rgba[:, :3], rgba[:, 3], bones, weights)


# ---------------------------------------------------------------------- motions
@torch.no_grad()
def motion_transforms(motion, body, avatar, chunk: int = 16) -> np.ndarray:
    """``(T, J, 3, 4)`` float32 rest-to-posed bone transforms of every motion frame for the avatar's
    shape (Anny body space; the motion's translation included). Facial actions do not move bones."""
    from uvatar.animate.render import motion_params
    from uvatar.body.model import BodyParams

    params = motion_params(motion, body, avatar.phenotypes, avatar.facial)
    _, rest = rest_state(body, avatar)
    out = []
    for start in range(0, params.batch_size, chunk):
        part = BodyParams(*(t[start : start + chunk] for t in params.tensors().values()))
        out.append(body.forward_from_rest(part, rest).bone_transforms[:, :, :3, :])
    transforms = torch.cat(out).float().numpy()
    if not np.isfinite(transforms).all():
        raise InputError("the motion gives non-finite bone transforms; check its rotations and translation")
    return transforms


def encode_motion(transforms: np.ndarray) -> tuple[bytes, dict]:
    """``(T, J, 3, 4)`` transforms as gzip-compressed int16 planes (module doc).

    Returns:
        ``(data, header)``: header holds ``format``, ``frames``, ``bones`` and ``translation_bounds``.
    """
    t = np.asarray(transforms, dtype=np.float64)
    frames, bones = t.shape[:2]
    rotation = t[..., :3]
    if not np.isfinite(t).all() or np.abs(rotation).max(initial=0.0) > 1.0 + 1e-3:
        raise InputError("the motion's bone transforms are not finite rotations; check its rotations and translation")
    translation = t[..., 3]  # (T, J, 3)
    low, high = translation.reshape(-1, 3).min(0), translation.reshape(-1, 3).max(0)
    span = np.maximum(high - low, 1e-6)
    q = np.empty((frames, bones, 12), dtype=np.int16)
    q[..., :9] = np.clip(np.rint(rotation.transpose(0, 1, 3, 2).reshape(frames, bones, 9) * 32767.0), -32767, 32767)
    q[..., 9:] = np.clip(np.rint((translation - low) / span * 65535.0) - 32768.0, -32768, 32767)
    planes = np.ascontiguousarray(q.transpose(1, 2, 0)).astype("<i2").tobytes()
    header = {"format": MOTION_FORMAT, "frames": int(frames), "bones": int(bones), "translation_bounds": [low.tolist(), (low + span).tolist()]}
    return gzip.compress(planes, compresslevel=9, mtime=0), header


def decode_motion(data: bytes, header: dict) -> np.ndarray:
    """The twin of the page's motion decoder: ``(T, J, 3, 4)`` float32."""
    frames, bones = int(header["frames"]), int(header["bones"])
    raw = np.frombuffer(gzip.decompress(data), dtype="<i2")
    if raw.size != frames * bones * 12:
        raise InputError(f"web motion data holds {raw.size} numbers; {frames} frames of {bones} bones need {frames * bones * 12}")
    q = raw.reshape(bones, 12, frames).transpose(2, 0, 1).astype(np.float64)  # (T, J, 12)
    low, high = (np.asarray(b, dtype=np.float64) for b in header["translation_bounds"])
    out = np.empty((frames, bones, 3, 4))
    out[..., :3] = (q[..., :9] / 32767.0).reshape(frames, bones, 3, 3).transpose(0, 1, 3, 2)
    out[..., 3] = (q[..., 9:] + 32768.0) / 65535.0 * (high - low) + low
    return out.astype(np.float32)


def skin_gaussians(g: WebGaussians, transforms: np.ndarray):
    """The Python twin of the page's GPU skinning (module doc) for one frame.

    Args:
        g: rest-pose Gaussians (decoded, to match the page bit for bit up to float rounding).
        transforms: ``(J, 3, 4)`` rest-to-posed bone transforms.
    Returns:
        :class:`~uvatar.avatar.PosedGaussians` (torch, float32) whose rotations carry the blended
        matrix's polar rotation and whose scales are replaced so that ``R diag(s^2) R^T`` is the
        skinned covariance (its eigen-decomposition).
    """
    from uvatar.avatar import PosedGaussians

    t = np.asarray(transforms, dtype=np.float64)[g.bones]  # (N, 4, 3, 4)
    blended = (g.weights.astype(np.float64)[..., None, None] * t).sum(1)  # (N, 3, 4)
    means = (blended[:, :, :3] @ g.means.astype(np.float64)[..., None])[..., 0] + blended[:, :, 3]
    rot = torch.from_numpy(g.quats_xyzw.astype(np.float64))
    import roma

    r = roma.unitquat_to_rotmat(rot).numpy()
    cov = r @ (g.scales.astype(np.float64)[:, :, None] ** 2 * r.transpose(0, 2, 1))
    a = blended[:, :, :3]
    cov = a @ cov @ a.transpose(0, 2, 1)
    values, vectors = np.linalg.eigh(cov)
    vectors = vectors * np.where(np.linalg.det(vectors) < 0, -1.0, 1.0)[:, None, None]
    quats = rotmat_to_wxyz(torch.from_numpy(vectors))
    return PosedGaussians(
        means=torch.from_numpy(means).float(),
        quats_wxyz=quats.float(),
        scales=torch.from_numpy(np.sqrt(np.maximum(values, 1e-20))).float(),
        opacities=torch.from_numpy(g.opacities).float(),
        colors=torch.from_numpy(g.colors).float(),
    )
