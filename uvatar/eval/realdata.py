"""Reconstruction of every real photo in ``../shared/realdata`` (head/, half/, full/): a table and a sheet.

Each photo goes through :func:`uvatar.reconstruct.reconstruct` into ``OUT/<framing>_<name>/`` (preview,
turntable, report); the rows gather the report's figures: the detected framing, the input-view PSNR /
SSIM inside the person mask, the share of the mask the body (and the shell) covers, the Gaussian
counts and the time to the avatar files. ``OUT/previews.png`` stacks every preview (photo | re-render |
side | back) for inspection by eye.

Command line: ``python -m uvatar.eval.realdata --data ../shared/realdata --out out/realdata`` (``--decoder``:
any value ``uvatar reconstruct --decoder`` takes, e.g. a training run folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image

from uvatar.errors import UvatarError
from uvatar.eval import log_progress_to_stderr
from uvatar.io.atomic import atomic_path, atomic_write_text
from uvatar.reconstruct import ReconstructConfig, reconstruct

__all__ = ["find_photos", "run_realdata_bench", "format_table", "main"]

log = logging.getLogger(__name__)

FRAMINGS = ("head", "half", "full")
SUFFIXES = (".jpg", ".jpeg", ".png")


def find_photos(data_dir: str | Path) -> list[tuple[str, Path]]:
    """``(framing folder, path)`` of every photo under ``data_dir/{head,half,full}``, sorted."""
    data_dir = Path(data_dir)
    return [(framing, path) for framing in FRAMINGS for path in sorted((data_dir / framing).glob("*")) if path.suffix.lower() in SUFFIXES]


def _row(framing: str, path: Path, report: dict, wall: float) -> dict:
    stats = report.get("projection_stats", {})
    return {
        "photo": path.name,
        "framing": framing,
        "regime": report["regime"],
        "psnr": report.get("input_view_psnr_in_mask"),
        "ssim": report.get("input_view_ssim_in_mask"),
        "mask_on_body": stats.get("mask_covered_by_body"),
        "mask_on_body_or_shell": stats.get("mask_covered_by_body_or_shell"),
        "n_gaussians": report["n_gaussians"],
        "n_shell": report["n_shell_gaussians"],
        "avatar_s": report["timings"]["avatar_total_s"],
        "wall_s": round(wall, 2),
        "warnings": report.get("warnings", []),
    }


def run_realdata_bench(data_dir: str | Path, out_dir: str | Path, turntable_frames: int = 48, decoder: str = "projection") -> list[dict]:
    """Reconstruct every photo with ``decoder``; returns one row per photo (``error`` set where it failed)."""
    out_dir = Path(out_dir)
    rows = []
    for framing, path in find_photos(data_dir):
        start = time.perf_counter()
        target = out_dir / f"{framing}_{path.stem}"
        try:
            report = reconstruct([path], target, ReconstructConfig(turntable_frames=turntable_frames, decoder=decoder))
        except UvatarError as exc:
            rows.append({"photo": path.name, "framing": framing, "error": f"{type(exc).__name__}: {exc}"})
            log.info("%s: failed (%s)", path.name, exc)
            continue
        rows.append(_row(framing, path, report, time.perf_counter() - start))
        log.info("%s: %s, %.2f dB in the mask", path.name, report["regime"], report.get("input_view_psnr_in_mask") or float("nan"))
    return rows


def preview_sheet(out_dir: str | Path, rows: list[dict], width: int = 1600) -> Path:
    """Stack the previews of the successful rows, each scaled to ``width``, into ``OUT/previews.png``."""
    out_dir = Path(out_dir)
    strips = []
    for row in rows:
        path = out_dir / f"{row['framing']}_{Path(row['photo']).stem}" / "preview.png"
        if "error" in row or not path.is_file():
            continue
        image = Image.open(path).convert("RGB")
        strips.append(image.resize((width, max(1, round(image.height * width / image.width)))))
    sheet = Image.new("RGB", (width, sum(s.height for s in strips) or 1), "white")
    y = 0
    for strip in strips:
        sheet.paste(strip, (0, y))
        y += strip.height
    target = out_dir / "previews.png"
    with atomic_path(target) as tmp:
        sheet.save(tmp, format="PNG")
    return target


def _fmt(value, digits=2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    """Markdown table of the rows, with the median PSNR and the count at or above 24 dB."""
    lines = [
        "| photo | folder | regime | PSNR in mask (dB) | SSIM | mask on body | on body or shell | Gaussians (shell) | to avatar (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['photo']} | {row['framing']} | failed: {row['error']} | | | | | | |")
            continue
        lines.append(
            f"| {row['photo']} | {row['framing']} | {row['regime']} | {_fmt(row['psnr'])} | {_fmt(row['ssim'], 3)} | "
            f"{_fmt(row['mask_on_body'], 3)} | {_fmt(row['mask_on_body_or_shell'], 3)} | {row['n_gaussians']} ({row['n_shell']}) | {_fmt(row['avatar_s'])} |"
        )
    psnrs = [row["psnr"] for row in rows if row.get("psnr") is not None]
    if psnrs:
        lines.append(f"\n{len(psnrs)}/{len(rows)} reconstructed; PSNR median {np.median(psnrs):.2f} dB, min {min(psnrs):.2f} dB; {sum(p >= 24 for p in psnrs)} at or above 24 dB.")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Reconstruct every real photo in a realdata folder and tabulate the input-view fidelity.")
    parser.add_argument("--data", default="../shared/realdata", help="folder with head/, half/, full/")
    parser.add_argument("--out", default="out/realdata")
    parser.add_argument("--turntable-frames", type=int, default=48)
    parser.add_argument("--decoder", default="projection", help="projection, default, a decoder .safetensors or a training run folder")
    args = parser.parse_args(argv)

    log_progress_to_stderr(log)
    rows = run_realdata_bench(args.data, args.out, args.turntable_frames, args.decoder)

    atomic_write_text(Path(args.out) / "realdata.json", json.dumps(rows, indent=1))
    preview_sheet(args.out, rows)
    print(format_table(rows))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
