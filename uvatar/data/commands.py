"""CLI commands of the data package: ``uvatar synth``, ``uvatar clips``, ``uvatar data stats|prompts``.

:func:`register` adds them to the main Typer app (``uvatar/cli.py``); imports stay inside the commands
so ``uvatar --help`` loads nothing heavy.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib", "absl", "trimesh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def synth(
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (manifest.json, index.json, shards/)."),
    subjects: int = typer.Option(200, help="Subjects in the whole data set."),
    views: int = typer.Option(8, help="Views per subject (spread around the person)."),
    size: int = typer.Option(512, help="Image side in pixels."),
    seed: int = typer.Option(0, help="Data set seed: subject i depends on (seed, i) only."),
    subjects_per_shard: int = typer.Option(8, help="Subjects per tar shard."),
    shard: str = typer.Option("0/1", help="This job's part i/n: makes the shards k with k mod n == i."),
    workers: int = typer.Option(1, help="Processes on this machine (each renders whole shards)."),
    no_uv: bool = typer.Option(False, "--no-uv", help="Do not store the per-view uv.png correspondence."),
    templates: bool = typer.Option(True, "--templates/--no-templates",
                                   help="Dress subjects in the catalogue's hair, garments and shoes; off: painted clothes and hair only (the manifold before templates)."),
    sharpen: bool = typer.Option(True, "--sharpen/--no-sharpen",
                                 help="The camera's sharpening of each view (an unsharp mask, gain and radius drawn per view); off: the renders as drawn (the manifold before it)."),
    view_lit: bool = typer.Option(False, "--view-lit/--world-lit",
                                  help="Light each view by the subject's lighting turned with its camera (a person turning before a fixed camera and lamp); default: one lighting fixed in the world, backs in shade."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Render a synthetic multi-view data set of Anny subjects into WebDataset-style tar shards (resumable)."""
    _setup_logging(verbose)
    from tqdm import tqdm

    from uvatar.data.shards import parse_shard_spec
    from uvatar.data.synth import SynthConfig, run_synth
    from uvatar.data.wardrobe import WardrobeConfig

    job = parse_shard_spec(shard)
    config = SynthConfig(subjects=subjects, views=views, size=size, seed=seed, subjects_per_shard=subjects_per_shard,
                         store_uv=not no_uv, wardrobe=WardrobeConfig() if templates else None, view_lit=view_lit,
                         **({} if sharpen else {"sharpen": (0.0, 0.0)}))
    bar = tqdm(total=0, unit="view", desc="synth", dynamic_ncols=True, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = run_synth(config, out, job=job, workers=workers, progress=progress)
    finally:
        bar.close()
    typer.echo(json.dumps(summary, indent=1))


def clips(
    videos: list[Path] = typer.Argument(..., help="Video clips, one person each."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (one sub-folder per clip)."),
    stride: int = typer.Option(10, help="Keep every stride-th frame."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many kept frames per clip."),
    fov: float = typer.Option(45.0, help="Tracker field-of-view prior, degrees."),
    same_level: bool = typer.Option(True, "--same-level/--across-levels-only",
                                    help="Also pair frames of one view level (more -> less confident fit); off: only front -> three-quarter -> side -> back."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an existing folder that UVatar did not write (its other files are kept)."),
    verbose: bool = typer.Option(False, "-v", "--verbose"),
) -> None:
    """Ingest clips: frames, person masks, a tracked fit per frame, view labels and the directed pair graph."""
    _setup_logging(verbose)
    from tqdm import tqdm

    from uvatar.data.clips import ClipsConfig, run_clips

    config = ClipsConfig(stride=stride, max_frames=max_frames, fov_deg=fov, same_level_edges=same_level)
    with tqdm(unit="frame", desc="clips", dynamic_ncols=True, file=sys.stderr) as bar:
        result = run_clips(videos, out, config, progress=bar.update, overwrite=overwrite)
    typer.echo(json.dumps(result, indent=1))


def stats(
    folder: Path = typer.Argument(..., help="A folder written by 'uvatar synth'."),
    sheet: Optional[Path] = typer.Option(None, help="Contact sheet PNG (default: FOLDER/contact_sheet.png)."),
    subjects: int = typer.Option(8, help="Subjects (rows) on the contact sheet."),
    thumb: int = typer.Option(160, help="Thumbnail side in pixels."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    detect: int = typer.Option(0, help="Also run MediaPipe on this many random half/full-body views; print the detection rate."),
) -> None:
    """Counts by framing, view, age group and skin tone; writes a contact sheet PNG."""
    _setup_logging(False)
    from uvatar.data.stats import collect_stats, contact_sheet, detection_rate, format_stats
    from uvatar.io.image import save_image

    result = collect_stats(folder)
    path = sheet or Path(folder) / "contact_sheet.png"
    save_image(path, contact_sheet(folder, subjects=subjects, thumb=thumb))
    if detect > 0:
        result["detection"] = detection_rate(folder, n=detect)
    typer.echo(json.dumps(result, indent=1) if as_json else format_stats(result))
    if detect > 0 and not as_json:
        typer.echo(f"detection  {json.dumps(result['detection'])}")
    typer.echo(f"contact sheet: {path}", err=True)


def prompts(
    out: Path = typer.Option(..., "-o", "--out", help="Output .jsonl file."),
    n: int = typer.Option(20, "-n", help="Number of prompts."),
    seed: int = typer.Option(0, help="Seed of the template draws."),
    synth_dir: Optional[Path] = typer.Option(None, "--from", help="Describe subjects of this 'uvatar synth' folder."),
    llm_command: Optional[str] = typer.Option(None, help="A command that rewrites a prompt read on stdin (optional)."),
) -> None:
    """Write filmic prompts for a video generator (optionally refined by a language-model command)."""
    _setup_logging(False)
    from uvatar.data.prompts import write_prompts

    rows = write_prompts(out, n, seed, llm_command, synth_dir)
    typer.echo(f"wrote {len(rows)} prompts to {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``synth``, ``clips`` and ``data stats|prompts`` to ``app``."""
    app.command("synth")(synth)
    app.command("clips")(clips)
    data_app = typer.Typer(no_args_is_help=True, help="Training data sets: statistics, prompts.")
    data_app.command("stats")(stats)
    data_app.command("prompts")(prompts)
    app.add_typer(data_app, name="data")
