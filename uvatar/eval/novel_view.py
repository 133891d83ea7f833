"""Novel-view benchmark of the reconstruction on synthetic subjects with known truth.

For each subject (a seed of :func:`uvatar.eval.synthetic_photos.make_synthetic_photo`):

1. the synthetic photo (its own truth camera) is written to a temporary PNG and reconstructed with
   :func:`uvatar.reconstruct.reconstruct` (the projection decoder);
2. for each azimuth, a truth camera is made by turning the input camera rigidly about the vertical
   (world Z) axis through the centre of what the input camera frames (the median of the true posed
   mesh's vertices inside its image, :func:`uvatar.camera.framed_centre`): same distance to that
   axis, same height, same intrinsics; azimuth 0 is exactly the input camera, positive azimuths turn
   counter-clockwise seen from above (as :func:`uvatar.camera.orbit`), 180 looks at the side opposite
   the input view;
3. the TRUE subject (same body, texture, key light, ambient, exposure; no sensor noise) is rendered
   from that camera and composited over white with its coverage; the avatar is placed on the TRUE
   posed mesh (``avatar.on_vertices(true_vertices, body.faces)``) and rendered over white, so only the
   appearance is judged, not the fitted pose or shape;
4. PSNR and SSIM (:func:`uvatar.metrics.masked_psnr_ssim`) inside the truth mask.

Row keys: ``seed``, ``framing``, ``ok`` (reconstruction succeeded), ``error`` (why not), ``regime``,
``reconstruct_s``, ``input_view_psnr_in_mask`` (the reconstruction's own figure, against the detected
mask and the fitted mesh), ``psnr`` / ``ssim`` (dicts azimuth -> value), ``mask_fraction`` (azimuth ->
fraction of the image covered by the truth mask).

The subject is re-rendered from the scene that made the photo
(:func:`uvatar.eval.synthetic_photos.synthetic_scene` and :func:`~uvatar.eval.synthetic_photos.render_scene`),
so the truth views share its body, texture, light and exposure by construction.

Command line: ``python -m uvatar.eval.novel_view --n 20 --out result.json`` prints :func:`format_table`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from uvatar.avatar import Avatar
from uvatar.body.model import BodyModel, load_body_model
from uvatar.camera import Camera, framed_centre, orbit_camera
from uvatar.data.photo import SyntheticScene, make_synthetic_photo, render_scene, synthetic_scene
from uvatar.errors import InputError, UvatarError
from uvatar.eval import log_progress_to_stderr
from uvatar.io.atomic import atomic_write_text
from uvatar.io.image import save_image
from uvatar.metrics import masked_psnr_ssim
from uvatar.reconstruct import ReconstructConfig, reconstruct

__all__ = [
    "render_subject",
    "run_novel_view_bench",
    "format_table",
    "example_figure",
    "main",
]

log = logging.getLogger(__name__)

DEFAULT_AZIMUTHS = (0.0, 45.0, 90.0, 180.0)


def render_subject(body: BodyModel, scene: SyntheticScene, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """The true subject seen by ``camera``, composited over white (2x supersampled, no noise).

    Returns:
        ``(H, W, 3)`` float32 image in [0, 1] and ``(H, W)`` bool mask (coverage >= 0.5).
    """
    image, cover = render_scene(body, scene, camera)
    out = np.clip(image + (1.0 - cover[..., None]), 0, 1).astype(np.float32)
    return out, cover >= 0.5


def _evaluate_subject(body, seed, framing, size, azimuths, turntable_frames, work: Path, keep_images: bool) -> dict:
    photo = make_synthetic_photo(body, seed, framing, size=size)
    scene = synthetic_scene(body, seed, framing, size)
    row = {"seed": int(seed), "framing": framing, "ok": False, "error": None, "info": photo.info}
    path = work / f"{framing}_{seed}.png"
    save_image(path, photo.image)
    out_dir = work / f"{framing}_{seed}_out"
    t0 = time.perf_counter()
    try:
        report = reconstruct([path], out_dir, ReconstructConfig(turntable_frames=turntable_frames, preview_size=min(512, size)))
    except UvatarError as exc:  # e.g. NoPersonError: counted apart
        row.update(error=f"{type(exc).__name__}: {exc}", reconstruct_s=round(time.perf_counter() - t0, 2))
        log.info("%s seed %d: reconstruction failed (%s)", framing, seed, row["error"])
        return row
    row.update(
        ok=True,
        regime=report.get("regime"),
        reconstruct_s=round(time.perf_counter() - t0, 2),
        input_view_psnr_in_mask=report.get("input_view_psnr_in_mask"),
    )
    avatar = Avatar.load(out_dir / "avatar.uvatar")
    posed = avatar.on_vertices(scene.vertices, body.faces.cpu())
    row["psnr"], row["ssim"], row["mask_fraction"] = {}, {}, {}
    images = []
    pivot = framed_centre(scene.camera, scene.vertices)[None]  # what the photo framed stays in the views
    for az in azimuths:
        cam = orbit_camera(scene.camera, pivot, az)
        truth, mask = render_subject(body, scene, cam)
        with torch.no_grad():
            render = posed.render(cam, background=(1.0, 1.0, 1.0)).image.clamp(0, 1).cpu()
        psnr, ssim = masked_psnr_ssim(render, torch.as_tensor(truth), torch.as_tensor(mask))
        key = f"{az:g}"
        row["psnr"][key], row["ssim"][key] = round(psnr, 3), round(ssim, 4)
        row["mask_fraction"][key] = round(float(mask.mean()), 4)
        if keep_images:
            images.append((truth, render.numpy()))
    if keep_images:
        row["_images"] = images
    log.info(
        "%s seed %d: %s (%.0f s)", framing, seed,
        ", ".join(f"{k}: {row['psnr'][k]:.2f} dB / {row['ssim'][k]:.3f}" for k in row["psnr"]), row["reconstruct_s"],
    )  # fmt: skip
    return row


def _summary(rows: list[dict], framings, azimuths) -> dict:
    summary = {}
    for name in tuple(framings) + ("all",):
        group = [r for r in rows if name == "all" or r["framing"] == name]
        done = [r for r in group if r["ok"]]
        entry = {"subjects": len(group), "reconstructed": len(done), "failures": len(group) - len(done), "psnr": {}, "ssim": {}}
        for az in azimuths:
            key = f"{az:g}"
            for metric in ("psnr", "ssim"):
                values = [r[metric][key] for r in done if math.isfinite(r[metric][key])]
                entry[metric][key] = float(np.mean(values)) if values else float("nan")
        times = [r["reconstruct_s"] for r in done]
        entry["reconstruct_s"] = float(np.mean(times)) if times else float("nan")
        summary[name] = entry
    return summary


def run_novel_view_bench(
    n_subjects: int = 20,
    framing: str = "alternate",
    size: int = 384,
    seed: int = 0,
    azimuths=DEFAULT_AZIMUTHS,
    turntable_frames: int = 2,
    example_path: str | Path | None = None,
) -> dict:
    """Reconstruct ``n_subjects`` synthetic photos and score novel views against the truth.

    Args:
        n_subjects: number of subjects (seeds ``seed .. seed + n_subjects - 1``).
        framing: ``"half"``, ``"full"``, ``"alternate"`` (half for even subject index, full for odd) or
            ``"both"`` (every seed in both framings: ``2 * n_subjects`` reconstructions).
        size: photo side in pixels (the novel views use the same size).
        seed: first seed.
        azimuths: degrees from the input view about world Z (see the module docstring).
        turntable_frames: frames of the reconstruction's turntable video (kept small: not judged here).
        example_path: if given, a truth-over-avatar figure of the first reconstructed subject is written here.
    Returns:
        ``{"rows": [...], "summary": {framing or "all": {"subjects", "reconstructed", "failures",
        "psnr": {azimuth: mean dB}, "ssim": {azimuth: mean}, "reconstruct_s"}}, "config": {...},
        "wall_s": float}``.
    """
    if framing not in ("half", "full", "alternate", "both"):
        raise InputError(f"framing must be 'half', 'full', 'alternate' or 'both'; got {framing!r}")
    azimuths = tuple(float(a) for a in azimuths)
    body = load_body_model()
    jobs = []
    for i in range(n_subjects):
        s = seed + i
        if framing == "both":
            jobs += [(s, "half"), (s, "full")]
        elif framing == "alternate":
            jobs.append((s, "half" if i % 2 == 0 else "full"))
        else:
            jobs.append((s, framing))
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="uvatar_novel_view_") as tmp:
        for s, f in jobs:
            want_images = example_path is not None and not any(r.get("ok") for r in rows)
            row = _evaluate_subject(body, s, f, size, azimuths, turntable_frames, Path(tmp), want_images)
            images = row.pop("_images", None)
            if images:
                example_figure(images, example_path, azimuths)
                row["example"] = str(example_path)
            rows.append(row)
    framings = tuple(dict.fromkeys(f for _, f in jobs))
    return {
        "rows": rows,
        "summary": _summary(rows, framings, azimuths),
        "config": {"n_subjects": n_subjects, "framing": framing, "size": size, "seed": seed, "azimuths": list(azimuths),
                   "turntable_frames": turntable_frames, "decoder": "projection"},
        "wall_s": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def example_figure(images: list[tuple[np.ndarray, np.ndarray]], path: str | Path, azimuths) -> Path:
    """Write a figure: truth (top row) over avatar (bottom row), one column per azimuth.

    Args:
        images: per azimuth, ``(truth (H, W, 3), avatar (H, W, 3))`` floats in [0, 1].
    """
    top = np.concatenate([t for t, _ in images], 1)
    bottom = np.concatenate([a for _, a in images], 1)
    sheet = Image.fromarray((np.clip(np.concatenate([top, bottom], 0), 0, 1) * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(sheet)
    w, h = images[0][0].shape[1], images[0][0].shape[0]
    for i, az in enumerate(azimuths):
        draw.text((i * w + 4, 4), f"truth {az:g} deg", fill=(0, 0, 0))
        draw.text((i * w + 4, h + 4), f"avatar {az:g} deg", fill=(0, 0, 0))
    return save_image(path, np.asarray(sheet))


def _fmt(value, digits=2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(result: dict) -> str:
    """Markdown table of a :func:`run_novel_view_bench` result: mean PSNR (dB) / SSIM in the truth
    mask per azimuth, per framing and over all."""
    azimuths = [f"{a:g}" for a in result["config"]["azimuths"]]
    lines = [
        "| framing | subjects | reconstructed | failures | " + " | ".join(f"{a} deg PSNR / SSIM" for a in azimuths) + " | reconstruct s |",
        "|---|---|---|---|" + "---|" * len(azimuths) + "---|",
    ]
    for name, e in result["summary"].items():
        cells = " | ".join(f"{_fmt(e['psnr'][a])} / {_fmt(e['ssim'][a], 3)}" for a in azimuths)
        lines.append(f"| {name} | {e['subjects']} | {e['reconstructed']} | {e['failures']} | {cells} | {_fmt(e['reconstruct_s'], 1)} |")
    cfg = result["config"]
    lines += [
        "",
        f"Projection decoder, {cfg['size']} px synthetic photos, seeds {cfg['seed']}..{cfg['seed'] + cfg['n_subjects'] - 1}"
        f" ({cfg['framing']}); avatar on the TRUE posed mesh, both over white, scored inside the truth mask;"
        f" azimuth = input camera turned about world Z through the body's box centre. Wall time {result.get('wall_s', float('nan')):.0f} s.",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Novel-view benchmark of the reconstruction on synthetic subjects.")
    parser.add_argument("--n", type=int, default=20, help="number of subjects")
    parser.add_argument("--framing", default="alternate", choices=["half", "full", "alternate", "both"])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--azimuths", type=float, nargs="+", default=list(DEFAULT_AZIMUTHS))
    parser.add_argument("--out", type=str, default=None, help="write the full result as JSON here")
    parser.add_argument("--example", type=str, default=None, help="write a truth/avatar figure of the first subject here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", force=True)

    log_progress_to_stderr(log)
    result = run_novel_view_bench(args.n, args.framing, args.size, args.seed, args.azimuths, example_path=args.example)
    if args.out:

        atomic_write_text(args.out, json.dumps(result, indent=1, default=str))
    print(format_table(result))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
