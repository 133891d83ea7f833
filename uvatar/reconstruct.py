"""``uvatar reconstruct``: photo(s) in, an animatable avatar out (the main job).

Stages (each timed in the report): load -> detect + fit (track) -> encode -> Dual-UV projection ->
decode -> bind (Avatar) -> write files; then, separately timed, the preview and the turntable renders.
Several photos of the same person: each is tracked on its own, the first photo's fit gives the shape, and
the UV features blend linearly, weighted by visibility and viewing angle.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from uvatar.camera import Camera, orbit
from uvatar.errors import InputError
from uvatar.threads import stage_threads

__all__ = ["ReconstructConfig", "reconstruct", "choose_core_resolution", "masked_psnr_ssim", "area_resize"]

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
    threads: int = 0  # torch CPU threads: 0 = the free cores at each stage (uvatar.threads), else forced


def choose_core_resolution(regime: str, body, vertices: torch.Tensor, camera: Camera) -> int:
    """Core-UV resolution from the framing: 1024 when a texel of the 512 map would cover more than
    ~1.5 photo pixels on the torso or face (head and close half-body photos), else 512."""
    if regime == "head":
        return 1024
    from uvatar.body.parts import PART_NAMES
    from uvatar.model.projection import texel_footprint

    parts = body.face_parts
    torso = parts == PART_NAMES.index("torso")
    side = texel_footprint(vertices, body.faces, body.uv_corners, 512)[torso].median()
    depth = camera.world_to_camera(vertices[body.faces[torso]].mean(1)).median(0).values[2]
    pixels = float(side * camera.K[0, 0] / depth.clamp(min=1e-3))
    return 1024 if pixels > 1.5 else 512


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def masked_psnr_ssim(render: torch.Tensor, photo: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``render`` vs ``photo`` (both ``(H, W, 3)`` in [0, 1]) inside ``mask (H, W)``.

    SSIM is the standard 11x11 Gaussian-window SSIM (C1 = 0.01², C2 = 0.03²), averaged over the mask.
    """
    mask = mask.bool()
    if not mask.any():
        return float("nan"), float("nan")
    mse = ((render - photo) ** 2).mean(-1)[mask].mean().clamp(min=1e-10)
    psnr = float(10 * torch.log10(1.0 / mse))
    window = _gaussian_window()[None, None].expand(3, 1, -1, -1)
    a = render.permute(2, 0, 1)[None]
    b = photo.permute(2, 0, 1)[None]

    def blur(x):
        return torch.nn.functional.conv2d(x, window, padding=5, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return psnr, float(ssim_map[0].mean(0)[mask].mean())


def area_resize(image: np.ndarray, width: int, height: int) -> torch.Tensor:
    """``(H, W, C)`` or ``(H, W)`` array to a ``(height, width, C)`` float tensor, area-averaged."""
    tensor = torch.as_tensor(image, dtype=torch.float32)
    if tensor.ndim == 2:
        tensor = tensor[..., None]
    out = torch.nn.functional.interpolate(tensor.permute(2, 0, 1)[None], size=(height, width), mode="area")[0]
    return out.permute(1, 2, 0)


def _turntable_cameras(vertices: torch.Tensor, n: int, size: int, elevation: float = 5.0, start_azimuth_deg: float = 0.0) -> list[Camera]:
    """``n`` square cameras orbiting the bounding box of ``vertices (V, 3)``, framing all of it."""
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    extent = float((vertices.amax(0) - vertices.amin(0)).max())
    radius = 1.25 * extent / (2 * math.tan(math.radians(20)))
    return orbit(centre, radius, n, size, size, fov_y_deg=40.0, elevation_deg=elevation, start_azimuth_deg=start_azimuth_deg)


def _degraded_paths(dets) -> list[str]:
    """One sentence per fallback this run took (also logged), for report.json."""
    from uvatar.render._mesh_moderngl import moderngl_available

    notes = []
    if not moderngl_available():
        notes.append("degraded: no EGL context; mesh visibility used the torch rasterizer (slower, same result)")
    if any(det.mask is None for det in dets):
        notes.append("degraded: no person mask; the shell was not fitted to the silhouette, no input-view PSNR")
    for note in notes:
        log.warning(note)
    return notes


def reconstruct(photos: list[str | Path], out_dir: str | Path, config: ReconstructConfig = ReconstructConfig(), progress=None,
                overwrite: bool = False) -> dict:
    """Run the whole job (:func:`_reconstruct`) with torch threads matched to the free cores at each
    stage and every :data:`~uvatar.threads.RECHECK_S` in the render loops (``config.threads`` > 0 forces
    a count); the caller's thread count is restored after."""
    with stage_threads("reconstruct", config.threads) as threads:
        return _reconstruct(photos, out_dir, config, progress, overwrite, threads)


def _reconstruct(photos, out_dir, config: ReconstructConfig, progress, overwrite: bool, threads) -> dict:
    """Run the whole job and write OUT/avatar.uvatar, avatar.ply, posed.ply, preview.png,
    turntable.mp4 and report.json (written into a temporary folder whose files move into ``out_dir`` at
    the end; ``out_dir`` is checked first: a non-empty folder UVatar did not write needs ``overwrite``,
    and a folder holding a photo is refused).

    Returns:
        the report (also in report.json).
    """
    from uvatar.body.model import load_body_model
    from uvatar.body.shell import shell_offsets
    from uvatar.dualuv.blend import blend_uv_features
    from uvatar.dualuv.project import DualUVConfig, project_dual_uv
    from uvatar.dualuv.shell_fit import silhouette_shell_offsets
    from uvatar.encode import get_encoder
    from uvatar.io.atomic import atomic_dir
    from uvatar.io.image import load_image, save_image
    from uvatar.io.video import VideoWriter
    from uvatar.io.output_dir import check_output_dir
    from uvatar.detect.orientation import turn_image
    from uvatar.track import track_upright_photo
    from uvatar.track.overlay import fit_overlay

    say = progress or (lambda message: log.info(message))
    if not photos:
        raise InputError("no photo given; pass the path of at least one portrait photo")
    check_output_dir(out_dir, inputs=photos, overwrite=overwrite)
    from uvatar.model.learned import check_decoder_spec

    check_decoder_spec(config.decoder)  # "projection", "default", a checkpoint or a run folder; fails before tracking
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - since, 4)
        return now

    t = time.perf_counter()
    images = [load_image(p) for p in photos]
    body = load_body_model(config.device)
    encoder = get_encoder(config.encoder, device=config.device)
    t = lap("load_s", t)
    say(f"loaded {len(images)} photo(s) and the body model")

    fits, dets = [], []
    for image in images:
        image.rgb, fit, det, turns = track_upright_photo(image.rgb, body)
        if turns and image.alpha is not None:
            image.alpha = turn_image(image.alpha, turns)
        fits.append(fit)
        dets.append(det)
    t = lap("track_s", t)
    main_fit, main_det = fits[0], dets[0]
    say(f"tracked: regime {main_fit.regime}, landmark error {main_fit.residuals.get('landmark_rel_box', float('nan')):.3f} of the box")

    threads.recheck(now=True)
    shape = main_fit.params.phenotypes
    per_photo = []
    resolution = None
    for image, fit, det in zip(images, fits, dets):
        params = fit.params.detach()
        params.phenotypes = shape.clone()
        vertices = body.forward(params).vertices[0].detach()
        if resolution is None:
            resolution = choose_core_resolution(fit.regime, body, vertices, fit.camera)
        uv_config = DualUVConfig(core_resolution=resolution, shell_resolution=int(config.shell_fraction * resolution), supersample=2 if resolution <= 512 else 1)
        mask = torch.as_tensor(det.mask) if det.mask is not None else None
        offsets = shell_offsets(body)
        if mask is not None:
            offsets = silhouette_shell_offsets(vertices, body.faces, fit.camera, mask, offsets)
        features = encoder(image.rgb)
        per_photo.append((project_dual_uv(features, body, vertices, fit.camera, mask, offsets, uv_config), offsets, vertices))
    t = lap("project_s", t)
    uv = blend_uv_features([p[0] for p in per_photo]) if len(per_photo) > 1 else per_photo[0][0]
    say(f"projected into Dual-UV ({resolution}x{resolution} core)")

    threads.recheck(now=True)
    if config.decoder == "projection":
        from uvatar.model.projection import decode_projection

        avatar = decode_projection(uv, body, shape[0], main_fit.params.facial[0], per_photo[0][1])
    else:  # the learned MAE decoder (uvatar.model.learned)
        from uvatar.model.learned import decode_reconstruction

        views = [(image.rgb, p[2], fit.camera, None if det.mask is None else torch.as_tensor(det.mask), p[1])
                 for image, fit, det, p in zip(images, fits, dets, per_photo)]  # fmt: skip
        avatar = decode_reconstruction(config.decoder, body, views, uv, shape[0], main_fit.params.facial[0], per_photo[0][1], config.device)
    avatar.meta.update(
        regime=main_fit.regime,
        photos=[str(p) for p in photos],
        encoder=config.encoder,
        fit_camera=main_fit.camera.to_dict(),
        fit_params={k: v.tolist() for k, v in main_fit.params.tensors().items()},
    )
    t = lap("decode_s", t)
    say(f"decoded {len(avatar)} Gaussians")

    posed = avatar.on_vertices(per_photo[0][2], body.faces)
    report = {
        "photos": [str(p) for p in photos],
        "regime": main_fit.regime,
        "lower_extent": main_fit.lower_extent,
        "decoder": config.decoder,
        "encoder": config.encoder,
        "core_resolution": resolution,
        "n_gaussians": len(avatar),
        "n_shell_gaussians": int((avatar.layer == 1).sum()),
        "fit_residuals": main_fit.residuals,
        "fit_confidence": main_fit.confidence,
        "warnings": list(main_fit.warnings) + _degraded_paths(dets),
        "projection_stats": uv.stats,
        "decoder_stats": avatar.meta.get("stats", {}),
        "timings": timings,
    }
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        avatar.save(tmp / "avatar.uvatar")
        avatar.export_ply(tmp / "avatar.ply", body)
        from uvatar.io.ply import write_gaussian_ply

        write_gaussian_ply(tmp / "posed.ply", posed.to_ply_cloud())
        (tmp / "fit.json").write_text(json.dumps(main_fit.to_dict(), indent=1))
        save_image(tmp / "overlay.png", fit_overlay(images[0].rgb, body, main_fit, main_det))  # the fit on the photo, as 'uvatar track' draws it
        t = lap("write_s", t)
        timings["avatar_total_s"] = round(time.perf_counter() - start, 4)
        say(f"avatar written in {timings['avatar_total_s']:.1f} s; rendering the preview")

        # ---- preview: input | re-render in the input camera | side | back
        camera = main_fit.camera
        scale = config.preview_size / max(camera.width, camera.height)
        width, height = max(1, round(camera.width * scale)), max(1, round(camera.height * scale))
        # rendered at 2x and area-averaged like the photo (a photo larger than the preview is averaged
        # down; a render at the preview size would point-sample the Gaussians and alias)
        factor = 2 if max(camera.width, camera.height) >= 2 * config.preview_size else 1
        threads.recheck(now=True)
        with torch.no_grad():
            front = posed.render(camera.resized(width * factor, height * factor), background=(1.0, 1.0, 1.0), backend=config.render_backend)
        front_image = area_resize(front.image.clamp(0, 1).numpy(), width, height)
        photo = area_resize(images[0].rgb, width, height)
        report["input_view_render_supersampling"] = factor
        if main_det.mask is not None:
            person = area_resize(main_det.mask, width, height)[..., 0] > 0.5
            psnr, ssim = masked_psnr_ssim(front_image, photo, person)
            report["input_view_psnr_in_mask"] = round(psnr, 3)
            report["input_view_ssim_in_mask"] = round(ssim, 4)
        rest_vertices = body.forward(avatar.params(body)).vertices[0]
        canonical = avatar.on_vertices(rest_vertices, body.faces)
        views = []
        for azimuth in (90.0, 180.0):  # the avatar's left side, then its back
            cam = _turntable_cameras(rest_vertices, 1, height, start_azimuth_deg=azimuth)[0]
            threads.recheck()
            with torch.no_grad():
                views.append(canonical.render(cam, background=(1.0, 1.0, 1.0), backend=config.render_backend).image.clamp(0, 1))
        panels = [photo, front_image] + views
        save_image(tmp / "preview.png", torch.cat(panels, 1).numpy())
        t = lap("preview_s", t)
        say("preview written")

        if config.turntable_frames > 0:  # 0: no turntable (benchmarks that only need the avatar)
            say(f"rendering the turntable ({config.turntable_frames} frames)")
            threads.recheck(now=True)
            cams = _turntable_cameras(rest_vertices, config.turntable_frames, config.turntable_size)
            with VideoWriter(tmp / "turntable.mp4", fps=24) as video, torch.no_grad():
                for cam in cams:
                    threads.recheck()  # fewer threads as soon as another job takes a core
                    frame = canonical.render(cam, background=(1.0, 1.0, 1.0), backend=config.render_backend).image.clamp(0, 1)
                    video.append((frame.numpy() * 255).astype(np.uint8))
            t = lap("turntable_s", t)
        timings["total_s"] = round(time.perf_counter() - start, 4)
        (tmp / "report.json").write_text(json.dumps(report, indent=1))
    say(f"done in {timings['total_s']:.1f} s: {out_dir}")
    return report
