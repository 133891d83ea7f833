"""A plain Vision Transformer whose parameter names follow timm's ``VisionTransformer``.

Covers the pre-norm ViT family as timm lays it out (ViT augreg/orig, DeiT-III, DINO, MAE, DINOv2 with
or without register tokens, CLIP and SigLIP image towers): conv patch embedding, optional class and
register tokens, learned absolute position embedding (resampled bicubically for other grid sizes, as
timm's ``dynamic_img_size=True`` does), blocks of LayerNorm -> multi-head attention (optional q/k norm)
-> optional LayerScale, LayerNorm -> MLP (GELU or QuickGELU) -> optional LayerScale, final LayerNorm.
Not covered (their keys do not match, so loading refuses them): RoPE models (EVA, DINOv3, Sapiens2),
SwiGLU MLPs (DINOv2 giant), hybrid CNN stems.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ViTConfig", "ViT", "resample_pos_embed"]


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of a timm-style ViT (everything needed to rebuild its modules)."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int
    pos_grid: tuple[int, int] | None  # (rows, cols) of the stored position embedding, None if absent
    class_token: bool = True
    reg_tokens: int = 0
    no_embed_class: bool = False  # True: the position embedding has no entries for prefix tokens
    qkv_bias: bool = True
    qk_norm: bool = False
    layer_scale: bool = False
    patch_bias: bool = True
    patch_norm: bool = False
    norm_pre: bool = False
    final_norm: bool = True
    norm_eps: float = 1e-6
    act: str = "gelu"  # "gelu" (exact) or "quick_gelu"

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.class_token) + self.reg_tokens


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _PatchEmbed(nn.Module):
    def __init__(self, c: ViTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, c.embed_dim, c.patch_size, stride=c.patch_size, bias=c.patch_bias)
        self.norm = nn.LayerNorm(c.embed_dim, eps=c.norm_eps) if c.patch_norm else nn.Identity()


class _Attention(nn.Module):
    def __init__(self, c: ViTConfig) -> None:
        super().__init__()
        self.num_heads = c.num_heads
        self.head_dim = c.embed_dim // c.num_heads
        self.qkv = nn.Linear(c.embed_dim, 3 * c.embed_dim, bias=c.qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=c.norm_eps) if c.qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=c.norm_eps) if c.qk_norm else nn.Identity()
        self.proj = nn.Linear(c.embed_dim, c.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, c: ViTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c.embed_dim, c.mlp_hidden)
        self.act = nn.GELU() if c.act == "gelu" else _QuickGELU()
        self.fc2 = nn.Linear(c.mlp_hidden, c.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, c: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.embed_dim, eps=c.norm_eps)
        self.attn = _Attention(c)
        self.ls1 = _LayerScale(c.embed_dim) if c.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(c.embed_dim, eps=c.norm_eps)
        self.mlp = _Mlp(c)
        self.ls2 = _LayerScale(c.embed_dim) if c.layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """forward_patch_tokens: (B, 3, H, W) normalised image, H and W multiples of the patch size
    -> (B, D, H / patch, W / patch) patch tokens of the last block after the final norm."""

    def __init__(self, c: ViTConfig) -> None:
        super().__init__()
        self.config = c
        self.patch_embed = _PatchEmbed(c)
        if c.class_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        if c.reg_tokens:
            self.reg_token = nn.Parameter(torch.zeros(1, c.reg_tokens, c.embed_dim))
        if c.pos_grid is not None:
            n = c.pos_grid[0] * c.pos_grid[1] + (0 if c.no_embed_class else c.num_prefix_tokens)
            self.pos_embed = nn.Parameter(torch.zeros(1, n, c.embed_dim))
        self.norm_pre = nn.LayerNorm(c.embed_dim, eps=c.norm_eps) if c.norm_pre else nn.Identity()
        self.blocks = nn.Sequential(*[_Block(c) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.embed_dim, eps=c.norm_eps) if c.final_norm else nn.Identity()

    def forward_patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = self.patch_embed.proj(x)  # (B, D, h, w)
        B, D, h, w = x.shape
        x = self.patch_embed.norm(x.flatten(2).transpose(1, 2))  # (B, h*w, D)
        prefix = []
        if c.class_token:
            prefix.append(self.cls_token.expand(B, -1, -1))
        if c.reg_tokens:
            prefix.append(self.reg_token.expand(B, -1, -1))
        pos = None
        if c.pos_grid is not None:
            npt = 0 if c.no_embed_class else c.num_prefix_tokens
            pos = resample_pos_embed(self.pos_embed, (h, w), c.pos_grid, npt)
        if c.no_embed_class:
            if pos is not None:
                x = x + pos
            x = torch.cat(prefix + [x], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1)
            if pos is not None:
                x = x + pos
        x = self.norm(self.blocks(self.norm_pre(x)))
        x = x[:, c.num_prefix_tokens:]
        return x.transpose(1, 2).reshape(B, D, h, w)


def resample_pos_embed(pos: torch.Tensor, new: tuple[int, int], old: tuple[int, int], num_prefix: int) -> torch.Tensor:
    """(1, num_prefix + old_h*old_w, D) -> (1, num_prefix + new_h*new_w, D): bicubic with antialias on
    the grid part (timm's ``resample_abs_pos_embed`` defaults), prefix entries kept."""
    if tuple(new) == tuple(old):
        return pos
    prefix, grid = pos[:, :num_prefix], pos[:, num_prefix:]
    D = pos.shape[-1]
    grid = grid.float().reshape(1, old[0], old[1], D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new), mode="bicubic", align_corners=False, antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, D).to(pos.dtype)
    return torch.cat([prefix, grid], dim=1)


def square_side(n: int) -> int | None:
    """s if n == s*s for an integer s >= 1, else None."""
    s = math.isqrt(n) if n > 0 else 0
    return s if s > 0 and s * s == n else None
