"""``uvatar``: one entry point, one sub-command per job.

Every command turns :class:`~uvatar.errors.UvatarError` into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path

import typer

from uvatar.errors import InputError, Terminated, UvatarError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="UVatar: one portrait photo to an animatable 3D Gaussian avatar.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed and memory) on this machine.")
app.add_typer(bench_app, name="bench")


OVERWRITE_HELP = "Write into an existing folder that UVatar did not write (its other files are kept)."


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib", "absl", "trimesh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command("body-demo")
def body_demo(
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (UVatar's files in it are replaced on success)."),
    hair: str = typer.Option(None, "--hair", help="Hair to wear (e.g. bob02; see uvatar.assets.asset_names('hair'))."),
    outfit: str = typer.Option(None, "--outfit", help="Outfit to wear (e.g. male_casualsuit03)."),
    shoes: str = typer.Option(None, "--shoes", help="Shoes to wear (e.g. shoes01)."),
    hat: str = typer.Option(None, "--hat", help="Hat to wear (fedora, fedora_cocked)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Write the canonical body (.obj with a UV checker, .ply by part) and its UV atlas by part (.png);
    with --hair/--outfit/--shoes/--hat also the body wearing them (dressed.ply, dressed_walk.ply,
    dressed.png: front, side and back in the rest and a walking pose)."""
    _setup_logging(verbose)
    from uvatar.assets import asset_info
    from uvatar.body.demo import write_body_demo
    from uvatar.body.model import load_body_model
    from uvatar.io.output_dir import check_output_dir

    chosen = {"hair": hair, "outfit": outfit, "shoes": shoes, "hat": hat}
    assets = [asset_info(name, kind).name for kind, name in chosen.items() if name]
    check_output_dir(out, overwrite=overwrite)

    start = time.perf_counter()
    typer.echo("loading the body model (the first run builds Anny's cache: about a minute)", err=True)
    body = load_body_model()
    typer.echo(f"body model ready in {time.perf_counter() - start:.1f} s", err=True)
    extra = None
    if assets:
        import functools

        from uvatar.assets.demo import write_dressed

        extra = functools.partial(write_dressed, body=body, names=assets)
    report = write_body_demo(out, body, overwrite=overwrite, extra=extra)
    typer.echo(json.dumps(report, indent=2))
    dressed = ", dressed.ply, dressed_walk.ply, dressed.png" if assets else ""
    typer.echo(f"wrote {out}/ (body.obj + .mtl + texture, body.ply, tpose.ply, uv_parts.png{dressed}, report.json)", err=True)


@app.command("track")
def track(
    photo: Path = typer.Argument(..., help="A portrait photo (head, half or full body)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: fit.json (+ .safetensors), overlay.png, detections."),
    fov: float = typer.Option(45.0, help="Field-of-view prior over the longer image side, degrees."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Detect the person, decide the framing and fit the proxy body; print regime, residuals and time."""
    _setup_logging(verbose)
    import dataclasses

    from uvatar.body.model import load_body_model
    from uvatar.io.atomic import atomic_dir
    from uvatar.io.image import load_image, save_image
    from uvatar.io.output_dir import check_output_dir
    from uvatar.track import track_upright_photo
    from uvatar.track.fit import FitConfig
    from uvatar.track.overlay import fit_overlay

    check_output_dir(out, inputs=[photo], overwrite=overwrite)
    image = load_image(photo)
    body = load_body_model()
    rgb, fit, det, _ = track_upright_photo(image.rgb, body, dataclasses.replace(FitConfig(), fov_deg=fov))
    fit.residuals["image_notes"] = list(image.notes)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        fit.save(tmp / "fit.json")
        det.save(tmp / "detections.safetensors")
        save_image(tmp / "overlay.png", fit_overlay(rgb, body, fit, det))
    summary = {
        "photo": str(photo),
        "regime": fit.regime,
        "lower_extent": fit.lower_extent,
        "residuals": fit.residuals,
        "confidence": fit.confidence,
        "low_confidence": fit.low_confidence,
        "warnings": fit.warnings,
        "timings": fit.timings,
    }
    typer.echo(json.dumps(summary, indent=1))
    for warning in fit.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command("reconstruct")
def reconstruct_command(
    photos: list[Path] = typer.Argument(..., help="One or more photos of the same person."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (UVatar's files in it are replaced on success)."),
    decoder: str = typer.Option("projection", help="projection (training-free baseline), default (the shipped learned decoder), a decoder .safetensors or a 'uvatar train' run folder."),
    encoder: str = typer.Option("rgb", help="Feature encoder for the projection."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    turntable_frames: int = typer.Option(48, help="Frames of turntable.mp4."),
    preview_framing: str = typer.Option(
        "auto", "--preview-framing", metavar="auto|head|half|full",
        help="what preview.png's side/back panels and turntable.mp4 show: auto = what the photo framed, full = the whole body",
    ),
    threads: int = typer.Option(0, help="CPU threads (0: the cores free at each stage; OMP_NUM_THREADS also forces a count)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Photo(s) in; avatar.uvatar, avatar.ply, posed.ply, preview.png, turntable.mp4, report.json out."""
    _setup_logging(verbose)
    from uvatar.export.framing import check_preview_framing
    from uvatar.io.output_dir import check_output_dir
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    check_preview_framing(preview_framing)
    check_output_dir(out, inputs=photos, overwrite=overwrite)

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            from uvatar.errors import DependencyError

            raise DependencyError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    config = ReconstructConfig(decoder=decoder, encoder=encoder, device=device, turntable_frames=turntable_frames, threads=threads,
                               preview_framing=preview_framing)  # fmt: skip
    report = reconstruct(photos, out, config, progress=lambda m: typer.echo(f"[uvatar] {m}", err=True), overwrite=overwrite)
    typer.echo(json.dumps(report, indent=1))


@app.command("motion")
def motion_command(
    video: Path = typer.Argument(..., help="A video of one person (head, half or full body in frame)."),
    out: Path = typer.Option(..., "-o", "--out", help="Motion file to write (.json)."),
    every: int = typer.Option(1, help="Track every N-th frame (the motion runs at the video's fps / N)."),
    max_frames: int = typer.Option(None, help="Stop after this many tracked frames."),
    smooth: float = typer.Option(0.25, help="Temporal smoothing window, seconds (0: off)."),
    regime: str = typer.Option(None, help="head, half or full: override the framing read from the clip."),
    dense: bool = typer.Option(False, "--dense", help="Also follow the body's surface by optical flow: steadier raw fits, about a fifth slower."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Track a video into a motion (.json) for 'uvatar animate'; a head-only clip drives head, neck and face."""
    _setup_logging(verbose)
    from tqdm import tqdm

    from uvatar.animate.video_motion import VideoMotionConfig, motion_from_video
    from uvatar.body.model import load_body_model
    from uvatar.errors import InputError

    if out.suffix.lower() != ".json":
        raise InputError(f"-o must name a .json motion file; got {out.name!r}")
    config = VideoMotionConfig(every=every, max_frames=max_frames, smooth_s=smooth, regime=regime, dense=dense)
    config.validate()
    if not video.is_file():
        raise InputError(f"no video at {video}; pass the path of a video file (.mp4, .mov, ...)")
    total = _video_frame_count(video, every, max_frames)
    body = load_body_model()
    start = time.perf_counter()
    with tqdm(total=total, unit="frame", desc="tracking", file=sys.stderr) as bar:
        motion = motion_from_video(video, body, config, on_frame=lambda n: bar.update(n - bar.n))
    seconds = time.perf_counter() - start
    motion.save(out)
    summary = {"motion": str(out), "frames": motion.n_frames, "fps": round(motion.fps, 4), "bones": len(motion.bones),
               "seconds": round(seconds, 2), "tracked_frames_per_s": round(motion.n_frames / seconds, 3), **motion.meta}  # fmt: skip
    summary.pop("source_frames", None)
    typer.echo(json.dumps(summary, indent=1))
    typer.echo(f"tracked {motion.n_frames} frames in {seconds:.1f} s ({motion.n_frames / seconds:.2f} frames/s); regime {motion.meta['regime']}", err=True)


def _video_frame_count(video: Path, every: int, max_frames: int | None) -> int | None:
    """Frames that tracking will visit (for the progress bar), or None if ffmpeg cannot tell quickly."""
    try:
        import imageio_ffmpeg

        count, _ = imageio_ffmpeg.count_frames_and_secs(str(video))
    except Exception:  # unknown length only costs the bar its total; read errors surface later
        return None
    count = -(-count // max(every, 1))
    return min(count, max_frames) if max_frames else count


@app.command("animate")
def animate_command(
    avatar: Path = typer.Argument(..., help="avatar.uvatar written by 'uvatar reconstruct'."),
    motion: str = typer.Option(..., "--motion", "-m", help="Built-in (idle, wave, talk, walk, turn), a motion .json or a .bvh."),
    out: Path = typer.Option(..., "-o", "--out", help="Video to write (.mp4 or .gif)."),
    camera: str = typer.Option("front", help="front, orbit (one turn) or input (the photo's camera and pose)."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Source video frame left of the render (video motions)."),
    size: int = typer.Option(512, help="Longer side of the render, pixels."),
    frames: int = typer.Option(None, help="Output frames (default: the motion once; looping motions repeat)."),
    fps: float = typer.Option(None, help="Output frame rate (default: the motion's)."),
    frames_ply: Path = typer.Option(None, "--frames-ply", help="Folder for each frame's posed Gaussians as 3DGS .ply (large)."),
    naming: str = typer.Option("auto", help="BVH joint names: auto, mixamo or cmu."),
    threads: int = typer.Option(0, help="CPU threads (0: the cores free now, re-read every second; OMP_NUM_THREADS also forces a count)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP + " (--frames-ply)"),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Render an avatar driven by a motion into a video; prints wall time and seconds per frame."""
    _setup_logging(verbose)
    if frames_ply is not None:
        from uvatar.io.output_dir import check_output_dir

        check_output_dir(frames_ply, inputs=[avatar, Path(motion)], overwrite=overwrite)
    from tqdm import tqdm

    from uvatar.animate.builtin import load_motion
    from uvatar.animate.render import AnimateConfig, animate_avatar
    from uvatar.avatar import Avatar
    from uvatar.body.model import load_body_model

    config = AnimateConfig(camera=camera, size=size, frames=frames, fps=fps, side_by_side=side_by_side, threads=threads)
    config.validate()
    loaded = Avatar.load(avatar)
    clip = load_motion(motion, naming=naming)  # checked before the body model loads (BVH loads it itself)
    body = load_body_model()
    total = frames or (max(1, round(clip.duration * fps)) if fps else clip.n_frames)
    with tqdm(total=total, unit="frame", desc="rendering", file=sys.stderr) as bar:
        report = animate_avatar(loaded, clip, body, out, config, frames_ply=frames_ply, on_frame=lambda i: bar.update(1),
                                overwrite=overwrite)
    typer.echo(json.dumps(report, indent=1))
    typer.echo(
        f"wrote {out}: {report['frames']} frames in {report['total_s']:.1f} s "
        f"({report['s_per_frame']:.3f} s/frame, {report['frames_per_s']:.2f} frames/s)",
        err=True,
    )


@app.command("export")
def export_command(
    avatar: Path = typer.Argument(..., help="avatar.uvatar written by 'uvatar reconstruct'."),
    fmt: str = typer.Option(..., "--format", "-f", help="ply (3DGS), glb (rigged textured mesh), bundle (documented folder) or web (a page that plays the avatar in a browser)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .ply/.glb file, or the bundle/web folder (UVatar's files in it are replaced)."),
    pose: str = typer.Option("rest", help="rest (Anny's rest A-pose, exact skinning), reference or tpose."),
    texture_size: int = typer.Option(1024, help="Texels per side of the baked colour texture (glb, bundle)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP + " (bundle, web)"),
    motion: str = typer.Option(None, "--motion", help="web: a motion to add and start with (built-in name, motion .json or .bvh; default: wave among the built-ins)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Export an avatar for other tools: 3DGS .ply, rigged glTF .glb, the animatable bundle, or a web player."""
    _setup_logging(verbose)
    from uvatar.export import export_avatar

    typer.echo(json.dumps(export_avatar(avatar, fmt, out, pose=pose, texture_size=texture_size, overwrite=overwrite, motion=motion), indent=1))


@app.command("view")
def view_command(
    path: Path = typer.Argument(..., help="avatar.uvatar (the web player: GPU-skinned motion playback) or a 3DGS .ply (still cloud, viser)."),
    port: int = typer.Option(8080, help="Port of the local web viewer (the next free one if busy)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 exposes the viewer to your network."),
    max_gaussians: int = typer.Option(0, help="Show at most this many Gaussians (0 = all)."),
    motion: str = typer.Option(None, help="Motion an avatar starts with: a built-in name, a motion .json or a .bvh (default wave)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Open a local web viewer: an avatar plays in the web player (the page of 'export -f web'); a .ply shows in viser."""
    _setup_logging(verbose)
    announce = lambda m: typer.echo(m, err=True)  # noqa: E731
    if path.suffix.lower() == ".uvatar":
        from uvatar.view.web_server import serve_web

        serve_web(path, host=host, port=port, max_gaussians=max_gaussians, motion=motion, announce=announce)
        return
    from uvatar.view.viewer import serve

    serve(path, host=host, port=port, max_gaussians=max_gaussians, motion=motion, announce=announce)


@app.command("app")
def app_command(
    port: int = typer.Option(7860, help="Port of the local web app."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 exposes the app to your network."),
    workdir: Path = typer.Option(None, help="Where reconstructions are written (default: a temporary folder)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """A local web page: upload a photo, get the avatar (preview, turntable, .uvatar/.ply/.glb downloads)."""
    _setup_logging(verbose)
    from uvatar.app.web import launch

    launch(host=host, port=port, workdir=workdir)


@app.command("train")
def train_command(
    config: str = typer.Option(..., "--config", help="tiny, small, paper, or a run config JSON (configs/*.json)."),
    data: str = typer.Option(..., "--data", help="synthetic:N (rendered in memory; synthetic-view-lit:N: truth views lit with their camera), a folder written by 'uvatar synth' or by 'uvatar clips', or several joined by + (e.g. synthetic:96+out/clips)."),
    out: Path = typer.Option(..., "-o", "--out", help="Run folder; an existing one with the same config is resumed."),
    steps: int = typer.Option(None, help="Override the config's number of steps."),
    device: str = typer.Option(None, help="auto, cpu or cuda (default: the config's)."),
    threads: int = typer.Option(0, help="torch CPU threads per process (0: its share of the free cores, re-read every step; OMP_NUM_THREADS also forces a count)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Train the MAE decoder by rendering its avatars into ground-truth views (torchrun for several processes)."""
    _setup_logging(verbose)
    import dataclasses
    import os

    from tqdm import tqdm

    from uvatar.model.mae import UVDecoder, describe
    from uvatar.train.loop import load_run_config, train

    decoder_config, train_config = load_run_config(config)
    overrides = {k: v for k, v in {"steps": steps, "device": device}.items() if v is not None}
    train_config = dataclasses.replace(train_config, **overrides)
    bar = None

    def on_step(row: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=train_config.steps, initial=row["step"] - 1, unit="step", desc="training", file=sys.stderr)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", subj_s=f"{row['subjects_per_s']:.2f}", lr=f"{row['lr']:.1e}")

    from uvatar.body.model import load_body_model

    body = load_body_model()
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun: only rank 0 reports
    if main_process:
        typer.echo(f"[uvatar] decoder {describe(decoder_config, UVDecoder.from_body(decoder_config, body))}", err=True)
    summary = train(out, decoder_config, train_config, data, body=body, on_step=on_step, threads=threads)
    if bar is not None:
        bar.close()
    summary.pop("history", None)
    if main_process:
        typer.echo(json.dumps(summary, indent=1))


@app.command("eval")
def eval_command(
    decoder: str = typer.Option("projection", "--decoder", help="projection, default, a decoder .safetensors or a run folder."),
    data: str = typer.Option("synthetic:4", "--data", help="synthetic:N (N subjects in each framing; synthetic-view-lit:N: truth views lit with their camera) or a 'uvatar synth' folder."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: eval.json, eval.md, eval.png."),
    size: int = typer.Option(256, help="Image side of the photos and views, pixels."),
    framings: str = typer.Option("head,half,full", help="Comma-separated framings."),
    seed: int = typer.Option(100000, help="First synthetic seed (training uses seeds from 0)."),
    avatar_resolution: int = typer.Option(0, help="Core-UV side of learned avatars (0: the decoder's own)."),
    projection_resolution: int = typer.Option(512, help="Core-UV side of the projection decoder."),
    threads: int = typer.Option(0, help="CPU threads (0: the cores free, re-read per subject; OMP_NUM_THREADS also forces a count)."),
    hair: bool = typer.Option(True, "--hair/--no-hair", help="Fit a hairstyle to each photo, as reconstruct does (--no-hair: the body and garment shell alone)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Novel-view PSNR, SSIM, ST-LPIPS (and dlib identity) of a decoder, by framing, unseen views apart."""
    _setup_logging(verbose)
    from tqdm import tqdm

    from uvatar.eval.decoder_eval import evaluate_decoder, format_markdown
    from uvatar.io.atomic import atomic_dir
    from uvatar.io.output_dir import check_output_dir

    inputs = [Path(p) for p in (decoder, data) if Path(p).exists()]
    check_output_dir(out, inputs=inputs, overwrite=overwrite)

    names = tuple(f.strip() for f in framings.split(",") if f.strip())
    with atomic_dir(out, overwrite=overwrite) as tmp, tqdm(unit="subject", desc="evaluating", file=sys.stderr) as bar:
        result = evaluate_decoder(decoder, data, size, names, seed, avatar_resolution, projection_resolution,
                                  figure=tmp / "eval.png", on_subject=lambda row: bar.update(1), threads=threads, hair=hair)  # fmt: skip
        (tmp / "eval.json").write_text(json.dumps(result, indent=1))
        (tmp / "eval.md").write_text(format_markdown(result) + "\n")
    typer.echo(format_markdown(result))


@bench_app.command("decoder")
def bench_decoder(
    configs: str = typer.Option("tiny,small,paper", help="Comma-separated decoder configs."),
    threads: int = typer.Option(2, help="torch CPU threads."),
    repeats: int = typer.Option(3, help="Repeats per measurement (median reported)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
) -> None:
    """Parameters and forward time per avatar of the MAE decoder configs on this machine."""
    _setup_logging(False)
    import torch

    torch.set_num_threads(threads)
    from uvatar.eval.decoder_bench import bench_decoders

    rows = bench_decoders([c.strip() for c in configs.split(",") if c.strip()], repeats=repeats)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    keys = list(rows[0])
    typer.echo(" | ".join(keys))
    for row in rows:
        typer.echo(" | ".join(_fmt(row.get(k)) for k in keys))


@bench_app.command("render")
def bench_render(
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
    threads: int = typer.Option(2, help="torch CPU threads."),
    repeats: int = typer.Option(3, help="Repeats per measurement (median reported)."),
    small: bool = typer.Option(False, help="Only the small sizes (a quick check)."),
    backends: str = typer.Option(None, help="Comma-separated Gaussian backends to time (default: torch, torch-compiled, numba, and gsplat with CUDA)."),
) -> None:
    """Forward / forward+backward time and peak memory of the Gaussian renderers, and mesh visibility."""
    _setup_logging(False)
    import torch

    torch.set_num_threads(threads)
    from uvatar.body.model import load_body_model
    from uvatar.render.gaussians_bench import bench_gaussians
    from uvatar.render.mesh_bench import bench_mesh

    counts = (4096, 16384) if small else (65536, 262144)
    timeable = ("torch", "torch-compiled", "numba", "gsplat")
    chosen = [b.strip() for b in backends.split(",") if b.strip()] if backends else None
    unknown = [b for b in chosen or [] if b not in timeable]
    if unknown:
        raise InputError(f"--backends: cannot time {', '.join(unknown)}; choose from {', '.join(timeable)}")
    rows = [dict(kind="gaussians", **row) for row in bench_gaussians(counts=counts, size=512, repeats=repeats, backends=chosen)]
    body = load_body_model()
    vertices = body.rest_vertices().detach()
    rows += [dict(kind="mesh", **row) for row in bench_mesh(vertices, body.faces, sizes=(512, 1024), repeats=max(repeats, 5))]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "kind", k != "backend", k))
    typer.echo(" | ".join(keys))
    for row in rows:
        typer.echo(" | ".join(_fmt(row.get(k)) for k in keys))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# training data: `uvatar synth`, `uvatar clips`, `uvatar data stats|prompts` (uvatar/data/commands.py)
from uvatar.data.commands import register as _register_data_commands  # noqa: E402

_register_data_commands(app)


def _click_exception_types() -> tuple[type, ...]:
    """Usage-error classes: typer 0.29 vendors click as ``typer._click``; a separately installed click
    (gradio brings one) has its own, distinct class."""
    types = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            types.append(__import__(module, fromlist=["ClickException"]).ClickException)
        except ImportError:
            pass
    return tuple(types)


def _raise_terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
    raise Terminated()


def main() -> None:
    """Console entry point: exit 0 on success, the error's code with one line on stderr otherwise,
    130 on Ctrl-C and 143 on SIGTERM (temporary outputs removed in both cases)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    from uvatar.heap import keep_freed_memory

    keep_freed_memory()
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code; Ctrl-C inside a command is Exit(130)
    except UvatarError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # unreadable input, permissions, a path the user named
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''} (check the path and its permissions)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:  # outside a command's body (typer turns one inside it into Exit(130))
        code = 130
    except Terminated:
        typer.echo("terminated (SIGTERM); nothing was written", err=True)
        sys.exit(143)
    except Exception as exc:  # click's own usage errors
        if isinstance(exc, _click_exception_types()):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            sys.exit(1)
        raise
    if code == 130:
        typer.echo("interrupted (Ctrl-C); nothing was written", err=True)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
