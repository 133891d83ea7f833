"""Self-reenactment on a real clip: reconstruct from one frame, re-pose to the others, compare.

1. The source frame is reconstructed with :func:`uvatar.reconstruct.reconstruct` (``decoder``: the
   projection decoder by default, or a learned checkpoint / run folder / ``default``).
2. The clip is tracked by the video tracker (:func:`uvatar.track.video.track_video`, ``tracker="video"``,
   the default) holding the avatar's own body shape and anchored at the source frame to the avatar's
   own photo fit of it (the track runs from there forwards and backwards), so every target frame's
   pose is reached from the pose the avatar was built on; or, with ``tracker="photo"`` (the earlier protocol), every target frame is tracked on its
   own (:func:`uvatar.track.track_photo`, each with its own shape). The avatar's Gaussians are placed on
   each target frame's fitted mesh and rendered in that fit's camera over white.
3. PSNR / SSIM inside the target frame's person mask (:func:`uvatar.metrics.masked_psnr_ssim`), at
   ``size`` pixels along the longer side.

With ``avatar_dir`` (``--avatar DIR``), step 1 is skipped: the avatar folder given (``avatar.uvatar`` and
``report.json``, as ``uvatar reconstruct`` writes them, from the same source frame) is scored instead,
read and not changed; so a baseline built by another version of UVatar (a git worktree of it) is scored
by today's harness, beside today's avatar.

For scale, each row also scores the source frame itself pasted unchanged over the target ("copy
source"): an avatar that re-poses well must beat it once the person has moved. The error includes the
tracker's. Rows of the video tracker also give the fitted turn from the source frame
(``yaw_from_source_deg``).

Command line: ``python -m uvatar.eval.reenact VIDEO --out out/reenact [--source 0 --every 10 --first 0
--decoder projection | --avatar DIR]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["run_reenactment", "format_table", "main"]

log = logging.getLogger(__name__)


def run_reenactment(video: str | Path, out_dir: str | Path, source: int = 0, every: int = 10, size: int = 512, figure_frames: int = 4,
                    decoder: str = "projection", first: int = 0, tracker: str = "video", avatar_dir: str | Path | None = None,
                    track_avatar_dir: str | Path | None = None) -> dict:  # fmt: skip
    """Reconstruct frame ``source`` of ``video`` and score the avatar on every ``every``-th other frame from ``first`` on.

    Args:
        tracker: "video" (:func:`uvatar.track.video.track_video` over the whole clip, the avatar's shape
            held) or "photo" (each target frame on its own).
        avatar_dir: an avatar folder already built from frame ``source`` (``avatar.uvatar``, ``report.json``)
            to score instead of reconstructing one (``decoder`` is then not used).
        track_avatar_dir: an avatar folder of frame ``source`` whose photo fit (shape and pose) anchors the
            video track instead of the scored avatar's: two avatars scored on one track. The head clip's
            track is chaotic (two builds' fits of frame 0, 1e-7 apart, put one avatar at 13.94 and 14.79 dB),
            so avatars compared on their own tracks differ by the track as much as by themselves.
    Returns:
        ``{"video", "source", "track_anchor", "rows": [{"frame", "psnr", "ssim", "copy_psnr", "copy_ssim"}], "summary"}``;
        also writes ``OUT/reenact.json`` and ``OUT/reenact.png`` (target | avatar rows).
    """
    from uvatar.avatar import Avatar
    from uvatar.body.model import load_body_model
    from uvatar.io.atomic import atomic_write_text
    from uvatar.io.image import save_image
    from uvatar.io.video import read_video
    from uvatar.metrics import masked_psnr_ssim
    from uvatar.io.image import area_resize
    from uvatar.errors import InputError
    from uvatar.reconstruct import ReconstructConfig, reconstruct
    from uvatar.track import track_photo

    out_dir = Path(out_dir)
    frames, fps = read_video(video)
    if not 0 <= source < len(frames):
        raise InputError(f"source frame {source} is outside the clip's {len(frames)} frames; pass --source between 0 and {len(frames) - 1}")
    if avatar_dir is not None:
        folder = Path(avatar_dir)
        if not (folder / "avatar.uvatar").is_file() or not (folder / "report.json").is_file():
            raise InputError(f"{folder} is no avatar folder: --avatar needs avatar.uvatar and report.json in it, as `uvatar reconstruct` writes them")
        decoder = f"given avatar {folder}"
    if track_avatar_dir is not None:
        if tracker != "video":
            raise InputError("--track-avatar anchors the video track; it needs --tracker video")
        if not (Path(track_avatar_dir) / "avatar.uvatar").is_file():
            raise InputError(f"{track_avatar_dir} is no avatar folder: --track-avatar needs the avatar.uvatar that `uvatar reconstruct` writes")
    out_dir.mkdir(parents=True, exist_ok=True)
    body = load_body_model()
    if avatar_dir is None:
        folder = out_dir / "avatar"
        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / "source.png"
            save_image(path, frames[source].astype(np.float32) / 255)
            reconstruct([path], folder, ReconstructConfig(turntable_frames=0, decoder=decoder))
    report = json.loads((folder / "report.json").read_text())
    avatar = Avatar.load(folder / "avatar.uvatar")
    source_image = frames[source].astype(np.float32) / 255

    rows, figure = [], []
    targets = [i for i in range(first, len(frames), every) if i != source]
    shown = set(targets[:: max(1, len(targets) // max(1, figure_frames))][:figure_frames])
    source_via_tracker = None
    anchor_avatar = avatar if track_avatar_dir is None else Avatar.load(Path(track_avatar_dir) / "avatar.uvatar")
    tracked = _track_clip(frames, body, anchor_avatar, set(targets) | {source}, source) if tracker == "video" else None
    for index in targets + ([source] if tracked is not None else []):  # the source last: its own view through the tracker
        image = frames[index].astype(np.float32) / 255
        if tracked is None:
            fit, det = track_photo(image, body)
            yaw = None
        else:
            fit, det, yaw = tracked[index]
            if fit is None:
                log.info("frame %d: nobody found by the video tracker; skipped", index)
                continue
            yaw = None if yaw is None or tracked[source][2] is None else round(yaw - tracked[source][2], 2)
        with torch.no_grad():
            vertices = body.forward(fit.params.detach()).vertices[0]
            scale = size / max(fit.camera.width, fit.camera.height)
            width, height = round(fit.camera.width * scale), round(fit.camera.height * scale)
            render = avatar.on_vertices(vertices, body.faces).render(fit.camera.resized(width, height)).image.clamp(0, 1)
        target = area_resize(image, width, height)
        mask = area_resize(det.mask, width, height)[..., 0] > 0.5
        psnr, ssim = masked_psnr_ssim(render, target, mask)
        copy_psnr, copy_ssim = masked_psnr_ssim(area_resize(source_image, width, height), target, mask)
        if index == source:
            source_via_tracker = (round(psnr, 3), round(ssim, 4))
            continue
        rows.append({"frame": index, "psnr": round(psnr, 3), "ssim": round(ssim, 4), "copy_psnr": round(copy_psnr, 3), "copy_ssim": round(copy_ssim, 4), "regime": fit.regime, "yaw_from_source_deg": yaw})
        log.info("frame %d: %.2f dB / %.3f (copy source: %.2f dB)", index, psnr, ssim, copy_psnr)
        if index in shown:
            figure.append(torch.cat([target, render], 1).numpy())
    summary = {
        key: round(float(np.mean([r[key] for r in rows])), 4) for key in ("psnr", "ssim", "copy_psnr", "copy_ssim")
    } | {"frames": len(rows), "input_view_psnr": report.get("input_view_psnr_in_mask")}
    if tracked is not None and source_via_tracker is not None:  # the avatar on the tracker's fit of its own frame
        summary["source_via_tracker_psnr"], summary["source_via_tracker_ssim"] = source_via_tracker
    result = {"video": str(video), "fps": fps, "source": source, "every": every, "first": first, "decoder": decoder, "tracker": tracker,
              "track_anchor": str(track_avatar_dir) if track_avatar_dir is not None else "the scored avatar's fit", "rows": rows, "summary": summary}  # fmt: skip
    atomic_write_text(out_dir / "reenact.json", json.dumps(result, indent=1))
    if figure:
        save_image(out_dir / "reenact.png", np.concatenate(figure, 0))
    return result


def _track_clip(frames: np.ndarray, body, avatar, keep: set[int], source: int) -> dict:
    """Video-track ``frames (T, H, W, 3)`` anchored at frame ``source`` to the avatar's own fit of it
    -> {index: (fit, det with mask, yaw_deg)} for ``keep``.

    The avatar was built on the photo fit of the source frame; a track that reached that frame on its
    own would put the avatar on a different body there (measured on the turnaround clip: 10.4 dB for
    the source's own view against 23.5 dB on the photo fit). So the track starts at the source frame
    from that fit (:func:`~uvatar.track.video.track_video`'s ``anchor``) and runs forwards to the end
    and, over the reversed frames, backwards to the first frame.
    """
    from uvatar.body.model import BodyParams
    from uvatar.track.video import VideoTrackConfig, track_video

    anchor = None
    fit = avatar.meta.get("fit_params")
    if fit:
        anchor = BodyParams.from_tensors({k: torch.tensor(v) for k, v in fit.items()})
        anchor.phenotypes = avatar.phenotypes.reshape(1, -1).float()
    else:
        log.warning("the avatar carries no fitted pose; the track is not anchored at the source frame")
    masks = {}
    out = {}
    for direction in (1, -1):
        order = list(range(source, len(frames))) if direction > 0 else list(range(source, -1, -1))
        if direction < 0 and len(order) < 2:
            continue

        def keep_mask(position, det, order=order):
            if order[position] in keep and det is not None:
                masks[order[position]] = det.mask

        clip = (frames[i] for i in order)
        for frame in track_video(clip, body, VideoTrackConfig(), on_detection=keep_mask, shape=avatar.phenotypes.reshape(1, -1), anchor=anchor):
            index = order[frame.index]
            if index in keep and index not in out:
                det = frame.det
                if det is not None:
                    det.mask = masks.get(index)
                out[index] = (frame.fit, det, frame.yaw_deg)
    return out


def format_table(result: dict) -> str:
    """Markdown: one line per frame and the mean."""
    lines = ["| frame | PSNR (dB) | SSIM | copy source PSNR | copy source SSIM |", "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['frame']} | {row['psnr']:.2f} | {row['ssim']:.3f} | {row['copy_psnr']:.2f} | {row['copy_ssim']:.3f} |")
    s = result["summary"]
    lines.append(f"| mean of {s['frames']} | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['copy_psnr']:.2f} | {s['copy_ssim']:.3f} |")
    lines.append(f"\ndecoder {result.get('decoder', 'projection')}; source frame {result['source']}; its own input-view PSNR {s['input_view_psnr']} dB")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Self-reenactment: reconstruct one frame of a clip, re-pose the avatar to the others.")
    parser.add_argument("video")
    parser.add_argument("--out", default="out/reenact")
    parser.add_argument("--source", type=int, default=0)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--first", type=int, default=0, help="first target frame (targets: first, first+every, ...)")
    parser.add_argument("--decoder", default="projection", help="projection, default, a decoder .safetensors or a training run folder")
    parser.add_argument("--tracker", default="video", choices=("video", "photo"), help="video: one track of the clip (avatar's shape held); photo: each frame on its own")
    parser.add_argument("--avatar", default=None, help="score this avatar folder (built from the source frame, e.g. by another version) instead of reconstructing")
    parser.add_argument("--track-avatar", default=None, help="anchor the video track at this avatar folder's photo fit (to score two avatars on one track)")
    args = parser.parse_args(argv)
    from uvatar.eval import log_progress_to_stderr

    log_progress_to_stderr(log)
    result = run_reenactment(args.video, args.out, args.source, args.every, args.size, decoder=args.decoder, first=args.first, tracker=args.tracker,
                             avatar_dir=args.avatar, track_avatar_dir=args.track_avatar)  # fmt: skip
    print(format_table(result))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
