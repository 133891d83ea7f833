"""Tracker benchmark on synthetic photos with known truth (:mod:`uvatar.eval.synthetic_photos`).

For each framing (head, half, full) :func:`run_tracker_bench` renders ``n_per_framing`` photos, runs
:func:`uvatar.track.track_photo` on each and compares the fit with the truth. Everything 3D is compared
in CAMERA coordinates (``x_cam = R @ x_world + t``, the truth's camera for the truth, the fit's own
camera for the fit), because the fit's camera is a fixed pinhole at the origin and its body lives in
that frame.

Per photo (keys of each row; millimetres unless stated; NaN where not applicable):

* ``detected`` (bool; False when detection raised :class:`~uvatar.errors.NoPersonError`),
  ``regime`` (the fit's), ``regime_ok`` (``regime == framing``);
* ``mpjpe_mm``: mean distance over the 23 COCO keypoints of ``body.keypoints.coco`` after aligning
  the hip midpoints (root-relative); for the ``head`` framing over the 7 head and shoulder keypoints
  (nose, eyes, ears, shoulders) only, after aligning their centroids;
* ``pa_mpjpe_mm``: the same keypoints after a similarity Procrustes (Umeyama) alignment, and
  ``pa_scale`` (the scale it applied to the fit: > 1 means the fitted body is too small);
* ``mpjpe_upper_mm``, ``pa_mpjpe_upper_mm``: as ``mpjpe_mm`` and ``pa_mpjpe_mm`` over the 13 upper-body
  keypoints (nose .. hips), the part a half-body photo shows (head framing: the same 7 points);
* ``depth_ratio``: fit over truth camera depth (z) of the alignment root (hip midpoint; head framing: the
  7 points' centroid), and ``torso_tilt_deg``: angle between the truth's and the fit's hip -> shoulder
  directions in camera coordinates (NaN for the head framing): the global scale/depth and lean errors;
* ``face_mm``: mean distance of the 478 face-correspondence points (:func:`uvatar.body.face_map.face_points`)
  after aligning their centroids;
* ``fit_s`` (detection + fit, seconds), ``landmark_rel_box`` (the fit's own re-projection residual);
* ``offsets``: per MediaPipe landmark, detected minus projected truth landmark (truth
  ``body.keypoints.mediapipe33`` through the truth camera) as ``[dx, dy, dx_mm, dy_mm]`` (see
  :func:`landmark_offsets`), for landmarks with visibility > 0.5 inside the frame (None otherwise):
  MediaPipe's systematic offsets from the body's landmark definitions, measured where the truth is exact.

The summary holds per framing (and ``all``) the photo and detection counts, regime accuracy over the
detected photos and means of the metrics; ``landmark_offsets`` holds the per-landmark mean offsets over
the detected half and full photos (``dx``, ``dy``, ``abs`` = mean length, ``outward`` = ``dx`` signed so
that + points to the landmark's own side, meaningful because the synthetic views face the person, |yaw|
<= 70 degrees; ``*_mm`` the same in millimetres at the landmark's depth; ``n``). :func:`format_table` renders both as Markdown.

Run: ``python -m uvatar.eval.tracker_bench --n 10 --out bench.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time

import numpy as np
import torch

from uvatar.body.model import BodyModel
from uvatar.eval.synthetic_photos import FRAMINGS, SyntheticPhoto, make_synthetic_photo

__all__ = [
    "HEAD_KEYPOINTS",
    "UPPER_KEYPOINTS",
    "similarity_align",
    "evaluate_fit",
    "landmark_offsets",
    "run_tracker_bench",
    "format_table",
]

log = logging.getLogger("uvatar.eval.tracker_bench")  # not __name__: also "python -m" runs log here

HEAD_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder")
UPPER_KEYPOINTS = HEAD_KEYPOINTS + ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip")
_METRICS = (
    "mpjpe_mm", "pa_mpjpe_mm", "mpjpe_upper_mm", "pa_mpjpe_upper_mm", "face_mm", "pa_scale", "depth_ratio", "torso_tilt_deg", "fit_s",
)  # fmt: skip


def similarity_align(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Umeyama similarity alignment of ``source`` onto ``target``.

    Args:
        source, target: ``(N, 3)`` corresponding points, N >= 3.
    Returns:
        the aligned source ``(N, 3)`` (``s * R @ p + t``, R a proper rotation) and the scale ``s``.
    """
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    cov = xt.T @ xs / len(source)
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    rot = u @ np.diag(d) @ vt
    var_s = (xs**2).sum() / len(source)
    scale = float((sv * d).sum() / max(var_s, 1e-12))
    return scale * xs @ rot.T + mu_t, scale


def _camera_points(camera, points: torch.Tensor) -> np.ndarray:
    return camera.world_to_camera(points.detach().float().cpu()).numpy().astype(np.float64)


@torch.no_grad()
def evaluate_fit(body: BodyModel, photo: SyntheticPhoto, fit) -> dict:
    """Compare one :class:`~uvatar.track.ProxyFit` with the truth of ``photo`` (keys: module docstring)."""
    from uvatar.body.face_map import face_points

    labels = body.keypoints.coco_labels
    truth_out = body.forward(photo.params)
    fit_out = body.forward(fit.params)
    truth_kp = _camera_points(photo.camera, body.keypoints.coco(truth_out.vertices)[0])
    fit_kp = _camera_points(fit.camera, body.keypoints.coco(fit_out.vertices)[0])

    def root_relative(names, root_names):
        idx = [labels.index(n) for n in names]
        root = [labels.index(n) for n in root_names]
        a = truth_kp[idx] - truth_kp[root].mean(0)
        b = fit_kp[idx] - fit_kp[root].mean(0)
        return float(np.linalg.norm(a - b, axis=1).mean() * 1000.0)

    if photo.framing == "head":
        names, root = HEAD_KEYPOINTS, HEAD_KEYPOINTS
        upper = root_relative(HEAD_KEYPOINTS, HEAD_KEYPOINTS)
    else:
        names, root = tuple(labels), ("left_hip", "right_hip")
        upper = root_relative(UPPER_KEYPOINTS, root)
    idx = [labels.index(n) for n in names]
    aligned, scale = similarity_align(fit_kp[idx], truth_kp[idx])
    up = [labels.index(n) for n in (HEAD_KEYPOINTS if photo.framing == "head" else UPPER_KEYPOINTS)]
    aligned_up, _ = similarity_align(fit_kp[up], truth_kp[up])
    ref = [labels.index(n) for n in root]
    depth_ratio = float(fit_kp[ref, 2].mean() / truth_kp[ref, 2].mean())
    tilt = float("nan")
    if photo.framing != "head":
        def torso_up(kp):
            hips = kp[[labels.index("left_hip"), labels.index("right_hip")]].mean(0)
            shoulders = kp[[labels.index("left_shoulder"), labels.index("right_shoulder")]].mean(0)
            return (shoulders - hips) / np.linalg.norm(shoulders - hips)

        tilt = float(np.degrees(np.arccos(np.clip(torso_up(truth_kp) @ torso_up(fit_kp), -1.0, 1.0))))
    truth_face = _camera_points(photo.camera, face_points(truth_out.vertices, body.faces)[0])
    fit_face = _camera_points(fit.camera, face_points(fit_out.vertices, body.faces)[0])
    face = np.linalg.norm((truth_face - truth_face.mean(0)) - (fit_face - fit_face.mean(0)), axis=1).mean()
    return {
        "regime": fit.regime,
        "regime_ok": fit.regime == photo.framing,
        "mpjpe_mm": root_relative(names, root),
        "pa_mpjpe_mm": float(np.linalg.norm(aligned - truth_kp[idx], axis=1).mean() * 1000.0),
        "pa_scale": scale,
        "mpjpe_upper_mm": upper,
        "pa_mpjpe_upper_mm": float(np.linalg.norm(aligned_up - truth_kp[up], axis=1).mean() * 1000.0),
        "face_mm": float(face * 1000.0),
        "depth_ratio": depth_ratio,
        "torso_tilt_deg": tilt,
        "fit_s": float(fit.timings.get("total_s", float("nan"))),
        "landmark_rel_box": float(fit.residuals.get("landmark_rel_box", float("nan"))),
    }


@torch.no_grad()
def landmark_offsets(body: BodyModel, photo: SyntheticPhoto, det) -> list[list[float] | None]:
    """Detected minus projected truth MediaPipe-33 landmarks.

    Returns:
        33 entries in :data:`uvatar.detect.BODY_LANDMARKS` order, each ``[dx, dy, dx_mm, dy_mm]``: the
        image offset (x right, y down) in person-box heights, and the same offset in millimetres on a
        plane facing the camera at the truth landmark's depth (``pixels * depth / focal``); None where
        the landmark is not visible (MediaPipe visibility <= 0.5) or lies outside the frame.
    """
    out = body.forward(photo.params)
    truth = body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0]
    pixels, depth = photo.camera.project(truth.float().cpu())
    box_h = float(max(det.box[3] - det.box[1], 1.0))
    diff_px = np.asarray(det.body, np.float64) - pixels.numpy()
    mm = diff_px * depth.numpy()[:, None] / np.array(photo.camera.focal) * 1000.0
    seen = (np.asarray(det.body_visibility) > 0.5) & np.asarray(det.body_in_frame)
    return [[float(d[0] / box_h), float(d[1] / box_h), float(m[0]), float(m[1])] if ok else None for d, m, ok in zip(diff_px, mm, seen)]


def _nan_row(photo: SyntheticPhoto) -> dict:
    row = {k: float("nan") for k in _METRICS + ("landmark_rel_box",)}
    row.update(regime=None, regime_ok=False)
    return row


def run_tracker_bench(
    n_per_framing: int = 10,
    seed: int = 0,
    size: int = 512,
    body: BodyModel | None = None,
    framings: tuple[str, ...] = FRAMINGS,
    oracle_fov: bool = False,
) -> dict:
    """Render synthetic photos, track them and score the fits against the truth.

    Args:
        n_per_framing: photos per framing (seeds ``seed .. seed + n_per_framing - 1``).
        seed: first seed.
        size: image side, pixels.
        body: the body model (the shared one when None).
        framings: which framings to run.
        oracle_fov: give the fit the truth field of view (``FitConfig.fov_deg``) instead of its prior, to
            separate the focal-length ambiguity from the rest (a diagnostic, not a protocol).
    Returns:
        ``{"rows": [...], "summary": {framing: {...}, "all": {...}}, "landmark_offsets": {name: {...}},
        "config": {...}}``; row keys in the module docstring plus ``framing``, ``seed``, ``info``
        (what the photo drew) and ``n_people``.
    """
    from uvatar.body.model import load_body_model
    from uvatar.errors import NoPersonError
    from uvatar.track import track_photo
    from uvatar.track.fit import FitConfig

    body = body or load_body_model()
    rows = []
    for framing in framings:
        for s in range(seed, seed + n_per_framing):
            start = time.perf_counter()
            photo = make_synthetic_photo(body, s, framing, size)
            render_s = time.perf_counter() - start
            row = {"framing": framing, "seed": s, "render_s": round(render_s, 3), "info": photo.info}
            try:
                config = FitConfig(fov_deg=photo.info["fov_deg"]) if oracle_fov else None  # square: fov over either side
                fit, det = track_photo(photo.image, body, config)
            except NoPersonError as exc:
                log.info("%s seed %d: nobody detected (%s)", framing, s, exc)
                row.update(_nan_row(photo), detected=False, offsets=None, n_people=0)
                rows.append(row)
                continue
            row.update(evaluate_fit(body, photo, fit), detected=True, n_people=det.n_people)
            row["offsets"] = landmark_offsets(body, photo, det)
            row["regime_reason"] = fit.residuals.get("regime_reason")
            log.info(
                "%s seed %d: regime %s, MPJPE %.0f mm, PA %.0f mm, face %.1f mm, %.1f s",
                framing, s, row["regime"], row["mpjpe_mm"], row["pa_mpjpe_mm"], row["face_mm"], row["fit_s"],
            )
            rows.append(row)
    return {
        "rows": rows,
        "summary": _summary(rows, framings),
        "landmark_offsets": _offset_summary(rows),
        "config": {"n_per_framing": n_per_framing, "seed": seed, "size": size, "oracle_fov": oracle_fov},
    }


def _summary(rows: list[dict], framings) -> dict:
    summary = {}
    for name in tuple(framings) + ("all",):
        group = [r for r in rows if name == "all" or r["framing"] == name]
        done = [r for r in group if r["detected"]]
        entry = {
            "photos": len(group),
            "detected": len(done),
            "detection_failures": len(group) - len(done),
            "regime_accuracy": float(np.mean([r["regime_ok"] for r in done])) if done else float("nan"),
        }
        for key in _METRICS:
            values = [r[key] for r in done if np.isfinite(r[key])]
            entry[key] = float(np.mean(values)) if values else float("nan")
            if key in ("mpjpe_mm", "pa_mpjpe_mm"):
                entry[key.replace("_mm", "_median_mm")] = float(np.median(values)) if values else float("nan")
        summary[name] = entry
    return summary


def _offset_summary(rows: list[dict]) -> dict:
    from uvatar.detect.detections import BODY_LANDMARKS

    result = {}
    for i, name in enumerate(BODY_LANDMARKS):
        values = np.array(
            [r["offsets"][i] for r in rows if r["detected"] and r["framing"] in ("half", "full") and r["offsets"][i] is not None]
        ).reshape(-1, 4)
        if len(values):
            side = 1.0 if name.startswith("left_") else -1.0 if name.startswith("right_") else 0.0
            result[name] = {
                "dx": float(values[:, 0].mean()),
                "dy": float(values[:, 1].mean()),
                "outward": float(side * values[:, 0].mean()),
                "abs": float(np.linalg.norm(values[:, :2], axis=1).mean()),
                "dx_mm": float(values[:, 2].mean()),
                "dy_mm": float(values[:, 3].mean()),
                "outward_mm": float(side * values[:, 2].mean()),
                "abs_mm": float(np.linalg.norm(values[:, 2:], axis=1).mean()),
                "n": int(len(values)),
            }
    return result


def _fmt(value, digits=0, pct=False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.{digits}f}"


def format_table(result: dict) -> str:
    """Markdown tables of a :func:`run_tracker_bench` result: metrics per framing, then landmark offsets."""
    lines = [
        "| framing | photos | detected | regime acc | MPJPE mm (median) | PA-MPJPE mm (median) | upper MPJPE / PA mm | face mm "
        "| PA scale | depth ratio | torso tilt deg | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in result["summary"].items():
        lines.append(
            f"| {name} | {e['photos']} | {e['detected']} | {_fmt(e['regime_accuracy'], pct=True)} "
            f"| {_fmt(e['mpjpe_mm'])} ({_fmt(e['mpjpe_median_mm'])}) | {_fmt(e['pa_mpjpe_mm'])} ({_fmt(e['pa_mpjpe_median_mm'])}) "
            f"| {_fmt(e['mpjpe_upper_mm'])} / {_fmt(e['pa_mpjpe_upper_mm'])} | {_fmt(e['face_mm'], 1)} "
            f"| {_fmt(e['pa_scale'], 2)} | {_fmt(e['depth_ratio'], 2)} | {_fmt(e['torso_tilt_deg'])} | {_fmt(e['fit_s'], 1)} |"
        )
    lines.append("")
    lines.append(
        "Head framing: MPJPE over nose, eyes, ears, shoulders (centroid-aligned); half/full: 23 COCO keypoints,"
        " hip-aligned; upper: the 13 keypoints nose .. hips."
    )
    offsets = result.get("landmark_offsets") or {}
    if offsets:
        lines += [
            "",
            "Detected minus truth landmark (means over visible, in-frame landmarks of the half and full photos):"
            " dx, dy, outward, abs in person-box heights (image x right, y down; outward = x towards the landmark's"
            " own side, + = away from the midline, for the near-frontal views here); mm columns: the same offset"
            " in millimetres at the landmark's depth.",
            "",
            "| landmark | n | dx | dy | outward | abs | dy mm | outward mm | abs mm |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, o in offsets.items():
            lines.append(
                f"| {name} | {o['n']} | {o['dx']:+.3f} | {o['dy']:+.3f} | {o['outward']:+.3f} | {o['abs']:.3f} "
                f"| {o['dy_mm']:+.0f} | {o['outward_mm']:+.0f} | {o['abs_mm']:.0f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Tracker benchmark on synthetic photos with known truth.")
    parser.add_argument("--n", type=int, default=10, help="photos per framing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=str, default=None, help="write the full result as JSON here")
    parser.add_argument("--oracle-fov", action="store_true", help="give the fit the truth field of view")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", force=True)
    logging.getLogger("uvatar.eval").setLevel(logging.INFO)
    result = run_tracker_bench(args.n, args.seed, args.size, oracle_fov=args.oracle_fov)
    if args.out:
        from uvatar.io.atomic import atomic_write_text

        atomic_write_text(args.out, json.dumps(result, indent=1, default=str))
    print(format_table(result))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
