"""Test-only: deterministic tiny ViT checkpoints in timm's key layout (shared by the fast tests and
the timm oracle, which loads them strictly into timm's own models)."""

from __future__ import annotations

import torch

from uvatar.encode._vit import ViT, ViTConfig

__all__ = ["CASES", "tiny_state_dict", "probe_input"]

# name -> (ViTConfig, timm.create_model kwargs that give the same architecture)
CASES = {
    "vit_tiny_patch16_224": (
        ViTConfig(patch_size=16, embed_dim=192, depth=2, num_heads=3, mlp_hidden=768, pos_grid=(14, 14)),
        {"depth": 2, "num_classes": 10},
    ),
    "vit_small_patch14_reg4_dinov2": (
        ViTConfig(patch_size=14, embed_dim=384, depth=1, num_heads=6, mlp_hidden=1536, pos_grid=(37, 37),
                  reg_tokens=4, no_embed_class=True, layer_scale=True),
        {"depth": 1, "num_classes": 0},
    ),
}


def tiny_state_dict(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights (seeded, N(0, 0.1^2); LayerNorm weights around 1) plus a classifier head if the
    timm kwargs ask for one."""
    cfg, kw = CASES[name]
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in ViT(cfg).state_dict().items():
        r = 0.1 * torch.randn(v.shape, generator=g)
        sd[k] = r + 1.0 if (k.endswith("weight") and v.ndim == 1 and "norm" in k) else r
    if kw.get("num_classes"):
        sd["head.weight"] = 0.1 * torch.randn(kw["num_classes"], cfg.embed_dim, generator=g)
        sd["head.bias"] = torch.zeros(kw["num_classes"])
    return sd


def probe_input(patch: int) -> torch.Tensor:
    """A fixed normalised input of 3 x 4 patches: (1, 3, 3 * patch, 4 * patch)."""
    h, w = 3 * patch, 4 * patch
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.stack([xx, yy, torch.sin(5 * xx * yy)])[None]
