"""`uvatar reconstruct --decoder PATH`: a learned checkpoint makes the avatar; "default" says when it is not trained."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from decoder_helpers import MICRO

torch.set_num_threads(1)


def test_reconstruct_with_a_learned_checkpoint(tmp_path, shared_dir, body):
    from uvatar.avatar import Avatar
    from uvatar.model.checkpoint import save_decoder
    from uvatar.model.mae import UVDecoder
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    photo = Image.open(shared_dir / "realdata/half/astronaut.png").convert("RGB")
    photo.thumbnail((320, 320))
    photo.save(tmp_path / "astronaut.png")
    torch.manual_seed(0)
    model = UVDecoder.from_body(MICRO, body)
    with torch.no_grad():  # a "trained" decoder: small non-zero corrections
        model.core.head.weight.normal_(0, 1e-3)
    save_decoder(tmp_path / "run" / "decoder.safetensors", model)
    out = tmp_path / "avatar"
    report = reconstruct([tmp_path / "astronaut.png"], out, ReconstructConfig(decoder=str(tmp_path / "run"), turntable_frames=0, preview_size=256))
    assert report["decoder"] == str(tmp_path / "run")
    avatar = Avatar.load(out / "avatar.uvatar")
    assert avatar.meta["decoder"] == "micro" and avatar.meta["decoder_source"].endswith("decoder.safetensors")
    # the projection avatar at the reconstruction's side, the decoder's colours from its 64² maps
    assert report["core_resolution"] >= 512 and avatar.meta["core_resolution"] == report["core_resolution"]
    assert json.loads(avatar.meta["decoder_config"])["resolution"] == MICRO.resolution
    assert len(avatar) == report["n_gaussians"] > 20_000
    # a quality floor (blank render ~5-8 dB, projection decoder 24.7-33.5 dB on real photos, README), not a float bound
    assert report["input_view_psnr_in_mask"] > 15, report
    assert json.loads((out / "report.json").read_text())["n_gaussians"] == len(avatar)


def test_default_decoder_before_training_is_a_clear_error(tmp_path, shared_dir, monkeypatch):
    from uvatar.errors import InputError
    from uvatar.model import checkpoint
    from uvatar.reconstruct import ReconstructConfig, reconstruct

    monkeypatch.setattr(checkpoint, "DEFAULT_CHECKPOINT", tmp_path / "missing" / "default.safetensors")
    with pytest.raises(InputError, match="not trained yet"):
        reconstruct([shared_dir / "realdata/half/astronaut.png"], tmp_path / "out", ReconstructConfig(decoder="default"))
    assert not (tmp_path / "out").exists()
