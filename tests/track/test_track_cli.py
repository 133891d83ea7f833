"""`uvatar track` on real photos and on the inputs users really send."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def _track(photo, out):
    return subprocess.run(
        [sys.executable, "-m", "uvatar.cli", "track", str(photo), "-o", str(out)], capture_output=True, text=True, timeout=600
    )


def test_track_real_half_body_photo(tmp_path, shared_dir, body):
    out = tmp_path / "fit"
    result = _track(shared_dir / "realdata/half/astronaut.png", out)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["regime"] == "half"
    assert summary["residuals"]["landmark_rel_box"] < 0.03  # a fit-quality floor (README: 0.8-2.2% on real photos)
    assert {"fit.json", "fit.safetensors", "overlay.png", "detections.safetensors"} <= {p.name for p in out.iterdir()}
    overlay = np.asarray(Image.open(out / "overlay.png"))
    assert overlay.shape[1] == 2 * overlay.shape[0] * 512 // 512 or overlay.shape[1] > overlay.shape[0]


def test_no_person_is_a_clear_error_and_writes_nothing(tmp_path):
    photo = tmp_path / "wall.png"
    gradient = np.linspace(0, 255, 256, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (256, 1))] * 3, -1)).save(photo)
    out = tmp_path / "fit"
    result = _track(photo, out)
    assert result.returncode == 3
    assert "no person" in result.stderr.lower() and "Traceback" not in result.stderr
    assert not out.exists()


def test_not_an_image_is_a_clear_error(tmp_path):
    photo = tmp_path / "notes.jpg"
    photo.write_text("this is not a photo")
    result = _track(photo, tmp_path / "fit")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "fit").exists()


def test_several_people_fit_the_main_one_with_a_warning(tmp_path, shared_dir, body):
    left = Image.open(shared_dir / "realdata/head/grace_hopper.jpg").convert("RGB")
    right = Image.open(shared_dir / "realdata/half/astronaut.png").convert("RGB").resize((left.height * 4 // 5, left.height))
    both = Image.new("RGB", (left.width + right.width, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    both.save(tmp_path / "two.jpg")
    result = _track(tmp_path / "two.jpg", tmp_path / "fit")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert any("people" in w for w in summary["warnings"]), summary["warnings"]


def test_tiny_photo_gives_an_error_or_a_flagged_fit(tmp_path, shared_dir, body):
    Image.open(shared_dir / "realdata/half/astronaut.png").convert("RGB").resize((48, 60)).save(tmp_path / "tiny.png")
    result = _track(tmp_path / "tiny.png", tmp_path / "fit")
    if result.returncode == 0:
        assert json.loads(result.stdout)["low_confidence"] is True
    else:
        assert result.returncode in (2, 3) and "Traceback" not in result.stderr


@pytest.mark.slow
def test_profile_view_fits(tmp_path, shared_dir, body):
    result = _track(shared_dir / "realdata/full/pexels_anete_lusina_4793258_side.jpg", tmp_path / "fit")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["regime"] == "full"


@pytest.mark.parametrize("turns", [2, 1])
def test_a_turned_photo_is_stood_upright(tmp_path, shared_dir, body, turns):
    """Pixels turned (no EXIF tag): the fit is that of the upright photo, and the report says so."""
    photo = np.asarray(Image.open(shared_dir / "realdata/half/astronaut.png").convert("RGB"))
    Image.fromarray(np.ascontiguousarray(np.rot90(photo, turns))).save(tmp_path / "turned.png")
    result = _track(tmp_path / "turned.png", tmp_path / "fit")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["regime"] == "half" and summary["residuals"]["landmark_rel_box"] < 0.03
    assert not summary["low_confidence"]
    assert any("turned" in w for w in summary["warnings"]), summary["warnings"]
    assert (tmp_path / "fit" / "overlay.png").is_file()
