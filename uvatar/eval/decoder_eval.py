"""``uvatar eval``: novel-view quality of a decoder (learned checkpoint or the projection baseline).

For each subject (``synthetic:N``: seeds ``seed .. seed + N - 1``, each in every framing asked for;
a ``uvatar synth`` folder: its validation subjects), the decoder gets the input photo with the TRUE
posed body and camera (:func:`uvatar.data.truth.render_synthetic_subject`; no tracker, so only the
decoder is judged) and the hairstyle fitted to it as ``uvatar reconstruct`` fits it (``hair``); its
avatar is posed on the true body and rendered over white into the truth views: the input view (0 deg),
the sides (90 and 270 deg) and the back (180 deg), which the photo never saw.
Per view:

* PSNR and SSIM inside the truth mask (:func:`uvatar.metrics.masked_psnr_ssim`);
* ST-LPIPS (VGG, the stlpips-pytorch wheel's weights: :func:`uvatar.encode.stlpips_distance`) over the
  whole image (both over white);
* with dlib installed (:mod:`uvatar.eval.identity`), the face descriptor distance between render and
  truth where dlib finds a face in both (mostly head and half framings at the input view).

Results are averaged per framing (``head``, ``half``, ``full``, ``all``) and per view group (``input``,
``side``, ``back``; side and back are the unseen views). Outputs: ``eval.json`` (every row),
``eval.md`` (the table) and ``eval.png`` (truth over render for the first subject of each framing).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from uvatar.avatar import Avatar
from uvatar.body.model import load_body_model
from uvatar.data.truth import (
    RawSubject,
    ShardSubjects,
    render_synthetic_subject,
    split_indices,
)
from uvatar.dualuv.views import project_requests
from uvatar.encode import stlpips_distance
from uvatar.errors import InputError
from uvatar.eval.identity import has_identity, shared_identity
from uvatar.io.image import save_image
from uvatar.metrics import masked_psnr_ssim
from uvatar.model.decoder import get_decoder
from uvatar.model.projection import ProjectionDecoder
from uvatar.threads import stage_threads
from uvatar.track.hair import hair_template

__all__ = ["evaluate_decoder", "format_markdown", "GROUPS", "EVAL_AZIMUTHS"]

log = logging.getLogger(__name__)

EVAL_AZIMUTHS = (0.0, 90.0, 180.0, 270.0)
GROUPS = ("input", "side", "back")
METRICS = ("psnr", "ssim", "lpips", "identity")


def _avatar(body, raw: RawSubject, decoder, core_resolution: int, hair: bool = True) -> Avatar:
    """A decoder's avatar of a raw subject (its true body and camera) at a Core-UV side (the shell at half);
    ``hair``: the hairstyle fitted to the photo first, as ``uvatar reconstruct`` does."""
    view = raw.view
    if hair:
        template, _ = hair_template(view, body)
        view.templates = [template] if template is not None else []
    uvs = project_requests(body, [view], decoder.projections(core_resolution, core_resolution // 2))
    return Avatar.from_gaussians(decoder.decode(uvs, body, view.phenotypes, view.facial), view.phenotypes, view.facial)


def _group(label: str) -> str | None:
    return label if label in GROUPS else None


def _score_subject(body, raw, avatar, identity, keep_images: bool) -> dict:
    posed = avatar.on_vertices(raw.view.vertices, body.faces.cpu())
    row = {"key": raw.key, "framing": raw.framing, "n_gaussians": len(avatar), "views": []}
    images = []
    for view in raw.views:
        with torch.no_grad():
            render = posed.render(view.camera, background=(1.0, 1.0, 1.0)).image.clamp(0, 1).cpu()
        truth, mask = view.image, view.mask >= 0.5
        psnr, ssim = masked_psnr_ssim(render, truth, mask)
        entry = {"label": view.label, "azimuth": round(view.azimuth, 1), "psnr": round(psnr, 3), "ssim": round(ssim, 4),
                 "lpips": round(stlpips_distance(render.numpy(), truth.numpy()), 4), "identity": None}  # fmt: skip
        if identity is not None:
            entry["identity"] = identity.distance(render.numpy(), truth.numpy())
        row["views"].append(entry)
        if keep_images:
            images.append((truth.numpy(), render.numpy(), view.label))
    if keep_images:
        row["_images"] = images
    return row


def _summary(rows: list[dict], framings) -> dict:
    out = {}
    for name in tuple(framings) + ("all",):
        group_rows = [r for r in rows if name == "all" or r["framing"] == name]
        entry = {"subjects": len(group_rows)}
        for group in GROUPS:
            views = [v for r in group_rows for v in r["views"] if _group(v["label"]) == group]
            cell = {}
            for metric in METRICS:
                values = [v[metric] for v in views if v[metric] is not None and math.isfinite(v[metric])]
                cell[metric] = float(np.mean(values)) if values else None
                if metric == "identity":
                    cell["identity_faces"] = len(values)
            cell["views"] = len(views)
            entry[group] = cell
        entry["decode_s"] = float(np.mean([r["decode_s"] for r in group_rows])) if group_rows else None
        out[name] = entry
    return out


def _raw_subjects(data: str, body, size: int, framings, seed: int):
    """Yield raw subjects: synthetic (each seed in each framing; ``synthetic-view-lit:N``: truth views lit with
    their camera) or a shard folder's validation split."""
    if data.startswith(("synthetic:", "synthetic-view-lit:")):
        kind = data.split(":", 1)[0]
        try:
            n = int(data.split(":", 1)[1])
        except ValueError:
            raise InputError(f"--data {kind}:N needs an integer N; got {data!r}") from None
        for i in range(n):
            for framing in framings:
                yield render_synthetic_subject(body, seed + i, framing, size, EVAL_AZIMUTHS, view_lit=kind == "synthetic-view-lit")
        return
    source = ShardSubjects(body, data, size)
    for i in split_indices(len(source), "val") or list(range(len(source))):
        raw = source.raw(i)
        if raw.framing in framings:
            yield raw


def evaluate_decoder(
    decoder: str,
    data: str = "synthetic:4",
    size: int = 256,
    framings=("head", "half", "full"),
    seed: int = 100000,
    avatar_resolution: int = 0,
    projection_resolution: int = 512,
    identity: bool = True,
    figure: str | Path | None = None,
    on_subject=None,
    threads: int = 0,
    hair: bool = True,
) -> dict:
    """Score a decoder on novel views (module docstring).

    Args:
        decoder: ``"projection"``, ``"default"``, a decoder ``.safetensors`` or a run folder.
        data: ``"synthetic:N"`` or a ``uvatar synth`` folder.
        size: image side of the synthetic photos and views (pixels).
        framings: framings to evaluate.
        seed: first synthetic seed (training uses seeds from 0; the default keeps clear of them).
        avatar_resolution: Core-UV side of learned avatars (0: the decoder's own).
        projection_resolution: Core-UV side of the projection decoder.
        identity: score face identity when dlib is installed.
        figure: write the truth-over-render figure here.
        on_subject: called with each finished row (progress).
        threads: torch CPU threads (0: the free cores, re-read for each subject; :mod:`uvatar.threads`).
        hair: fit a hairstyle to each photo (:func:`uvatar.track.hair.hair_template`), as ``uvatar
            reconstruct`` does; False scores the decoder on the body and its garment shell alone.
    Returns:
        ``{"rows", "summary", "config", "wall_s"}``.
    """
    for f in framings:
        if f not in ("head", "half", "full"):
            raise InputError(f"framings must be head, half or full; got {f!r}")
    body = load_body_model()
    learned = None if decoder == "projection" else get_decoder(decoder, body)
    scorer = None
    if identity and has_identity():

        scorer = shared_identity()
    elif identity:
        log.warning("degraded: dlib is not installed, so no face-identity scores (pip install '.[identity]'); config.identity is false")
    start = time.perf_counter()
    rows, examples = [], {}
    with stage_threads("eval", threads) as stage:
        for raw in _raw_subjects(data, body, size, tuple(framings), seed):
            stage.recheck()
            t0 = time.perf_counter()
            if learned is None:
                avatar = _avatar(body, raw, ProjectionDecoder(), projection_resolution, hair)
            else:
                avatar = _avatar(body, raw, learned, avatar_resolution or learned.config.resolution, hair)
            decode_s = time.perf_counter() - t0
            row = _score_subject(body, raw, avatar, scorer, raw.framing not in examples)
            row["decode_s"] = round(decode_s, 3)
            images = row.pop("_images", None)
            if images:
                examples[raw.framing] = images
            rows.append(row)
            if on_subject:
                on_subject(row)
    if not rows:
        raise InputError(f"no subjects to evaluate in {data!r} for framings {', '.join(framings)}")
    used = tuple(f for f in framings if any(r["framing"] == f for r in rows))
    result = {
        "rows": rows,
        "summary": _summary(rows, used),
        "config": {"decoder": decoder, "decoder_source": learned.source if learned else "projection",
                   "decoder_config": json.loads(learned.config.to_json()) if learned else None, "data": data, "size": size,
                   "framings": list(used), "seed": seed, "avatar_resolution": avatar_resolution or (learned.config.resolution if learned else projection_resolution),
                   "azimuths": list(EVAL_AZIMUTHS), "identity": scorer is not None, "hair": hair},  # fmt: skip
        "wall_s": round(time.perf_counter() - start, 1),
    }
    if figure is not None and examples:
        write_figure(examples, figure)
    return result


def write_figure(examples: dict, path: str | Path) -> Path:
    """Truth row over render row per framing, one column per view (labels drawn in the corner)."""
    from PIL import Image, ImageDraw


    blocks = []
    for framing, images in examples.items():
        top = np.concatenate([t for t, _, _ in images], 1)
        bottom = np.concatenate([r for _, r, _ in images], 1)
        blocks.append((framing, images, np.concatenate([top, bottom], 0)))
    width = max(b.shape[1] for _, _, b in blocks)
    sheet = np.ones((sum(b.shape[0] for _, _, b in blocks), width, 3), np.float32)
    y = 0
    for _, _, block in blocks:
        sheet[y : y + block.shape[0], : block.shape[1]] = block
        y += block.shape[0]
    canvas = Image.fromarray((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    y = 0
    for framing, images, block in blocks:
        h, w = images[0][0].shape[:2]
        for i, (_, _, label) in enumerate(images):
            draw.text((i * w + 3, y + 3), f"{framing} truth {label}", fill=(0, 0, 0))
            draw.text((i * w + 3, y + h + 3), f"{framing} render {label}", fill=(0, 0, 0))
        y += block.shape[0]
    return save_image(path, np.asarray(canvas))


def _fmt(value, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_markdown(result: dict) -> str:
    """Markdown table of a :func:`evaluate_decoder` result (PSNR dB / SSIM / ST-LPIPS per view group)."""
    lines = [
        "| framing | subjects | input PSNR / SSIM / ST-LPIPS | side (unseen) PSNR / SSIM / ST-LPIPS | back (unseen) PSNR / SSIM / ST-LPIPS | identity dist. input (faces) | decode s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in result["summary"].items():
        cells = [f"{_fmt(e[g]['psnr'], 2)} / {_fmt(e[g]['ssim'], 3)} / {_fmt(e[g]['lpips'], 3)}" for g in GROUPS]
        ident = f"{_fmt(e['input']['identity'], 3)} ({e['input']['identity_faces']})"
        lines.append(f"| {name} | {e['subjects']} | " + " | ".join(cells) + f" | {ident} | {_fmt(e['decode_s'], 2)} |")
    cfg = result["config"]
    lines += [
        "",
        f"Decoder `{cfg['decoder']}` ({cfg['decoder_source']}), avatar Core-UV {cfg['avatar_resolution']}², data {cfg['data']}, "
        f"{cfg['size']} px views, first seed {cfg['seed']}. Input photo with the TRUE body and camera (no tracker), "
        + ("a hairstyle fitted to it as `uvatar reconstruct` does" if cfg.get("hair", False) else "no hairstyle fitted (--no-hair)")
        + "; avatar on "
        "the true posed body; PSNR/SSIM inside the truth mask, ST-LPIPS (VGG) over the whole image, both over white; side = "
        "90 and 270 deg, back = 180 deg about the body from the input view. Identity: dlib face-descriptor distance "
        f"render vs truth (same person below 0.6), where dlib finds both faces. Wall time {result['wall_s']:.0f} s.",
    ]
    return "\n".join(lines)
