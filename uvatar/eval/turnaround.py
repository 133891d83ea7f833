"""The person from every side: reconstruct a turn-around clip's front frame, score the avatar on every other frame.

1. The source frame (``source``, or the most frontal one: :func:`choose_source`) is reconstructed with
   :func:`uvatar.reconstruct.reconstruct` (``decoder``: the projection decoder by default) into
   ``OUT/avatar/`` (reused when its ``report.json`` is there).
2. The clip is posed by its TRACKED FIT: the video tracker of the self-reenactment evaluation
   (:func:`uvatar.eval.reenact._track_clip`: the avatar's shape held, the track anchored at the source
   frame on the avatar's own photo fit, run forwards and backwards); every frame's avatar is placed on
   its fitted mesh and rendered in its fitted camera over white at ``size`` pixels (longer side).
3. Per frame, inside the frame's person mask: PSNR / SSIM (:func:`uvatar.metrics.masked_psnr_ssim`) and
   ST-LPIPS (:func:`uvatar.encode.stlpips_distance`, VGG) on both images with everything outside the
   mask set to white, cropped to the mask's box (8 px to spare); and where the avatar's silhouette
   (accumulated opacity >= 0.5) misses the frame's (:func:`coverage`): ``uncovered``, the share of the
   mask the avatar leaves empty (white scored against the person: the largest error at the side and the
   back), and ``outside``, the avatar's pixels outside the mask as a share of the mask's area (not scored
   by the masked metrics: a wider, blurrier avatar loses nothing there).
4. Frames are binned by the angle of the person from the source frame: the tracker's fitted turn
   (``yaw_from_source_deg``), wrapped to [-180, 180], to the nearest of 0 (front), 45, 90, 135 and 180
   degrees by its absolute value (:func:`angle_bin`); rows also carry the known turn of a uniform full
   circle (``known_turn_deg``: 360 / frames a frame), and the same bins by that angle are given too
   (``bins_known_turn``): the tracker's turn can fall short of the true one at the back.

Writes ``OUT/turnaround.json`` (rows, bins), ``OUT/turnaround.md`` (the table) and ``OUT/turnaround.png``
(per bin, one frame: target | avatar).

Command line: ``python -m uvatar.eval.turnaround VIDEO --out out/turnaround [--source N] [--decoder projection]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["BINS", "wrap_deg", "angle_bin", "bin_rows", "masked_stlpips", "coverage", "choose_source", "run_turnaround", "format_table", "main"]

log = logging.getLogger(__name__)

BINS = (0, 45, 90, 135, 180)
METRICS = ("psnr", "ssim", "stlpips", "uncovered", "outside")


def wrap_deg(angle: float) -> float:
    """``angle`` degrees wrapped to [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def angle_bin(angle_deg: float) -> int:
    """The bin of :data:`BINS` nearest to ``|wrap(angle_deg)|`` (ties go to the smaller angle)."""
    a = abs(wrap_deg(angle_deg))
    return min(BINS, key=lambda b: (abs(a - b), b))


def _angle(row: dict, by: str = "tracked") -> float | None:
    yaw = row.get("yaw_from_source_deg")
    return row.get("known_turn_deg") if yaw is None or by == "known" else yaw


def bin_rows(rows: list[dict], by: str = "tracked") -> list[dict]:
    """Mean PSNR / SSIM / ST-LPIPS and coverage (:func:`coverage`) per angle bin of rows; ``by``:
    "tracked" (``yaw_from_source_deg``, or ``known_turn_deg`` where that is None) or "known"
    (``known_turn_deg``). One dict per bin of :data:`BINS`: ``bin``, ``frames`` (count), ``frame_ids``
    and the metric means (None for an empty bin or a metric no row has)."""
    out = []
    for b in BINS:
        members = [r for r in rows if _angle(r, by) is not None and angle_bin(_angle(r, by)) == b]
        entry = {"bin": b, "frames": len(members), "frame_ids": [r["frame"] for r in members]}
        for key in METRICS:
            values = [r[key] for r in members if r.get(key) is not None and not math.isnan(r[key])]
            entry[key] = round(float(np.mean(values)), 4) if values else None
        out.append(entry)
    return out


def masked_stlpips(render: np.ndarray, target: np.ndarray, mask: np.ndarray, pad: int = 8) -> float:
    """ST-LPIPS (VGG) of ``render`` vs ``target`` (``(H, W, 3)`` in [0, 1]) inside ``mask (H, W)`` bool:
    both set to white outside the mask and cropped to its box grown by ``pad`` pixels (at least 32 a
    side). NaN for an empty mask."""
    from uvatar.encode import stlpips_distance

    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return float("nan")
    h, w = mask.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)
    if y1 - y0 < 32:
        y0, y1 = max(0, min(y0, h - 32)), min(h, max(y1, y0 + 32))
    if x1 - x0 < 32:
        x0, x1 = max(0, min(x0, w - 32)), min(w, max(x1, x0 + 32))
    m = mask[..., None]
    a = np.where(m, render, 1.0)[y0:y1, x0:x1]
    b = np.where(m, target, 1.0)[y0:y1, x0:x1]
    return stlpips_distance(a.astype(np.float32), b.astype(np.float32))


def coverage(alpha: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """How the avatar's silhouette (``alpha (H, W)`` accumulated opacity >= 0.5) meets the person mask
    ``mask (H, W)`` bool: ``(uncovered, outside)``, the share of the mask's pixels the avatar leaves
    empty and the avatar's pixels outside the mask counted in mask areas. NaN for an empty mask."""
    area = int(mask.sum())
    if area == 0:
        return float("nan"), float("nan")
    drawn = alpha >= 0.5
    return float((mask & ~drawn).sum() / area), float((drawn & ~mask).sum() / area)


def choose_source(frames: np.ndarray) -> int:
    """The most frontal frame of ``frames (T, H, W, 3)`` uint8: a face found, and the widest signed
    shoulder span in the image (the person's left shoulder right of their right one, as seen from the
    front), relative to the shoulder-to-hip height."""
    from uvatar.detect import BODY_INDEX, detect

    best, best_score = 0, -math.inf
    for index, frame in enumerate(frames):
        try:
            det = detect(frame.astype(np.float32) / 255)
        except Exception as exc:  # noqa: BLE001 - a frame without a person scores nothing
            log.info("frame %d: no detection (%s)", index, exc)
            continue
        ls, rs = det.body[BODY_INDEX["left_shoulder"]], det.body[BODY_INDEX["right_shoulder"]]
        lh, rh = det.body[BODY_INDEX["left_hip"]], det.body[BODY_INDEX["right_hip"]]
        torso = max(1.0, float(np.linalg.norm((lh + rh) / 2 - (ls + rs) / 2)))
        score = float(ls[0] - rs[0]) / torso - (0 if det.face is not None else 10)
        if score > best_score:
            best, best_score = index, score
    return best


def run_turnaround(video: str | Path, out_dir: str | Path, source: int | None = None, decoder: str = "projection", size: int = 512) -> dict:
    """Reconstruct the source frame of ``video`` and score the avatar on every other frame, by angle.

    Returns:
        ``{"video", "source", "decoder", "posed_by", "rows": [{"frame", "known_turn_deg",
        "yaw_from_source_deg", "bin", "psnr", "ssim", "stlpips", "uncovered", "outside", "copy_psnr"}], "bins": bin_rows(rows),
        "source_via_tracker": {...}, "input_view_psnr"}``; also writes the files listed in the module doc.
    """
    from PIL import Image

    from uvatar.avatar import Avatar
    from uvatar.body.model import load_body_model
    from uvatar.errors import InputError
    from uvatar.eval.reenact import _track_clip
    from uvatar.export.preview import WHITE
    from uvatar.io.atomic import atomic_path, atomic_write_text
    from uvatar.io.image import area_resize, save_image
    from uvatar.io.video import read_video
    from uvatar.metrics import masked_psnr_ssim
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    out_dir = Path(out_dir)
    frames, fps = read_video(video)
    n = len(frames)
    if source is None:
        source = choose_source(frames)
        log.info("source frame %d (the most frontal)", source)
    if not 0 <= source < n:
        raise InputError(f"source frame {source} is outside the clip's {n} frames; pass --source between 0 and {n - 1}")
    folder = out_dir / "avatar"
    if (folder / "report.json").is_file():
        report = json.loads((folder / "report.json").read_text())
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "source.png") as tmp:
            Image.fromarray(frames[source]).save(tmp, format="PNG")
        report = reconstruct([out_dir / "source.png"], folder, ReconstructConfig(turntable_frames=0, decoder=decoder))
    body = load_body_model()
    avatar = Avatar.load(folder / "avatar.uvatar")
    tracked = _track_clip(frames, body, avatar, set(range(n)), source)
    source_yaw = tracked.get(source, (None, None, None))[2]
    source_image = frames[source].astype(np.float32) / 255

    rows, pictures, via_tracker = [], {}, None
    for index in [i for i in range(n) if i != source] + [source]:
        fit, det, yaw = tracked.get(index, (None, None, None))
        if fit is None or det is None or det.mask is None:
            log.info("frame %d: nobody tracked; skipped", index)
            continue
        with torch.no_grad():
            vertices = body.forward(fit.params.detach()).vertices[0]
            scale = size / max(fit.camera.width, fit.camera.height)
            width, height = round(fit.camera.width * scale), round(fit.camera.height * scale)
            out = avatar.on_vertices(vertices, body.faces).render(fit.camera.resized(width, height), background=WHITE)
            render = out.image.clamp(0, 1)
        target = area_resize(frames[index].astype(np.float32) / 255, width, height)
        mask = area_resize(det.mask, width, height)[..., 0] > 0.5
        psnr, ssim = masked_psnr_ssim(render, target, mask)
        lpips = masked_stlpips(render.numpy(), target.numpy(), mask.numpy())
        uncovered, outside = coverage(out.alpha.numpy(), mask.numpy())
        copy_psnr, _ = masked_psnr_ssim(area_resize(source_image, width, height), target, mask)
        known = round(wrap_deg((index - source) * 360.0 / n), 1)
        row = {"frame": index, "known_turn_deg": known,
               "yaw_from_source_deg": None if yaw is None or source_yaw is None else round(wrap_deg(yaw - source_yaw), 1),
               "psnr": round(psnr, 3), "ssim": round(ssim, 4), "stlpips": round(lpips, 4), "uncovered": round(uncovered, 4),
               "outside": round(outside, 4), "copy_psnr": round(copy_psnr, 3)}  # fmt: skip
        if index == source:
            via_tracker = {k: row[k] for k in METRICS}
            continue
        row["bin"] = angle_bin(_angle(row))
        rows.append(row)
        log.info("frame %d: turn %s deg (known %s) -> bin %d: %.2f dB / %.3f / ST-LPIPS %.3f", index, row["yaw_from_source_deg"], known, row["bin"], psnr, ssim, lpips)
        if row["bin"] not in pictures:
            pictures[row["bin"]] = torch.cat([target, render], 1).numpy()
    result = {"video": str(video), "fps": fps, "frames": n, "source": source, "decoder": decoder,
              "posed_by": "tracked fit (video tracker anchored at the source frame on the avatar's own fit; uvatar.eval.reenact._track_clip)",
              "binned_by": "tracked yaw from the source frame (the known uniform turn where the tracker gave none)",
              "input_view_psnr": report.get("input_view_psnr_in_mask"), "source_via_tracker": via_tracker,
              "rows": rows, "bins": bin_rows(rows), "bins_known_turn": bin_rows(rows, "known")}  # fmt: skip
    atomic_write_text(out_dir / "turnaround.json", json.dumps(result, indent=1))
    atomic_write_text(out_dir / "turnaround.md", format_table(result) + "\n")
    if pictures:
        save_image(out_dir / "turnaround.png", np.concatenate([pictures[b] for b in sorted(pictures)], 0))
    return result


def _fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def format_table(result: dict) -> str:
    """Markdown: one line per angle bin (frames, PSNR, SSIM, ST-LPIPS, mask uncovered and avatar outside
    the mask in %) by the tracked and, where the result has them, the known-turn angles; then the frames'
    own angles."""
    lines = ["| angle from source | frames | PSNR in mask (dB) | SSIM | ST-LPIPS | mask uncovered (%) | avatar outside mask (% of mask) |",
             "|---|---|---|---|---|---|---|"]
    tables = [("tracked yaw", result["bins"])] + ([("known turn", result["bins_known_turn"])] if result.get("bins_known_turn") else [])
    for name, bins in tables:
        for b in bins:
            lines.append(f"| {b['bin']} ({name}) | {b['frames']} | {_fmt(b['psnr'], 2)} | {_fmt(b['ssim'], 3)} | {_fmt(b['stlpips'], 3)} | "
                         f"{_percent(b.get('uncovered'))} | {_percent(b.get('outside'))} |")
    via = result.get("source_via_tracker") or {}
    lines.append(
        f"\ndecoder {result['decoder']}; source frame {result['source']} of {result['frames']} (input-view PSNR "
        f"{result['input_view_psnr']} dB; on the tracker's fit of itself {_fmt(via.get('psnr'), 2)} dB / {_fmt(via.get('ssim'), 3)} / "
        f"ST-LPIPS {_fmt(via.get('stlpips'), 3)}); posed by the {result['posed_by']}; binned by the {result['binned_by']}."
    )
    lines.append("\n| frame | known turn (deg) | tracked yaw (deg) | bin | PSNR | SSIM | ST-LPIPS | uncovered (%) | outside (%) |\n"
                 "|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        lines.append(f"| {r['frame']} | {r['known_turn_deg']} | {r['yaw_from_source_deg']} | {r['bin']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                     f"{r['stlpips']:.3f} | {_percent(r.get('uncovered'))} | {_percent(r.get('outside'))} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Turn-around clip: reconstruct the front frame, score the avatar on every other frame by angle.")
    parser.add_argument("video")
    parser.add_argument("--out", default="out/turnaround")
    parser.add_argument("--source", type=int, default=None, help="source frame (default: the most frontal)")
    parser.add_argument("--decoder", default="projection", help="projection, default, a decoder .safetensors or a training run folder")
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    from uvatar.eval import log_progress_to_stderr

    log_progress_to_stderr(log)
    result = run_turnaround(args.video, args.out, args.source, args.decoder, args.size)
    print(format_table(result))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
