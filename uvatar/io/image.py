"""Load a photo into float RGB (plus alpha) with every normalisation spelled out; save images atomically.

``load_image`` accepts what phones, cameras and the web produce (JPEG, PNG, WebP, TIFF, GIF, BMP, ...)
in any Pillow mode, applies the EXIF orientation, and refuses unusable files with an
:class:`~uvatar.errors.InputError` whose one-line message says what to do.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path

__all__ = ["LoadedImage", "load_image", "save_image", "to_uint8", "area_resize", "MIN_SIDE", "MAX_PIXELS"]

log = logging.getLogger(__name__)

#: Smallest accepted width or height in pixels.
MIN_SIDE = 32
#: Largest accepted image (width * height) as read from the file header; larger files are refused
#: before decoding (decompression bombs, panoramas).
MAX_PIXELS = 100_000_000

_EXIF_ORIENTATION = 0x0112
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


@dataclass
class LoadedImage:
    """A photo as UVatar uses it.

    Attributes:
        rgb: (H, W, 3) float32 in [0, 1], sRGB values as stored in the file (no linearisation),
            EXIF orientation applied, downsized so that max(H, W) <= ``max_side``.
        alpha: (H, W) float32 in [0, 1] if the file had an alpha channel or a transparent
            palette entry, else None. Colours are not premultiplied.
        path: the file that was read.
        original_size: (width, height) in pixels after EXIF orientation, before downsizing.
        scale: factor applied to both sides (1.0 if not downsized); pixel coordinates in ``rgb``
            are ``scale`` times those of the upright original (up to rounding of the size).
        exif_rotated: True if an EXIF orientation other than 1 was applied.
        notes: human-readable list of the normalisations done, in order.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    path: Path
    original_size: tuple[int, int]
    scale: float = 1.0
    exif_rotated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``rgb`` in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def load_image(path: str | Path, max_side: int | None = 2048) -> LoadedImage:
    """Read a photo as float32 RGB in [0, 1] (H, W, 3) and optional alpha (H, W).

    Args:
        path: image file (any format Pillow reads).
        max_side: the longer side is downsized (Lanczos, after EXIF orientation) to at most this
            many pixels; None keeps the full size.

    Returns:
        :class:`LoadedImage`; its ``notes`` list every conversion made (bit depth, palette, CMYK,
        EXIF orientation, first frame of an animation, clipping, downsizing).

    Raises:
        InputError: missing path, a directory, an empty, corrupt, truncated or non-image file, an
            image over :data:`MAX_PIXELS` pixels, or one with a side under :data:`MIN_SIDE` pixels.
    """
    if max_side is not None and (not isinstance(max_side, int) or max_side < MIN_SIDE):
        raise InputError(f"max_side must be an integer >= {MIN_SIDE} or None, got {max_side!r}")
    path = Path(path)
    _check_path(path)
    notes: list[str] = []

    im = _open(path)
    try:
        w, h = im.size  # from the header; nothing is decoded yet
        if w * h > MAX_PIXELS:
            raise InputError(
                f"{path} is {w}x{h} px ({w * h / 1e6:.0f} megapixels), over the {MAX_PIXELS // 1_000_000} "
                "megapixel limit; downsize the photo first"
            )
        if min(w, h) < MIN_SIDE:
            raise InputError(
                f"image is {w}x{h} px; UVatar needs at least {MIN_SIDE} px on each side, ideally 512+ ({path})"
            )
        try:
            n_frames = int(getattr(im, "n_frames", 1) or 1)
        except (OSError, EOFError, SyntaxError, ValueError) as e:
            raise InputError(f"{path} is a corrupt image file ({e}); re-export or re-download it") from None
        if n_frames > 1:
            im.seek(0)
            notes.append(f"animated image with {n_frames} frames; used the first frame")
        if im.mode in ("RGB", "RGBA") and _is_16bit(im):
            notes.append("converted 16-bit to 8-bit range (Pillow decodes 16-bit colour at 8 bits)")
        if max_side is not None and max(w, h) > 2 * max_side and im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (never below the target size): a 48 MP photo
            # then never exists at full size in memory. Lanczos below does the exact final size.
            s = max_side / max(w, h)
            im.draft(None, (int(np.ceil(w * s)), int(np.ceil(h * s))))
        _decode(im, path)  # before anything else touches pixels (PNG getexif() decodes, for one)

        orientation = _orientation(im)
        exif_rotated = orientation in range(2, 9)
        upright = ImageOps.exif_transpose(im) if exif_rotated else im
        if exif_rotated:
            notes.append(f"applied EXIF orientation {orientation}")
        rgb, alpha = _to_float(upright, notes)
        upright.close()
    finally:
        im.close()

    original_size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # upright, before any downsizing
    scale = 1.0
    if max_side is not None and max(original_size) > max_side:
        scale = max_side / max(original_size)
        new_size = (max(1, round(original_size[0] * scale)), max(1, round(original_size[1] * scale)))
        rgb = _resize(rgb, new_size)
        if alpha is not None:
            alpha = _resize(alpha[..., None], new_size)[..., 0]
        notes.append(
            f"downsized {original_size[0]}x{original_size[1]} -> {new_size[0]}x{new_size[1]}"
        )
    for note in notes:
        log.debug("%s: %s", path, note)
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb, dtype=np.float32),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.float32),
        path=path,
        original_size=original_size,
        scale=scale,
        exif_rotated=exif_rotated,
        notes=notes,
    )


def to_uint8(x: Any) -> np.ndarray:
    """Convert an image array to uint8.

    Args:
        x: (..., ) uint8 (returned as is), bool (0/255), or float in [0, 1] (clipped, rounded to
            nearest); numpy array or torch tensor (any device).

    Returns:
        uint8 numpy array of the same shape.
    """
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"image array must be uint8, bool or float in [0, 1], got dtype {x.dtype}")
    x = np.nan_to_num(x.astype(np.float32), nan=0.0)
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(path: str | Path, rgb: Any, alpha: Any | None = None, quality: int = 95) -> Path:
    """Write an image atomically as PNG or JPEG (chosen by the suffix).

    Args:
        path: destination ending in .png, .jpg or .jpeg; parent folders are created.
        rgb: (H, W, 3) uint8 or float in [0, 1] (H, W) grayscale is accepted too.
        alpha: optional (H, W) uint8 or float in [0, 1]; PNG only.
        quality: JPEG quality 1..95.

    Returns:
        The path written.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot save an image as {path.name!r}; use a .png or .jpg file name")
    img = to_uint8(rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"rgb must have shape (H, W, 3), got {tuple(np.shape(rgb))}")
    if alpha is not None:
        a = to_uint8(alpha)
        if a.shape != img.shape[:2]:
            raise InputError(f"alpha must have shape {img.shape[:2]} (H, W), got {tuple(a.shape)}")
        if fmt == "JPEG":
            raise InputError(f"JPEG cannot store alpha; save {path.name!r} as .png or drop alpha")
        pil = Image.fromarray(np.concatenate([img, a[..., None]], axis=2), mode="RGBA")
    else:
        pil = Image.fromarray(np.ascontiguousarray(img), mode="RGB")
    kwargs = {"quality": int(quality), "subsampling": 0 if quality >= 90 else 2} if fmt == "JPEG" else {}
    with atomic_path(path) as tmp:
        pil.save(tmp, format=fmt, **kwargs)
    return path


# ---------------------------------------------------------------------------------------------------


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"no such file: {path}; pass the path of a photo")
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass the path of one photo file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is an empty file (0 bytes); pass a photo (JPEG, PNG, ...)")


def _open(path: Path) -> Image.Image:
    """Open the file and parse its header only (no pixel decoding)."""
    try:
        with warnings.catch_warnings():
            # Our own MAX_PIXELS check runs next; Pillow's warning threshold is lower than ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(
            f"{path} claims to be larger than {MAX_PIXELS // 1_000_000} megapixels (possibly a "
            "decompression bomb); downsize the photo first"
        ) from None
    except UnidentifiedImageError:
        if path.suffix.lower() in (".heic", ".heif"):
            raise InputError(f"{path} is a HEIC photo, which UVatar cannot read; export it as JPEG") from None
        raise InputError(f"{path} is not an image Pillow can read; pass a JPEG or PNG photo") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"cannot read image {path}: {e}; pass a JPEG or PNG photo") from None


def _decode(im: Image.Image, path: Path) -> None:
    """Decode all pixels now, so that truncated or corrupt files fail here."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set by another library; truncated "
                    "images may load with grey areas")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        reason = "truncated" if "truncated" in str(e) else "corrupt"
        raise InputError(f"{path} is a {reason} image file ({e}); re-export or re-download it") from None


def _is_16bit(im: Image.Image) -> bool:
    """True if the decoder will read 16-bit samples (checked on the header, before ``load``)."""
    for tile in getattr(im, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # malformed EXIF blocks must not make a photo unreadable
        return 1


def _to_float(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode -> (H, W, 3) float32 RGB in [0, 1] and optional (H, W) alpha."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        pass
    elif mode == "1":
        im = im.convert("L")
        notes.append("converted 1-bit black and white to RGB")
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("converted palette image to RGB" + (" with alpha" if has_alpha else ""))
    elif mode == "CMYK":
        im = im.convert("RGB")
        notes.append("converted CMYK to RGB")
    elif mode in ("RGBa", "La"):
        im = im.convert(mode.upper())
        notes.append("un-premultiplied alpha")
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        gray = np.asarray(im).astype(np.float32) / 65535.0
        notes.append("scaled 16-bit values to [0, 1]")
        notes.append("converted grayscale to RGB")
        return np.repeat(gray[..., None], 3, axis=2), None
    elif mode == "I":
        raw = np.asarray(im).astype(np.float64)
        peak = float(raw.max()) if raw.size else 0.0
        denom = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
        gray = np.clip(raw / denom, 0.0, 1.0).astype(np.float32)
        notes.append(f"scaled 32-bit integer values (max {peak:.0f}) by 1/{denom:.0f} to [0, 1]")
        notes.append("converted grayscale to RGB")
        return np.repeat(gray[..., None], 3, axis=2), None
    elif mode == "F":
        gray = np.asarray(im).astype(np.float32)
        return np.repeat(_clip_float(gray, notes)[..., None], 3, axis=2), None
    else:  # YCbCr, LAB, HSV, RGBX and anything newer
        im = im.convert("RGB")
        notes.append(f"converted {mode} to RGB")

    arr = np.asarray(im).astype(np.float32) / 255.0
    if im.mode == "L":
        notes.append("converted grayscale to RGB")
        return np.repeat(arr[..., None], 3, axis=2), None
    if im.mode == "LA":
        notes.append("converted grayscale to RGB")
        return np.repeat(arr[..., :1], 3, axis=2), arr[..., 1].copy()
    if im.mode == "RGBA":
        return arr[..., :3].copy(), arr[..., 3].copy()
    return arr, None


def _clip_float(x: np.ndarray, notes: list[str]) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        x = np.where(bad, 0.0, x)
        notes.append(f"replaced {int(bad.sum())} non-finite float values with 0")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        notes.append(f"clipped float values in [{lo:.3g}, {hi:.3g}] to [0, 1]")
        x = np.clip(x, 0.0, 1.0)
    return x.astype(np.float32)


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) float32 -> (h, w, C) float32 with Lanczos, per channel in float (no 8-bit rounding)."""
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c]), mode="F").resize(size, Image.Resampling.LANCZOS))
        for c in range(x.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


def area_resize(image: np.ndarray, width: int, height: int) -> torch.Tensor:
    """``(H, W, C)`` or ``(H, W)`` array to a ``(height, width, C)`` float tensor, area-averaged."""
    tensor = torch.as_tensor(image, dtype=torch.float32)
    if tensor.ndim == 2:
        tensor = tensor[..., None]
    out = torch.nn.functional.interpolate(tensor.permute(2, 0, 1)[None], size=(height, width), mode="area")[0]
    return out.permute(1, 2, 0)
