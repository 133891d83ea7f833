"""'timm:NAME' encoders: timm-layout ViT checkpoints from local safetensors files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from uvatar.encode import get_encoder
from uvatar.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vit_fixtures import CASES, probe_input, tiny_state_dict  # noqa: E402

HERE = Path(__file__).resolve().parent

# Patch tokens [c, i, j] and mean |token| of probe_input through timm 1.0.31's own model holding
# tiny_state_dict(name) (forward_features, prefix tokens dropped); re-derived by the slow oracle below.
GOLDEN = {
    "vit_tiny_patch16_224": ([0.733277, 1.036263, 1.707754], 0.80537),
    "vit_small_patch14_reg4_dinov2": ([0.341755, -0.375516, 1.140533], 0.798269),
}
PROBES = [(0, 0, 0), (5, 1, 2), (100, 2, 3)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vit")
    out = {}
    for name in CASES:
        out[name] = d / f"{name}.safetensors"
        save_file(tiny_state_dict(name), str(out[name]))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_tokens_match_timm_golden_values(files, name):
    enc = get_encoder(f"timm:{name}", weights=files[name])
    cfg = CASES[name][0]
    assert enc.config == cfg  # architecture inferred from the file and the name
    with torch.no_grad():
        t = enc.model.forward_patch_tokens(probe_input(cfg.patch_size))[0]
    probes, abs_mean = GOLDEN[name]
    assert t.shape == (cfg.embed_dim, 3, 4)
    got = [float(t[c, i, j]) for c, i, j in PROBES]
    # NOT a worst-case bound: goldens printed to 6 decimals (<= 5e-7) from timm's float32 model; a first-order
    # bound over 12 blocks of length-768 dot products, softmax and LayerNorm would be ~1e-3 relative. 1e-4 is
    # an empirical allowance: measured <= 3.1e-6 here under the default, ATEN_CPU_CAPABILITY=default + MKL
    # SSE4_2 and AVX2 + OpenBLAS-generic code paths (issue 13), a 30x margin.
    assert np.allclose(got, probes, atol=1e-4), got
    assert abs(float(t.abs().mean()) - abs_mean) < 1e-4


def test_feature_map_geometry(files):
    enc = get_encoder("timm:vit_tiny_patch16_224", weights=files["vit_tiny_patch16_224"], long_side=64)
    assert (enc.channels, enc.stride) == (192, 16.0)
    img = np.random.default_rng(0).random((100, 150, 3), dtype=np.float32)
    fm = enc(img)
    f = 64 / 150  # long side 150 -> 64 px = 4 patches; short side 100 -> 42 px, padded to 48 = 3 patches
    assert fm.features.shape == (192, 3, 4) and math.isclose(fm.stride, 16 / f, rel_tol=4 * 2.0**-53)  # float64 ratios
    assert fm.image_size == (150, 100) and fm.encoder == "timm:vit_tiny_patch16_224" and fm.channels is None
    fm_native = get_encoder("timm:vit_tiny_patch16_224", weights=files["vit_tiny_patch16_224"], long_side=None)(img[:64, :80])
    assert fm_native.features.shape == (192, 4, 5) and fm_native.stride == 16.0
    dino = get_encoder("timm:vit_small_patch14_reg4_dinov2", weights=files["vit_small_patch14_reg4_dinov2"])
    assert dino.mean == (0.485, 0.456, 0.406) and enc.mean == (0.5, 0.5, 0.5)
    fm = dino(img)  # default long side 512 -> 518 = 37 patches of 14
    assert fm.features.shape == (384, math.ceil(100 * 518 / 150 / 14), 37)


def test_mismatched_weights_are_refused(files, tmp_path):
    sd = tiny_state_dict("vit_tiny_patch16_224")
    del sd["blocks.1.attn.proj.bias"]
    sd["blocks.1.attn.extra"] = torch.zeros(3)
    bad = tmp_path / "bad.safetensors"
    save_file(sd, str(bad))
    with pytest.raises(InputError, match=r"weights in .*bad.safetensors do not match timm model vit_tiny_patch16_224: "
                                         r"missing blocks.1.attn.proj.bias; unexpected blocks.1.attn.extra"):
        get_encoder("timm:vit_tiny_patch16_224", weights=bad)
    with pytest.raises(InputError, match="patch size 16 in the file, 14 in the name"):
        get_encoder("timm:vit_tiny_patch14_224", weights=files["vit_tiny_patch16_224"])
    with pytest.raises(InputError, match="wrong shape blocks.0.mlp.fc1.bias"):
        sd = tiny_state_dict("vit_tiny_patch16_224")
        sd["blocks.0.mlp.fc1.bias"] = torch.zeros(5)
        save_file(sd, str(bad))
        get_encoder("timm:vit_tiny_patch16_224", weights=bad)
    with pytest.raises(InputError, match="weights in .* do not match .*: width 192 is not divisible by 5 heads"):
        get_encoder("timm:vit_tiny_patch16_224", weights=files["vit_tiny_patch16_224"], num_heads=5)


def test_bad_files_are_refused(files, tmp_path):
    name = "timm:vit_tiny_patch16_224"
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(files["vit_tiny_patch16_224"].read_bytes()[:5000])  # truncated
    with pytest.raises(InputError, match="not a readable safetensors file"):
        get_encoder(name, weights=corrupt)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(InputError, match="not a readable safetensors file"):
        get_encoder(name, weights=junk)
    pth = tmp_path / "model.pth"
    torch.save(tiny_state_dict("vit_tiny_patch16_224"), pth)
    with pytest.raises(InputError, match="pickle checkpoint, which UVatar never loads"):
        get_encoder(name, weights=pth)
    disguised = tmp_path / "disguised.safetensors"
    disguised.write_bytes(pth.read_bytes())
    with pytest.raises(InputError, match="pickle"):
        get_encoder(name, weights=disguised)
    with pytest.raises(InputError, match="not found"):
        get_encoder(name, weights=tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="needs weights="):
        get_encoder(name)
    with pytest.raises(InputError, match="not a supported model"):
        get_encoder("timm:resnet50", weights=files["vit_tiny_patch16_224"])
    with pytest.raises(InputError, match="RoPE"):
        get_encoder("timm:vit_base_patch16_dinov3", weights=files["vit_tiny_patch16_224"])


_ORACLE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import oracle_stubs
oracle_stubs.install("torchvision")
import timm, torch
from timm.models import get_pretrained_cfg
from vit_fixtures import CASES, probe_input, tiny_state_dict
from uvatar.encode.timm_backbone import preprocess_defaults
from uvatar.encode._vit import ViT
out = {"version": timm.__version__, "cases": {}, "cfg_mismatch": []}
for name, (cfg, kw) in CASES.items():
    m = timm.create_model(name, pretrained=False, dynamic_img_size=True, **kw).eval()
    sd = tiny_state_dict(name)
    m.load_state_dict(sd, strict=True)  # our key layout is timm's
    x = probe_input(cfg.patch_size)
    ours = ViT(cfg).eval()
    ours.load_state_dict({k: v for k, v in sd.items() if not k.startswith("head.")}, strict=True)
    with torch.no_grad():
        t = m.forward_features(x)[0, m.num_prefix_tokens:].T.reshape(cfg.embed_dim, 3, 4)
        o = ours.forward_patch_tokens(x)[0]
    out["cases"][name] = {"diff": float((t - o).abs().max()), "abs_mean": float(t.abs().mean()),
                          "probes": [float(t[c, i, j]) for c, i, j in [(0, 0, 0), (5, 1, 2), (100, 2, 3)]]}
names = ["vit_small_patch16_224", "vit_base_patch16_224.augreg_in21k", "vit_base_patch16_224.mae",
         "vit_small_patch16_224.dino", "vit_small_patch14_dinov2", "vit_large_patch14_reg4_dinov2",
         "deit3_small_patch16_224", "vit_base_patch16_clip_224.openai", "vit_base_patch16_clip_quickgelu_224",
         "vit_base_patch16_siglip_224", "vit_huge_patch14_224.mae"]
for n in names:
    c = get_pretrained_cfg(n) or get_pretrained_cfg(timm.models.get_arch_name(n) + ".")
    mean, std, eps, act = preprocess_defaults(n)
    if (tuple(c.mean), tuple(c.std)) != (mean, std):
        out["cfg_mismatch"].append(n)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_matches_timm():
    """Oracle: timm itself (torchvision stubbed, in a subprocess) loads the same files strictly and
    gives the same patch tokens; our mean/std defaults equal timm's pretrained configs."""
    import importlib.util

    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm not installed (pip install --no-deps timm==1.0.31)")
    r = subprocess.run([sys.executable, "-c", _ORACLE, str(HERE)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert not res["cfg_mismatch"], res
    for name, c in res["cases"].items():
        # empirical allowances as above (timm vs ours, both float32), not derived
        assert c["diff"] < 1e-5, (name, c)
        assert np.allclose(c["probes"], GOLDEN[name][0], atol=1e-5) and abs(c["abs_mean"] - GOLDEN[name][1]) < 1e-5
