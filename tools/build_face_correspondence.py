"""Build the fixed correspondence from MediaPipe's 478 face landmarks to Anny's head surface.

Writes ``uvatar/data/face_correspondence.safetensors`` and ``uvatar/data/face_correspondence.json``
(read by :func:`uvatar.body.face_map.load_face_correspondence`).

Run once (about 15 s on 2 CPU cores)::

    python tools/build_face_correspondence.py \
        --obj ../shared/assets/mediapipe_canonical_face_model.obj --out uvatar/data

Method:

1. Read MediaPipe's canonical face model (468 vertices, centimetres, y up, the face looks along +z,
   the person's left at +x: landmark 263, the left eye's outer corner, has x > 0). Convert to Anny's
   body space (metres, Z up, face along -Y, left at +X): ``(x, y, z) cm -> (x, -z, y) / 100``.
2. Anchor pairs: eye corners 33/133/263/362 and mouth corners 61/291 against the extreme-X points of
   Anny's eyelid and lip openings (the boundary loops between the head skin and the eye/mouth
   cavities), the nose tip 4 (the canonical model's most forward vertex) against the most forward
   midline vertex of the head skin, chin 152 and forehead 10 against the midline points of Anny's profile
   whose outward normal tilts as the canonical profile does at those landmarks (support points).
3. A similarity (scale, rotation, translation) canonical -> Anny by weighted least squares (Umeyama),
   with every pair also used mirrored (x -> -x on both sides) so that the fit is exactly symmetric.
   Then refined by ICP of all 468 vertices against the front of Anny's head skin (Cauchy weights,
   face-oval vertices down-weighted), keeping the anchors in the objective.
4. Each canonical vertex maps to its closest point on the head skin (segment "head": not the
   eyeballs, cavities or tongue); the eye-contour landmarks (MediaPipe's FACEMESH_LEFT/RIGHT_EYE, 16 per
   eye, which trace the eyelid margin) and the inner lip contour (20) are snapped instead onto Anny's
   eyelid-margin and lip-opening loops, by normalised arc length from the corners along each lid / lip
   (a closed eye or mouth on a photo then closes the same loop on the body).
5. Irises 468..477: 468..472 are the person's RIGHT eye (the one around 33/133), 473..477 the LEFT.
   Each centre maps to the front pole of Anny's eyeball (sphere fitted to that eye's eye_front and
   eye_back vertices, gaze along -Y), on the eye_front faces; the ring points lie 5.8 mm (iris radius)
   off the gaze axis on the eyeball sphere, ring order +1: +X (person's left, image right in an
   unmirrored frontal photo), +2: +Z (up), +3: -X, +4: -Z for both eyes (measured with MediaPipe
   holistic on frontal photos), projected to the closest eye_front point.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("build_face_correspondence")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OBJ = REPO.parent / "shared" / "assets" / "mediapipe_canonical_face_model.obj"
UPSTREAM = (
    "https://github.com/google-ai-edge/mediapipe/blob/master/"
    "mediapipe/modules/face_geometry/data/canonical_face_model.obj"
)

N_MESH = 468
N_ALL = 478
IRIS_RADIUS_M = 0.0058
# MediaPipe face_mesh_connections: FACEMESH_RIGHT_EYE / LEFT_EYE (eyelid margins, outer to inner canthus)
# and the inner lip contour of FACEMESH_LIPS (mouth corner 78 to 308), each as lower and upper paths.
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
INNER_LIP_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
MIRROR = np.diag([-1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------------------- geometry
def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(468, 3)`` vertices (file units) and ``(F, 3)`` zero-based triangles of an OBJ file."""
    verts, tris = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            tris.append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:4]])
    return np.asarray(verts, np.float64), np.asarray(tris, np.int64)


def canonical_to_body(points_cm: np.ndarray) -> np.ndarray:
    """MediaPipe canonical axes (cm; y up, face along +z, left +x) -> Anny's (m; Z up, face -Y, left +X)."""
    x, y, z = points_cm.T
    return np.stack([x, -z, y], axis=1) / 100.0


def closest_points_on_triangles(points: np.ndarray, tris: np.ndarray, chunk: int = 32):
    """Closest point on a triangle soup (brute force; Ericson, Real-Time Collision Detection 5.1.5).

    Args:
        points: ``(N, 3)``; tris: ``(F, 3, 3)`` triangle corners.
    Returns:
        triangle index ``(N,)``, barycentrics ``(N, 3)``, closest points ``(N, 3)``, distances ``(N,)``.
    """
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    ab, ac = b - a, c - a
    out_f, out_bary = [], []
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]
        ap, bp, cp = p - a, p - b, p - c
        d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
        d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
        d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
        va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = 1.0 / (va + vb + vc)
            v, w = vb * denom, vc * denom
            bary = np.stack([1 - v - w, v, w], -1)
            # Ericson's regions in reverse precedence, so that the first true test wins.
            t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
            t_ac = d2 / (d2 - d6)
            t_ab = d1 / (d1 - d3)
        zero = np.zeros_like(d1)
        regions = [
            ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), (zero, 1 - t_bc, t_bc)),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1 - t_ac, zero, t_ac)),
            ((d6 >= 0) & (d5 <= d6), (zero, zero, zero + 1)),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1 - t_ab, t_ab, zero)),
            ((d3 >= 0) & (d4 <= d3), (zero, zero + 1, zero)),
            ((d1 <= 0) & (d2 <= 0), (zero + 1, zero, zero)),
        ]
        for mask, weights in regions:
            bary = np.where(mask[..., None], np.stack(weights, -1), bary)
        closest = np.einsum("nfk,fkd->nfd", bary, tris)
        dist = np.linalg.norm(closest - p, axis=-1)
        best = dist.argmin(1)
        out_f.append(best)
        out_bary.append(bary[np.arange(len(best)), best])
    face = np.concatenate(out_f)
    bary = np.concatenate(out_bary)
    closest = np.einsum("nk,nkd->nd", bary, tris[face])
    return face, bary, closest, np.linalg.norm(closest - points, axis=-1)


def weighted_umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray):
    """Similarity ``dst ~ s R src + t`` by weighted least squares; returns ``(s, R (3,3), t (3,))``."""
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (w[:, None] * xd).T @ xs
    u, sing, vt = np.linalg.svd(cov)
    d = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2, 2] = -1.0
    rot = u @ d @ vt
    scale = np.trace(np.diag(sing) @ d) / (w * (xs**2).sum(1)).sum()
    return scale, rot, mu_d - scale * rot @ mu_s


def symmetric_umeyama(src, dst, weights):
    """:func:`weighted_umeyama` on the pairs and their mirror images: a left-right symmetric similarity."""
    return weighted_umeyama(
        np.concatenate([src, src @ MIRROR]), np.concatenate([dst, dst @ MIRROR]), np.concatenate([weights, weights])
    )


def boundary_loop(faces: np.ndarray, inside: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Ordered vertex indices of the edge loop between faces ``inside`` and ``other`` (bool masks)."""
    edges: dict[tuple[int, int], list[int]] = {}
    for fi in np.nonzero(inside | other)[0]:
        f = faces[fi]
        for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])):
            edges.setdefault((min(a, b), max(a, b)), []).append(fi)
    shared = [e for e, fs in edges.items() if inside[fs].any() and other[fs].any()]
    nbrs: dict[int, list[int]] = {}
    for a, b in shared:
        nbrs.setdefault(int(a), []).append(int(b))
        nbrs.setdefault(int(b), []).append(int(a))
    if any(len(n) != 2 for n in nbrs.values()):
        raise RuntimeError("the boundary between the two face sets is not a simple loop")
    start = min(nbrs)
    loop, prev = [start], None
    while True:
        nxt = [n for n in nbrs[loop[-1]] if n != prev][0]
        if nxt == start:
            break
        prev = loop[-1]
        loop.append(nxt)
    if len(loop) != len(nbrs):
        raise RuntimeError("the boundary between the two face sets has several loops")
    return np.asarray(loop)


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere: centre ``(3,)`` and radius."""
    a = np.concatenate([2 * points, np.ones((len(points), 1))], 1)
    sol, *_ = np.linalg.lstsq(a, (points**2).sum(1), rcond=None)
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


def profile_support_point(vertices, midline, direction):
    """The midline vertex furthest along ``direction`` (where the profile's normal is ``direction``)."""
    return midline[np.argmax(vertices[midline] @ direction)]


def segment_normal_yz(p_from: np.ndarray, p_to: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Unit normal (in the Y-Z plane, on the ``front`` side) of the profile segment ``p_from -> p_to``."""
    tangent = (p_to - p_from) / np.linalg.norm(p_to - p_from)
    normal = np.array([0.0, -tangent[2], tangent[1]])
    return normal if normal @ front > 0 else -normal


def arc_positions(points: np.ndarray) -> np.ndarray:
    """Normalised cumulative arc length (0..1) along a polyline ``(N, 3)``."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return s / s[-1]


def point_at_arc(points: np.ndarray, u: float) -> tuple[int, int, float]:
    """Edge ``(i, i+1)`` of a polyline and the fraction along it at normalised arc length ``u``."""
    s = arc_positions(points)
    i = int(np.clip(np.searchsorted(s, u, side="right") - 1, 0, len(points) - 2))
    frac = float(np.clip((u - s[i]) / max(s[i + 1] - s[i], 1e-12), 0.0, 1.0))
    return i, i + 1, frac


# ---------------------------------------------------------------------------------------- build
def build(obj_path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from uvatar.body.model import load_body_model
    from uvatar.body.parts import _segment_names

    body = load_body_model()
    verts = body.rest_vertices().double().numpy()  # average shape, rest A-pose
    faces = body.faces.numpy()
    seg = np.asarray(_segment_names(body.uv_corners))
    skin = seg == "head"

    canon_cm, _ = read_obj(obj_path)
    if len(canon_cm) != N_MESH:
        raise SystemExit(f"{obj_path} has {len(canon_cm)} vertices; MediaPipe's canonical face has 468")
    canon = canonical_to_body(canon_cm)
    if not (canon[263, 0] > 0 > canon[33, 0] and canon[291, 0] > 0 > canon[61, 0]):
        raise SystemExit("unexpected canonical axes: landmarks 263/291 should be at +x (the person's left)")
    if not (canon[10, 2] > canon[4, 2] > canon[152, 2] and canon[4, 1] < canon[263, 1]):
        raise SystemExit("unexpected canonical axes: expected y up and the nose along +z")

    # -- anchors on Anny
    loops = {}
    for key, cavity in (("eye.L", "eye_cavity.L"), ("eye.R", "eye_cavity.R"), ("mouth", "mouth_cavity")):
        loops[key] = boundary_loop(faces, skin, seg == cavity)
    anchors: dict[str, tuple[int, np.ndarray, str]] = {}
    for side, sign, loop_key, outer, inner in (("left", 1, "eye.L", 263, 362), ("right", -1, "eye.R", 33, 133)):
        x = verts[loops[loop_key], 0] * sign
        anchors[f"{side}_eye_outer"] = (outer, verts[loops[loop_key][x.argmax()]], "eyelid-opening loop, extreme |X|")
        anchors[f"{side}_eye_inner"] = (inner, verts[loops[loop_key][x.argmin()]], "eyelid-opening loop, least |X|")
    mouth_x = verts[loops["mouth"], 0]
    anchors["mouth_left"] = (291, verts[loops["mouth"][mouth_x.argmax()]], "lip-opening loop, max X")
    anchors["mouth_right"] = (61, verts[loops["mouth"][mouth_x.argmin()]], "lip-opening loop, min X")

    skin_verts = np.unique(faces[skin])
    midline = skin_verts[(np.abs(verts[skin_verts, 0]) < 1e-5) & (verts[skin_verts, 1] < -0.06)]
    nose = midline[np.argmin(verts[midline, 1])]
    anchors["nose_tip"] = (4, verts[nose], "most forward (-Y) midline skin vertex")
    front = np.array([0.0, -1.0, 0.0])
    eye_z = verts[loops["eye.L"], 2].mean()
    mouth_z = verts[loops["mouth"], 2].mean()
    chin_dir = segment_normal_yz(canon[175], canon[152], front)
    brow_dir = segment_normal_yz(canon[151], canon[10], front)
    below = midline[verts[midline, 2] < mouth_z - 0.01]
    above = midline[verts[midline, 2] > eye_z + 0.02]
    chin = profile_support_point(verts, below, chin_dir)
    brow = profile_support_point(verts, above, brow_dir)
    anchors["chin"] = (152, verts[chin], f"midline support point along {np.round(chin_dir, 3).tolist()}")
    anchors["forehead"] = (10, verts[brow], f"midline support point along {np.round(brow_dir, 3).tolist()}")
    anchor_idx = np.array([a[0] for a in anchors.values()])
    anchor_dst = np.stack([a[1] for a in anchors.values()])
    anchor_w = np.array([0.5 if name in ("chin", "forehead") else 1.0 for name in anchors])

    scale, rot, trans = symmetric_umeyama(canon[anchor_idx], anchor_dst, anchor_w)
    initial_scale = scale
    log.info("anchor similarity: scale %.5f", scale)

    # -- ICP refinement against the front of the head skin
    centroid = verts[faces].mean(1)
    ear_y = verts[loops["eye.L"], 1].max() + 0.08  # 8 cm behind the eyelids: about the front of the ears
    icp_faces = np.nonzero(skin & (centroid[:, 1] < ear_y) & (centroid[:, 2] > anchors["chin"][1][2] - 0.02))[0]
    icp_tris = verts[faces[icp_faces]]
    oval = np.zeros(N_MESH, bool)
    oval[list(FACE_OVAL)] = True
    base_w = np.where(oval, 0.3, 1.0)
    anchor_total = 0.5  # anchors carry this fraction of the total weight
    for it in range(60):
        aligned = scale * canon @ rot.T + trans
        _, _, closest, dist = closest_points_on_triangles(aligned, icp_tris)
        w = base_w / (1.0 + (dist / 0.004) ** 2)
        aw = anchor_w / anchor_w.sum() * w.sum() * anchor_total / (1 - anchor_total)
        src = np.concatenate([canon, canon[anchor_idx]])
        dst = np.concatenate([closest, anchor_dst])
        new = symmetric_umeyama(src, dst, np.concatenate([w, aw]))
        change = np.abs(scale * canon @ rot.T + trans - (new[0] * canon @ new[1].T + new[2])).max()
        scale, rot, trans = new
        if change < 1e-7:
            break
    log.info("ICP: %d iterations, scale %.6f", it + 1, scale)
    aligned = scale * canon @ rot.T + trans

    # -- closest points on the head skin
    skin_faces = np.nonzero(skin)[0]
    f_local, bary, closest, dist = closest_points_on_triangles(aligned, verts[faces[skin_faces]])
    face_index = skin_faces[f_local]
    method = np.array(["closest point on head skin"] * N_ALL, dtype=object)

    # -- eyelid margins and inner lips: snap onto the skin's opening loops by arc length from the corners
    for loop_key, lower, upper, label in (
        ("eye.L", LEFT_EYE_LOWER, LEFT_EYE_UPPER, "eyelid-margin loop, arc length from the canthi"),
        ("eye.R", RIGHT_EYE_LOWER, RIGHT_EYE_UPPER, "eyelid-margin loop, arc length from the canthi"),
        ("mouth", INNER_LIP_LOWER, INNER_LIP_UPPER, "lip-opening loop, arc length from the mouth corners"),
    ):
        _snap_contour(
            verts, faces, skin, loops[loop_key], aligned, lower, upper, label, face_index, bary, closest, method
        )
    dist[:N_MESH] = np.linalg.norm(closest[:N_MESH] - aligned, axis=1)

    # -- irises
    iris_face = np.zeros(10, np.int64)
    iris_bary = np.zeros((10, 3))
    iris_target = np.zeros((10, 3))
    eyes = {}
    for slot, side in ((0, "R"), (5, "L")):  # 468..472: the person's right eye, 473..477: the left
        front_faces = np.nonzero(seg == f"eye_front.{side}")[0]
        ball = np.unique(faces[(seg == f"eye_front.{side}") | (seg == f"eye_back.{side}")])
        centre, radius = fit_sphere(verts[ball])
        gaze = np.array([0.0, -1.0, 0.0])
        off = np.arcsin(IRIS_RADIUS_M / radius)
        dirs = [gaze]
        for axis in (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), np.array([-1.0, 0, 0]), np.array([0, 0, -1.0])):
            dirs.append(np.cos(off) * gaze + np.sin(off) * axis)
        targets = centre + radius * np.stack(dirs)
        fl, bl, _, _ = closest_points_on_triangles(targets, verts[faces[front_faces]])
        iris_face[slot : slot + 5] = front_faces[fl]
        iris_bary[slot : slot + 5] = bl
        iris_target[slot : slot + 5] = targets
        eyes[side] = {"centre_m": centre.round(6).tolist(), "radius_m": round(radius, 6)}
    face_index = np.concatenate([face_index, iris_face])
    bary = np.concatenate([bary, iris_bary])
    points = np.einsum("nk,nkd->nd", bary, verts[faces[face_index]])
    residual = np.concatenate([dist, np.linalg.norm(points[N_MESH:] - iris_target, axis=1)])
    method = np.concatenate([method[:N_MESH], ["iris on eyeball front (eye_front faces)"] * 10])

    mirror_index = _mirror_index(canon_cm)
    anchor_res = {
        name: round(float(np.linalg.norm(aligned[i] - p)) * 1000, 2) for name, (i, p, _) in anchors.items()
    }

    mesh_res = residual[:N_MESH] * 1000
    stats = {
        "median_mm": round(float(np.median(mesh_res)), 3),
        "p90_mm": round(float(np.percentile(mesh_res, 90)), 3),
        "max_mm": round(float(mesh_res.max()), 3),
        "max_landmark": int(mesh_res.argmax()),
        "median_mm_excluding_face_oval": round(float(np.median(mesh_res[~oval])), 3),
        "max_mm_excluding_face_oval": round(float(mesh_res[~oval].max()), 3),
        "iris_max_mm": round(float(residual[N_MESH:].max() * 1000), 4),
    }
    tensors = {
        "face_index": torch.from_numpy(face_index.astype(np.int64)),
        "barycentrics": torch.from_numpy(bary.astype(np.float32)),
        "residual_m": torch.from_numpy(residual.astype(np.float32)),
        "rest_points": torch.from_numpy(points.astype(np.float32)),
        "aligned_canonical": torch.from_numpy(np.concatenate([aligned, iris_target]).astype(np.float32)),
        "mirror_index": torch.from_numpy(mirror_index),
        "scale": torch.tensor([scale], dtype=torch.float64),  # body metres per canonical metre
        "rotation": torch.from_numpy(rot),
        "translation": torch.from_numpy(trans),
    }
    meta = {
        "what": "fixed correspondence from MediaPipe's 478 refined face-mesh landmarks to Anny's head surface",
        "source": {
            "file": "mediapipe_canonical_face_model.obj",
            "upstream": UPSTREAM,
            "sha256": hashlib.sha256(obj_path.read_bytes()).hexdigest(),
            "licence": "Apache-2.0 (MediaPipe authors); only derived data (face indices, barycentrics) is stored",
        },
        "body": "anny 0.6.2, rig/topology 'anny', average phenotypes (0.5), rest A-pose, neutral face",
        "axes": "canonical (x, y, z) cm, y up, face along +z, person's left +x -> body (x, -z, y) / 100 m",
        "iris": {
            "right_eye": "468 centre, 469..472 ring (around landmarks 33/133, the person's RIGHT eye, -X)",
            "left_eye": "473 centre, 474..477 ring (around 263/362, the person's LEFT eye, +X)",
            "ring_order": "+1: +X (image right in an unmirrored frontal photo), +2: +Z up, +3: -X, +4: -Z",
            "evidence": "MediaPipe holistic on frontal photos: pose left_eye coincides with 473, right_eye with 468;"
            " ring +1 lies image-right of the centre, +2 above, +3 left, +4 below, for both eyes",
            "placement": f"centre: front pole of the eyeball sphere along -Y; ring: {IRIS_RADIUS_M * 1000} mm off"
            " the gaze axis on the sphere; each snapped to the closest eye_front face",
            "eyeballs": eyes,
        },
        "anchors": {
            name: {
                "landmark": int(i),
                "anny_point_m": np.round(p, 6).tolist(),
                "rule": rule,
                "residual_mm": anchor_res[name],
            }
            for name, (i, p, rule) in anchors.items()
        },
        "similarity": {
            "fitted_scale": round(scale, 7),
            "initial_scale_from_anchors": round(initial_scale, 7),
            "metres_per_canonical_cm": round(scale / 100, 9),
            "note": "body = fitted_scale * R @ canonical_m + t, canonical_m = canonical axes-converted to metres",
            "icp": "symmetric weighted Umeyama; Cauchy weights (4 mm), face-oval weight 0.3, anchors 50% of the"
            " weight; targets: head-skin faces in front of the ears and above the neck",
            "iterations": it + 1,
        },
        "mapping": {
            "mesh": "closest point on head-skin faces (segment 'head'); eye contours (16 per eye) snapped to"
            " the eyelid-margin loop and the inner lip contour (20) to the lip-opening loop, by normalised arc"
            " length from the corners along each lid / lip",
            "residual": "distance from the aligned canonical vertex (iris: its target on the eyeball sphere) to"
            " its surface point, metres",
        },
        "residuals_468": stats,
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        "methods": {m: int((method == m).sum()) for m in sorted(set(method.tolist()))},
    }
    return tensors, meta


def _snap_contour(verts, faces, skin, loop, aligned, lower, upper, label, face_index, bary, closest, method):
    """Place a contour's landmarks on an opening loop of the skin (eyelid margin, lip opening).

    ``lower`` and ``upper`` are landmark paths between the same two corners (first and last entries);
    the corners go to the loop's extreme-X vertices, the other landmarks to the lower / upper part of the
    loop at the normalised arc length they have along their path in the aligned canonical face.
    """
    lp = verts[loop]
    n = len(loop)
    sign = np.sign(aligned[lower[0], 0] - aligned[lower[-1], 0])
    start, end = int(np.argmax(sign * lp[:, 0])), int(np.argmin(sign * lp[:, 0]))

    def path(step):
        idx = [start]
        while idx[-1] != end:
            idx.append((idx[-1] + step) % n)
        return np.asarray(idx)

    p1, p2 = path(1), path(-1)
    low_loop, up_loop = (p1, p2) if lp[p1, 2].mean() < lp[p2, 2].mean() else (p2, p1)
    if aligned[list(lower), 2].mean() >= aligned[list(upper), 2].mean():
        raise RuntimeError(f"{label}: the 'lower' landmark path is not below the 'upper' one")
    for landmarks, lid in ((np.asarray(lower), low_loop), (np.asarray(upper), up_loop)):
        pts = lp[lid]
        for lm, ui in zip(landmarks, arc_positions(aligned[landmarks])):
            i0, i1, frac = point_at_arc(pts, ui)
            va, vb = loop[lid[i0]], loop[lid[i1]]
            f = int(np.nonzero(skin & (faces == va).any(1) & (faces == vb).any(1))[0][0])  # skin face on the edge
            w = np.zeros(3)
            w[list(faces[f]).index(va)] += 1 - frac
            w[list(faces[f]).index(vb)] += frac
            face_index[lm], bary[lm] = f, w
            closest[lm] = (1 - frac) * verts[va] + frac * verts[vb]
            method[lm] = label


def _mirror_index(canon_cm: np.ndarray) -> np.ndarray:
    """``(478,)`` mirror partner of every landmark (x -> -x nearest neighbour; irises by ring direction)."""
    from scipy.spatial import cKDTree

    dist, partner = cKDTree(canon_cm).query(canon_cm * np.array([-1.0, 1.0, 1.0]))
    if dist.max() > 1e-4:
        raise SystemExit(f"canonical face is not symmetric to 1e-4 cm (worst {dist.max():.3g})")
    # right iris 468 (+1 +X, +2 up, +3 -X, +4 down) <-> left iris 473: X directions swap, Z stay
    iris = {468: 473, 469: 476, 470: 475, 471: 474, 472: 477}
    iris.update({v: k for k, v in iris.items()})
    return np.concatenate([partner, [iris[i] for i in range(N_MESH, N_ALL)]]).astype(np.int64)


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    from safetensors.torch import save

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--obj", type=Path, default=DEFAULT_OBJ, help="MediaPipe canonical_face_model.obj")
    parser.add_argument("--out", type=Path, default=REPO / "uvatar" / "data", help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    tensors, meta = build(args.obj)
    args.out.mkdir(parents=True, exist_ok=True)
    blob = save(tensors, metadata={"json": "face_correspondence.json"})
    write_atomic(args.out / "face_correspondence.safetensors", blob)
    write_atomic(args.out / "face_correspondence.json", (json.dumps(meta, indent=2) + "\n").encode())
    log.info("residuals of the 468 mesh landmarks: %s", meta["residuals_468"])
    log.info("scale: %s", meta["similarity"])
    log.info("wrote %s", args.out / "face_correspondence.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
