"""``uvatar app``: upload a photo, get the avatar: preview, turntable and downloads (Gradio).

The page is a thin shell over :func:`run_photo`, a plain function (tested without Gradio) that runs
:func:`uvatar.reconstruct.reconstruct` into a fresh folder and adds the rigged ``avatar.glb``. Gradio is
an optional dependency (the ``app`` extra, gradio 6.31.0, which is why pillow is pinned below 13)
imported only by :func:`build_app` / :func:`launch`: ``pip install -e .[app]``. The server binds to 127.0.0.1 unless told otherwise,
runs one reconstruction at a time, and never opens a public share link; Gradio's analytics are off.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from uvatar.errors import DependencyError, InputError, UvatarError

__all__ = ["GRADIO_VERSION", "INSTALL_HINT", "AppResult", "run_photo", "build_app", "launch"]

log = logging.getLogger(__name__)

GRADIO_VERSION = "6.31.0"
INSTALL_HINT = "pip install -e '.[app]'"


@dataclass
class AppResult:
    """What one upload produced: ``preview`` (png), ``turntable`` (mp4), ``downloads`` (.uvatar,
    .ply, .glb), the reconstruct ``report`` and a one-paragraph ``summary``."""

    out_dir: Path
    preview: Path
    turntable: Path
    downloads: list[Path]
    report: dict = field(default_factory=dict)
    summary: str = ""


def run_photo(photo: str | Path | None, workdir: str | Path, config=None, reconstruct_fn=None, glb_texture_size: int = 1024) -> AppResult:
    """Reconstruct one uploaded photo into ``workdir/<run id>/`` and export the rigged GLB beside it.

    Args:
        photo: path of the uploaded image (None when nothing was uploaded).
        workdir: folder that collects the runs.
        config: :class:`uvatar.reconstruct.ReconstructConfig` (default: 24 turntable frames).
        reconstruct_fn: the reconstruction to run (default :func:`uvatar.reconstruct.reconstruct`).
    Raises:
        InputError: no photo; any :class:`UvatarError` of the reconstruction (e.g. no person found).
    """
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    if photo is None or not Path(photo).is_file():
        raise InputError("no photo uploaded; choose a portrait photo (head, half or full body) first")
    config = config or ReconstructConfig(turntable_frames=24)
    run = reconstruct_fn or reconstruct
    out_dir = Path(workdir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    report = run([Path(photo)], out_dir / "avatar", config)
    avatar_dir = out_dir / "avatar"
    glb = avatar_dir / "avatar.glb"
    from uvatar.export import export_avatar

    glb_info = export_avatar(avatar_dir / "avatar.uvatar", "glb", glb, texture_size=glb_texture_size)
    downloads = [avatar_dir / name for name in ("avatar.uvatar", "avatar.ply", "avatar.glb")]
    missing = [p.name for p in downloads + [avatar_dir / "preview.png", avatar_dir / "turntable.mp4"] if not p.is_file()]
    if missing:
        raise UvatarError(f"the reconstruction did not write {', '.join(missing)}; run 'uvatar reconstruct' on the photo to see why")
    summary = (
        f"{report.get('n_gaussians', '?')} Gaussians, framing '{report.get('regime', '?')}', "
        f"input-view PSNR {report.get('input_view_psnr_in_mask', float('nan')):.1f} dB, "
        f"GLB {glb_info['bytes'] / 1e6:.1f} MB; {time.perf_counter() - start:.0f} s"
    )
    return AppResult(out_dir, avatar_dir / "preview.png", avatar_dir / "turntable.mp4", downloads, report, summary)


def _import_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio
    except ImportError:
        raise DependencyError(f"the web app needs Gradio (the app extra): {INSTALL_HINT}") from None
    return gradio


def build_app(workdir: str | Path, config=None, reconstruct_fn=None):
    """The Gradio ``Blocks`` page (not launched). Its API endpoint ``/reconstruct`` takes an image file
    and returns (preview, turntable, downloads, summary)."""
    gr = _import_gradio()

    def handle(photo):
        try:
            result = run_photo(photo, workdir, config=config, reconstruct_fn=reconstruct_fn)
        except UvatarError as exc:
            raise gr.Error(str(exc)) from None
        return str(result.preview), str(result.turntable), [str(p) for p in result.downloads], result.summary

    with gr.Blocks(title="UVatar") as page:
        gr.Markdown(
            "# UVatar\nOne portrait photo in, an animatable 3D Gaussian avatar out. "
            "Upload a photo (head, half or full body) and press **Reconstruct** (about a minute on a CPU)."
        )
        with gr.Row():
            photo = gr.Image(type="filepath", label="Photo", sources=["upload"])
            preview = gr.Image(type="filepath", label="Preview: photo | re-render | side | back", interactive=False)
        go = gr.Button("Reconstruct", variant="primary")
        turntable = gr.Video(label="Turntable", interactive=False)
        downloads = gr.File(label="Downloads: avatar.uvatar (bundle), avatar.ply (3DGS), avatar.glb (rigged mesh)", file_count="multiple", interactive=False)
        summary = gr.Markdown()
        go.click(handle, inputs=photo, outputs=[preview, turntable, downloads, summary], api_name="reconstruct", concurrency_limit=1)
    return page


def launch(host: str = "127.0.0.1", port: int = 7860, workdir: str | Path | None = None, block: bool = True):
    """Serve the page on ``host:port`` (local only by default). Returns the page when ``block`` is False."""
    _import_gradio()
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="uvatar-app-"))
    workdir.mkdir(parents=True, exist_ok=True)
    page = build_app(workdir)
    page.queue(max_size=8)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("bound to %s: anyone who can reach this machine can use the app", host)
    log.info("UVatar app at http://%s:%d (results in %s)", "localhost" if host == "127.0.0.1" else host, port, workdir)
    try:
        page.launch(server_name=host, server_port=port, share=False, allowed_paths=[str(workdir)], prevent_thread_lock=not block, inbrowser=False)
    except OSError as exc:
        raise InputError(f"cannot serve on {host}:{port} ({exc}); choose another --port") from None
    return page
