"""The shift-tolerant VGG16 of ST-LPIPS as a frozen multi-scale encoder ("stlpips-vgg").

The network mirrors ``stlpips_pytorch`` (Ghildyal & Liu, ECCV 2022; variant "shift_tolerant", the
"antialiased_blurpoolReflectionPad2_conv1stride1_blurAfter" VGG16): VGG16 convolutions up to
relu5_3 where every 2x2/2 max-pool becomes a 2x2 max-pool with stride 1 followed by a BlurPool
(binomial [1, 2, 1]^2 / 16 filter, reflection padding of 2 on every side, stride 2). Parameter names
match the wheel's state dict (``net.sliceK.I.*``), which is loaded strictly.

Tap geometry, derived from that layer arithmetic: an input of n pixels gives n, floor(n/2)+1, ... cells
per tap, and tap k (stride s = 2**k) has cell o centred at image pixel coordinate ``s*o - (s-1) + s/2``,
i.e. continuous tap coordinate u maps to image x = s*u - (s - 1). The encoder resamples every tap at
the centres ((j + 0.5) * stride) of one common grid with that exact mapping (bilinear, border).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from uvatar.encode._stlpips_weights import load_stlpips_state_dict
from uvatar.encode.base import Encoder, FeatureMap
from uvatar.errors import InputError

__all__ = ["STVGG16Features", "STLPIPSVGGEncoder", "VGG_TAPS", "VGG_TAP_CHANNELS", "VGG_TAP_STRIDES",
           "lpips_input", "unit_normalize", "tap_to_image"]

log = logging.getLogger(__name__)

VGG_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
VGG_TAP_CHANNELS = (64, 128, 256, 512, 512)
VGG_TAP_STRIDES = (1, 2, 4, 8, 16)
#: LPIPS ScalingLayer constants, applied to inputs in [-1, 1] (the wheel's state dict holds the same).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: Smallest image side the network accepts (reflection padding needs >= 4 cells before each BlurPool).
MIN_SIDE = 18


class BlurPool(nn.Module):
    """Anti-aliased downsampling: reflection pad 2 on each side, depthwise [1,2,1]^2/16 conv, stride 2.

    (B, C, n, m) -> (B, C, (n + 1) // 2 + 1, (m + 1) // 2 + 1); needs n, m >= 3.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = (a[:, None] * a[None, :]) / 16.0
        self.register_buffer("filt", filt[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


class SlicedTrunk(nn.Module):
    """A trunk cut into five slices ``slice1..slice5`` (stlpips_pytorch's layout, so its parameter names
    load as they are); ``forward`` returns the output of every slice: 5 taps."""

    def _add_slices(self, layers: list[nn.Module], bounds: tuple[int, ...]) -> None:
        for k in range(5):
            s = nn.Sequential()
            for i in range(bounds[k], bounds[k + 1]):
                s.add_module(str(i), layers[i])
            self.add_module(f"slice{k + 1}", s)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for k in range(5):
            x = getattr(self, f"slice{k + 1}")(x)
            taps.append(x)
        return taps


class STVGG16Features(SlicedTrunk):
    """Shift-tolerant VGG16 trunk. forward: (B, 3, H, W) LPIPS-scaled input -> 5 taps (B, C_k, h_k, w_k)
    with C_k = 64, 128, 256, 512, 512 and h_1 = H, h_{k+1} = h_k // 2 + 1."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=1), BlurPool(cin)]
            else:
                layers += [_conv(cin, v), nn.ReLU()]
                cin = v
        self._add_slices(layers, (0, 4, 10, 18, 26, 34))  # same slicing (and parameter names) as stlpips_pytorch


def lpips_input(x01: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> LPIPS network input: 2x - 1, then (x - shift) / scale."""
    shift = x01.new_tensor(LPIPS_SHIFT)[None, :, None, None]
    scale = x01.new_tensor(LPIPS_SCALE)[None, :, None, None]
    return (2 * x01 - 1 - shift) / scale


def unit_normalize(t: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """LPIPS channel normalisation: (B, C, h, w) divided by (its L2 norm over C + eps)."""
    return t / (torch.sqrt(torch.sum(t * t, dim=1, keepdim=True)) + eps)


def tap_to_image(u: torch.Tensor | float, tap_stride: int) -> torch.Tensor | float:
    """Continuous tap coordinate u (cell o spans [o, o+1)) -> image pixel coordinate: s*u - (s-1)."""
    return tap_stride * u - (tap_stride - 1)


def load_vgg_trunk(device: str | torch.device = "cpu") -> STVGG16Features:
    """The trunk with the wheel's trained weights (strict), frozen, in eval mode, on ``device``."""
    sd = load_stlpips_state_dict("vgg")
    trunk = STVGG16Features()
    sub = {k[len("net."):]: v for k, v in sd.items() if k.startswith("net.")}
    trunk.load_state_dict(sub, strict=True)
    return trunk.eval().requires_grad_(False).to(device)


class STLPIPSVGGEncoder(Encoder):
    """"stlpips-vgg": the five ST-LPIPS VGG16 taps brought to one grid and concatenated.

    Args:
        device: torch device.
        stride: output grid stride in image pixels (1, 2, 4 or 8; default 4, the relu3_3 stride).
        normalize: divide each tap's channel vector by its L2 norm at every cell (as LPIPS does) before
            resampling, so that all taps have comparable scale; False keeps raw ReLU activations.
        taps: subset of VGG_TAPS to keep, in network order (default all: 64+128+256+512+512 = 1472 channels).

    Output: FeatureMap (C, ceil(H/stride), ceil(W/stride)), channel names "<tap>.<index>".
    """

    name = "stlpips-vgg"

    def __init__(self, device: str | torch.device = "cpu", stride: int = 4, normalize: bool = True,
                 taps: tuple[str, ...] | list[str] = VGG_TAPS) -> None:
        if stride not in (1, 2, 4, 8):
            raise InputError(f"stlpips-vgg stride must be 1, 2, 4 or 8, got {stride!r}")
        unknown = [t for t in taps if t not in VGG_TAPS]
        if unknown or not taps:
            raise InputError(f"stlpips-vgg taps must be a non-empty subset of {', '.join(VGG_TAPS)}, got {list(taps)}")
        self.device = torch.device(device)
        self.stride = float(stride)
        self.normalize = bool(normalize)
        self.taps = tuple(t for t in VGG_TAPS if t in taps)
        self._tap_idx = [VGG_TAPS.index(t) for t in self.taps]
        self.channels = sum(VGG_TAP_CHANNELS[i] for i in self._tap_idx)
        self.channel_names = [f"{VGG_TAPS[i]}.{c}" for i in self._tap_idx for c in range(VGG_TAP_CHANNELS[i])]
        self.trunk = load_vgg_trunk(self.device)

    def _encode(self, x: torch.Tensor) -> FeatureMap:
        """x: (1, 3, H, W) in [0, 1] -> FeatureMap (C, ceil(H/stride), ceil(W/stride))."""
        _, _, H, W = x.shape
        if min(H, W) < MIN_SIDE:
            raise InputError(f"stlpips-vgg needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {W}x{H}")
        taps = self.trunk(lpips_input(x))
        S = self.stride
        h, w = math.ceil(H / S), math.ceil(W / S)
        xs = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) * S  # image coords of cell centres
        ys = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) * S
        out = []
        for i in self._tap_idx:
            t = taps[i]
            if self.normalize:
                t = unit_normalize(t)
            out.append(_resample_tap(t, VGG_TAP_STRIDES[i], xs, ys))
        feats = torch.cat(out, dim=1)[0]
        return FeatureMap(feats, S, (W, H), self.name, list(self.channel_names))


def _resample_tap(t: torch.Tensor, s: int, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Sample tap t (1, C, n, m) of stride s at image coordinates xs (w,), ys (h,) -> (1, C, h, w)."""
    n, m = t.shape[-2:]
    gx = 2 * ((xs + (s - 1)) / s) / m - 1  # image x -> tap u = (x + s - 1) / s -> [-1, 1]
    gy = 2 * ((ys + (s - 1)) / s) / n - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    return F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
