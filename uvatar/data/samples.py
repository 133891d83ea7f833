"""The sample format of ``uvatar synth`` shards: what each file holds, and encoders/decoders.

A shard is a plain (WebDataset-style) tar: files are grouped into samples by the part of their name
before the first dot (the sample key). Each subject contributes one SUBJECT sample followed by its
VIEW samples, so a streaming reader sees a subject's maps before its views.

Subject sample, key ``s0000042`` (subject index 42):

====================== ==================================================================================
``uv_albedo.png``      RGBA8, ``S x S`` (S = ``texture_size``): sRGB albedo in the body's UV atlas (row 0 at
                       v = 1, see :mod:`uvatar.body.uv`); alpha = specular strength x 255. Islands padded.
``shell.png``          RGBA8, ``S x S``: the shell's sRGB colour and coverage alpha (hair, loose clothes) in
                       the same atlas; alpha 0 where there is no shell. Drawn alpha-tested at 128.
``shell.safetensors``  ``vertex_offsets`` ``(V, 3)`` float32: rest-space offsets (metres) of the shell
                       vertices, shell = LBS(rest_vertices + vertex_offsets) with the body's skinning;
                       ``faces`` ``(Fs,)`` int64: the atlas faces that hold shell texels.
``meta.json``          age (years, group), gender, phenotypes by label, pose and expression styles,
                       appearance choices (skin tone bucket 1-6, hair, garments, patterns, and the
                       templates drawn, ``appearance.wardrobe``), ``worn``: the template pieces drawn
                       (catalogue ``name``, ``piece``, ``shell``: hair or a loose garment, the Shell
                       layer of the truth; ``uv_layer``: its value in ``uv.png``; the geometry is the
                       asset layer's fit of ``name`` to the view's body parameters), lighting (kind,
                       SH coefficients, key light), views (keys, framings, labels).
====================== ==================================================================================

View sample, key ``s0000042_v03`` (view 3 of subject 42):

======================= =================================================================================
``image.png``           RGB8 ``H x W`` photo (sRGB, the person over the environment).
``mask.png``            L8 ``H x W``: the person's coverage (body and shell), 0..255.
``uv.png``              RGB16 ``H x W`` (when ``store_uv``): R = round(u * 65535), G = round(v * 65535),
                        B = layer (0 nothing, 1 body, 2 shell, 3 + k the k-th entry of the subject's
                        ``meta.json`` ``worn`` list, in that template's own UV map): each pixel's point
                        in the UV maps.
``camera.json``         :meth:`uvatar.camera.Camera.to_dict` (OpenCV K, R, t; world = Anny body space)
                        plus ``subject``, ``view_index``, ``framing``, ``view`` (label), ``azimuth_deg``,
                        ``elevation_deg``, ``roll_deg``, ``focal_mm`` and ``look`` (exposure, noise...).
``params.safetensors``  the subject's body: ``rotvecs`` (1, J, 3), ``translation`` (1, 3), ``phenotypes``
                        (1, 6), ``facial`` (1, 52), float32 (:class:`uvatar.body.model.BodyParams`; label
                        orders in the manifest's ``labels``). The same in all views of a subject.
======================= =================================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import cv2
import numpy as np

from uvatar.errors import InputError

__all__ = [
    "FORMAT", "SUBJECT_FILES", "VIEW_FILES", "png_bytes", "decode_png", "encode_uv", "decode_uv",
    "params_bytes", "decode_params", "DecodedView", "decode_view", "DecodedSubject", "decode_subject",
]  # fmt: skip

FORMAT = "uvatar.synth/1"
SUBJECT_FILES = ("uv_albedo.png", "shell.png", "shell.safetensors", "meta.json")
VIEW_FILES = ("image.png", "mask.png", "uv.png", "camera.json", "params.safetensors")


def png_bytes(image: np.ndarray, level: int = 1) -> bytes:
    """PNG of an image in OpenCV channel order (BGR / BGRA / grey; uint8 or uint16)."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
    if not ok:
        raise InputError(f"cannot encode a PNG of shape {image.shape} and dtype {image.dtype}")
    return buf.tobytes()


def decode_png(data: bytes, rgb: bool = True) -> np.ndarray:
    """PNG bytes -> array (uint8 or uint16), channels RGB(A) when ``rgb`` (else as stored by OpenCV)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError("cannot decode a PNG from the shard; the shard is damaged: regenerate it")
    if rgb and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return image


def encode_uv(aux: np.ndarray, level: int = 1) -> bytes:
    """``(H, W, 4)`` float32 ``(u, v, layer, depth)`` (:class:`uvatar.data.render.RenderedView`) -> ``uv.png`` bytes."""
    u = np.clip(np.round(aux[..., 0] * 65535.0), 0, 65535).astype(np.uint16)
    v = np.clip(np.round(aux[..., 1] * 65535.0), 0, 65535).astype(np.uint16)
    layer = np.round(aux[..., 2]).astype(np.uint16)
    u[layer == 0] = 0
    v[layer == 0] = 0
    return png_bytes(np.stack([layer, v, u], -1), level)  # OpenCV writes BGR: the file holds R=u, G=v, B=layer


def decode_uv(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``uv.png`` bytes -> uv ``(H, W, 2)`` float32 and layer ``(H, W)`` uint8."""
    rgb = decode_png(data)
    if rgb.dtype != np.uint16 or rgb.ndim != 3:
        raise InputError("uv.png must be a 16-bit RGB PNG")
    return rgb[..., :2].astype(np.float32) / 65535.0, rgb[..., 2].astype(np.uint8)


def params_bytes(tensors: dict) -> bytes:
    """safetensors bytes of ``{name: tensor}`` (contiguous float32 CPU copies)."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().float().contiguous() for k, v in tensors.items()})


def decode_params(data: bytes):
    """``params.safetensors`` bytes -> :class:`uvatar.body.model.BodyParams`."""
    from safetensors.torch import load

    from uvatar.body.model import BodyParams

    return BodyParams.from_tensors(load(data))


@dataclass
class DecodedView:
    """One decoded view: ``image (H, W, 3)`` float32 RGB in [0, 1], ``mask (H, W)`` float32 in [0, 1],
    ``camera`` (:class:`uvatar.camera.Camera`), ``info`` (camera.json), ``params`` (BodyParams),
    ``uv (H, W, 2)`` and ``layer (H, W)`` or None."""

    image: np.ndarray
    mask: np.ndarray
    camera: object
    info: dict
    params: object
    uv: np.ndarray | None = None
    layer: np.ndarray | None = None


def decode_view(files: dict[str, bytes]) -> DecodedView:
    """Decode a view sample's files (``{"image.png": bytes, ...}``)."""
    from uvatar.camera import Camera

    missing = [name for name in ("image.png", "mask.png", "camera.json", "params.safetensors") if name not in files]
    if missing:
        raise InputError(f"view sample lacks {', '.join(missing)}; is this a uvatar synth shard?")
    info = json.loads(files["camera.json"])
    uv = layer = None
    if "uv.png" in files:
        uv, layer = decode_uv(files["uv.png"])
    return DecodedView(
        image=decode_png(files["image.png"]).astype(np.float32) / 255.0,
        mask=decode_png(files["mask.png"]).astype(np.float32) / 255.0,
        camera=Camera.from_dict(info),
        info=info,
        params=decode_params(files["params.safetensors"]),
        uv=uv,
        layer=layer,
    )


@dataclass
class DecodedSubject:
    """One decoded subject: ``albedo (S, S, 4)`` uint8 RGBA, ``shell (S, S, 4)`` uint8 RGBA,
    ``shell_offsets (V, 3)`` float32, ``shell_faces (Fs,)`` int64, ``meta`` dict."""

    albedo: np.ndarray
    shell: np.ndarray
    shell_offsets: np.ndarray
    shell_faces: np.ndarray
    meta: dict


def decode_subject(files: dict[str, bytes]) -> DecodedSubject:
    """Decode a subject sample's files."""
    from safetensors.numpy import load

    missing = [name for name in SUBJECT_FILES if name not in files]
    if missing:
        raise InputError(f"subject sample lacks {', '.join(missing)}; is this a uvatar synth shard?")
    shell = load(files["shell.safetensors"])
    return DecodedSubject(
        albedo=decode_png(files["uv_albedo.png"]),
        shell=decode_png(files["shell.png"]),
        shell_offsets=shell["vertex_offsets"],
        shell_faces=shell["faces"],
        meta=json.loads(files["meta.json"]),
    )
