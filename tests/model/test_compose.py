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
