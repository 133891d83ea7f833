"""The learned decoder over the full-resolution projection avatar (uvatar.model.compose)."""

from __future__ import annotations

import pytest
import torch

from uvatar.body.uv import surface_uv
from uvatar.dualuv.project import UVFeatures
from uvatar.model.compose import color_map, compose_over_projection, seen_weight, texel_of
from uvatar.model.decoder import UVGaussians
from uvatar.quaternions import identity_wxyz

torch.set_num_threads(1)


def _features(cos: torch.Tensor, seen: torch.Tensor) -> UVFeatures:
    side = cos.shape[-1]
    weight = seen.float()
    return UVFeatures(torch.rand(3, side, side), weight, cos, torch.zeros(3, 2, 2), torch.zeros(2, 2), torch.zeros(2, 2))


def test_seen_weight_ramps_with_the_view_cosine():
    cos = torch.tensor([[0.0, 0.15, 0.3], [0.6, 0.9, 0.9]])
    seen = torch.tensor([[True, True, True], [True, True, False]])
    w = seen_weight(_features(cos, seen), full_cos=0.3)
    expected = torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    assert torch.allclose(w, expected, atol=1e-6), w


def test_texel_of_finds_every_covered_texel_from_its_centre(body):
    """The UV of a covered texel's centre (face and barycentrics from the body's raster) lands in that
    texel: the composition reads the maps in the atlas's own row order (row 0 is v = 1)."""
    side = 128
    idx, face, bary = body.uv_raster(side).covered()
    assert torch.equal(texel_of(surface_uv(body.uv_corners, face, bary), side), idx)


def test_color_map_round_trip():
    side = 16
    index = torch.tensor([0, 5, 17, 255])
    colors = torch.rand(4, 3)
    grid, covered = color_map(colors, index, side)
    assert grid.shape == (3, side, side) and int(covered.sum()) == 4
    assert torch.equal(grid.reshape(3, -1)[:, index].T, colors)


def _projection(n_core: int, n_shell: int) -> UVGaussians:
    n = n_core + n_shell
    g = torch.Generator().manual_seed(0)
    return UVGaussians(torch.zeros(n, dtype=torch.int64), torch.full((n, 3), 1 / 3), torch.zeros(n, 3), identity_wxyz(n),
                       torch.full((n, 3), 0.01), torch.rand(n, 3, generator=g), torch.full((n,), 0.99),
                       torch.cat([torch.zeros(n_core, dtype=torch.uint8), torch.ones(n_shell, dtype=torch.uint8)]),
                       meta={"decoder": "projection", "stats": {"n_core": n_core}})  # fmt: skip


@pytest.mark.parametrize("w", [0.0, 0.25, 1.0])
def test_compose_blends_photo_and_decoder_colours_by_the_seen_weight(w):
    """Core Gaussians: ``w * projection + (1 - w) * decoder`` at their texel (maps at the atlas's side, so
    no upsampling); shell Gaussians and every other attribute stay the projection's; the decoder's shell
    is appended."""
    side, n_core, n_shell = 8, 64, 5
    projection = _projection(n_core, n_shell)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    core_uv = torch.stack([(cols.reshape(-1) + 0.5) / side, 1 - (rows.reshape(-1) + 0.5) / side], -1)  # texel k -> Gaussian k
    decoder_colors = torch.rand(3, side, side, generator=torch.Generator().manual_seed(1))
    extra = _projection(0, 3)
    out = compose_over_projection(projection, core_uv, torch.full((side, side), w), decoder_colors, torch.ones(side, side, dtype=torch.bool), extra)
    expected = w * projection.colors[:n_core] + (1 - w) * decoder_colors.reshape(3, -1).T
    assert torch.allclose(out.colors[:n_core], expected, atol=1e-6)
    assert torch.equal(out.colors[n_core : n_core + n_shell], projection.colors[n_core:])
    assert len(out) == n_core + n_shell + 3 and torch.equal(out.colors[-3:], extra.colors)
    for name in ("face_index", "barycentrics", "offsets", "scales", "opacities", "layer"):
        assert torch.equal(getattr(out, name)[: n_core + n_shell], getattr(projection, name)), name
    assert out.meta["stats"]["n_decoder_colored"] == (n_core if w < 0.5 else 0) and out.meta["stats"]["n_decoder_shell"] == 3
    assert out.meta["decoder"] == "projection" and "n_decoder_colored" not in projection.meta["stats"]


def test_compose_upsamples_only_the_decoders_covered_texels():
    """A 2x coarser decoder map whose covered texels hold one colour: every Gaussian within one fine texel
    of the covered block takes that colour, whatever the map holds outside its covered texels."""
    side = 8
    rows, cols = torch.meshgrid(torch.arange(1, 7), torch.arange(1, 7), indexing="ij")  # the block is fine texels 2..5
    core_uv = torch.stack([(cols.reshape(-1) + 0.5) / side, 1 - (rows.reshape(-1) + 0.5) / side], -1)
    n_core = len(core_uv)
    projection = _projection(n_core, 0)
    covered = torch.zeros(4, 4, dtype=torch.bool)
    covered[1:3, 1:3] = True
    decoder_colors = torch.where(covered[None], torch.tensor([0.2, 0.4, 0.6])[:, None, None], torch.ones(3, 4, 4) * 9.0)
    out = compose_over_projection(projection, core_uv, torch.zeros(side, side), decoder_colors, covered, None)
    assert torch.allclose(out.colors, torch.tensor([0.2, 0.4, 0.6]).expand(n_core, 3), atol=1e-6)


def test_compose_refuses_shell_before_core():
    projection = _projection(4, 2)
    projection.layer = torch.tensor([1, 0, 0, 0, 0, 1], dtype=torch.uint8)
    with pytest.raises(ValueError, match="core Gaussians must come first"):
        compose_over_projection(projection, torch.zeros(4, 2), torch.zeros(2, 2), torch.zeros(3, 2, 2), torch.ones(2, 2, dtype=torch.bool), None)


def test_the_learned_decoder_keeps_what_the_photo_saw(body):
    """The shipped decoder on a synthetic photo: its avatar is the projection avatar (same Gaussians, same
    order, then its shell) whose core texels seen frontally keep the photo's colour exactly, and whose
    unseen texels take the decoder's colour (the decoder changes them: a trained decoder is not the
    baseline)."""
    from hair_helpers import hair_photo

    from uvatar.dualuv.views import project_requests
    from uvatar.model.decoder import get_decoder
    from uvatar.model.projection import decode_projection

    view, _ = hair_photo(body, "long01")
    decoder = get_decoder("default", body)
    uvs = project_requests(body, [view], decoder.projections(256, 128))
    learned = decoder.decode(uvs, body, view.phenotypes, view.facial)
    baseline = decode_projection(uvs["avatar"], body, view.phenotypes, view.facial)
    n = len(baseline)
    assert len(learned) == n + learned.meta["stats"]["n_decoder_shell"]
    for name in ("face_index", "barycentrics", "offsets", "scales", "opacities", "layer"):
        assert torch.equal(getattr(learned, name)[:n], getattr(baseline, name)), name
    core = baseline.layer == 0
    uv = surface_uv(body.uv_corners, baseline.face_index[core], baseline.barycentrics[core])
    w = seen_weight(uvs["avatar"]).reshape(-1)[texel_of(uv, 256)]
    frontal, unseen = w == 1, w == 0
    assert frontal.sum() > 1000 and unseen.sum() > 3000  # 5920 and 9134 Gaussians (unseen 2x2 blocks are one)
    assert torch.equal(learned.colors[:n][core][frontal], baseline.colors[core][frontal])
    changed = (learned.colors[:n][core][unseen] - baseline.colors[core][unseen]).abs().amax(-1) > 1 / 255
    assert changed.float().mean() > 0.5, f"the decoder changed only {changed.float().mean():.2f} of the unseen texels"


def _grid_composition(side: int, weight: torch.Tensor, n_shell: int = 0):
    """A projection avatar with one core Gaussian per texel of a ``side``² atlas (Gaussian k at texel k)."""
    from uvatar.model.compose import composition_of

    projection = _projection(side * side, n_shell)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    core_uv = torch.stack([(cols.reshape(-1) + 0.5) / side, 1 - (rows.reshape(-1) + 0.5) / side], -1)
    return projection, composition_of(projection, core_uv, weight)


def test_compose_residual_moves_only_what_the_photo_did_not_see_frontally():
    """``c + (1 - w) (sigmoid(logit c + r) - sigmoid(logit c))`` per core Gaussian: the photo's colour stays
    exactly where w = 1, an unseen texel takes the residual in logit space, a grazing one half of it; the
    shell and every other attribute stay; the decoder's shell is appended; gradients reach the residual
    only through the texels not seen frontally."""
    from uvatar.model.compose import compose_residual

    side = 4
    weight = torch.tensor([[1.0, 0.5, 0.0, 0.0]]).expand(side, side).contiguous()
    projection, composition = _grid_composition(side, weight, n_shell=2)
    projection.colors[0] = torch.tensor([1.0, 0.0, 0.5])  # beyond the logit's clamp: stays exact where r = 0
    residual = torch.full((3, side, side), 0.7, requires_grad=True)
    out = compose_residual(composition, residual, torch.ones(side, side, dtype=torch.bool), _projection(0, 3))
    c = projection.colors[: side * side]
    logit = torch.logit(c.clamp(1e-3, 1 - 1e-3))
    moved = c + (torch.sigmoid(logit + 0.7) - torch.sigmoid(logit))
    w = weight.reshape(-1)[:, None]
    expected = (c + (1 - w) * (moved - c)).clamp(0, 1)
    assert torch.allclose(out.colors[: side * side], expected, atol=1e-6)
    assert torch.equal(out.colors[: side * side][w[:, 0] == 1], c[w[:, 0] == 1])
    assert torch.equal(out.colors[side * side : side * side + 2], projection.colors[side * side :])
    assert len(out) == side * side + 2 + 3 and out.meta["stats"]["n_decoder_shell"] == 3
    assert out.meta["stats"]["n_decoder_colored"] == 2 * side  # w < 0.5: the two unseen columns
    out.colors.sum().backward()
    grad = residual.grad.abs().sum(0)
    assert bool((grad[:, 0] == 0).all()) and bool((grad[:, 1:] > 0).all())
    zero = compose_residual(composition, torch.zeros(3, side, side), torch.ones(side, side, dtype=torch.bool), None)
    assert torch.equal(zero.colors, projection.colors)


def test_compose_residual_recolours_the_template_gaussians_from_their_body_point():
    """With template UVs, the last Gaussians (the fitted templates', all unseen) take the residual at the
    texel of the body point they are bound to; the shell Gaussians between core and templates stay."""
    from uvatar.model.compose import compose_residual, composition_of

    side, n_other, n_template = 4, 2, 3
    projection = _projection(side * side, n_other + n_template)
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    core_uv = torch.stack([(cols.reshape(-1) + 0.5) / side, 1 - (rows.reshape(-1) + 0.5) / side], -1)
    residual = torch.zeros(3, side, side)
    residual[:, 0, 1] = 1.5  # texel 1 (row 0, column 1)
    composition = composition_of(projection, core_uv, torch.ones(side, side), core_uv[[1, 2, 1]])
    assert composition.n_core == side * side and len(composition.index) == side * side + n_template
    out = compose_residual(composition, residual, torch.ones(side, side, dtype=torch.bool), None)
    n = len(projection)
    c = projection.colors[n - n_template]
    expected = (c + torch.sigmoid(torch.logit(c.clamp(1e-3, 1 - 1e-3)) + 1.5) - torch.sigmoid(torch.logit(c.clamp(1e-3, 1 - 1e-3)))).clamp(0, 1)
    assert torch.allclose(out.colors[n - n_template], expected, atol=1e-6)
    assert not torch.equal(out.colors[n - 1], projection.colors[n - 1])  # the third, over texel 1 too
    assert torch.equal(out.colors[n - 2], projection.colors[n - 2])  # over a zero residual
    assert torch.equal(out.colors[: n - n_template], projection.colors[: n - n_template])  # core all seen, shell
    assert out.meta["stats"]["n_decoder_colored"] == n_template


def test_projection_colour_map_round_trips_the_core_colours():
    from uvatar.model.compose import projection_color_map

    side = 4
    weight = torch.rand(side, side, generator=torch.Generator().manual_seed(2))
    projection, composition = _grid_composition(side, weight)
    colors, w, covered = projection_color_map(composition)
    assert bool(covered.all()) and torch.equal(w, weight)
    assert torch.equal(colors.reshape(3, -1).T, projection.colors)


@pytest.mark.parametrize("templates", [False, True])
def test_an_untrained_over_projection_decoder_is_the_projection_avatar(body, templates):
    """Zero-initialised heads: the composed avatar's Gaussians are the projection avatar's, colours
    included, bit for bit (with ``over_projection_shell`` the decoder's faint Shell-UV texels would follow);
    the decoder reads the projection avatar's own (dressed) colours as its baseline; with
    ``over_projection_templates`` the fitted hairstyle's unseen Gaussians are among those it may recolour."""
    import dataclasses

    from decoder_helpers import MICRO
    from hair_helpers import hair_photo

    from uvatar.dualuv.views import project_requests
    from uvatar.model.learned import LearnedDecoder, over_projection_parts
    from uvatar.model.mae import UVDecoder
    from uvatar.model.projection import decode_projection
    from uvatar.track.hair import hair_template

    view, _ = hair_photo(body, "long01")
    template, _ = hair_template(view, body)
    view.templates = [template]
    config = dataclasses.replace(MICRO, over_projection=True, over_projection_templates=templates)
    torch.manual_seed(0)
    decoder = LearnedDecoder(UVDecoder.from_body(config, body), "untrained")
    uvs = project_requests(body, [view], decoder.projections(128, 64))
    composed = decoder.decode(uvs, body, view.phenotypes, view.facial)
    baseline = decode_projection(uvs["avatar"], body, view.phenotypes, view.facial)
    n = len(baseline)
    for name in ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer"):
        assert torch.equal(getattr(composed, name)[:n], getattr(baseline, name)), name
    assert len(composed) == n and composed.meta["stats"]["n_decoder_shell"] == 0
    inputs, _, composition = over_projection_parts(uvs, body, view.phenotypes, view.facial, config)
    n_template = baseline.meta["stats"]["n_template"]
    assert len(composition.index) == composition.n_core + (n_template if templates else 0) and n_template > 1000
    if templates:
        assert torch.equal(composition.index[composition.n_core :], torch.arange(n - n_template, n))
        assert bool((composition.weight[composition.n_core :] == 0).all())
    # the baseline it reads: the projection avatar's colours averaged over each decoder texel (64² from 128²)
    texel = composition.texel[: composition.n_core]
    fine_row, fine_col = texel // 128, texel % 128
    coarse = (fine_row // 2) * 64 + fine_col // 2
    some = coarse[:: max(1, len(coarse) // 50)]
    for k in some.tolist():
        members = coarse == k
        expected = baseline.colors[: len(texel)][members]
        # one Gaussian per fine texel here except where several share one (then any of them): bound by the spread
        got = inputs.core_base[0, :3].reshape(3, -1)[:, k]
        assert bool(((got >= expected.min(0).values - 1e-6) & (got <= expected.max(0).values + 1e-6)).all()), k
