"""The compiled kernels of the numba rasterizer (``_gaussians_numba.py`` documents the pipeline).

Importing this module imports numba (about 0.3 s); the kernels compile on first call, or load from
numba's disk cache (``cache=True``). All maths is float64 scalars inside the loops: arrays are
allocated per call or per tile, never per Gaussian or per pixel.

Camera array ``cam (16,)``: world-to-camera R row-major (9), t (3), fx, fy, cx, cy. ``lims (4,)``: the
Jacobian's x/z clamp (low, high) then y/z (low, high).
Splat rows (``N_SPLAT`` columns, the tensors' dtype): pixel mean u, v; conic a, b, c (``Σ2D⁻¹ = [[a,
b], [b, c]]``); log o; camera z; r, g, b; the alpha >= 1/255 box in pixels clipped to the image, col0,
row0, col1, row1 (col1 < col0: the Gaussian touches no pixel). ``proj (N, N_SPLAT)`` holds them in input
order; ``splats (M, N_SPLAT)`` the M Gaussians that touch a pixel in front-to-back order ("ranks"). Tile
lists hold ranks, so a tile reads ``splats`` in increasing order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from uvatar.render._gaussians_torch import ALPHA_MAX, ALPHA_MIN, BLUR_PX2, T_MIN
from uvatar.render._numba_intrinsics import prefetch_row

# Tile side, pixels. The result does not depend on it (every Gaussian visits only the pixels of its exact
# alpha >= 1/255 box); 16 cuts the (Gaussian, tile) pairs of 8 from 870K to 525K for the 262K avatar
# Gaussians of the benchmark at 512², which the binning and the backward's gradient rows cost; 8 and 32
# composited no faster.
TILE = 16
N_FEATS = 5  # r, g, b, depth, 1 per pixel
N_SPLAT = 16  # columns of a splat row (14 used; 16 float32 are one 64-byte cache line)
N_PAIR_GRADS = 10  # u, v, conic a, b, c, log o, r, g, b, z per (Gaussian, tile) pair
# exp is skipped below this exponent: there alpha < 1/255 by a margin far above float64 rounding.
LOG_ALPHA_SKIP = math.log(ALPHA_MIN) - 1e-6
# The arithmetic kernels let LLVM fuse a * b + c into one rounding (FMA); no other fast-math licence (NaN,
# infinities and signed zeros keep their meaning). Compositing 5% faster; the float error bounds of the
# tests hold for fused or separate roundings alike.
_CONTRACT = {"contract"}
# Rows read through a list (tile entries, depth order) are prefetched this many list items ahead (2 to 16
# composited equally fast; none: 25-30% slower compositing).
PREFETCH_AHEAD = 8
_LOG_255 = math.log(255.0)


@njit(cache=True, inline="always")
def _quat_rotmat(qw, qx, qy, qz):
    """Unit quaternion parts and the 9 entries (row-major) of its rotation matrix."""
    n = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    inv = 1.0 / n
    w, x, y, z = qw * inv, qx * inv, qy * inv, qz * inv
    return (
        n, w, x, y, z,
        1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y),
        2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x),
        2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y),
    )  # fmt: skip


@njit(cache=True, inline="always")
def _camera_point(means, g, cam):
    mx, my, mz = float(means[g, 0]), float(means[g, 1]), float(means[g, 2])
    x = cam[0] * mx + cam[1] * my + cam[2] * mz + cam[9]
    y = cam[3] * mx + cam[4] * my + cam[5] * mz + cam[10]
    z = cam[6] * mx + cam[7] * my + cam[8] * mz + cam[11]
    return x, y, z


@njit(cache=True, inline="always")
def _camera_sqrt_cov(rot, s0, s1, s2, cam):
    """``W = R_cam · R(q) · diag(s)`` (9 entries, row-major) from the rotation entries ``rot``."""
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = rot
    w00 = (cam[0] * r00 + cam[1] * r10 + cam[2] * r20) * s0
    w01 = (cam[0] * r01 + cam[1] * r11 + cam[2] * r21) * s1
    w02 = (cam[0] * r02 + cam[1] * r12 + cam[2] * r22) * s2
    w10 = (cam[3] * r00 + cam[4] * r10 + cam[5] * r20) * s0
    w11 = (cam[3] * r01 + cam[4] * r11 + cam[5] * r21) * s1
    w12 = (cam[3] * r02 + cam[4] * r12 + cam[5] * r22) * s2
    w20 = (cam[6] * r00 + cam[7] * r10 + cam[8] * r20) * s0
    w21 = (cam[6] * r01 + cam[7] * r11 + cam[8] * r21) * s1
    w22 = (cam[6] * r02 + cam[7] * r12 + cam[8] * r22) * s2
    return w00, w01, w02, w10, w11, w12, w20, w21, w22


@njit(cache=True, parallel=True, fastmath=_CONTRACT)
def project_forward(means, quats, scales, opacities, rgb, cam, lims, width, height, near, far, proj, depths):
    """EWA projection, footprint and culling: fills the splat rows ``proj (N, N_SPLAT)`` (module doc) and
    ``depths (N,)``: camera z, or -1 for a Gaussian that touches no pixel (the sort keys)."""
    fx, fy, cx, cy = cam[12], cam[13], cam[14], cam[15]
    for g in prange(means.shape[0]):
        x, y, depth = _camera_point(means, g, cam)
        z = max(depth, near)  # culled below; keeps the values finite
        inv_z = 1.0 / z
        xz = min(max(x * inv_z, lims[0]), lims[1])
        yz = min(max(y * inv_z, lims[2]), lims[3])
        q = _quat_rotmat(float(quats[g, 0]), float(quats[g, 1]), float(quats[g, 2]), float(quats[g, 3]))
        w00, w01, w02, w10, w11, w12, w20, w21, w22 = _camera_sqrt_cov(
            q[5:], float(scales[g, 0]), float(scales[g, 1]), float(scales[g, 2]), cam
        )
        a0, a1, a2 = fx * inv_z * (w00 - xz * w20), fx * inv_z * (w01 - xz * w21), fx * inv_z * (w02 - xz * w22)
        b0, b1, b2 = fy * inv_z * (w10 - yz * w20), fy * inv_z * (w11 - yz * w21), fy * inv_z * (w12 - yz * w22)
        s_a = a0 * a0 + a1 * a1 + a2 * a2 + BLUR_PX2
        s_b = a0 * b0 + a1 * b1 + a2 * b2
        s_c = b0 * b0 + b1 * b1 + b2 * b2 + BLUR_PX2
        inv_det = 1.0 / (s_a * s_c - s_b * s_b)
        u = fx * x * inv_z + cx
        v = fy * y * inv_z + cy
        o = float(opacities[g])
        log_o = math.log(o) if o > 0.0 else -1e30
        proj[g, 0], proj[g, 1] = u, v
        proj[g, 2], proj[g, 3], proj[g, 4] = s_c * inv_det, -s_b * inv_det, s_a * inv_det
        proj[g, 5] = log_o
        proj[g, 6] = depth
        proj[g, 7], proj[g, 8], proj[g, 9] = rgb[g, 0], rgb[g, 1], rgb[g, 2]
        proj[g, 10], proj[g, 11], proj[g, 12], proj[g, 13] = 0.0, 0.0, -1.0, -1.0
        depths[g] = -1.0
        if not (near <= depth <= far) or not (o >= ALPHA_MIN):
            continue
        ext2 = 2.0 * max(log_o + _LOG_255, 0.0)  # squared Mahalanobis reach of alpha >= 1/255: 2 ln(255 o)
        rx = math.sqrt(ext2 * s_a) + 1e-3
        ry = math.sqrt(ext2 * s_c) + 1e-3
        if not (math.isfinite(u) and math.isfinite(v) and math.isfinite(rx) and math.isfinite(ry)):
            continue
        c0, c1 = math.ceil(u - rx - 0.5), math.floor(u + rx - 0.5)
        r0, r1 = math.ceil(v - ry - 0.5), math.floor(v + ry - 0.5)
        if c1 < 0 or c0 > width - 1 or r1 < 0 or r0 > height - 1 or c0 > c1 or r0 > r1:
            continue
        proj[g, 10], proj[g, 11] = max(c0, 0.0), max(r0, 0.0)
        proj[g, 12], proj[g, 13] = min(c1, width - 1.0), min(r1, height - 1.0)
        depths[g] = depth


@njit(cache=True, inline="always")
def _tile_range(row):
    """Inclusive tile range tx0, ty0, tx1, ty1 of a splat row's box (empty: tx1 < tx0)."""
    if row[12] < row[10]:
        return 0, 0, -1, -1
    return int(row[10]) // TILE, int(row[11]) // TILE, int(row[12]) // TILE, int(row[13]) // TILE


_RADIX_BITS = 12  # digits of the depth sort (4096 buckets x 16 slices of counters fit in L2)
_PARTS = 16  # slices of the parallel depth sort and binning (fixed, so results do not depend on threads)


@njit(cache=True, parallel=True)
def depth_order(keys):
    """Front-to-back order ``(M,)`` of the Gaussians whose ``keys (N,)`` are >= 0.

    ``keys`` (int32 or int64): the camera depths' bits in the tensors' dtype (positive floats order like
    their bits), negative for Gaussians that touch no pixel. A parallel LSD radix sort of ``key -
    smallest key``, 12 bits a pass over the bits that difference uses (a body a metre deep at 3 m spans
    under 2^23 float32 steps: two passes), each pass a counting sort of ``_PARTS`` slices (slice s's
    items of a digit follow those of slices < s): stable, so equal depths keep the input order, and
    independent of the thread count.
    """
    n = keys.shape[0]
    cuts = np.linspace(0, n, _PARTS + 1).astype(np.int64)
    kept = np.zeros(_PARTS + 1, np.int64)
    tops = np.zeros(_PARTS, np.int64)
    lows = np.full(_PARTS, np.iinfo(np.int64).max, np.int64)
    for part in prange(_PARTS):
        count, top, low = 0, 0, np.iinfo(np.int64).max
        for g in range(cuts[part], cuts[part + 1]):
            if keys[g] >= 0:
                count += 1
                top = max(top, np.int64(keys[g]))
                low = min(low, np.int64(keys[g]))
        kept[part + 1], tops[part], lows[part] = count, top, low
    for part in range(_PARTS):
        kept[part + 1] += kept[part]
    m, low = kept[_PARTS], lows.min()
    span = tops.max() - low if m > 0 else 0
    ids = np.empty(m, np.int64)
    vals = np.empty(m, np.int64)
    for part in prange(_PARTS):
        i = kept[part]
        for g in range(cuts[part], cuts[part + 1]):
            if keys[g] >= 0:
                ids[i], vals[i] = g, np.int64(keys[g]) - low
                i += 1
    ids2, vals2 = np.empty(m, np.int64), np.empty(m, np.int64)
    mask = (1 << _RADIX_BITS) - 1
    bounds = np.linspace(0, m, _PARTS + 1).astype(np.int64)
    shift = 0
    while shift < 64 and (span >> shift) > 0:
        counts = np.zeros((_PARTS, mask + 1), np.int64)
        for part in prange(_PARTS):
            for i in range(bounds[part], bounds[part + 1]):
                counts[part, (vals[i] >> shift) & mask] += 1
        total = 0
        for d in range(mask + 1):
            for part in range(_PARTS):
                c = counts[part, d]
                counts[part, d] = total
                total += c
        for part in prange(_PARTS):
            for i in range(bounds[part], bounds[part + 1]):
                d = (vals[i] >> shift) & mask
                c = counts[part, d]
                ids2[c] = ids[i]
                vals2[c] = vals[i]
                counts[part, d] = c + 1
        ids, ids2 = ids2, ids
        vals, vals2 = vals2, vals
        shift += _RADIX_BITS
    return ids


@njit(cache=True, parallel=True)
def bin_gaussians(proj, order, tiles_x, n_tiles, splats, with_pairs):
    """The splat table ``splats (M, N_SPLAT)`` (module doc: ``proj``'s rows in rank order) and the tile
    lists of ranks, each front to back (a parallel counting sort by tile of the ranks).

    The ranks are cut into ``_PARTS`` slices; slice s's entries of a tile follow those of slices < s, so
    every list stays in rank (depth) order. Returns ``offsets (n_tiles + 1)`` into ``entries (P,)``
    (ranks, int32), ``entry_of (P,)`` and ``pair_start (M + 1)``: rank r's (Gaussian, tile) pairs, its
    tiles in row-major order, are the entries ``entry_of[pair_start[r]:pair_start[r + 1]]`` (only the
    backward needs ``entry_of``: empty unless ``with_pairs``).
    """
    m = order.shape[0]
    pair_start = np.zeros(m + 1, np.int64)
    bounds = np.linspace(0, m, _PARTS + 1).astype(np.int64)
    counts = np.zeros((_PARTS, n_tiles), np.int64)
    for part in prange(_PARTS):  # the one pass that reads proj out of order; the next reads splats in order
        for r in range(bounds[part], bounds[part + 1]):
            if r + PREFETCH_AHEAD < bounds[part + 1]:
                prefetch_row(proj, order[r + PREFETCH_AHEAD])
            g = order[r]
            for j in range(N_SPLAT):
                splats[r, j] = proj[g, j]
            tx0, ty0, tx1, ty1 = _tile_range(splats[r])
            pair_start[r + 1] = (tx1 - tx0 + 1) * (ty1 - ty0 + 1)
            for ty in range(ty0, ty1 + 1):
                for tx in range(tx0, tx1 + 1):
                    counts[part, ty * tiles_x + tx] += 1
    for r in range(m):
        pair_start[r + 1] += pair_start[r]
    offsets = np.zeros(n_tiles + 1, np.int64)
    cursor = np.empty((_PARTS, n_tiles), np.int64)
    total = 0
    for t in range(n_tiles):
        offsets[t] = total
        for part in range(_PARTS):
            cursor[part, t] = total
            total += counts[part, t]
    offsets[n_tiles] = total
    entries = np.empty(total, np.int32)
    entry_of = np.empty(total if with_pairs else 0, np.int64)
    for part in prange(_PARTS):
        for r in range(bounds[part], bounds[part + 1]):
            tx0, ty0, tx1, ty1 = _tile_range(splats[r])
            k = pair_start[r]
            for ty in range(ty0, ty1 + 1):
                for tx in range(tx0, tx1 + 1):
                    c = cursor[part, ty * tiles_x + tx]
                    entries[c] = r
                    if with_pairs:
                        entry_of[k] = c
                    cursor[part, ty * tiles_x + tx] = c + 1
                    k += 1
    return offsets, entries, entry_of, pair_start


@njit(cache=True, inline="always")
def _splat(splats, g):
    """Row ``g`` of the splat table as float64: u, v, conic a, b, c, log o, z, r, g, b."""
    return (
        float(splats[g, 0]), float(splats[g, 1]), float(splats[g, 2]), float(splats[g, 3]), float(splats[g, 4]),
        float(splats[g, 5]), float(splats[g, 6]), float(splats[g, 7]), float(splats[g, 8]), float(splats[g, 9]),
    )  # fmt: skip


@njit(cache=True, inline="always")
def _box_in_tile(splats, g, x0, y0, x1, y1):
    """Splat ``g``'s alpha >= 1/255 box inside the tile of pixels ``x0..x1, y0..y1``: tile columns ``c0..c1``
    (0 = column x0), image rows ``row0..row1`` and the columns as a bit mask ``span``."""
    c0, c1 = max(int(splats[g, 10]), x0) - x0, min(int(splats[g, 12]), x1) - x0
    row0, row1 = max(int(splats[g, 11]), y0), min(int(splats[g, 13]), y1)
    return c0, c1, row0, row1, ((1 << (c1 - c0 + 1)) - 1) << c0


@njit(cache=True, inline="always")
def _row_exponent(ca, cb, cc, log_o, d0, dy):
    """The exponent ``log o - ½ dᵀΣ⁻¹d`` along one pixel row as ``k0 + c (k1 + c k2)`` in the tile column
    c, with ``k2 = -ca / 2``: ``d0`` is column 0's x offset from the mean, ``dy`` the row's y offset."""
    return log_o - 0.5 * (ca * d0 * d0 + 2.0 * cb * d0 * dy + cc * dy * dy), -(ca * d0 + cb * dy)


@njit(cache=True, parallel=True, fastmath=_CONTRACT)
def composite_forward(offsets, entries, splats, tiles_x, width, height, acc, n_used, t_final, with_state):
    """Blend every pixel front to back (3DGS rules), one tile per task.

    A tile walks its list once; each Gaussian visits only the tile's pixels inside its alpha >= 1/255
    box, and only pixels that have not stopped (a bit mask per tile row skips rows that have). Fills
    ``acc (H, W, 5)`` = Σ w·(r, g, b, z, 1); with ``with_state`` (for the backward) also ``n_used (H, W)``
    int32, one past the list position (within its tile) of the pixel's last blended Gaussian, and
    ``t_final (H, W)``, the pixel's transmittance.
    """
    for t in prange(offsets.shape[0] - 1):
        x0, y0 = (t % tiles_x) * TILE, (t // tiles_x) * TILE
        x1, y1 = min(x0 + TILE, width) - 1, min(y0 + TILE, height) - 1
        trans = np.ones(TILE * TILE)
        feats = np.zeros((TILE * TILE, N_FEATS))
        last = np.zeros(TILE * TILE, np.int32)
        live_bits = np.zeros(TILE, np.int64)  # per tile row: bit c set while pixel (row, c) blends
        for yy in range(y0, y1 + 1):
            live_bits[yy - y0] = (1 << (x1 - x0 + 1)) - 1
        live = (x1 - x0 + 1) * (y1 - y0 + 1)
        for i in range(offsets[t], offsets[t + 1]):
            if i + PREFETCH_AHEAD < offsets[t + 1]:
                prefetch_row(splats, entries[i + PREFETCH_AHEAD])
            g = entries[i]
            u, v, ca, cb, cc, log_o, z, r, gg, bb = _splat(splats, g)
            c0, c1, row0, row1, span = _box_in_tile(splats, g, x0, y0, x1, y1)
            d0 = x0 + 0.5 - u  # x offset of the tile's column 0 from the mean
            k2 = -0.5 * ca
            for yy in range(row0, row1 + 1):
                bits = live_bits[yy - y0] & span
                if bits == 0:
                    continue
                dy = yy + 0.5 - v
                k0, k1 = _row_exponent(ca, cb, cc, log_o, d0, dy)
                for c in range(c0, c1 + 1):
                    if (bits >> c) & 1 == 0:
                        continue
                    p = (yy - y0) * TILE + c
                    power = k0 + c * (k1 + c * k2)
                    if power < LOG_ALPHA_SKIP:
                        continue
                    alpha = min(ALPHA_MAX, math.exp(power))
                    if alpha < ALPHA_MIN:
                        continue
                    test_t = trans[p] * (1.0 - alpha)
                    if test_t < T_MIN:
                        live_bits[yy - y0] &= ~(1 << c)
                        live -= 1
                        continue
                    weight = alpha * trans[p]
                    feats[p, 0] += weight * r
                    feats[p, 1] += weight * gg
                    feats[p, 2] += weight * bb
                    feats[p, 3] += weight * z
                    feats[p, 4] += weight
                    trans[p] = test_t
                    if with_state:
                        last[p] = i - offsets[t] + 1
            if live == 0:
                break
        for yy in range(y0, y1 + 1):
            for xx in range(x0, x1 + 1):
                p = (yy - y0) * TILE + (xx - x0)
                for f in range(N_FEATS):
                    acc[yy, xx, f] = feats[p, f]
                if with_state:
                    n_used[yy, xx] = last[p]
                    t_final[yy, xx] = trans[p]


@njit(cache=True, parallel=True, fastmath=_CONTRACT)
def composite_backward(offsets, entries, splats, tiles_x, width, height, grad_acc, n_used, t_final,
                       pair_grads):  # fmt: skip
    """Gradient of ``Σ grad_acc · acc`` per tile-list entry (one (Gaussian, tile) pair) into ``pair_grads
    (P, 10)`` (every row is written): u, v, conic a, b, c, log o, r, g, b, z.

    A tile walks its list back to front. With ``w_i = α_i T_i`` (``T_i`` the transmittance before
    Gaussian i, recovered as ``T_{i+1} / (1 - α_i)`` from the final one), ``f_i`` its features and ``g``
    the pixel's gradient: ``∂L/∂f_i = w_i g``, ``∂L/∂α_i = T_i (f_i·g) - (Σ_{j>i} w_j f_j·g) / (1 - α_i)``
    and ``∂α/∂exponent = α`` below the 0.99 cap. A pair row is written only by its tile's task.
    """
    for t in prange(offsets.shape[0] - 1):
        a, b = offsets[t], offsets[t + 1]
        x0, y0 = (t % tiles_x) * TILE, (t // tiles_x) * TILE
        x1, y1 = min(x0 + TILE, width) - 1, min(y0 + TILE, height) - 1
        trans = np.empty(TILE * TILE)
        later = np.zeros(TILE * TILE)  # Σ_{j>i} w_j (f_j · g) per pixel
        last = np.zeros(TILE * TILE, np.int64)
        grads = np.zeros((TILE * TILE, N_FEATS))
        by_depth = np.zeros(TILE * TILE, np.int64)  # pixels by how deep they blended, deepest first
        n_pix = 0
        for yy in range(y0, y1 + 1):
            for xx in range(x0, x1 + 1):
                p = (yy - y0) * TILE + (xx - x0)
                trans[p] = t_final[yy, xx]
                last[p] = n_used[yy, xx]
                by_depth[n_pix] = p
                n_pix += 1
                for f in range(N_FEATS):
                    grads[p, f] = grad_acc[yy, xx, f]
        by_depth = by_depth[:n_pix][np.argsort(-last[by_depth[:n_pix]], kind="mergesort")]
        active_bits = np.zeros(TILE, np.int64)  # per tile row: bit c set once list position k < last[pixel]
        woken = 0
        for i in range(b - 1, a - 1, -1):
            k = i - a
            while woken < n_pix and last[by_depth[woken]] > k:
                p = by_depth[woken]
                active_bits[p // TILE] |= 1 << (p % TILE)
                woken += 1
            if woken == 0:
                for j in range(N_PAIR_GRADS):
                    pair_grads[i, j] = 0.0
                continue
            if i - PREFETCH_AHEAD >= a:
                prefetch_row(splats, entries[i - PREFETCH_AHEAD])
            g = entries[i]
            u, v, ca, cb, cc, log_o, z, r, gg, bb = _splat(splats, g)
            gu = gv = ga = gb = gc = glo = gr = ggr = gbl = gz = 0.0
            c0, c1, row0, row1, span = _box_in_tile(splats, g, x0, y0, x1, y1)
            d0 = x0 + 0.5 - u  # x offset of the tile's column 0 from the mean
            k2 = -0.5 * ca
            for yy in range(row0, row1 + 1):
                bits = active_bits[yy - y0] & span
                if bits == 0:
                    continue
                dy = yy + 0.5 - v
                k0, k1 = _row_exponent(ca, cb, cc, log_o, d0, dy)
                for c in range(c0, c1 + 1):
                    if (bits >> c) & 1 == 0:
                        continue
                    p = (yy - y0) * TILE + c
                    power = k0 + c * (k1 + c * k2)
                    dx = d0 + c
                    if power < LOG_ALPHA_SKIP:
                        continue
                    e = math.exp(power)
                    alpha = min(ALPHA_MAX, e)
                    if alpha < ALPHA_MIN:
                        continue
                    t_before = trans[p] / (1.0 - alpha)
                    trans[p] = t_before
                    weight = alpha * t_before
                    dot = grads[p, 0] * r + grads[p, 1] * gg + grads[p, 2] * bb + grads[p, 3] * z + grads[p, 4]
                    grad_alpha = t_before * dot - later[p] / (1.0 - alpha)
                    later[p] += weight * dot
                    gr += weight * grads[p, 0]
                    ggr += weight * grads[p, 1]
                    gbl += weight * grads[p, 2]
                    gz += weight * grads[p, 3]
                    if e >= ALPHA_MAX:  # capped: alpha does not depend on the exponent
                        continue
                    gp = grad_alpha * alpha  # ∂L/∂exponent
                    gu += gp * (ca * dx + cb * dy)
                    gv += gp * (cb * dx + cc * dy)
                    ga -= 0.5 * gp * dx * dx
                    gb -= gp * dx * dy
                    gc -= 0.5 * gp * dy * dy
                    glo += gp
            pair_grads[i, 0], pair_grads[i, 1], pair_grads[i, 2] = gu, gv, ga
            pair_grads[i, 3], pair_grads[i, 4], pair_grads[i, 5] = gb, gc, glo
            pair_grads[i, 6], pair_grads[i, 7], pair_grads[i, 8], pair_grads[i, 9] = gr, ggr, gbl, gz


@njit(cache=True, parallel=True, fastmath=_CONTRACT)
def project_backward(means, quats, scales, opacities, cam, lims, near, order, pair_start, entry_of, pair_grads,
                     splats, g_means, g_quats, g_scales, g_opacities, g_rgb):  # fmt: skip
    """Sum each ranked Gaussian's entry rows (in its tiles' row-major order: the sum does not depend on
    the thread count) and carry them back through :func:`project_forward`.

    Writes the rows ``order`` of ``g_means (N, 3)``, ``g_quats (N, 4)``, ``g_scales (N, 3)``, ``g_opacities
    (N,)``, ``g_rgb (N, 3)``; the caller zeroes the others (Gaussians that touch no tile). Walking the
    ranks, not the input order, reads the entry rows and the splat table in the order they were written
    (measured: 34 against 48 ms for 262K Gaussians at 512² on 2 threads).
    """
    fx, fy = cam[12], cam[13]
    m = order.shape[0]
    for rank in prange(m):
        if rank + PREFETCH_AHEAD < m:
            ahead = order[rank + PREFETCH_AHEAD]
            prefetch_row(means, ahead)
            prefetch_row(quats, ahead)
            prefetch_row(scales, ahead)
            prefetch_row(opacities, ahead)
            for pair in range(pair_start[rank + PREFETCH_AHEAD], pair_start[rank + PREFETCH_AHEAD + 1]):
                prefetch_row(pair_grads, entry_of[pair])
        g = order[rank]
        su = sv = sa = sb = sc = slo = sr = sg = sbl = sz = 0.0
        for pair in range(pair_start[rank], pair_start[rank + 1]):
            k = entry_of[pair]
            su += pair_grads[k, 0]
            sv += pair_grads[k, 1]
            sa += pair_grads[k, 2]
            sb += pair_grads[k, 3]
            sc += pair_grads[k, 4]
            slo += pair_grads[k, 5]
            sr += pair_grads[k, 6]
            sg += pair_grads[k, 7]
            sbl += pair_grads[k, 8]
            sz += pair_grads[k, 9]
        g_rgb[g, 0], g_rgb[g, 1], g_rgb[g, 2] = sr, sg, sbl
        g_opacities[g] = slo / float(opacities[g])  # exponent = log o - ...
        # Recompute the forward (project_forward's maths, written out again: a shared helper returning the
        # nested tuples either broke numba's parfor analysis when inlined or cost 8 ms here when called).
        x, y, depth = _camera_point(means, g, cam)
        z = max(depth, near)
        inv_z = 1.0 / z
        tx, ty = x * inv_z, y * inv_z
        xz = min(max(tx, lims[0]), lims[1])
        yz = min(max(ty, lims[2]), lims[3])
        s0, s1, s2 = float(scales[g, 0]), float(scales[g, 1]), float(scales[g, 2])
        q = _quat_rotmat(float(quats[g, 0]), float(quats[g, 1]), float(quats[g, 2]), float(quats[g, 3]))
        qn, qw, qx, qy, qz = q[0], q[1], q[2], q[3], q[4]
        rot = q[5:]
        w00, w01, w02, w10, w11, w12, w20, w21, w22 = _camera_sqrt_cov(rot, s0, s1, s2, cam)
        a0, a1, a2 = fx * inv_z * (w00 - xz * w20), fx * inv_z * (w01 - xz * w21), fx * inv_z * (w02 - xz * w22)
        b0, b1, b2 = fy * inv_z * (w10 - yz * w20), fy * inv_z * (w11 - yz * w21), fy * inv_z * (w12 - yz * w22)
        # conic (ca, cb, cc) = inverse of [[s_a, s_b], [s_b, s_c]]: ∂L/∂Σ = -C ∂L/∂C C
        ca, cb, cc = float(splats[rank, 2]), float(splats[rank, 3]), float(splats[rank, 4])
        gs_a = -(sa * ca * ca + sb * ca * cb + sc * cb * cb)
        gs_b = -(2.0 * sa * ca * cb + sb * (ca * cc + cb * cb) + 2.0 * sc * cb * cc)
        gs_c = -(sa * cb * cb + sb * cb * cc + sc * cc * cc)
        # Σ = [[a·a, a·b], [a·b, b·b]] + blur with a, b the two Jacobian rows
        ga0, ga1, ga2 = 2.0 * gs_a * a0 + gs_b * b0, 2.0 * gs_a * a1 + gs_b * b1, 2.0 * gs_a * a2 + gs_b * b2
        gb0, gb1, gb2 = 2.0 * gs_c * b0 + gs_b * a0, 2.0 * gs_c * b1 + gs_b * a1, 2.0 * gs_c * b2 + gs_b * a2
        # a_j = fx/z (w0j - xz w2j), b_j = fy/z (w1j - yz w2j)
        kx, ky = fx * inv_z, fy * inv_z
        gw00, gw01, gw02 = ga0 * kx, ga1 * kx, ga2 * kx
        gw10, gw11, gw12 = gb0 * ky, gb1 * ky, gb2 * ky
        gw20 = -(ga0 * kx * xz + gb0 * ky * yz)
        gw21 = -(ga1 * kx * xz + gb1 * ky * yz)
        gw22 = -(ga2 * kx * xz + gb2 * ky * yz)
        g_xz = -kx * (ga0 * w20 + ga1 * w21 + ga2 * w22)
        g_yz = -ky * (gb0 * w20 + gb1 * w21 + gb2 * w22)
        g_inv_z = z * (ga0 * a0 + ga1 * a1 + ga2 * a2 + gb0 * b0 + gb1 * b1 + gb2 * b2)
        # u = fx x/z + cx, v = fy y/z + cy
        gx = su * kx
        gy = sv * ky
        g_inv_z += su * fx * x + sv * fy * y
        if lims[0] < tx < lims[1]:
            gx += g_xz * inv_z
            g_inv_z += g_xz * x
        if lims[2] < ty < lims[3]:
            gy += g_yz * inv_z
            g_inv_z += g_yz * y
        gz = sz - g_inv_z * inv_z * inv_z
        for j in range(3):  # camera point = R_cam m + t
            g_means[g, j] = cam[j] * gx + cam[3 + j] * gy + cam[6 + j] * gz
        # W = R_cam · R(q) · diag(s): ∂L/∂(R(q) diag(s)) = R_camᵀ ∂L/∂W
        m00 = cam[0] * gw00 + cam[3] * gw10 + cam[6] * gw20
        m01 = cam[0] * gw01 + cam[3] * gw11 + cam[6] * gw21
        m02 = cam[0] * gw02 + cam[3] * gw12 + cam[6] * gw22
        m10 = cam[1] * gw00 + cam[4] * gw10 + cam[7] * gw20
        m11 = cam[1] * gw01 + cam[4] * gw11 + cam[7] * gw21
        m12 = cam[1] * gw02 + cam[4] * gw12 + cam[7] * gw22
        m20 = cam[2] * gw00 + cam[5] * gw10 + cam[8] * gw20
        m21 = cam[2] * gw01 + cam[5] * gw11 + cam[8] * gw21
        m22 = cam[2] * gw02 + cam[5] * gw12 + cam[8] * gw22
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = rot
        g_scales[g, 0] = m00 * r00 + m10 * r10 + m20 * r20
        g_scales[g, 1] = m01 * r01 + m11 * r11 + m21 * r21
        g_scales[g, 2] = m02 * r02 + m12 * r12 + m22 * r22
        h00, h01, h02 = m00 * s0, m01 * s1, m02 * s2  # ∂L/∂R(q)
        h10, h11, h12 = m10 * s0, m11 * s1, m12 * s2
        h20, h21, h22 = m20 * s0, m21 * s1, m22 * s2
        gqw = 2.0 * (-qz * h01 + qy * h02 + qz * h10 - qx * h12 - qy * h20 + qx * h21)
        gqx = 2.0 * (qy * h01 + qz * h02 + qy * h10 - 2.0 * qx * h11 - qw * h12 + qz * h20 + qw * h21 - 2.0 * qx * h22)
        gqy = 2.0 * (-2.0 * qy * h00 + qx * h01 + qw * h02 + qx * h10 + qz * h12 - qw * h20 + qz * h21 - 2.0 * qy * h22)
        gqz = 2.0 * (-2.0 * qz * h00 - qw * h01 + qx * h02 + qw * h10 - 2.0 * qz * h11 + qy * h12 + qx * h20 + qy * h21)
        dot = qw * gqw + qx * gqx + qy * gqy + qz * gqz  # through the normalisation q / |q|
        g_quats[g, 0] = (gqw - qw * dot) / qn
        g_quats[g, 1] = (gqx - qx * dot) / qn
        g_quats[g, 2] = (gqy - qy * dot) / qn
        g_quats[g, 3] = (gqz - qz * dot) / qn


@njit(cache=True, parallel=True)
def finish_image(acc, background, consts, image, alpha, depth):
    """``_gaussians_torch.finish_outputs`` for a render without a backward: ``image (H, W, 3)`` = colour +
    (1 - alpha) background, ``alpha (H, W)``, ``depth (H, W)`` = Σ w z / max(alpha, tiny), 0 where alpha is
    0. ``consts`` = (1, tiny, 0) in the tensors' dtype, so that every operation rounds as torch's does (no
    contraction here): the result is bit-identical to ``finish_outputs``."""
    one, tiny, zero = consts[0], consts[1], consts[2]
    for y in prange(acc.shape[0]):
        for x in range(acc.shape[1]):
            a = acc[y, x, 4]
            rest = one - a
            for k in range(3):
                image[y, x, k] = acc[y, x, k] + rest * background[k]
            alpha[y, x] = a
            depth[y, x] = acc[y, x, 3] / max(a, tiny) if a > zero else zero
