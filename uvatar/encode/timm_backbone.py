"""'timm:NAME' encoders: a ViT checkpoint in timm's key layout, read from a local safetensors file.

``get_encoder("timm:vit_small_patch14_reg4_dinov2", weights="model.safetensors")`` rebuilds the
architecture (uvatar.encode._vit, whose parameter names follow timm's ``VisionTransformer``), loads the
file strictly and returns the last block's patch tokens (after the final norm; class and register tokens
dropped) as a (D, h, w) FeatureMap with stride = patch size / resize factor.

Why not ``timm.create_model``: every timm release imports torchvision at import time, and the PyPI
torchvision wheel is CUDA-built and does not load against the CPU torch build. The module here needs
neither; the tests compare it with timm itself where timm can be imported.

The architecture comes from the file (embedding width, depth, patch size, MLP width, class/register
tokens, LayerScale, q/k norm, position grid); the name supplies what the tensors cannot: the number of
heads (from the size word: tiny 3, small 6, base/betwixt 12, medium 8, large/huge/so400m 16, giant 24),
the LayerNorm epsilon and activation (CLIP: 1e-5, QuickGELU for "quickgelu" names) and the input
mean/std of timm's pretrained config for that family. All three can be overridden.
Only safetensors is read: a pickle checkpoint (.pth, .pt, .bin, .ckpt) is refused, never unpickled.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from uvatar.encode._vit import ViT, ViTConfig, square_side
from uvatar.encode.base import Encoder, FeatureMap
from uvatar.errors import InputError

__all__ = ["TimmViTEncoder", "vit_config_from_state_dict", "preprocess_defaults", "load_safetensors_weights"]

log = logging.getLogger(__name__)

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
_HEADS = {"tiny": 3, "small": 6, "medium": 8, "base": 12, "betwixt": 12, "large": 16, "huge": 16,
          "so400m": 16, "giant": 24}
# Keys of classifier heads and pooling, which do not touch the patch tokens: skipped when loading.
_HEAD_PREFIXES = ("head.", "fc_norm.", "attn_pool.", "head_drop.")
_PICKLE_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle", ".tar"}
_NAME_RE = re.compile(r"^(vit|deit3)_([a-z0-9]+)_patch(\d+)")


def preprocess_defaults(name: str) -> tuple[tuple[float, ...], tuple[float, ...], float, str]:
    """(mean, std, norm_eps, act) that timm's pretrained config and model definition give ``name``
    ("model" or "model.tag"). InputError for names outside the supported ViT families."""
    base, _, tag = name.partition(".")
    if not _NAME_RE.match(base):
        raise InputError(f"timm:{name} is not a supported model; supported: timm ViT-family names "
                         "(vit_<size>_patch<P>_..., deit3_<size>_patch<P>_...)")
    if any(k in base for k in ("rope", "dinov3", "sapiens", "eva", "naflex", "_mci_", "tipsv2", "radio", "lingbot")):
        raise InputError(f"timm:{name} uses an architecture (RoPE/hybrid) this loader does not rebuild; "
                         "use a plain ViT, DeiT-III, DINO(v2), MAE, CLIP or SigLIP model")
    if "_clip_" in base or base.endswith("_clip"):
        eps, act = 1e-5, ("quick_gelu" if "quickgelu" in base else "gelu")
        return (*OPENAI_CLIP, eps, act)
    if "dinov2" in base or base.startswith("deit3_") or tag in ("dino", "mae") or "ijepa" in tag:
        return (*IMAGENET, 1e-6, "gelu")
    return (*HALF, 1e-6, "gelu")  # augreg / orig / siglip / sam


def load_safetensors_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors state dict on the CPU; InputError for missing, pickle or corrupt files."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"weights file {p} not found; pass weights=<path to a .safetensors file>")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if p.suffix.lower() in _PICKLE_SUFFIXES or head[:2] == b"PK" or head[:1] == b"\x80":
        raise InputError(f"{p} looks like a pickle checkpoint, which UVatar never loads; convert it to safetensors "
                         "(safetensors.torch.save_file(state_dict, 'model.safetensors')) where you trust it")
    try:
        from safetensors.torch import load_file

        sd = load_file(str(p), device="cpu")
    except Exception as e:  # safetensors raises its own error types for bad headers and truncation
        raise InputError(f"{p} is not a readable safetensors file ({type(e).__name__}: {e}); "
                         "re-download or re-export it") from None
    return sd


def vit_config_from_state_dict(sd: dict[str, torch.Tensor], name: str, num_heads: int | None = None,
                               norm_eps: float | None = None, act: str | None = None, where: str = "the file") -> ViTConfig:
    """Infer the ViTConfig of a timm-layout ViT state dict; ``name`` gives heads/eps/act unless overridden."""
    base = name.partition(".")[0]
    m = _NAME_RE.match(base)
    _, _, d_eps, d_act = preprocess_defaults(name)
    w = sd.get("patch_embed.proj.weight")
    if w is None or w.ndim != 4 or w.shape[1] != 3 or w.shape[2] != w.shape[3]:
        raise InputError(f"weights in {where} do not match timm model {name}: no square RGB 'patch_embed.proj.weight' "
                         f"({'missing' if w is None else tuple(w.shape)}); is this a ViT checkpoint?")
    D, P = int(w.shape[0]), int(w.shape[2])
    if m and int(m.group(3)) != P:
        raise InputError(f"weights in {where} do not match timm model {name}: "
                         f"patch size {P} in the file, {m.group(3)} in the name")
    if num_heads is None:
        size = m.group(2) if m else ""
        if size not in _HEADS:
            raise InputError(f"cannot tell the number of attention heads of timm:{name}; pass num_heads=")
        num_heads = _HEADS[size]
    if D % num_heads:
        raise InputError(f"weights in {where} do not match timm model {name}: "
                         f"width {D} is not divisible by {num_heads} heads; pass num_heads=")
    blocks = {int(k.split(".")[1]) for k in sd if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    depth = max(blocks) + 1 if blocks else 0
    fc1 = sd.get("blocks.0.mlp.fc1.weight")
    class_token = "cls_token" in sd
    reg = int(sd["reg_token"].shape[1]) if "reg_token" in sd else 0
    npt = int(class_token) + reg
    pos_grid, no_embed_class = None, False
    if "pos_embed" in sd:
        n = int(sd["pos_embed"].shape[1])
        if npt and square_side(n - npt):
            s = square_side(n - npt)
        elif square_side(n):
            s, no_embed_class = square_side(n), npt > 0
        else:
            raise InputError(f"weights in {where} do not match timm model {name}: pos_embed has {n} entries, "
                             f"not a square grid plus {npt} prefix tokens")
        pos_grid = (s, s)
    return ViTConfig(
        patch_size=P, embed_dim=D, depth=depth, num_heads=int(num_heads),
        mlp_hidden=int(fc1.shape[0]) if fc1 is not None else 4 * D, pos_grid=pos_grid,
        class_token=class_token, reg_tokens=reg, no_embed_class=no_embed_class,
        qkv_bias="blocks.0.attn.qkv.bias" in sd, qk_norm="blocks.0.attn.q_norm.weight" in sd,
        layer_scale="blocks.0.ls1.gamma" in sd, patch_bias="patch_embed.proj.bias" in sd,
        patch_norm="patch_embed.norm.weight" in sd, norm_pre="norm_pre.weight" in sd,
        final_norm="norm.weight" in sd, norm_eps=float(norm_eps if norm_eps is not None else d_eps),
        act=act or d_act,
    )


def _load_strict(model: ViT, sd: dict[str, torch.Tensor], name: str, where: str) -> None:
    ignored = sorted(k for k in sd if k.startswith(_HEAD_PREFIXES))
    if ignored:
        log.debug("timm:%s: skipping %d classifier/pooling tensors (%s...)", name, len(ignored), ignored[0])
    given = {k: v for k, v in sd.items() if not k.startswith(_HEAD_PREFIXES)}
    want = model.state_dict()
    missing = [k for k in want if k not in given]
    unexpected = [k for k in given if k not in want]
    shape = [f"{k} {tuple(given[k].shape)} vs {tuple(v.shape)}" for k, v in want.items()
             if k in given and tuple(given[k].shape) != tuple(v.shape)]
    if missing or unexpected or shape:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape)):
            if keys:
                more = f" (+{len(keys) - 6} more)" if len(keys) > 6 else ""
                parts.append(f"{label} {', '.join(keys[:6])}{more}")
        raise InputError(f"weights in {where} do not match timm model {name}: {'; '.join(parts)}")
    model.load_state_dict({k: v.float() for k, v in given.items()}, strict=True)


class TimmViTEncoder(Encoder):
    """"timm:NAME": patch tokens of a timm-layout ViT loaded from a local safetensors file.

    Args:
        model_name: timm model name, optionally with a tag ("vit_small_patch14_reg4_dinov2.lvd142m").
        device: torch device.
        weights: path of the model's safetensors file (required; never a pickle).
        long_side: the image is scaled (aspect kept) so that its long side is this many pixels rounded
            to a multiple of the patch size (default 512 -> 32 patches of 16, 37 of 14); None keeps
            the image's own scale. The short side is padded at the bottom/right to whole patches.
        mean, std: input normalisation (default: timm's pretrained config for the family).
        num_heads, norm_eps, act: architecture overrides for names whose defaults do not fit.

    Output: FeatureMap (D, h, w), stride = patch / scale factor in image pixels, channel names None.
    """

    def __init__(self, model_name: str, device: str | torch.device = "cpu", weights: str | Path | None = None,
                 long_side: int | None = 512, mean: tuple[float, float, float] | None = None,
                 std: tuple[float, float, float] | None = None, num_heads: int | None = None,
                 norm_eps: float | None = None, act: str | None = None) -> None:
        self.name = f"timm:{model_name}"
        if weights is None:
            raise InputError(f"{self.name} needs weights=<path to the model's .safetensors file>; "
                             "nothing is downloaded")
        if act not in (None, "gelu", "quick_gelu"):
            raise InputError(f"act must be 'gelu' or 'quick_gelu', got {act!r}")
        if long_side is not None and int(long_side) < 1:
            raise InputError(f"long_side must be a positive number of pixels or None, got {long_side!r}")
        d_mean, d_std, _, _ = preprocess_defaults(model_name)
        sd = load_safetensors_weights(weights)
        cfg = vit_config_from_state_dict(sd, model_name, num_heads, norm_eps, act, where=str(weights))
        model = ViT(cfg)
        _load_strict(model, sd, model_name, str(weights))
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.config = cfg
        self.patch = cfg.patch_size
        self.channels = cfg.embed_dim
        self.stride = float(cfg.patch_size)  # nominal; the FeatureMap carries the exact value
        self.long_side = None if long_side is None else int(long_side)
        self.mean = tuple(float(v) for v in (mean or d_mean))
        self.std = tuple(float(v) for v in (std or d_std))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InputError(f"mean and std must be 3 numbers (std > 0), got {self.mean}, {self.std}")
        log.info("%s: %d blocks, width %d, patch %d, %d register tokens", self.name, cfg.depth, cfg.embed_dim,
                 cfg.patch_size, cfg.reg_tokens)

    def _encode(self, x: torch.Tensor) -> FeatureMap:
        """x: (1, 3, H, W) in [0, 1] -> FeatureMap (D, ceil(H*f/P), ceil(W*f/P)), stride P/f."""
        _, _, H, W = x.shape
        P = self.patch
        if self.long_side is None:
            f = 1.0
        else:
            f = max(P, round(self.long_side / P) * P) / max(H, W)
        if f != 1.0:
            x = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False, antialias=f < 1,
                              recompute_scale_factor=False)
        mean = x.new_tensor(self.mean)[None, :, None, None]
        std = x.new_tensor(self.std)[None, :, None, None]
        x = (x - mean) / std
        h, w = x.shape[-2:]
        x = F.pad(x, (0, math.ceil(w / P) * P - w, 0, math.ceil(h / P) * P - h))  # pad with the mean colour
        tokens = self.model.forward_patch_tokens(x)[0]
        return FeatureMap(tokens.float(), P / f, (W, H), self.name, None)
