"""Contact sheet of the real photos: input | re-render | three-quarter | side | back, one row a photo.

Each photo (default: the 14 of ``../shared/realdata/{head,half,full}``) is reconstructed with
:func:`uvatar.reconstruct.reconstruct` (``turntable_frames=0``) into ``OUT/<framing>_<stem>/``; a folder
whose ``report.json`` is already there is reused, so re-runs only redraw the sheet. Its row:

* the photo, and the avatar re-rendered in the photo's fitted camera on its fitted body
  (``avatar.meta["fit_camera"]`` / ``["fit_params"]``), both at the row's height;
* the avatar in its canonical (reference) pose seen from 45 (three-quarter), 90 (its left side) and
  180 degrees (its back), at the crop of the photo's FRAMING folder
  (:func:`uvatar.export.framing.framing_crop`: head and shoulders; head to mid-thigh; the whole body),
  derived from the rest body's keypoints.

Writes ``OUT/contact_sheet.png`` and ``OUT/contact_sheet.json`` (per photo: framing, regime, input-view
PSNR / SSIM in the person mask from ``report.json``, or the error).

Command line: ``python -m uvatar.eval.contact_sheet --out out/contact_sheet [--photos ../shared/realdata]``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from uvatar.camera import Camera
from uvatar.export.framing import FOV_Y_DEG, Crop, crop_camera, framing_crop  # noqa: F401 - re-exported (they lived here)

__all__ = ["VIEWS", "Crop", "framing_crop", "crop_camera", "photo_panels", "compose_sheet", "run_contact_sheet", "main"]

log = logging.getLogger(__name__)

VIEWS = (("three-quarter", 45.0), ("side", 90.0), ("back", 180.0))
HEADER = ("input", "re-render", "three-quarter (45)", "side (90)", "back (180)")
LABEL_HEIGHT = 18


def photo_panels(avatar, body, photo: np.ndarray, framing: str, height: int = 320) -> list[np.ndarray]:
    """The five panels of one row, each ``(height, w_i, 3)`` float32 in [0, 1].

    Args:
        avatar: an :class:`~uvatar.avatar.Avatar` whose ``meta`` has ``fit_camera`` and ``fit_params``
            (as ``uvatar reconstruct`` writes them); photo: ``(H, W, 3)`` the photo it was fitted to.
    """
    from uvatar.body.model import BodyParams
    from uvatar.export.preview import WHITE
    from uvatar.io.image import area_resize

    width = max(1, round(photo.shape[1] * height / photo.shape[0]))
    panels = [area_resize(photo.astype(np.float32), width, height).numpy()]
    camera = Camera.from_dict(avatar.meta["fit_camera"])
    params = BodyParams.from_tensors({k: torch.tensor(v) for k, v in avatar.meta["fit_params"].items()})
    with torch.no_grad():
        fitted = body.forward(avatar.params(body, params)).vertices[0]
        # the fit camera's aspect is the photo's; rendered at 2x and averaged down, as the preview does
        render = avatar.on_vertices(fitted, body.faces).render(camera.resized(2 * width, 2 * height), background=WHITE)
        panels.append(area_resize(render.image.clamp(0, 1).numpy(), width, height).numpy())
        rest = body.forward(avatar.params(body))
        crop = framing_crop(body, rest.vertices[0], rest.bone_poses[0], framing)
        canonical = avatar.on_vertices(rest.vertices[0], body.faces)
        for _, azimuth in VIEWS:
            panels.append(canonical.render(crop_camera(crop, azimuth, height), background=WHITE).image.clamp(0, 1).numpy())
    return panels


def _upright(photo: np.ndarray, report: dict) -> np.ndarray:
    """``photo`` turned as the tracker turned it to stand the person upright (noted in the report's warnings)."""
    import re

    from uvatar.detect.orientation import turn_image

    for warning in report.get("warnings", []):
        found = re.search(r"photo was turned (\d+) degrees counter-clockwise", warning)
        if found:
            return turn_image(photo, int(found.group(1)) // 90)
    return photo


def compose_sheet(rows: list[tuple[str, list[np.ndarray]]], gap: int = 4) -> np.ndarray:
    """Stack labelled rows of panels (each row's panels of one height) into one ``(H, W, 3)`` uint8 image.

    Every row gets a label strip of :data:`LABEL_HEIGHT` pixels above it; the sheet starts with a header
    strip naming the columns (:data:`HEADER`, placed at the first row's panel boundaries). Rows narrower
    than the widest are padded with white on the right.
    """
    widths = [sum(p.shape[1] for p in panels) + gap * (len(panels) - 1) for _, panels in rows]
    sheet_w = max(widths) if widths else 1
    sheet_h = LABEL_HEIGHT + sum(LABEL_HEIGHT + panels[0].shape[0] + gap for _, panels in rows)
    sheet = Image.new("RGB", (sheet_w, sheet_h), "white")
    draw = ImageDraw.Draw(sheet)
    if rows:
        x = 0
        for name, panel in zip(HEADER, rows[0][1]):
            draw.text((x + 2, 3), name, fill=(0, 0, 0))
            x += panel.shape[1] + gap
    y = LABEL_HEIGHT
    for label, panels in rows:
        draw.text((2, y + 3), label, fill=(0, 0, 160))
        y += LABEL_HEIGHT
        x = 0
        for panel in panels:
            sheet.paste(Image.fromarray((np.clip(panel, 0, 1) * 255 + 0.5).astype(np.uint8)), (x, y))
            x += panel.shape[1] + gap
        y += panels[0].shape[0] + gap
    return np.asarray(sheet)


def run_contact_sheet(photos: list[tuple[str, Path]], out_dir: str | Path, height: int = 320) -> list[dict]:
    """Reconstruct (or reuse) each ``(framing, path)``, draw ``OUT/contact_sheet.png``, write
    ``OUT/contact_sheet.json``; returns its rows."""
    from uvatar.avatar import Avatar
    from uvatar.body.model import load_body_model
    from uvatar.errors import UvatarError
    from uvatar.io.atomic import atomic_path, atomic_write_text
    from uvatar.io.image import load_image
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = load_body_model()
    rows, strips = [], []
    for framing, path in photos:
        folder = out_dir / f"{framing}_{path.stem}"
        row = {"photo": path.name, "framing": framing, "folder": folder.name}
        try:
            if (folder / "report.json").is_file():
                report = json.loads((folder / "report.json").read_text())
            else:
                report = reconstruct([path], folder, ReconstructConfig(turntable_frames=0))
            avatar = Avatar.load(folder / "avatar.uvatar")
            panels = photo_panels(avatar, body, _upright(load_image(path).rgb, report), framing, height)
        except UvatarError as exc:
            rows.append(row | {"error": f"{type(exc).__name__}: {exc}"})
            log.info("%s: failed (%s)", path.name, exc)
            continue
        row |= {"regime": report["regime"], "psnr": report.get("input_view_psnr_in_mask"), "ssim": report.get("input_view_ssim_in_mask"),
                "n_gaussians": report.get("n_gaussians"), "n_shell": report.get("n_shell_gaussians")}  # fmt: skip
        rows.append(row)
        strips.append((f"{framing}/{path.name}  (regime {report['regime']}, input view {row['psnr']} dB in the mask)", panels))
        log.info("%s: %s, %s dB", path.name, report["regime"], row["psnr"])
    with atomic_path(out_dir / "contact_sheet.png") as tmp:
        Image.fromarray(compose_sheet(strips)).save(tmp, format="PNG")
    atomic_write_text(out_dir / "contact_sheet.json", json.dumps(rows, indent=1))
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown: photo, framing folder, regime, input-view PSNR / SSIM in the mask."""
    lines = ["| photo | framing | regime | input-view PSNR in mask (dB) | SSIM |", "|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['photo']} | {row['framing']} | failed: {row['error']} | | |")
        else:
            psnr = "-" if row["psnr"] is None else f"{row['psnr']:.2f}"
            ssim = "-" if row["ssim"] is None else f"{row['ssim']:.3f}"
            lines.append(f"| {row['photo']} | {row['framing']} | {row['regime']} | {psnr} | {ssim} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from uvatar.eval import log_progress_to_stderr
    from uvatar.eval.realdata import find_photos

    parser = argparse.ArgumentParser(description="Contact sheet of the real photos: input | re-render | 45 | 90 | 180 degrees at the framing's crop.")
    parser.add_argument("--out", default="out/contact_sheet")
    parser.add_argument("--photos", default=str(Path(__file__).resolve().parents[3] / "shared" / "realdata"), help="folder with head/, half/, full/")
    parser.add_argument("--height", type=int, default=320, help="row height, pixels")
    args = parser.parse_args(argv)
    log_progress_to_stderr(log)
    photos = find_photos(args.photos)
    if not photos:
        from uvatar.errors import InputError

        raise InputError(f"no photos under {args.photos}/{{head,half,full}}; pass --photos")
    rows = run_contact_sheet(photos, args.out, args.height)
    print(format_table(rows))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
