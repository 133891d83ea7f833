"""Pieces of training: the 19:1 split, step scheduling, learning rate, directed weights, configs, losses."""

from __future__ import annotations

import json
import math

import pytest
import torch
from float_bounds import U64, gamma

from uvatar.data.truth import directed_weight, split_indices, view_azimuth_label
from uvatar.errors import InputError
from uvatar.train.loop import TrainConfig, load_run_config, lr_at, subjects_for_step
from uvatar.train.losses import LossWeights, residual_loss, ssim, view_loss

torch.set_num_threads(1)


def test_split_is_19_to_1_by_subject():
    train, val = split_indices(100, "train"), split_indices(100, "val")
    assert len(train) == 95 and len(val) == 5 and not set(train) & set(val)
    assert sorted(train + val) == list(range(100)) and val == [19, 39, 59, 79, 99]
    with pytest.raises(InputError):
        split_indices(10, "test")


def test_each_epoch_deals_every_subject_once_across_ranks():
    ids = list(range(10, 22))  # 12 subjects, 2 ranks x batch 3: 2 steps per epoch
    seen = [i for step in (0, 1) for rank in (0, 1) for i in subjects_for_step(step, rank, 2, 3, ids, seed=4)]
    assert sorted(seen) == ids
    assert subjects_for_step(5, 1, 2, 3, ids, 4) == subjects_for_step(5, 1, 2, 3, ids, 4)  # a function of the step
    assert subjects_for_step(2, 0, 2, 3, ids, 4) != subjects_for_step(0, 0, 2, 3, ids, 4)  # epochs reshuffle


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1e-4, warmup_steps=10, min_lr_ratio=0.1)
    # float64 schedule arithmetic: a few roundings (was the default approx, rel 1e-6)
    tol = gamma(8, U64)
    assert lr_at(0, cfg) == pytest.approx(1e-5, rel=tol) and lr_at(9, cfg) == pytest.approx(1e-4, rel=tol)
    # one step before the end of the cosine (90 steps after warm-up): (lr - min) / 2 (1 - cos(pi / 90)) above
    # the floor, <= (lr - min) (pi / 90)^2 / 4 (was rel 0.05)
    above = (1e-4 - 1e-5) * (math.pi / 90) ** 2 / 4
    assert lr_at(10, cfg) == pytest.approx(1e-4, rel=tol) and abs(lr_at(99, cfg) - 1e-5) <= above * (1 + tol)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def test_directed_consistency_flows_from_reliable_to_less_reliable_views():
    assert directed_weight("front", "back", exact=False) == 1.0
    assert directed_weight("side", "front", exact=False) == 0.0
    assert directed_weight("side", "back", exact=False) == 1.0
    assert directed_weight("back", "side", exact=True) == 1.0  # exact renders constrain everything
    assert [view_azimuth_label(a) for a in (0, 30, 90, 180, 270, 330)] == ["input", "near", "side", "back", "side", "near"]


def test_run_configs_load_and_refuse_typos(tmp_path):
    decoder, train = load_run_config("tiny")
    assert decoder.name == "tiny" and train.lr == 1e-4 and train.grad_clip == 1.0
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"decoder": {"name": "tiny", "depth": 3}, "train": {"steps": 5, "loss": {"mask": 2.0}}}))
    decoder, train = load_run_config(path)
    assert decoder.depth == 3 and decoder.width == 128 and train.steps == 5 and train.loss.mask == 2.0
    path.write_text(json.dumps({"train": {"stpes": 5}}))
    with pytest.raises(InputError, match="stpes"):
        load_run_config(path)
    with pytest.raises(InputError, match="unknown config"):
        load_run_config("no-such-config")


def test_shipped_config_files_are_valid():
    from uvatar.train.loop import CONFIG_DIR

    files = sorted(CONFIG_DIR.glob("*.json"))
    assert {p.stem for p in files} >= {"tiny", "small", "paper", "default"}
    for path in files:
        load_run_config(path)


def test_losses_vanish_on_identical_images_and_grow_with_error():
    truth = torch.rand(32, 32, 3)
    cover = (torch.rand(32, 32) > 0.5).float()
    same = view_loss(truth, cover, truth, cover, LossWeights())
    # Exact, not approximate: with b = a, SSIM's numerator and denominator are the same float32 products
    # (mu_a^2 + mu_b^2 = 2 mu_a mu_b, var_a + var_b = 2 cov bit for bit), so every ratio is 1 and the mean of
    # 3072 ones is 1; L1 and mask terms are 0 (was abs 1e-6)
    assert float(same["total"]) == 0.0
    assert float(ssim(truth.permute(2, 0, 1)[None], truth.permute(2, 0, 1)[None])) == 1.0
    worse = view_loss((truth + 0.2).clamp(0, 1), cover * 0.5, truth, cover, LossWeights())
    assert float(worse["l1"]) > 0.05 and float(worse["mask"]) > 0.1 and float(worse["ssim"]) > 0  # losses grow: content checks
    reg = residual_loss({"offset_delta": torch.full((4, 3), 0.01), "log_scale": torch.zeros(4, 3),
                         "core_opacity_drop": torch.tensor([0.0, 0.5])}, LossWeights())  # fmt: skip
    # float32 closed forms of 0.01 / 0.01 and 0.5 terms: a few roundings (was the default approx)
    assert float(reg["offset_reg"]) == pytest.approx(1.0, rel=gamma(4)) and float(reg["scale_reg"]) == 0.0
    assert float(reg["opacity_reg"]) == pytest.approx(0.25, rel=gamma(4))


def test_perceptual_term_is_differentiable():
    from uvatar.train.losses import PerceptualLoss

    loss = PerceptualLoss(size=48)
    a = torch.rand(1, 3, 64, 64, requires_grad=True)
    value = loss(a, torch.rand(1, 3, 64, 64))
    value.sum().backward()
    assert value.shape == (1,) and float(value.detach()) > 0 and a.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())  # frozen


def test_partly_covered_pixels_are_left_to_the_mask_term():
    render = torch.full((8, 8, 3), 0.3)
    truth = render.clone()
    cover = torch.ones(8, 8)
    cover[:, 0] = 0.5  # an anti-aliased outline column: the truth there is half white
    truth[:, 0] = 0.65
    terms = view_loss(render, torch.ones(8, 8), truth, cover, LossWeights())
    assert float(terms["l1"]) == 0.0 and float(terms["mask"]) == pytest.approx(1 / 16, rel=gamma(4))  # (was rel 1e-6)
    assert float(view_loss(render, torch.ones(8, 8), truth, cover, LossWeights(edge_aware=False))["l1"]) > 0.04
    cover[:, 0] = 1.0  # fully covered: the same colour error counts
    assert float(view_loss(render, torch.ones(8, 8), truth, cover, LossWeights())["l1"]) > 0.04
