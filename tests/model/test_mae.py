"""The MAE decoder: patches, mask tokens, configs, and an untrained decoder that equals the projection baseline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from decoder_helpers import MICRO
from float_bounds import U32, gamma

from uvatar.errors import InputError
from uvatar.model.mae import (
    CONFIGS,
    N_ATTR,
    DecoderConfig,
    UVDecoder,
    count_parameters,
    patchify,
    unpatchify,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def subject(body):
    """A synthetic half-body subject at 64 px with decoder inputs and baseline for MICRO."""
    from uvatar.data.truth import render_synthetic_subject
    from uvatar.model.inputs import prepare_subject

    raw = render_synthetic_subject(body, 5, "half", 64, (0.0, 180.0))
    inputs, base = prepare_subject(body, raw.view, MICRO)
    return raw, inputs, base


def _avatar(gaussians, base):
    from uvatar.avatar import Avatar

    return Avatar.from_gaussians(gaussians, base.phenotypes, base.facial)


def test_patchify_round_trip_and_layout():
    x = torch.randn(2, 5, 16, 24)
    tokens = patchify(x, 8)
    assert tokens.shape == (2, 6, 5 * 64)
    assert torch.equal(unpatchify(tokens, 8, 5, 16, 24), x)
    # token 1 is the patch at row 0, column 1; its first 64 values are channel 0 of that patch
    assert torch.equal(tokens[0, 1, :64].reshape(8, 8), x[0, 0, :8, 8:16])


def test_configs_sizes_and_validation(body):
    paper = UVDecoder.from_body(CONFIGS["paper"], body)
    n = count_parameters(paper)
    assert 10e6 < n < 100e6, n  # the paper's "under 0.1B"
    assert CONFIGS["paper"].depth == 8 and CONFIGS["paper"].resolution == 512 and CONFIGS["paper"].patch == 8
    core, shell = paper.n_tokens
    # only patches holding covered texels take part: fewer than the 64x64 grid, more than half of it
    assert 2048 < core < 4096 and 0 < shell < 1024
    tiny = UVDecoder.from_body(CONFIGS["tiny"], body)
    assert count_parameters(tiny) < count_parameters(UVDecoder.from_body(CONFIGS["small"], body)) < n
    with pytest.raises(InputError, match="multiple of patch"):
        DecoderConfig(resolution=100).validate()
    with pytest.raises(InputError, match="unknown decoder config keys"):
        DecoderConfig.from_dict({"nonsense": 1})


def test_output_shapes_and_zero_heads(body, subject):
    _, inputs, _ = subject
    model = UVDecoder.from_body(MICRO, body)
    core, shell = model(inputs)
    assert core.shape == (1, N_ATTR, 64, 64) and shell.shape == (1, N_ATTR, 32, 32)
    assert core.abs().max() == 0 and shell.abs().max() == 0  # zero-initialised heads
    with pytest.raises(InputError, match="needs 64"):
        model(dataclasses.replace(inputs, core=inputs.core[..., :32, :32]))


def test_empty_patches_see_only_the_mask_token(body, subject):
    _, inputs, _ = subject
    torch.manual_seed(0)
    model = UVDecoder.from_body(MICRO, body).eval()
    with torch.no_grad():
        model.core.head.weight.normal_(0, 0.1)
        base_out = model(inputs)[0]
        seen = inputs.core_seen[0] > 0
        patch_seen = seen.reshape(8, 8, 8, 8).any(3).any(1)  # (8, 8) grid of 8x8 patches
        empty = (~patch_seen).repeat_interleave(8, 0).repeat_interleave(8, 1)
        assert empty.any() and (~empty).any()
        # features written into unseen patches change nothing: those patches are the mask token
        poked = dataclasses.replace(inputs, core=inputs.core + 5.0 * empty.float())
        # replaced by the mask token, so the network sees identical inputs: identical outputs, bit for bit
        # (was atol 1e-5)
        assert torch.equal(model(poked)[0], base_out)
        # features in seen texels do change the output
        poked = dataclasses.replace(inputs, core=inputs.core + 0.5 * seen.float())
        assert (model(poked)[0] - base_out).abs().max() > 1e-3  # a sensitivity check, far above rounding


def test_untrained_decoder_is_the_projection_baseline(body, subject):
    """Zero raw maps bind to the baseline exactly, and render like the projection decoder."""
    from uvatar.dualuv import DualUVConfig, project_view
    from uvatar.encode import get_encoder
    from uvatar.metrics import masked_psnr_ssim
    from uvatar.model.bind import bind_gaussians
    from uvatar.model.projection import decode_projection

    raw, inputs, base = subject
    model = UVDecoder.from_body(MICRO, body)
    with torch.no_grad():
        core, shell = model(inputs)
    avatar = _avatar(bind_gaussians(core[0], shell[0], base, MICRO), base)
    n_core = len(base.core)
    # zero maps bind to the baseline through float32 activation round trips (logit then sigmoid: within
    # u (1 + |logit| / 4) <= 3u; exp(log s): 8u (1 + |log s|)) (was atol 1e-5 and the default allclose)
    assert torch.allclose(avatar.colors[:n_core], base.core.color.clamp(1e-3, 1 - 1e-3), rtol=0, atol=gamma(4))
    log_s = float(base.core.scale.log().abs().max())
    assert torch.allclose(avatar.scales[:n_core], base.core.scale, rtol=8 * U32 * (2 + log_s), atol=0)
    assert avatar.offsets[:n_core].abs().max() == 0
    assert torch.allclose(avatar.opacities[:n_core], torch.full((n_core,), MICRO.core_opacity), rtol=0, atol=gamma(4))

    uv = project_view(body, raw.view, get_encoder("rgb")(raw.view.image), DualUVConfig(core_resolution=64, shell_resolution=32))
    projection = _avatar(decode_projection(uv, body, raw.view.phenotypes, raw.view.facial), base)
    camera = raw.views[0].camera
    with torch.no_grad():
        ours = avatar.on_vertices(raw.view.vertices, body.faces).render(camera, background=(1.0, 1.0, 1.0)).image
        theirs = projection.on_vertices(raw.view.vertices, body.faces).render(camera, background=(1.0, 1.0, 1.0)).image
    psnr, _ = masked_psnr_ssim(ours, theirs, torch.ones(ours.shape[:2], dtype=torch.bool))
    assert psnr > 35, psnr  # only the faint (opacity 0.02) unseen Shell-UV Gaussians differ: a quality floor (measured 36.9 dB)


def test_finer_avatar_upsamples_the_maps(body, subject):
    """An avatar built at twice the decoder's side keeps one Gaussian per fine texel."""
    from uvatar.model.bind import bind_gaussians
    from uvatar.model.inputs import prepare_subject

    raw, _, _ = subject
    inputs, base = prepare_subject(body, raw.view, MICRO, avatar_resolution=128)
    assert base.core.side == 128 and inputs.core.shape[-1] == 64
    torch.manual_seed(1)
    model = UVDecoder.from_body(MICRO, body)
    with torch.no_grad():
        model.core.head.weight.normal_(0, 0.01)
        core, shell = model(inputs)
    avatar = bind_gaussians(core[0], shell[0], base, MICRO)
    assert len(avatar) == len(base.core) + len(base.shell) + (0 if base.pixels is None else len(base.pixels))
    assert np.isfinite(avatar.colors.numpy()).all() and (avatar.colors >= 0).all() and (avatar.colors <= 1).all()


def test_gradients_reach_every_parameter(body, subject):
    from uvatar.model.bind import bind_gaussians

    raw, inputs, base = subject
    model = UVDecoder.from_body(MICRO, body)
    core, shell = model(inputs)
    avatar = _avatar(bind_gaussians(core[0], shell[0], base, MICRO), base)
    out = avatar.on_vertices(raw.view.vertices, body.faces).render(raw.views[0].camera, background=(1.0, 1.0, 1.0))
    ((out.image - raw.views[0].image) ** 2).mean().backward()
    # zero heads: the first step moves the heads only; their gradients must be non-zero
    assert model.core.head.weight.grad.abs().max() > 0 and model.core.head.bias.grad.abs().max() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_without_shell_tokens_only_core_tokens_are_mixed(body, subject):
    """The "w/o shell token" ablation: shell features change nothing and the shell map stays the baseline (zero)."""
    _, inputs, _ = subject
    torch.manual_seed(0)
    config = dataclasses.replace(MICRO, shell_tokens=False)
    model = UVDecoder.from_body(config, body).eval()
    assert model.n_tokens[1] == 0 and model.n_tokens[0] == UVDecoder.from_body(MICRO, body).n_tokens[0]
    with torch.no_grad():
        model.core.head.weight.normal_(0, 0.1)
        model.shell.head.weight.normal_(0, 0.1)
        core, shell = model(inputs)
        assert shell.shape == (1, N_ATTR, 32, 32) and shell.abs().max() == 0 and core.abs().max() > 0
        poked = dataclasses.replace(inputs, shell=inputs.shell + 1.0, shell_seen=torch.ones_like(inputs.shell_seen))
        assert torch.equal(model(poked)[0], core)
        with_shell = UVDecoder.from_body(MICRO, body).eval()
        with_shell.load_state_dict(model.state_dict())
        assert not torch.equal(with_shell(poked)[0], with_shell(inputs)[0])  # with shell tokens the core hears the shell
