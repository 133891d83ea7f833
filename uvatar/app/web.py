"""``uvatar app``: upload a photo, get the avatar: preview, turntable and downloads (Gradio).

The page is a thin shell over :func:`run_photo`, a plain function (tested without Gradio) that runs
:func:`uvatar.reconstruct.reconstruct` into a fresh folder and adds the rigged ``avatar.glb``. Gradio is
an optional dependency (the ``app`` extra, gradio 6.31.0, which is why pillow is pinned below 13)
imported only by :func:`build_app` / :func:`launch`: ``pip install -e .[app]``. The server binds to 127.0.0.1 unless told otherwise,
runs one reconstruction at a time, and never opens a public share link; Gradio's analytics are off.

Uploads are capped at :data:`MAX_UPLOAD_BYTES` (by Gradio before the file is stored, and again here).
Results are named by the upload's file name, never by Gradio's temporary path. Without ``--workdir`` the
app writes into its own temporary folder, keeps the latest :data:`KEEP_RESULTS` runs there and removes
the folder on exit; Gradio's copies of uploads and results are deleted after :data:`GRADIO_CACHE_AGE_S`
and at shutdown. Nothing the app did not write is deleted.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from uvatar.errors import DependencyError, InputError, UvatarError

__all__ = ["GRADIO_VERSION", "INSTALL_HINT", "KEEP_RESULTS", "MAX_UPLOAD_BYTES", "AppResult", "build_app", "launch", "run_photo"]

log = logging.getLogger(__name__)

GRADIO_VERSION = "6.31.0"
INSTALL_HINT = "pip install -e '.[app]'"

# Largest upload accepted. The biggest photos people take (a 45-61 MP camera JPEG at top quality, a
# 48-50 MP phone shot) are 15-35 MB, and load_image shrinks every photo to 2048 px anyway, so 40 MB lets
# any real photo through while bounding what one request can make the server store and decode.
MAX_UPLOAD_BYTES = 40 * 2**20
# Runs kept in the app's own temporary folder (each ~10-40 MB); older ones are deleted after a new run.
KEEP_RESULTS = 8
# Gradio's copies of uploads and results (in its cache, e.g. /tmp/gradio) made by this app are deleted
# once they are this old (checked as often) and all at shutdown; a result page stays downloadable an hour.
GRADIO_CACHE_AGE_S = 3600
# Written into each run folder the app makes; only folders holding it are ever pruned.
RUN_MARKER = ".uvatar-app-run"


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


def run_photo(
    photo: str | Path | None,
    workdir: str | Path,
    config=None,
    reconstruct_fn=None,
    glb_texture_size: int = 1024,
    photo_name: str | None = None,
    keep: int | None = None,
) -> AppResult:
    """Reconstruct one uploaded photo into ``workdir/<run id>/`` and export the rigged GLB beside it.

    Args:
        photo: path of the uploaded image (None when nothing was uploaded).
        workdir: folder that collects the runs.
        config: :class:`uvatar.reconstruct.ReconstructConfig` (default: 24 turntable frames).
        reconstruct_fn: the reconstruction to run (default :func:`uvatar.reconstruct.reconstruct`).
        photo_name: the file name the user uploaded (default: ``photo``'s); its base name is what the
            report, the ``.uvatar`` and error messages show instead of the (temporary) ``photo`` path.
        keep: keep only the latest ``keep`` run folders the app wrote in ``workdir`` (None: all).
    Raises:
        InputError: no photo, one over :data:`MAX_UPLOAD_BYTES`, not an image (the CLI's messages); any
            :class:`UvatarError` of the reconstruction (e.g. no person found).
    """
    from uvatar.io.image import load_image
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    if photo is None or not Path(photo).is_file():
        raise InputError("no photo uploaded; choose a portrait photo (head, half or full body) first")
    photo = Path(photo)
    name = _base_name(photo_name) or photo.name
    size = photo.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise InputError(
            f"{name} is {size / 2**20:.0f} MB, over the app's {MAX_UPLOAD_BYTES // 2**20} MB upload limit; "
            "save it as a JPEG or downsize it (UVatar uses at most 2048 px per side)"
        )
    with _named(photo, name):
        load_image(photo)  # the CLI's checks and messages: not an image, corrupt, too small, too large
    config = config or ReconstructConfig(turntable_frames=24)
    run = reconstruct_fn or reconstruct
    workdir = Path(workdir)
    out_dir = workdir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    out_dir.mkdir(parents=True)
    (out_dir / RUN_MARKER).write_text(f"written by 'uvatar app' for {name}\n")
    try:
        start = time.perf_counter()
        with _named(photo, name):
            report = run([photo], out_dir / "avatar", config)
        avatar_dir = out_dir / "avatar"
        report = _store_name(avatar_dir, report, photo, name)
        glb = avatar_dir / "avatar.glb"
        from uvatar.export import export_avatar

        glb_info = export_avatar(avatar_dir / "avatar.uvatar", "glb", glb, texture_size=glb_texture_size)
        downloads = [avatar_dir / n for n in ("avatar.uvatar", "avatar.ply", "avatar.glb")]
        missing = [p.name for p in downloads + [avatar_dir / "preview.png", avatar_dir / "turntable.mp4"] if not p.is_file()]
        if missing:
            raise UvatarError(f"the reconstruction did not write {', '.join(missing)}; run 'uvatar reconstruct' on the photo to see why")
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)  # ours, just made
        raise
    finally:
        if keep is not None:
            _prune_runs(workdir, keep)
    summary = (
        f"{report.get('n_gaussians', '?')} Gaussians, framing '{report.get('regime', '?')}', "
        f"input-view PSNR {report.get('input_view_psnr_in_mask', float('nan')):.1f} dB, "
        f"GLB {glb_info['bytes'] / 1e6:.1f} MB; {time.perf_counter() - start:.0f} s"
    )
    return AppResult(out_dir, avatar_dir / "preview.png", avatar_dir / "turntable.mp4", downloads, report, summary)


def _base_name(name: str | None) -> str:
    """The last part of a file name as a browser may send it (``C:\\...\\a.png``, ``../a.png``)."""
    if not name:
        return ""
    base = re.split(r"[\\/]", str(name))[-1].strip()
    return "" if base in (".", "..") else "".join(c for c in base if c.isprintable())[:255]


@contextmanager
def _named(photo: Path, name: str):
    """Errors raised inside name the upload by ``name``, not by its temporary path."""
    try:
        yield
    except UvatarError as exc:
        exc.args = tuple(_renamed(a, photo, name) for a in exc.args)
        raise


def _renamed(value, photo: Path, name: str):
    """``value`` (str / list / dict, nested) with every spelling of ``photo``'s path replaced by ``name``."""
    if isinstance(value, str):
        for spelling in sorted({str(photo), str(photo.resolve()), os.path.abspath(photo)}, key=len, reverse=True):
            value = value.replace(spelling, name)
        return value
    if isinstance(value, list):
        return [_renamed(v, photo, name) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, photo, name) for k, v in value.items()}
    return value


def _store_name(avatar_dir: Path, report: dict, photo: Path, name: str) -> dict:
    """Replace the upload's temporary path by ``name`` in the report (returned and report.json) and in
    the avatar's meta. (reconstruct() stores ``str(photo)``; the app's photo is a file in Gradio's cache.)"""
    report = _renamed(report, photo, name)
    path = avatar_dir / "report.json"
    if path.is_file():
        text = path.read_text()
        fixed = json.dumps(_renamed(json.loads(text), photo, name), indent=1)
        if fixed != text:
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
            tmp.write_text(fixed)
            os.replace(tmp, path)
    bundle = avatar_dir / "avatar.uvatar"
    if bundle.is_file():
        from uvatar.avatar import Avatar

        avatar = Avatar.load(bundle)
        meta = _renamed(avatar.meta, photo, name)
        if meta != avatar.meta:
            avatar.meta = meta
            avatar.save(bundle)
    return report


def _prune_runs(workdir: Path, keep: int) -> None:
    """Delete all but the latest ``keep`` run folders the app wrote (those holding :data:`RUN_MARKER`)."""
    runs = [p for p in workdir.iterdir() if p.is_dir() and not p.is_symlink() and (p / RUN_MARKER).is_file()]
    runs.sort(key=lambda p: ((p / RUN_MARKER).stat().st_mtime_ns, p.name))
    for old in runs[: max(0, len(runs) - max(keep, 1))]:  # the run just made always stays
        shutil.rmtree(old, ignore_errors=True)
        log.info("removed an older result: %s", old)


def _import_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio
    except ImportError:
        raise DependencyError(f"the web app needs Gradio (the app extra): {INSTALL_HINT}") from None
    return gradio


def _upload(payload) -> tuple[str | None, str | None]:
    """Gradio's upload (a FileData dict, its input not preprocessed) -> (file path, the user's file name)."""
    if payload is None:
        return None, None
    if isinstance(payload, (str, Path)):
        return str(payload), None
    if isinstance(payload, dict):
        return payload.get("path"), payload.get("orig_name")
    return None, None


def build_app(workdir: str | Path, config=None, reconstruct_fn=None, keep: int | None = None):
    """The Gradio ``Blocks`` page (not launched). Its API endpoint ``/reconstruct`` takes an image file
    and returns (preview, turntable, downloads, summary). ``keep``: see :func:`run_photo`.

    The upload reaches the handler as Gradio stored it (``preprocess=False``): Gradio's own image decoding
    would fail on a non-image with no message ({"error": null}); :func:`run_photo` checks it instead."""
    gr = _import_gradio()

    def handle(photo):
        path, name = _upload(photo)
        try:
            result = run_photo(path, workdir, config=config, reconstruct_fn=reconstruct_fn, photo_name=name, keep=keep)
        except UvatarError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # a bug: one line for the page, the traceback for the server log
            log.exception("the reconstruction of %s failed", name or path)
            raise gr.Error(f"the reconstruction failed unexpectedly ({type(exc).__name__}: {exc}); the server log has the details") from None
        return str(result.preview), str(result.turntable), [str(p) for p in result.downloads], result.summary

    with gr.Blocks(title="UVatar", delete_cache=(GRADIO_CACHE_AGE_S, GRADIO_CACHE_AGE_S)) as page:
        gr.Markdown(
            "# UVatar\nOne portrait photo in, an animatable 3D Gaussian avatar out. "
            "Upload a photo (head, half or full body) and press **Reconstruct** (about a minute on a CPU)."
        )
        with gr.Row():
            photo = gr.Image(type="filepath", label=f"Photo (up to {MAX_UPLOAD_BYTES // 2**20} MB)", sources=["upload"])
            preview = gr.Image(type="filepath", label="Preview: photo | re-render | side | back", interactive=False)
        go = gr.Button("Reconstruct", variant="primary")
        turntable = gr.Video(label="Turntable", interactive=False)
        downloads = gr.File(label="Downloads: avatar.uvatar (bundle), avatar.ply (3DGS), avatar.glb (rigged mesh)", file_count="multiple", interactive=False)
        summary = gr.Markdown()
        go.click(
            handle, inputs=photo, outputs=[preview, turntable, downloads, summary], api_name="reconstruct", concurrency_limit=1, preprocess=False
        )
    return page


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    workdir: str | Path | None = None,
    block: bool = True,
    config=None,
    reconstruct_fn=None,
    keep: int | None = None,
    quiet: bool = False,
):
    """Serve the page on ``host:port`` (local only by default). Returns the page when ``block`` is False.

    Without ``workdir`` the results go to a new temporary folder of the app's own, which keeps the latest
    ``keep`` (default :data:`KEEP_RESULTS`) runs and is removed when the blocking server stops (Ctrl-C,
    SIGTERM) or, with ``block=False``, when the process exits. A given ``workdir`` keeps every run
    (unless ``keep`` is given) and is never removed.
    ``config`` / ``reconstruct_fn``: see :func:`run_photo`."""
    _import_gradio()
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="uvatar-app-")) if own else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if own and keep is None:
        keep = KEEP_RESULTS
    page = build_app(workdir, config=config, reconstruct_fn=reconstruct_fn, keep=keep)
    page.queue(max_size=8)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("bound to %s: anyone who can reach this machine can use the app", host)
    log.info("UVatar app at http://%s:%d (results in %s)", "localhost" if host == "127.0.0.1" else host, port, workdir)

    def stop():
        """Stop the server (Gradio then deletes its cached copies) and remove the app's own folder."""
        atexit.unregister(stop)
        page.close(verbose=False)
        if own:
            shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    try:
        page.launch(
            server_name=host, server_port=port, share=False, allowed_paths=[str(workdir)], prevent_thread_lock=True,
            inbrowser=False, max_file_size=MAX_UPLOAD_BYTES, quiet=quiet,
        )  # fmt: skip
    except OSError as exc:
        stop()
        raise InputError(f"cannot serve on {host}:{port} ({exc}); choose another --port") from None
    except BaseException:
        stop()
        raise
    if not block:
        return page
    try:
        page.block_thread()  # until Ctrl-C
    finally:
        stop()
    return page
