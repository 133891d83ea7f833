"""Compiled posing of :class:`~uvatar.animate.pose.GaussianPoser` (numba, CPU).

Its twin is the poser's torch path (``GaussianPoser.pose_torch``: per-face frames by torch and roma, then
a batched gather, ``bmm`` and a 4x4 quaternion product); tests compare the two. Here the face frames
are one pass over the faces and the Gaussians one pass over the Gaussians, reading each Gaussian's
local quaternion (16 bytes) instead of its 4x4 product matrix: 371K astronaut Gaussians took 28 ms per
frame in torch on 2 threads. Importing this module imports numba; the kernels compile on first use,
then load from numba's disk cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["face_frames", "pose_gaussians"]


@njit(cache=True, parallel=True)
def face_frames(vertices, faces, frames, quats_xyzw):
    """Per face ``frames (F, 3, 6)`` = ``[v0 v1 v2 tangent bitangent normal]`` and the frame's rotation
    ``[tangent bitangent normal]`` as a unit quaternion ``quats_xyzw (F, 4)`` (Shepperd's method: the
    largest of 4w², 4x², 4y², 4z² is the square root taken). Tangent = unit(v1 - v0), normal =
    unit((v1 - v0) x (v2 - v0)) (a zero vector stays zero, as torch's normalize with eps), bitangent =
    normal x tangent."""
    for f in prange(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        e1 = np.empty(3)
        e2 = np.empty(3)
        for k in range(3):
            a = float(vertices[i0, k])
            frames[f, k, 0] = a
            frames[f, k, 1] = float(vertices[i1, k])
            frames[f, k, 2] = float(vertices[i2, k])
            e1[k] = float(vertices[i1, k]) - a
            e2[k] = float(vertices[i2, k]) - a
        n0 = e1[1] * e2[2] - e1[2] * e2[1]
        n1 = e1[2] * e2[0] - e1[0] * e2[2]
        n2 = e1[0] * e2[1] - e1[1] * e2[0]
        len_t = max(math.sqrt(e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]), 1e-12)
        len_n = max(math.sqrt(n0 * n0 + n1 * n1 + n2 * n2), 1e-12)
        t0, t1, t2 = e1[0] / len_t, e1[1] / len_t, e1[2] / len_t
        n0, n1, n2 = n0 / len_n, n1 / len_n, n2 / len_n
        b0, b1, b2 = n1 * t2 - n2 * t1, n2 * t0 - n0 * t2, n0 * t1 - n1 * t0
        frames[f, 0, 3], frames[f, 1, 3], frames[f, 2, 3] = t0, t1, t2
        frames[f, 0, 4], frames[f, 1, 4], frames[f, 2, 4] = b0, b1, b2
        frames[f, 0, 5], frames[f, 1, 5], frames[f, 2, 5] = n0, n1, n2
        # rotation matrix m[row][col], columns t, b, n
        m00, m01, m02 = t0, b0, n0
        m10, m11, m12 = t1, b1, n1
        m20, m21, m22 = t2, b2, n2
        trace = m00 + m11 + m22
        if trace >= m00 and trace >= m11 and trace >= m22:
            s = 2.0 * math.sqrt(max(1.0 + trace, 0.0))
            w, x, y, z = 0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s
        elif m00 >= m11 and m00 >= m22:
            s = 2.0 * math.sqrt(max(1.0 + m00 - m11 - m22, 0.0))
            w, x, y, z = (m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s
        elif m11 >= m22:
            s = 2.0 * math.sqrt(max(1.0 + m11 - m00 - m22, 0.0))
            w, x, y, z = (m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s
        else:
            s = 2.0 * math.sqrt(max(1.0 + m22 - m00 - m11, 0.0))
            w, x, y, z = (m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s
        quats_xyzw[f, 0], quats_xyzw[f, 1], quats_xyzw[f, 2], quats_xyzw[f, 3] = x, y, z, w


@njit(cache=True, parallel=True)
def pose_gaussians(frames, face_quats, face_index, coefficients, local_wxyz, means, quats_wxyz):
    """Fill ``means (N, 3)`` = frame ``(3, 6)`` @ ``[barycentrics, offset]`` and ``quats_wxyz (N, 4)`` =
    face quaternion * local quaternion.

    Args:
        frames: ``(F, 3, 6)`` and face_quats ``(F, 4)`` XYZW, from :func:`face_frames`.
        face_index: ``(N,)`` each Gaussian's face. coefficients: ``(N, 6)`` ``[barycentrics, offset]``.
        local_wxyz: ``(N, 4)`` each Gaussian's unit rotation in its face frame, WXYZ.
    """
    for n in prange(face_index.shape[0]):
        f = face_index[n]
        for i in range(3):
            acc = 0.0
            for k in range(6):
                acc += frames[f, i, k] * float(coefficients[n, k])
            means[n, i] = acc
        fx, fy, fz, fw = face_quats[f, 0], face_quats[f, 1], face_quats[f, 2], face_quats[f, 3]
        w, x, y, z = float(local_wxyz[n, 0]), float(local_wxyz[n, 1]), float(local_wxyz[n, 2]), float(local_wxyz[n, 3])
        quats_wxyz[n, 0] = fw * w - fx * x - fy * y - fz * z
        quats_wxyz[n, 1] = fw * x + fx * w + fy * z - fz * y
        quats_wxyz[n, 2] = fw * y - fx * z + fy * w + fz * x
        quats_wxyz[n, 3] = fw * z + fx * y - fy * x + fz * w
