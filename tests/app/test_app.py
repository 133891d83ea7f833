"""``uvatar app``: the upload handler (called directly, with a stand-in and with the real reconstruction)
and, when the optional Gradio extra is installed, the page through Gradio's own client."""

import importlib.util
import json
import os
import re
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


def _fake_reconstruct(body, calls=None):
    """A stand-in for uvatar.reconstruct.reconstruct that writes the same files from a small avatar
    and, like it, stores ``str(photo)`` in report.json and the avatar's meta."""

    def run(photos, out_dir, config):
        if calls is not None:
            calls.append([str(p) for p in photos])
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True)
        avatar = small_avatar(body, n=3000, shell=20)
        avatar.meta.update(photos=[str(p) for p in photos])
        avatar.save(out_dir / "avatar.uvatar")
        avatar.export_ply(out_dir / "avatar.ply", body)
        Image.fromarray(np.full((32, 128, 3), 200, np.uint8)).save(out_dir / "preview.png")
        from uvatar.io.video import write_video

        write_video(out_dir / "turntable.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, fps=24)
        report = {"n_gaussians": len(avatar), "regime": "full", "input_view_psnr_in_mask": 20.0, "photos": [str(p) for p in photos]}
        (out_dir / "report.json").write_text(json.dumps(report, indent=1))
        return report

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


def test_run_photo_refuses_an_upload_over_the_size_cap(tmp_path, body):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(100 * 2**20)  # the probe's 100 MB upload (sparse: nothing is written)
    calls = []
    with pytest.raises(InputError, match=r"^huge\.png is 100 MB, over the app's 40 MB upload limit; "):
        run_photo(huge, tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body, calls))
    from uvatar.app.web import MAX_UPLOAD_BYTES

    assert calls == [] and MAX_UPLOAD_BYTES == 40 * 2**20


def test_run_photo_says_a_non_image_is_not_an_image_by_its_name(tmp_path, body):
    upload = tmp_path / "gradio" / "0f3a9c" / "notes.png"  # where Gradio keeps an upload
    upload.parent.mkdir(parents=True)
    upload.write_text("not a picture")
    calls = []
    with pytest.raises(InputError) as info:
        run_photo(upload, tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body, calls))
    assert str(info.value) == "notes.png is not an image Pillow can read; pass a JPEG or PNG photo"  # the CLI's words
    assert calls == [] and not (tmp_path / "runs").exists()  # refused before any folder is made


def test_run_photo_stores_the_file_name_not_the_temp_path(tmp_path, body):
    from uvatar.avatar import Avatar

    upload = tmp_path / "gradio" / "0f3a9c" / "Holiday portrait.png"
    upload.parent.mkdir(parents=True)
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(upload)
    def check(result, stored):
        avatar_dir = result.out_dir / "avatar"
        assert result.report["photos"] == [stored]
        assert json.loads((avatar_dir / "report.json").read_text())["photos"] == [stored]
        assert Avatar.load(avatar_dir / "avatar.uvatar").meta["photos"] == [stored]
        for path in [avatar_dir / "report.json"] + result.downloads:
            assert str(upload.parent).encode() not in path.read_bytes(), path.name

    check(run_photo(upload, tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body), glb_texture_size=64), "Holiday portrait.png")
    for given, stored in (("C:\\Users\\me\\Pictures\\me.png", "me.png"), ("../../x/y.png", "y.png")):  # names as browsers send them
        check(run_photo(upload, tmp_path / "runs", reconstruct_fn=_fake_reconstruct(body), glb_texture_size=64, photo_name=given), stored)


def test_run_photo_keeps_the_latest_results_and_deletes_nothing_else(tmp_path, body):
    runs = tmp_path / "runs"
    (runs / "notes").mkdir(parents=True)
    (runs / "notes" / "mine.txt").write_text("someone else's")
    (runs / "keep.txt").write_text("someone else's")
    (runs / "20200101-000000-abcdef").mkdir()  # named like a run, but not written by the app
    made = [run_photo(_photo(tmp_path), runs, reconstruct_fn=_fake_reconstruct(body), glb_texture_size=64, keep=2).out_dir for _ in range(3)]
    assert not made[0].exists() and made[1].is_dir() and made[2].is_dir()
    assert sorted(p.name for p in runs.iterdir()) == sorted(["notes", "keep.txt", "20200101-000000-abcdef", made[1].name, made[2].name])
    assert (runs / "notes" / "mine.txt").is_file()
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(InputError):
        run_photo(bad, runs, reconstruct_fn=_fake_reconstruct(body), keep=2)
    assert len(list(runs.iterdir())) == 5  # a failed upload leaves no folder behind


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
    stored = json.loads((result.out_dir / "avatar" / "report.json").read_text())["photos"]
    assert result.report["photos"] == stored == ["astronaut.png"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not HAS_GRADIO, reason=f"gradio (the app extra) is not installed: {INSTALL_HINT}")
def test_gradio_page_through_its_client(tmp_path, body):
    import httpx
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from uvatar.app.web import MAX_UPLOAD_BYTES, launch

    port = _free_port()
    calls = []
    page = launch(port=port, workdir=tmp_path / "runs", block=False, reconstruct_fn=_fake_reconstruct(body, calls), quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        photo = tmp_path / "astro portrait.png"
        _photo(tmp_path).rename(photo)
        preview, _turntable, downloads, summary = client.predict(handle_file(str(photo)), api_name="/reconstruct")
        names = sorted(Path(d if isinstance(d, str) else d["path"]).name for d in downloads)
        assert names == ["avatar.glb", "avatar.ply", "avatar.uvatar"], downloads
        preview_path = preview if isinstance(preview, str) else preview["path"]
        assert np.asarray(Image.open(preview_path)).shape == (32, 128, 3)
        assert "3020 Gaussians" in summary
        (report,) = (tmp_path / "runs").glob("*/avatar/report.json")
        assert json.loads(report.read_text())["photos"] == ["astro portrait.png"]  # not Gradio's temp path

        notes = tmp_path / "notes.txt"
        notes.write_text("not a picture")
        with pytest.raises(AppError) as info:  # was {"error": null}
            client.predict(handle_file(str(notes)), api_name="/reconstruct")
        assert str(info.value) == "notes.txt is not an image Pillow can read; pass a JPEG or PNG photo"

        config = httpx.get(f"http://127.0.0.1:{port}/config").json()
        assert config["max_file_size"] == MAX_UPLOAD_BYTES  # the page refuses larger files before sending them
        huge = tmp_path / "huge.png"
        with open(huge, "wb") as f:
            f.truncate(MAX_UPLOAD_BYTES + 1)
        with open(huge, "rb") as f:
            response = httpx.post(f"http://127.0.0.1:{port}/gradio_api/upload", files={"files": ("huge.png", f)}, timeout=120)
        assert response.status_code == 413 and f"maximum allowed size of {MAX_UPLOAD_BYTES} bytes" in response.text
        assert len(calls) == 1
    finally:
        page.close()


@pytest.mark.skipif(not HAS_GRADIO, reason=f"gradio (the app extra) is not installed: {INSTALL_HINT}")
def test_app_cleans_its_temp_folder_on_exit(tmp_path):
    """``uvatar app`` without --workdir: its own temporary folder and Gradio's copies of the uploads go
    when the process ends; other files in the temp folder stay."""
    tmp = tmp_path / "tmp"
    (tmp / "someone-else").mkdir(parents=True)
    (tmp / "uvatar-app-not-ours").mkdir()
    port = _free_port()
    code = f"""
import pathlib
from gradio_client import Client, handle_file
from uvatar.app.web import launch
page = launch(port={port}, block=False, quiet=True)
tmp = pathlib.Path({str(tmp)!r})
(tmp / "notes.txt").write_text("not a picture")
try:
    Client("http://127.0.0.1:{port}/", verbose=False).predict(handle_file(str(tmp / "notes.txt")), api_name="/reconstruct")
except Exception as exc:
    print("refused:", exc)
print("while serving:", sorted(p.name for p in tmp.glob("uvatar-app-*")), sum(1 for p in (tmp / "gradio").rglob("*") if p.is_file()))
"""
    env = dict(os.environ, TMPDIR=str(tmp))
    env.pop("GRADIO_TEMP_DIR", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: notes.txt is not an image" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("while serving:")]
    assert line.count("uvatar-app-") == 2 and not line.endswith(" 0"), line  # ours and the foreign one; the upload
    assert sorted(p.name for p in tmp.iterdir() if p.name != "gradio") == ["notes.txt", "someone-else", "uvatar-app-not-ours"]
    assert [p for p in (tmp / "gradio").rglob("*") if p.is_file()] == []
