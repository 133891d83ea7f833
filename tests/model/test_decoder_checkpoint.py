"""Decoder and optimizer checkpoints: safetensors round trips, refusals, and the "default" decoder spec."""

from __future__ import annotations

import json

import pytest
import torch

from decoder_helpers import MICRO
from uvatar.errors import InputError
from uvatar.model import checkpoint as ckpt
from uvatar.model.mae import DecoderInputs, UVDecoder

torch.set_num_threads(1)


def _random_inputs(config) -> DecoderInputs:
    g = torch.Generator().manual_seed(0)
    r, rs = config.resolution, config.shell_resolution
    seen = (torch.rand(1, r, r, generator=g) > 0.5).float()
    shell_seen = (torch.rand(1, rs, rs, generator=g) > 0.8).float()
    return DecoderInputs(torch.rand(1, 3, r, r, generator=g), seen, seen * 0.7, torch.rand(1, 4, r, r, generator=g),
                         torch.rand(1, 3, rs, rs, generator=g), shell_seen, shell_seen * 0.5, torch.rand(1, 4, rs, rs, generator=g))  # fmt: skip


def _trained_like(body) -> UVDecoder:
    torch.manual_seed(3)
    model = UVDecoder.from_body(MICRO, body)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_decoder_round_trip(body, tmp_path):
    model = _trained_like(body)
    path = ckpt.save_decoder(tmp_path / "d.safetensors", model, {"step": 7})
    loaded, meta = ckpt.load_decoder(path, body)
    assert meta == {"step": 7} and loaded.config == MICRO
    inputs = _random_inputs(MICRO)
    with torch.no_grad():
        for a, b in zip(model(inputs), loaded(inputs)):
            assert torch.equal(a, b)
    # half precision storage halves the file and stays close
    half = ckpt.save_decoder(tmp_path / "h.safetensors", model, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * path.stat().st_size  # measured 0.503: the tensors halve, the header does not
    approx, _ = ckpt.load_decoder(half, body)
    # An accuracy floor for float16 weights (relative 2^-11 each, deterministic on any machine) seen through
    # the network, not a float32 bound: measured 5.8e-4 on outputs of magnitude 1.2; 5e-2 is ~100x that.
    with torch.no_grad():
        assert torch.allclose(approx(inputs)[0], model(inputs)[0], atol=5e-2)


def test_foreign_and_missing_files_are_refused(body, tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(InputError, match="no decoder checkpoint"):
        ckpt.read_decoder(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(InputError, match="not a safetensors decoder"):
        ckpt.read_decoder(tmp_path / "junk.safetensors")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "someone.else/1"})
    with pytest.raises(InputError, match="not a UVatar decoder"):
        ckpt.read_decoder(tmp_path / "other.safetensors")


def test_default_spec_says_it_is_not_trained_yet(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "DEFAULT_CHECKPOINT", tmp_path / "none" / "default.safetensors")
    with pytest.raises(InputError, match="not trained yet"):
        ckpt.resolve_decoder("default")
    with pytest.raises(InputError, match="neither"):
        ckpt.resolve_decoder(str(tmp_path / "nothing_here.safetensors"))


def test_run_folder_resolves_to_its_decoder(body, tmp_path):
    run = tmp_path / "run"
    model = _trained_like(body)
    ckpt.save_decoder(run / "checkpoints" / "step-0000002.safetensors", model)
    (run / "checkpoints" / "latest.json").write_text(json.dumps({"step": 2, "model": "step-0000002.safetensors"}))
    assert ckpt.resolve_decoder(run).name == "step-0000002.safetensors"
    ckpt.save_decoder(run / "decoder.safetensors", model)
    assert ckpt.resolve_decoder(run) == run / "decoder.safetensors"


def test_optimizer_state_round_trip(body, tmp_path):
    model = UVDecoder.from_body(MICRO, body)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), foreach=False)
    inputs = _random_inputs(MICRO)
    for _ in range(2):
        opt.zero_grad()
        sum(o.square().sum() + o.sum() for o in model(inputs)).backward()
        opt.step()
    ckpt.save_optimizer(tmp_path / "o.safetensors", opt)
    state = ckpt.load_optimizer_state(tmp_path / "o.safetensors")
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5, foreach=False)
    fresh.load_state_dict(state)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"] and tuple(b["param_groups"][0]["betas"]) == (0.9, 0.95)
    for index, values in a["state"].items():
        for name, value in values.items():
            assert torch.equal(value, b["state"][index][name]), (index, name)
