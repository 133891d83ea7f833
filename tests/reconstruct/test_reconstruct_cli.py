"""`uvatar reconstruct` end to end on a real photo, and its refusal of bad input."""

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image


def _reconstruct(*args):
    return subprocess.run([sys.executable, "-m", "uvatar.cli", "reconstruct", *map(str, args)], capture_output=True, text=True, timeout=900)


def test_reconstruct_full_body_photo(tmp_path, shared_dir, body):
    photo = Image.open(shared_dir / "realdata/full/pexels_luis_miguel_bonilla_3551487.jpg").convert("RGB")
    photo.thumbnail((400, 400))
    photo.save(tmp_path / "person.jpg")
    out = tmp_path / "avatar"
    result = _reconstruct(tmp_path / "person.jpg", "-o", out, "--turntable-frames", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    names = {p.name for p in out.iterdir()}
    assert {"avatar.uvatar", "avatar.ply", "posed.ply", "preview.png", "turntable.mp4", "report.json", "overlay.png"} <= names
    report = json.loads((out / "report.json").read_text())
    assert report["regime"] == "full" and report["n_gaussians"] > 50_000  # a content check of the avatar's size
    # A quality floor, not a float bound: the input view must resemble the photo inside the person mask (a
    # blank render scores ~5-8 dB; the 14 real photos score 24.7-33.5 dB, README); 15 dB is far from both.
    assert report["input_view_psnr_in_mask"] > 15, report
    from uvatar.avatar import Avatar
    from uvatar.io.ply import read_gaussian_ply

    avatar = Avatar.load(out / "avatar.uvatar")
    assert len(avatar) == report["n_gaussians"] == len(read_gaussian_ply(out / "posed.ply"))
    # re-posing: rest pose -> the photo's pose -> rest pose gives the same Gaussians
    from uvatar.body.model import BodyParams

    fit_params = BodyParams.from_tensors({k: torch.tensor(v) for k, v in avatar.meta["fit_params"].items()})
    rest = avatar.pose(body)
    avatar.pose(body, fit_params)
    # posing is a pure function: the same rest pose twice, within two float32 posings and surface points
    # (tests/body_helpers.py; was 1e-4)
    from body_helpers import posing_tolerance
    from float_bounds import gamma

    with torch.no_grad():
        rest_out = body.forward(avatar.params(body))
    v_max, off_max = float(rest_out.vertices.abs().max()), float(avatar.offsets.abs().max())
    tol = 2 * posing_tolerance(body, rest_out) + 2 * gamma(6) * (v_max + off_max)
    assert (avatar.pose(body).means - rest.means).abs().max() <= tol
    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.shape[1] > 2 * preview.shape[0]


def test_reconstruct_refuses_a_photo_without_a_person(tmp_path):
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    result = _reconstruct(tmp_path / "grey.png", "-o", tmp_path / "out")
    assert result.returncode == 3 and "no person" in result.stderr.lower()
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_reconstruct_unknown_decoder_is_a_clear_error(tmp_path, shared_dir):
    result = _reconstruct(shared_dir / "realdata/half/astronaut.png", "-o", tmp_path / "out", "--decoder", "nonsense")
    assert result.returncode == 2 and "decoder" in result.stderr
    assert not (tmp_path / "out").exists()
    damaged = tmp_path / "decoder.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")  # a header length, then junk
    result = _reconstruct(shared_dir / "realdata/half/astronaut.png", "-o", tmp_path / "out", "--decoder", damaged)
    assert result.returncode == 2 and "not a safetensors decoder" in result.stderr and "Traceback" not in result.stderr
    assert "tracked" not in result.stderr, "a damaged decoder must be refused before tracking"
    assert not (tmp_path / "out").exists()


def _bad_inputs(tmp_path, shared_dir):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((shared_dir / "realdata/head/grace_hopper.jpg").read_bytes()[:3000])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((12, 9, 3), 200, np.uint8)).save(tiny)
    return {"not an image": text, "truncated": truncated, "empty": empty, "tiny": tiny, "missing": tmp_path / "nowhere.jpg", "a folder": tmp_path}


def test_bad_inputs_are_one_line_errors_and_leave_no_output(tmp_path, shared_dir):
    for name, path in _bad_inputs(tmp_path, shared_dir).items():
        out = tmp_path / f"out_{name.replace(' ', '_')}"
        result = _reconstruct(path, "-o", out)
        assert result.returncode != 0, name
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in result.stderr, (name, result.stderr[-2000:])
        assert not out.exists(), name
