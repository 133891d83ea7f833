"""``uvatar reconstruct``: photo(s) in, an animatable avatar out (the main job), as a short orchestrator.

Stages (each timed in the report): load -> detect + fit (:mod:`uvatar.track`) -> encode + Dual-UV
projection of what the decoder asks for (:mod:`uvatar.dualuv`) -> decode (:mod:`uvatar.model`) -> bind
(:meth:`uvatar.avatar.Avatar.from_gaussians`) -> write files; then, separately timed, the preview and the
turntable renders (:mod:`uvatar.export.preview`), framed as the photo was unless
``ReconstructConfig.preview_framing`` says otherwise. Several photos of the same person: each is tracked on
its own, the first photo's fit gives the shape, and the UV features blend linearly, weighted by
visibility and viewing angle.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from uvatar.avatar import Avatar
from uvatar.body.model import load_body_model
from uvatar.detect.orientation import turn_image
from uvatar.dualuv.views import choose_core_resolution, project_requests
from uvatar.errors import InputError
from uvatar.export.framing import check_preview_framing
from uvatar.export.preview import canonical_pose, preview_crop, write_preview, write_turntable
from uvatar.io.atomic import atomic_dir
from uvatar.io.image import load_image, save_image
from uvatar.io.output_dir import check_output_dir
from uvatar.io.ply import write_gaussian_ply
from uvatar.model.decoder import get_decoder
from uvatar.model.learned import check_decoder_spec
from uvatar.render.mesh import moderngl_available
from uvatar.threads import stage_threads
from uvatar.track import track_upright_photo
from uvatar.track.hair import hair_template
from uvatar.track.overlay import fit_overlay
from uvatar.track.view import FittedView, fitted_view

__all__ = ["ReconstructConfig", "reconstruct"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconstructConfig:
    decoder: str = "projection"
    encoder: str = "rgb"
    device: str = "cpu"
    preview_size: int = 512
    turntable_frames: int = 48
    turntable_size: int = 384
    render_backend: str = "auto"
    shell_fraction: float = 0.5  # Shell-UV grid size as a fraction of the Core-UV grid
    templates: bool = True  # fit a hair template to the first photo (its Shell surface); False: off-body pixels only
    threads: int = 0  # torch CPU threads: 0 = the free cores at each stage (uvatar.threads), else forced
    # what preview.png's side/back panels and turntable.mp4 show: "auto" = what the photo framed
    # (head and shoulders, head to the waist / thighs / knees, the whole body), "full" = the whole
    # body, "head" / "half" forced (uvatar.export.framing)
    preview_framing: str = "auto"

    def __post_init__(self) -> None:
        check_preview_framing(self.preview_framing)


class _Timer:
    """Seconds per stage into ``timings`` (a stage run twice adds up)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self.last, 4)
        self.last = now

    def total(self, name: str) -> float:
        self.timings[name] = round(time.perf_counter() - self.start, 4)
        return self.timings[name]


def reconstruct(photos: list[str | Path], out_dir: str | Path, config: ReconstructConfig = ReconstructConfig(), progress=None,
                overwrite: bool = False) -> dict:
    """Run the whole job and write OUT/avatar.uvatar, avatar.ply, posed.ply, fit.json, overlay.png,
    preview.png, turntable.mp4 and report.json (into a temporary folder whose files move into ``out_dir``
    at the end; ``out_dir`` is checked first: a non-empty folder UVatar did not write needs ``overwrite``,
    and a folder holding a photo is refused).

    Torch threads follow the free cores at each stage and every :data:`~uvatar.threads.RECHECK_S` in the
    render loops (``config.threads`` > 0 forces a count); the caller's thread count is restored after.

    Returns:
        the report (also in report.json).
    """
    say = progress or (lambda message: log.info(message))
    if not photos:
        raise InputError("no photo given; pass the path of at least one portrait photo")
    check_output_dir(out_dir, inputs=photos, overwrite=overwrite)
    check_decoder_spec(config.decoder)  # "projection", "default", a checkpoint or a run folder; fails before tracking
    timer = _Timer()
    with stage_threads("reconstruct", config.threads) as threads:
        images = [load_image(p) for p in photos]
        body = load_body_model(config.device)
        decoder = get_decoder(config.decoder, body, config.device)
        timer.lap("load_s")
        say(f"loaded {len(images)} photo(s) and the body model")

        views, dets = _track(images, body)
        timer.lap("track_s")
        main = views[0].fit
        say(f"tracked: regime {main.regime}, landmark error {main.residuals.get('landmark_rel_box', float('nan')):.3f} of the box")

        hair = None
        if config.templates:
            template, hair = hair_template(views[0], body)
            views[0].templates = [template] if template is not None else []
            timer.lap("templates_s")
            say(f"hair: {hair.name or 'no template'}" + (f" (IoU {hair.iou:.2f} with the photo's hair)" if hair.name else ""))

        threads.recheck(now=True)
        resolution = choose_core_resolution(main.regime, body, views[0].vertices, views[0].camera)
        uvs = project_requests(body, views, decoder.projections(resolution, int(config.shell_fraction * resolution)), config.encoder, config.device)
        timer.lap("project_s")
        say(f"projected into Dual-UV ({resolution}x{resolution} core)")

        threads.recheck(now=True)
        gaussians = decoder.decode(uvs, body, views[0].phenotypes, views[0].facial)
        avatar = Avatar.from_gaussians(gaussians, views[0].phenotypes, views[0].facial, meta={
            "regime": main.regime, "photos": [str(p) for p in photos], "encoder": config.encoder,
            "fit_camera": main.camera.to_dict(), "fit_params": {k: v.tolist() for k, v in main.params.tensors().items()},
        })  # fmt: skip
        timer.lap("decode_s")
        say(f"decoded {len(avatar)} Gaussians")

        report = {
            "photos": [str(p) for p in photos], "regime": main.regime, "lower_extent": main.lower_extent,
            "decoder": config.decoder, "encoder": config.encoder, "core_resolution": resolution,
            "n_gaussians": len(avatar), "n_shell_gaussians": int((avatar.layer == 1).sum()),
            "fit_residuals": main.residuals, "fit_confidence": main.confidence,
            "warnings": list(main.warnings) + _degraded_paths(dets), "projection_stats": next(iter(uvs.values())).stats,
            "decoder_stats": avatar.meta.get("stats", {}), "timings": timer.timings,
            "hair": hair.to_dict() if hair is not None else None,
        }  # fmt: skip
        posed = avatar.on_vertices(views[0].vertices, body.faces)  # in the first photo's pose
        with atomic_dir(out_dir, overwrite=overwrite) as tmp:
            _write_avatar(tmp, avatar, posed, body, views[0], dets[0])
            timer.lap("write_s")
            say(f"avatar written in {timer.total('avatar_total_s'):.1f} s; rendering the preview")

            threads.recheck(now=True)
            canonical, rest_vertices, rest_bones = canonical_pose(avatar, body)
            report["preview_framing"], crop = preview_crop(body, rest_vertices, rest_bones, views[0].fit, config.preview_framing, canonical)
            report.update(write_preview(tmp / "preview.png", posed, views[0], canonical, crop, config.preview_size,
                                        config.render_backend, threads))  # fmt: skip
            timer.lap("preview_s")
            say("preview written")
            if config.turntable_frames > 0:  # 0: no turntable (benchmarks that only need the avatar)
                say(f"rendering the turntable ({config.turntable_frames} frames)")
                threads.recheck(now=True)
                write_turntable(tmp / "turntable.mp4", canonical, crop, config.turntable_frames, config.turntable_size,
                                config.render_backend, threads)  # fmt: skip
                timer.lap("turntable_s")
            timer.total("total_s")
            (tmp / "report.json").write_text(json.dumps(report, indent=1))
    say(f"done in {timer.timings['total_s']:.1f} s: {out_dir}")
    return report


def _track(images, body) -> tuple[list[FittedView], list]:
    """Each photo tracked (turned upright if its pixels are turned); the first photo's shape for all."""
    fits, dets = [], []
    for image in images:
        image.rgb, fit, det, turns = track_upright_photo(image.rgb, body)
        if turns and image.alpha is not None:
            image.alpha = turn_image(image.alpha, turns)
        fits.append(fit)
        dets.append(det)
    shape = fits[0].params.phenotypes
    views = [fitted_view(image.rgb, fit, det.mask, body, shape) for image, fit, det in zip(images, fits, dets)]
    return views, dets


def _write_avatar(folder: Path, avatar: Avatar, posed, body, view: FittedView, det) -> None:
    """The avatar's files: bundle, canonical and posed (``posed``) 3DGS, the fit and its overlay on the photo."""
    avatar.save(folder / "avatar.uvatar")
    avatar.export_ply(folder / "avatar.ply", body)
    write_gaussian_ply(folder / "posed.ply", posed.to_ply_cloud())
    (folder / "fit.json").write_text(json.dumps(view.fit.to_dict(), indent=1))
    save_image(folder / "overlay.png", fit_overlay(view.image, body, view.fit, det))  # as 'uvatar track' draws it


def _degraded_paths(dets) -> list[str]:
    """One sentence per fallback this run took (also logged), for report.json."""
    notes = []
    if not moderngl_available():
        notes.append("degraded: no EGL context; mesh visibility used the torch rasterizer (slower, same result)")
    if any(det.mask is None for det in dets):
        notes.append("degraded: no person mask; the shell was not fitted to the silhouette, no input-view PSNR")
    for note in notes:
        log.warning(note)
    return notes
