"""Feature maps, the encoder interface and the registry of frozen encoders by name.

Geometry convention (shared by every encoder): image pixel ``(col, row)`` covers ``[col, col+1) x
[row, row+1)`` and has its centre at ``(col + 0.5, row + 0.5)``. Feature cell ``(i, j)`` of a map with
``stride`` s has its centre at image pixel coordinates ``((j + 0.5) * s, (i + 0.5) * s)``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from uvatar.errors import InputError

__all__ = ["FeatureMap", "Encoder", "get_encoder", "available_encoders", "image_to_tensor"]

log = logging.getLogger(__name__)

# name -> "module:Class"; modules are imported only when the encoder is asked for.
_BUILTIN = {
    "rgb": "uvatar.encode.rgb:RGBEncoder",
    "stlpips-vgg": "uvatar.encode.vgg:STLPIPSVGGEncoder",
}
_PREFIXED = {"timm:": "uvatar.encode.timm_backbone:TimmViTEncoder"}


@dataclass
class FeatureMap:
    """A dense feature map of one image.

    Attributes:
        features: (C, h, w) float32 tensor.
        stride: image pixels per feature cell (> 0); cell (i, j) is centred at image pixel
            coordinates ((j + 0.5) * stride, (i + 0.5) * stride).
        image_size: (W, H) of the encoded image in pixels.
        encoder: name of the encoder that made it (as given to :func:`get_encoder`).
        channels: C channel names (e.g. ["r", "g", "b"]) or None.
    """

    features: torch.Tensor
    stride: float
    image_size: tuple[int, int]
    encoder: str
    channels: list[str] | None = None

    def __post_init__(self) -> None:
        f = self.features
        if not isinstance(f, torch.Tensor) or f.ndim != 3:
            raise InputError(f"FeatureMap.features must be a (C, h, w) tensor, got {_describe(f)}")
        if not float(self.stride) > 0:
            raise InputError(f"FeatureMap.stride must be > 0, got {self.stride!r}")
        if self.channels is not None and len(self.channels) != f.shape[0]:
            raise InputError(f"FeatureMap has {f.shape[0]} channels but {len(self.channels)} channel names")
        self.stride = float(self.stride)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    @property
    def num_channels(self) -> int:
        """C, the number of feature channels."""
        return int(self.features.shape[0])

    def sample(self, pixels: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Bilinearly sample the features at image positions.

        Same result as ``grid_sample(..., mode="bilinear", padding_mode="border",
        align_corners=False)`` with x mapped to ``2 * x / (stride * w) - 1`` (which is
        ``2 * x / W - 1`` when the grid covers the image exactly, ``stride * w == W``), but computed
        with explicit weights so that sampling at cell centres returns the cell values exactly.

        Args:
            pixels: (N, 2) image pixel coordinates (x, y), pixel-centre convention (pixel col, row
                is centred at col + 0.5, row + 0.5). Positions outside the grid take the border
                value.

        Returns:
            (N, C) float32 tensor on the features' device.
        """
        p = torch.as_tensor(pixels)
        if p.ndim != 2 or p.shape[1] != 2:
            raise InputError(f"pixels must have shape (N, 2), got {tuple(p.shape)}")
        f = self.features
        _, h, w = f.shape
        p = p.to(device=f.device, dtype=torch.float64)
        u = (p[:, 0] / self.stride - 0.5).clamp(0, w - 1)  # continuous column index
        v = (p[:, 1] / self.stride - 0.5).clamp(0, h - 1)
        x0 = u.floor().long()
        y0 = v.floor().long()
        x1 = (x0 + 1).clamp(max=w - 1)
        y1 = (y0 + 1).clamp(max=h - 1)
        fx = (u - x0).to(f.dtype)
        fy = (v - y0).to(f.dtype)
        top = f[:, y0, x0] * (1 - fx) + f[:, y0, x1] * fx
        bottom = f[:, y1, x0] * (1 - fx) + f[:, y1, x1] * fx
        out = top * (1 - fy) + bottom * fy
        return out.T.contiguous()


class Encoder:
    """A frozen image encoder. Subclasses set ``name``, ``channels``, ``stride`` and ``_encode``.

    Attributes:
        name: registry name (e.g. "rgb", "stlpips-vgg", "timm:vit_small_patch14_dinov2").
        channels: C, the number of output channels.
        stride: nominal image pixels per feature cell.
        device: torch device the encoder runs on.
    """

    name: str = ""
    channels: int = 0
    stride: float = 1.0
    device: torch.device = torch.device("cpu")

    def __call__(self, image: np.ndarray | torch.Tensor) -> FeatureMap:
        """Encode one image.

        Args:
            image: (H, W, 3) RGB in [0, 1] (float numpy array or tensor; uint8 is scaled by 1/255).

        Returns:
            FeatureMap with features (C, h, w) on ``self.device``.
        """
        x = image_to_tensor(image, self.device)
        with torch.no_grad():  # not inference_mode: the features may later meet autograd (training)
            return self._encode(x)

    def _encode(self, x: torch.Tensor) -> FeatureMap:  # pragma: no cover - interface
        """x: (1, 3, H, W) float32 in [0, 1] on ``self.device``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, channels={self.channels}, stride={self.stride})"


def image_to_tensor(image: Any, device: torch.device | str = "cpu") -> torch.Tensor:
    """Validate an (H, W, 3) RGB image in [0, 1] and return it as a (1, 3, H, W) float32 tensor.

    uint8 input is divided by 255. Raises InputError for other shapes, dtypes, non-finite values or
    values outside [0, 1] (1e-3 slack).
    """
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8:
            t = torch.from_numpy(image.astype(np.float32) / 255.0)
        elif np.issubdtype(image.dtype, np.floating):
            t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        else:
            raise InputError(f"image must be float in [0, 1] or uint8, got dtype {image.dtype}")
    elif isinstance(image, torch.Tensor):
        if image.dtype == torch.uint8:
            t = image.float() / 255.0
        elif image.is_floating_point():
            t = image.detach().float()
        else:
            raise InputError(f"image must be float in [0, 1] or uint8, got dtype {image.dtype}")
    else:
        raise InputError(f"image must be an (H, W, 3) numpy array or tensor, got {type(image).__name__}")
    if t.ndim != 3 or t.shape[2] != 3:
        raise InputError(f"image must have shape (H, W, 3), got {tuple(t.shape)}")
    if t.shape[0] < 1 or t.shape[1] < 1:
        raise InputError(f"image is empty: shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError("image contains NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(f"image values must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]; divide 8-bit data by 255")
    return t.clamp(0, 1).permute(2, 0, 1)[None].contiguous().to(device)


def available_encoders() -> list[str]:
    """Names accepted by :func:`get_encoder` ("timm:<model>" stands for any supported timm ViT name)."""
    return sorted(_BUILTIN) + [p + "<model>" for p in _PREFIXED]


def get_encoder(name: str, device: str | torch.device = "cpu", **kwargs: Any) -> Encoder:
    """Build a frozen encoder by name.

    Args:
        name: one of :func:`available_encoders`, e.g. "rgb", "stlpips-vgg",
            "timm:vit_small_patch14_reg4_dinov2" (needs ``weights=<file>.safetensors``).
        device: torch device to run on.
        **kwargs: options of that encoder (see its class); unknown options raise InputError.
    """
    if not isinstance(name, str):
        raise InputError(f"encoder name must be a string, got {type(name).__name__}")
    target, args = None, ()
    if name in _BUILTIN:
        target = _BUILTIN[name]
    else:
        for prefix, t in _PREFIXED.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                target, args = t, (name[len(prefix):],)
    if target is None:
        raise InputError(f"unknown encoder {name!r}; known encoders: {', '.join(available_encoders())}")
    module, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        inspect.signature(cls).bind(*args, device=device, **kwargs)
    except TypeError as e:
        raise InputError(f"bad options for encoder {name!r} ({e}); see help({cls.__module__}.{cls_name})") from None
    return cls(*args, device=device, **kwargs)


def _describe(x: Any) -> str:
    return f"tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
