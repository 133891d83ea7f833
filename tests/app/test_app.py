"""``uvatar app``: the upload handler (called directly, with a stand-in and with the real reconstruction)
and, when the optional Gradio extra is installed, the page through Gradio's own client."""

import re
import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar_helpers import small_avatar
from uvatar.app.web import INSTALL_HINT, run_photo
from uvatar.errors import DependencyError, InputError, NoPersonError

REPO = Path(__file__).resolve().parents[2]
HAS_GRADIO = importlib.util.find_spec("gradio") is not None


def _fake_reconstruct(body):
    """A stand-in for uvatar.reconstruct.reconstruct that writes the same files from a small avatar."""

    def run(photos, out_dir, config):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True)
        avatar = small_avatar(body, n=3000, shell=20)
        avatar.save(out_dir / "avatar.uvatar")
        avatar.export_ply(out_dir / "avatar.ply", body)
        Image.fromarray(np.full((32, 128, 3), 200, np.uint8)).save(out_dir / "preview.png")
        from uvatar.io.video import write_video

        write_video(out_dir / "turntable.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, fps=24)
        return {"n_gaussians": len(avatar), "regime": "full", "input_view_psnr_in_mask": 20.0, "photos": [str(p) for p in photos]}

    return run


def _photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path)
    return path


def test_run_photo_collects_outputs_and_adds_a_glb(tmp_path, body):
    result = run_photo(_photo(tmp_path), tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body), glb_texture_size=64)
    assert [p.name for p in result.downloads] == ["avatar.uvatar", "avatar.ply", "avatar.glb"]
    assert all(p.is_file() for p in result.downloads + [result.preview, result.turntable])
    assert result.downloads[2].read_bytes()[:4] == b"glTF"
    assert result.out_dir.parent == tmp_path / "runs" and "3020 Gaussians" in result.summary
    again = run_photo(_photo(tmp_path), tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body), glb_texture_size=64)
    assert again.out_dir != result.out_dir  # each upload gets its own folder


def test_run_photo_refuses_missing_photo_and_reports_no_person(tmp_path, body):
    with pytest.raises(InputError, match="no photo uploaded"):
        run_photo(None, tmp_path)
    from uvatar.reconstruct import ReconstructConfig

    with pytest.raises(NoPersonError):  # the real reconstruction on a photo with nobody in it
        run_photo(_photo(tmp_path), tmp_path / "runs", config=ReconstructConfig(turntable_frames=2))


def test_missing_gradio_says_how_to_install(monkeypatch):
    from uvatar.app import web

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(DependencyError, match=re.escape(INSTALL_HINT)):
        web.build_app("/tmp")
    if not HAS_GRADIO:  # the CLI turns it into one line and exit code 4
        result = subprocess.run([sys.executable, "-m", "uvatar.cli", "app", "--port", "1"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 4 and INSTALL_HINT in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_run_photo_end_to_end(tmp_path):
    """The real reconstruction of the bundled photo through the app's handler (about a minute)."""
    from uvatar.reconstruct import ReconstructConfig

    result = run_photo(REPO / "examples" / "astronaut.png", tmp_path, config=ReconstructConfig(turntable_frames=2, turntable_size=96))
    assert result.report["n_gaussians"] > 50_000 and result.downloads[2].stat().st_size > 100_000


@pytest.mark.skipif(not HAS_GRADIO, reason=f"gradio (the app extra) is not installed: {INSTALL_HINT}")
def test_gradio_page_through_its_client(tmp_path, body):
    from gradio_client import Client, handle_file

    from uvatar.app.web import build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    page = build_app(tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body))
    page.queue()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, allowed_paths=[str(tmp_path)])
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        preview, turntable, downloads, summary = client.predict(handle_file(str(_photo(tmp_path))), api_name="/reconstruct")
        names = sorted(Path(d if isinstance(d, str) else d["path"]).name for d in downloads)
        assert names == ["avatar.glb", "avatar.ply", "avatar.uvatar"], downloads
        preview_path = preview if isinstance(preview, str) else preview["path"]
        assert np.asarray(Image.open(preview_path)).shape == (32, 128, 3)
        assert "3020 Gaussians" in summary
    finally:
        page.close()
