"""Avatar: 3D Gaussians bound to the faces of the canonical body, animated by the body's skinning.

Each Gaussian is stored in the frame of one body face (:func:`uvatar.body.skinning.face_frames`:
tangent along the face's first edge, bitangent, outward normal):

    mean     = surface point at (face, barycentrics) + R_face @ offset
    rotation = R_face @ R_local          (R_local from ``rotations_wxyz``)
    scale, colour, opacity unchanged

so the Gaussians follow the posed mesh exactly, whatever the pose. The ``.uvatar`` bundle is one
safetensors file; its header metadata holds ``format``, ``layout`` (this documentation of every
tensor) and ``meta`` (how the avatar was made) as JSON strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.body.skinning import bound_points_to_world
from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path
from uvatar.io.tensors import read_safetensors
from uvatar.model.decoder import UVGaussians
from uvatar.quaternions import rotmat_to_wxyz, wxyz_to_rotmat

__all__ = ["Avatar", "PosedGaussians", "FORMAT", "LAYOUT", "BODY_FACES", "MAX_EXTENT_M"]

FORMAT = "uvatar.avatar/1"
#: Faces of the body the Gaussians are bound to: Anny, topology "anny" (``len(body.faces)``; a test
#: checks the two agree). :meth:`Avatar.load` refuses face indices outside ``0 .. BODY_FACES - 1``.
BODY_FACES = 27420
#: Facial actions of Anny ("all"), the length of ``facial``.
FACIAL_ACTIONS = 52
#: Largest scale and offset, metres, that :meth:`Avatar.load` accepts. A person is about 2 m tall and
#: the Gaussians hug the body (millimetres to centimetres, hair and loose clothing a few centimetres
#: off it), so a Gaussian 10 m wide or 10 m from its face is no part of a person: only a damaged or
#: crafted file holds one, and it would cover every view (and overflow float32 covariances at 1e19).
MAX_EXTENT_M = 10.0
#: How far barycentric sums and quaternion norms may be from 1 (float32 rounding of normalised values
#: is about 1e-7; 1e-4 still refuses anything that was not normalised).
UNIT_TOLERANCE = 1e-4
LAYOUT = {
    "face_index": f"(N,) int64: body face each Gaussian is bound to (Anny topology 'anny', {BODY_FACES} faces)",
    "barycentrics": "(N, 3) float32: weights of the face's 3 vertices (body.faces order)",
    "offsets": "(N, 3) float32 metres: offset from the surface point in the face frame (tangent, bitangent, normal)",
    "rotations_wxyz": "(N, 4) float32: unit quaternion W,X,Y,Z of the Gaussian in the face frame",
    "scales": "(N, 3) float32 metres: standard deviations along the Gaussian's axes",
    "colors": "(N, 3) float32: linear RGB in [0, 1] (SH degree 0)",
    "opacities": "(N,) float32 in [0, 1]",
    "layer": "(N,) uint8: 0 = Core-UV (body surface), 1 = Shell-UV (hair, loose clothing)",
    "phenotypes": "(6,) float32: Anny shape (gender, age, muscle, weight, height, proportions) in [0, 1]",
    "facial": f"({FACIAL_ACTIONS},) float32: Anny facial actions of the photo, weights in [0, 1]",
    "face frame": "tangent = normalize(v1 - v0), normal = normalize((v1 - v0) x (v2 - v0)), bitangent = normal x tangent",
    "pose": "posed vertices come from Anny (rig/topology 'anny', local-ref rotation vectors per bone + translation)",
}
_TENSORS = ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer", "phenotypes", "facial")
#: dtype and shape of each tensor in a file ("N": the number of Gaussians, the same for all), as in LAYOUT
_SPECS = {
    "face_index": (torch.int64, ("N",)),
    "barycentrics": (torch.float32, ("N", 3)),
    "offsets": (torch.float32, ("N", 3)),
    "rotations_wxyz": (torch.float32, ("N", 4)),
    "scales": (torch.float32, ("N", 3)),
    "colors": (torch.float32, ("N", 3)),
    "opacities": (torch.float32, ("N",)),
    "layer": (torch.uint8, ("N",)),
    "phenotypes": (torch.float32, (6,)),
    "facial": (torch.float32, (FACIAL_ACTIONS,)),
}


@dataclass
class PosedGaussians:
    """World-space Gaussians of one pose: ``means (N, 3)``, ``quats_wxyz (N, 4)``, ``scales (N, 3)``,
    ``opacities (N,)``, ``colors (N, 3)``."""

    means: torch.Tensor
    quats_wxyz: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    colors: torch.Tensor

    def render(self, camera, background=(1.0, 1.0, 1.0), backend: str = "auto"):
        from uvatar.render.gaussians import render_gaussians

        return render_gaussians(
            self.means, self.quats_wxyz, self.scales, self.opacities, self.colors, camera,
            background=torch.tensor(background, dtype=torch.float32), backend=backend,
        )  # fmt: skip

    def to_ply_cloud(self):
        from uvatar.io.ply import GaussianCloud

        return GaussianCloud.from_colors(
            self.means.detach().cpu().numpy(), self.quats_wxyz.detach().cpu().numpy(),
            self.scales.detach().cpu().numpy(), self.opacities.detach().cpu().numpy(),
            self.colors.detach().cpu().clamp(0, 1).numpy(),
        )  # fmt: skip


@dataclass
class Avatar:
    """Gaussians bound to the canonical body (shapes in :data:`LAYOUT`)."""

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    rotations_wxyz: torch.Tensor
    scales: torch.Tensor
    colors: torch.Tensor
    opacities: torch.Tensor
    layer: torch.Tensor
    phenotypes: torch.Tensor
    facial: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.face_index.shape[0])

    # ------------------------------------------------------------------ posing
    def params(self, body: BodyModel, params: BodyParams | None = None) -> BodyParams:
        """``params`` (default: the reference pose at the origin) with this avatar's shape and face."""
        params = body.default_params(1) if params is None else params.detach()
        params.phenotypes = self.phenotypes.reshape(1, -1).to(params.phenotypes)
        params.facial = self.facial.reshape(1, -1).to(params.facial)
        return params

    def pose(self, body: BodyModel, params: BodyParams | None = None) -> PosedGaussians:
        """World-space Gaussians for body parameters (batch 1; shape and face are the avatar's own)."""
        vertices = body.forward(self.params(body, params)).vertices
        return self.on_vertices(vertices[0], body.faces)

    def on_vertices(self, vertices: torch.Tensor, faces: torch.Tensor) -> PosedGaussians:
        """Gaussians on a posed mesh ``vertices (V, 3)`` with ``faces (F, 3)``."""
        means, frames = bound_points_to_world(vertices[None], faces, self.face_index, self.barycentrics, self.offsets)
        world = frames[0] @ wxyz_to_rotmat(self.rotations_wxyz)
        quats = rotmat_to_wxyz(world)
        return PosedGaussians(means[0], quats, self.scales, self.opacities, self.colors)

    @classmethod
    def from_gaussians(cls, gaussians: UVGaussians, phenotypes: torch.Tensor, facial: torch.Tensor, meta: dict | None = None) -> "Avatar":
        """Bind a decoder's :class:`~uvatar.model.decoder.UVGaussians` to the body of shape ``phenotypes (6,)``
        and face ``facial (52,)``: the one place an avatar is built from a decoder's output (tensors keep
        their gradients). ``meta``: added to the Gaussians' own."""
        return cls(
            face_index=gaussians.face_index, barycentrics=gaussians.barycentrics, offsets=gaussians.offsets,
            rotations_wxyz=gaussians.rotations_wxyz, scales=gaussians.scales, colors=gaussians.colors,
            opacities=gaussians.opacities, layer=gaussians.layer,
            phenotypes=phenotypes.reshape(-1).float().to(gaussians.colors.device),
            facial=facial.reshape(-1).float().to(gaussians.colors.device), meta={**gaussians.meta, **(meta or {})},
        )  # fmt: skip

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write the ``.uvatar`` bundle (one safetensors file, layout documented in its header)."""
        from safetensors.torch import save_file

        tensors = {name: getattr(self, name).detach().cpu().contiguous() for name in _TENSORS}
        metadata = {"format": FORMAT, "layout": json.dumps(LAYOUT), "meta": json.dumps(self.meta)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path, n_faces: int = BODY_FACES) -> "Avatar":
        """Read a ``.uvatar`` bundle written by :meth:`save`, checking everything in it.

        Args:
            n_faces: faces of the body the avatar is for (``face_index`` must be below it).
        Raises:
            InputError: a missing, truncated or foreign file, or one whose tensors or metadata are
                not what :data:`LAYOUT` says (wrong dtype or shape, out-of-range or non-finite values).
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"no avatar at {path}; pass the avatar.uvatar written by 'uvatar reconstruct'")
        metadata, tensors = _read_bundle(path)
        if metadata.get("format") != FORMAT:
            raise InputError(f"{path} is not a UVatar avatar bundle (format {metadata.get('format')!r}, expected {FORMAT!r})")
        _check_tensors(tensors, path, n_faces)
        _json_object(metadata, "layout", path)
        meta = _json_object(metadata, "meta", path)
        _check_meta(meta, path)
        return cls(**tensors, meta=meta)

    def export_ply(self, path: str | Path, body: BodyModel, params: BodyParams | None = None) -> None:
        """3DGS ``.ply`` of the avatar in a pose (default: the reference pose)."""
        from uvatar.io.ply import write_gaussian_ply

        with torch.no_grad():
            write_gaussian_ply(path, self.pose(body, params).to_ply_cloud())


# ---------------------------------------------------------------------- checks of a file's contents
def _damaged(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}; the file is damaged or not from this UVatar version - reconstruct it again")


def _read_bundle(path: Path) -> tuple[dict, dict]:
    """Header metadata and the :data:`_TENSORS` of a safetensors file (extra tensors are not read)."""
    metadata, tensors = read_safetensors(path, "a UVatar avatar bundle", "pass the avatar.uvatar written by 'uvatar reconstruct'", names=_TENSORS)
    missing = [name for name in _TENSORS if name not in tensors]
    if missing:
        raise InputError(f"{path} lacks tensors {', '.join(missing)}; it was not written by this UVatar")
    return metadata, tensors


def _check_tensors(tensors: dict[str, torch.Tensor], path: Path, n_faces: int) -> None:
    """Raise :class:`InputError` unless every tensor has its :data:`_SPECS` dtype and shape and sane values."""
    n = int(tensors["face_index"].shape[0]) if tensors["face_index"].dim() >= 1 else -1
    if n < 1:
        raise _damaged(path, f"face_index must be (N,) with N >= 1 Gaussians; got {tuple(tensors['face_index'].shape)}")
    for name, (dtype, shape) in _SPECS.items():
        value = tensors[name]
        want = tuple(n if d == "N" else d for d in shape)
        if value.dtype != dtype:
            raise _damaged(path, f"{name} must be {str(dtype).removeprefix('torch.')}; got {str(value.dtype).removeprefix('torch.')}")
        if tuple(value.shape) != want:
            per = f" for {n} Gaussians" if "N" in shape else ""
            raise _damaged(path, f"{name} must be {_shape(want)}{per}; got {_shape(tuple(value.shape))}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise _damaged(path, f"{name} holds NaN or infinite values")
    _check_values(tensors, path, n_faces)


def _check_values(t: dict[str, torch.Tensor], path: Path, n_faces: int) -> None:
    """Value ranges of tensors already checked for dtype, shape and finiteness."""
    if int(t["face_index"].min()) < 0 or int(t["face_index"].max()) >= n_faces:
        raise _damaged(path, f"face_index has values outside 0..{n_faces - 1}")
    bary = t["barycentrics"]
    if float(bary.min()) < -UNIT_TOLERANCE or float((bary.sum(-1) - 1).abs().max()) > UNIT_TOLERANCE:
        raise _damaged(path, f"barycentrics must be >= 0 and sum to 1 (within {UNIT_TOLERANCE:g})")
    norms = t["rotations_wxyz"].norm(dim=-1)
    if float((norms - 1).abs().max()) > UNIT_TOLERANCE:
        raise _damaged(path, f"rotations_wxyz must be unit quaternions (norm 1 within {UNIT_TOLERANCE:g}); norms range {float(norms.min()):.4g}..{float(norms.max()):.4g}")
    scales = t["scales"]
    if not (float(scales.min()) > 0 and float(scales.max()) <= MAX_EXTENT_M):
        raise _damaged(path, f"scales must be in (0, {MAX_EXTENT_M:g}] metres (no part of a person is wider); they range {float(scales.min()):.4g}..{float(scales.max()):.4g}")
    if float(t["offsets"].abs().max()) > MAX_EXTENT_M:
        raise _damaged(path, f"offsets must be within {MAX_EXTENT_M:g} metres of the body; the largest is {float(t['offsets'].abs().max()):.4g}")
    for name in ("colors", "opacities", "phenotypes", "facial"):
        value = t[name]
        if float(value.min()) < 0 or float(value.max()) > 1:
            raise _damaged(path, f"{name} must be in [0, 1]; they range {float(value.min()):.4g}..{float(value.max()):.4g}")
    if int(t["layer"].max()) > 1:
        raise _damaged(path, "layer must be 0 (Core-UV) or 1 (Shell-UV)")


def _shape(shape: tuple) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"


def _json_object(metadata: dict, key: str, path: Path) -> dict:
    """The header metadata entry ``key`` parsed as a JSON object (``{}`` when absent)."""
    try:
        value = json.loads(metadata.get(key, "{}"))
    except (ValueError, RecursionError) as exc:  # json.loads recurses: deep nesting is a RecursionError
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _damaged(path, f"its header's {key!r} is not valid JSON ({reason})") from None
    if not isinstance(value, dict):
        raise _damaged(path, f"its header's {key!r} must be a JSON object; got {type(value).__name__}")
    return value


def _check_meta(meta: dict, path: Path) -> None:
    """The entries of ``meta`` that code reads: the photo's camera and fitted pose (``--camera input``)."""
    from uvatar.camera import Camera

    if "fit_camera" in meta:
        try:
            camera = Camera.from_dict(meta["fit_camera"])
            finite = all(bool(torch.isfinite(v).all()) for v in (camera.K, camera.R, camera.t))
        except (InputError, TypeError, ValueError, RuntimeError, OverflowError):
            finite = False
        if not finite:
            raise _damaged(path, "meta fit_camera is not a camera (finite K, R, t, width, height)")
    if "fit_params" in meta:
        fit = meta["fit_params"]
        try:
            ok = isinstance(fit, dict) and all(bool(torch.isfinite(torch.tensor(fit[k], dtype=torch.float32)).all()) for k in ("rotvecs", "translation"))
        except (KeyError, TypeError, ValueError, RuntimeError, OverflowError):
            ok = False
        if not ok:
            raise _damaged(path, "meta fit_params lacks finite rotvecs and translation")

