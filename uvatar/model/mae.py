"""The MAE-style Dual-UV decoder: a small transformer from projected UV features to Gaussian attribute maps.

Core-UV features ``(C, H, W)`` and Shell-UV features ``(C, Hs, Ws)`` are cut into ``p x p`` patches.
Only patches that hold at least one covered texel of the atlas take part (the rest of the square is
never drawn), so the sequence length is fixed per configuration. A patch with no texel seen by the
photo is an *empty* patch: its photo-feature embedding is replaced by one learned ``mask_token``, as in
MAE. Every token then receives, added:

* the embedding of the projection baseline's filled colours of its texels (mirror + push-pull, the
  same fill as :mod:`uvatar.model.projection`) and of where those colours came from the photo;
* a fixed 2D sin-cos embedding of the patch centre's UV (core and shell share the UV space, so a
  shell token sits at the same position as the core tokens under it);
* a body-part embedding: a linear map of the fraction of the patch's texels in each of the six parts
  (:data:`uvatar.body.parts.PART_NAMES`);
* a layer embedding (core or shell).

``depth`` pre-norm self-attention blocks mix the tokens; two linear heads (core, shell) predict per
texel 14 raw values (:data:`ATTRIBUTES`), unpatchified back to ``(14, H, W)`` and ``(14, Hs, Ws)``
maps. The heads start at zero, so an initialised, untrained decoder returns all-zero raw maps, which
:func:`uvatar.model.bind.bind_gaussians` turns into exactly the projection baseline (every attribute
is a residual over it).

Configurations (:data:`CONFIGS`): ``"paper"`` (8 layers, 512² maps from 8x8 patches, 256² shell,
width 512: ~26M parameters, under the paper's 0.1B), ``"small"`` (256², 4 layers, width 256) and
``"tiny"`` (128², 2 layers, width 128) that train on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uvatar.errors import InputError

__all__ = [
    "ATTRIBUTES", "N_ATTR", "DecoderConfig", "CONFIGS", "get_config", "DecoderInputs", "PatchLayout",
    "UVDecoder", "count_parameters", "patchify", "unpatchify",
]  # fmt: skip

#: Raw per-texel outputs, in channel order: name -> (first channel, number of channels).
ATTRIBUTES = {"color": (0, 3), "opacity": (3, 1), "offset": (4, 3), "rotation": (7, 4), "scale": (11, 3)}
N_ATTR = 14
N_PARTS = 6
BASE_CHANNELS = 4  # filled baseline colour (3) + "colour came from the photo (seen or mirrored)" (1)


@dataclass(frozen=True)
class DecoderConfig:
    """Architecture and the baseline the outputs are residuals over (saved beside every checkpoint).

    Attributes:
        name: label of the configuration.
        resolution: Core-UV attribute map side ``H = W`` (texels); a multiple of ``patch``.
        shell_resolution: Shell-UV attribute map side (coarser); a multiple of ``patch``.
        patch: patch side in texels.
        width, depth, heads, mlp_ratio: transformer size.
        encoder: the frozen image encoder whose features are projected ("rgb" = the colours themselves).
        feature_channels: channels of that encoder's features (3 for "rgb").
        feature_dim: per-texel linear reduction of the features before patchifying (0: none); wide
            encoders (e.g. "stlpips-vgg", 1472 channels) need one.
        core_opacity, shell_opacity: baseline opacity of core texels and of seen shell texels.
        shell_unseen_opacity: baseline opacity of unseen shell texels (faint, so they still get gradients).
        tangent_sigma, normal_sigma: baseline Gaussian sigma in texel sides (as the projection decoder).
        max_core_offset, max_shell_offset: bound of the learned offset (metres, ``max * tanh(raw)``). Body
            texels move at most 2 mm: trained on 128 px views, a tiny decoder pushed them ~3.5 mm off the
            surface on average, which fills silhouettes at that scale but cracks a 512² avatar of a real
            photo into scales and seams (astronaut input view 19.0 dB; the same maps clamped to 2 mm: 22.6).
        max_log_scale: bound of the learned log scale factor (``max * tanh(raw / max)``).
        pixel_residuals: apply the shell map's residuals to the photo-pixel shell Gaussians too; off
            (default), they stay as the projection decoder makes them: training subjects without hair or
            held objects only teach the decoder to erase them, which erases real hair and objects.
        shell_tokens: Shell-UV patches take part in attention (default). Off (the paper's "w/o shell
            token" ablation): only Core-UV tokens are mixed and the shell map stays all-zero, i.e. the
            shell layer is the projection baseline's.
        over_projection: decode as residuals over the projection decoder's avatar
            (:func:`uvatar.model.learned.over_projection_parts`): the core colour map is a logit residual
            on that avatar's colours where the photo did not see (:func:`uvatar.model.compose.compose_residual`),
            the baseline colours the decoder reads are that avatar's (dressed, under the fitted hair and
            garments), and training renders the same composition. Off (the checkpoints before it): the core
            colours replace the unseen ones, over the undressed fill.
        over_projection_shell: an ``over_projection`` decoder's Shell-UV texel Gaussians are drawn too. Off
            (default): the fitted hair and garment templates are the Shell, and drawn over them the
            decoder's extruded shell lowered the training loss (its mask term) while it covered the photo's
            seen texels in the input view (held-out masked PSNR -0.8 dB input, -0.4 side; docs/decoder.md).
        over_projection_templates: an ``over_projection`` decoder's residual also recolours the fitted hair
            and garment templates' Gaussians (what the photo did not see of them; each at the texel of the
            body point it is bound to): a jacket's unseen back is a garment template, over the body's back.
    """

    name: str = "tiny"
    resolution: int = 128
    shell_resolution: int = 64
    patch: int = 8
    width: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    encoder: str = "rgb"
    feature_channels: int = 3
    feature_dim: int = 0
    core_opacity: float = 0.99
    shell_opacity: float = 0.97
    shell_unseen_opacity: float = 0.02
    tangent_sigma: float = 0.5
    normal_sigma: float = 0.08
    max_core_offset: float = 0.002
    max_shell_offset: float = 0.08
    max_log_scale: float = 3.0
    pixel_residuals: bool = False
    shell_tokens: bool = True
    over_projection: bool = False
    over_projection_shell: bool = False
    over_projection_templates: bool = False

    def validate(self) -> "DecoderConfig":
        for side, what in ((self.resolution, "resolution"), (self.shell_resolution, "shell_resolution")):
            if side <= 0 or side % self.patch:
                raise InputError(f"decoder config {self.name!r}: {what} {side} must be a positive multiple of patch {self.patch}")
        if self.width % self.heads or self.width % 4:
            raise InputError(f"decoder config {self.name!r}: width {self.width} must be divisible by heads {self.heads} and by 4")
        if self.depth < 0:
            raise InputError(f"decoder config {self.name!r}: depth must be >= 0; got {self.depth}")
        return self

    @property
    def input_channels(self) -> int:
        """Per-texel photo channels: features (or their reduction), seen flag, view cosine."""
        return (self.feature_dim or self.feature_channels) + 2

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "DecoderConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown decoder config keys {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**data).validate()


CONFIGS: dict[str, DecoderConfig] = {
    "paper": DecoderConfig(name="paper", resolution=512, shell_resolution=256, patch=8, width=512, depth=8, heads=8),
    "small": DecoderConfig(name="small", resolution=256, shell_resolution=128, patch=8, width=256, depth=4, heads=8),
    "tiny": DecoderConfig(name="tiny", resolution=128, shell_resolution=64, patch=8, width=128, depth=2, heads=4),
}


def get_config(name: str) -> DecoderConfig:
    """A named :class:`DecoderConfig` (``"paper"``, ``"small"``, ``"tiny"``)."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise InputError(f"unknown decoder config {name!r}; choose one of {', '.join(CONFIGS)}") from None


@dataclass
class DecoderInputs:
    """A batch of decoder inputs (features already resampled to the decoder's map sizes).

    Attributes:
        core: ``(B, Cf, H, W)`` projected features (0 where unseen).
        core_seen: ``(B, H, W)`` float in [0, 1], 1 where the photo saw the texel.
        core_cos: ``(B, H, W)`` view cosine where seen (0 elsewhere).
        core_base: ``(B, 4, H, W)`` baseline filled colour (3) and "colour from the photo" flag (1).
        shell, shell_seen, shell_cos, shell_base: the same on the ``(Hs, Ws)`` shell grid.
    """

    core: torch.Tensor
    core_seen: torch.Tensor
    core_cos: torch.Tensor
    core_base: torch.Tensor
    shell: torch.Tensor
    shell_seen: torch.Tensor
    shell_cos: torch.Tensor
    shell_base: torch.Tensor

    def to(self, device) -> "DecoderInputs":
        return DecoderInputs(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))

    @staticmethod
    def stack(items: list["DecoderInputs"]) -> "DecoderInputs":
        """Concatenate along the batch dimension."""
        return DecoderInputs(*(torch.cat([getattr(i, f.name) for i in items]) for f in dataclasses.fields(DecoderInputs)))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# ---------------------------------------------------------------------------------------------- layout
@dataclass
class PatchLayout:
    """Which patches of a ``side x side`` map take part, and what each holds.

    Attributes:
        side, patch: map side and patch side, texels.
        active: ``(P,)`` int64 linear index (row-major over the ``side/patch`` grid) of patches holding
            at least one covered, non-interior texel.
        parts: ``(P, 6)`` fraction of the patch's covered texels in each body part.
        centres: ``(P, 2)`` UV (u, v) of each patch's centre.
    """

    side: int
    patch: int
    active: torch.Tensor
    parts: torch.Tensor
    centres: torch.Tensor

    @classmethod
    def build(cls, body, side: int, patch: int) -> "PatchLayout":
        from uvatar.body.parts import interior_faces, texel_parts

        raster = body.uv_raster(side)
        keep = ~interior_faces(body).cpu()
        face = raster.face_index.cpu()
        covered = (face >= 0) & keep[face.clamp(min=0)]
        parts = texel_parts(raster, body.face_parts.cpu())
        onehot = F.one_hot(parts.clamp(min=0), N_PARTS).float() * covered[..., None].float()  # (S, S, 6)
        grid = side // patch
        per_patch = onehot.reshape(grid, patch, grid, patch, N_PARTS).sum((1, 3)).reshape(-1, N_PARTS)
        counts = per_patch.sum(-1)
        active = torch.nonzero(counts > 0).squeeze(1)
        fractions = per_patch[active] / counts[active, None]
        rows, cols = active // grid, active % grid
        centres = torch.stack([(cols.float() + 0.5) / grid, 1.0 - (rows.float() + 0.5) / grid], -1)
        return cls(side, patch, active, fractions, centres)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, (H/p)(W/p), C p p)`` row-major patches, each flattened channel-major."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(tokens: torch.Tensor, patch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, (H/p)(W/p), C p p)`` -> ``(B, C, H, W)``."""
    b = tokens.shape[0]
    gh, gw = height // patch, width // patch
    x = tokens.reshape(b, gh, gw, channels, patch, patch)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, channels, height, width)


def sincos_embedding(centres: torch.Tensor, dim: int, scale: float = 64.0) -> torch.Tensor:
    """Fixed 2D sin-cos embedding (MAE's) of continuous UV positions ``(P, 2)`` -> ``(P, dim)``.

    Half the channels encode u, half v; positions are multiplied by ``scale`` (a 64-patch grid's units).
    """
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    out = []
    for axis in range(2):
        angles = centres[:, axis].double()[:, None] * scale * omega[None]
        out += [torch.sin(angles), torch.cos(angles)]
    return torch.cat(out, -1).float()


# ---------------------------------------------------------------------------------------------- network
class _Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``. ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class _Stream(nn.Module):
    """Token embedding and output head of one layer (core or shell)."""

    def __init__(self, config: DecoderConfig, layout: PatchLayout, layer: int) -> None:
        super().__init__()
        p2 = config.patch**2
        self.patch = config.patch
        self.side = layout.side
        self.embed = nn.Linear(config.input_channels * p2, config.width)
        self.base_embed = nn.Linear(BASE_CHANNELS * p2, config.width)
        self.head = nn.Linear(config.width, N_ATTR * p2)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("active", layout.active, persistent=False)
        self.register_buffer("parts", layout.parts, persistent=False)
        self.register_buffer("pos", sincos_embedding(layout.centres, config.width), persistent=False)
        self.layer = layer

    def tokens(self, features, seen, cos, base, mask_token, part_embed, layer_embed) -> torch.Tensor:
        """Features ``(B, Cf, S, S)``, seen ``(B, S, S)``, cos ``(B, S, S)``, base ``(B, 4, S, S)`` -> ``(B, P, D)``."""
        seen = seen[:, None]
        photo = torch.cat([features * seen, seen, cos[:, None] * seen], 1)
        photo = patchify(photo, self.patch)[:, self.active]
        patch_seen = patchify(seen, self.patch)[:, self.active].amax(-1) > 0  # (B, P)
        tokens = torch.where(patch_seen[..., None], self.embed(photo), mask_token.to(photo.dtype))
        tokens = tokens + self.base_embed(patchify(base, self.patch)[:, self.active])
        return tokens + self.pos + part_embed(self.parts) + layer_embed[self.layer]

    def output(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, P, D)`` -> raw attribute map ``(B, 14, S, S)`` (zeros at inactive patches)."""
        b = tokens.shape[0]
        grid = (self.side // self.patch) ** 2
        values = self.head(tokens).float()
        full = values.new_zeros(b, grid, values.shape[-1])
        full = full.index_copy(1, self.active, values)
        return unpatchify(full, self.patch, N_ATTR, self.side, self.side)


class UVDecoder(nn.Module):
    """The MAE-style decoder (module docstring). ``forward(DecoderInputs) -> (core (B, 14, H, W), shell (B, 14, Hs, Ws))``.

    Build with :meth:`from_body` (the patch layouts come from the body's UV atlas).
    """

    def __init__(self, config: DecoderConfig, core_layout: PatchLayout, shell_layout: PatchLayout) -> None:
        super().__init__()
        self.config = config.validate()
        w = config.width
        self.reduce = nn.Linear(config.feature_channels, config.feature_dim) if config.feature_dim else None
        self.core = _Stream(config, core_layout, 0)
        self.shell = _Stream(config, shell_layout, 1)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, w))
        nn.init.normal_(self.mask_token, std=0.02)
        self.part_embed = nn.Linear(N_PARTS, w, bias=False)
        self.layer_embed = nn.Parameter(torch.zeros(2, w))
        self.blocks = nn.ModuleList(_Block(w, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(w)

    @classmethod
    def from_body(cls, config: DecoderConfig, body) -> "UVDecoder":
        config = config.validate()
        return cls(config, PatchLayout.build(body, config.resolution, config.patch), PatchLayout.build(body, config.shell_resolution, config.patch))

    @property
    def n_tokens(self) -> tuple[int, int]:
        """Tokens per sample: (core, shell); shell is 0 without shell tokens."""
        return int(self.core.active.numel()), int(self.shell.active.numel()) if self.config.shell_tokens else 0

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.reduce is None:
            return x
        return self.reduce(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, inputs: DecoderInputs) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        if inputs.core.shape[-1] != cfg.resolution or inputs.shell.shape[-1] != cfg.shell_resolution:
            raise InputError(
                f"decoder {cfg.name!r} needs {cfg.resolution}² core and {cfg.shell_resolution}² shell inputs; got "
                f"{tuple(inputs.core.shape[-2:])} and {tuple(inputs.shell.shape[-2:])} (resample them with uvatar.model.inputs)"
            )
        if inputs.core.shape[1] != cfg.feature_channels:
            raise InputError(f"decoder {cfg.name!r} needs {cfg.feature_channels} feature channels ({cfg.encoder}); got {inputs.core.shape[1]}")
        core = self.core.tokens(self._features(inputs.core), inputs.core_seen, inputs.core_cos, inputs.core_base,
                                self.mask_token, self.part_embed, self.layer_embed)  # fmt: skip
        if not cfg.shell_tokens:
            x = self.norm(self._mix(core))
            b, side = x.shape[0], cfg.shell_resolution
            return self.core.output(x), x.new_zeros(b, N_ATTR, side, side, dtype=torch.float32)
        shell = self.shell.tokens(self._features(inputs.shell), inputs.shell_seen, inputs.shell_cos, inputs.shell_base,
                                  self.mask_token, self.part_embed, self.layer_embed)  # fmt: skip
        x = self.norm(self._mix(torch.cat([core, shell], 1)))
        n_core = core.shape[1]
        return self.core.output(x[:, :n_core]), self.shell.output(x[:, n_core:])

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(config: DecoderConfig, model: UVDecoder | None = None) -> str:
    """One line: name, map sizes, patch, depth x width and (given the model) parameters and tokens."""
    text = (f"{config.name}: {config.resolution}² core / {config.shell_resolution}² shell maps, {config.patch}x{config.patch} patches, "
            f"{config.depth} layers x width {config.width}")  # fmt: skip
    if model is not None:
        core, shell = model.n_tokens
        text += f", {count_parameters(model) / 1e6:.2f}M parameters, {core}+{shell} tokens"
    return text
