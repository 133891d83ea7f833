"""MediaPipe's 478 face landmarks as fixed points on the body's head surface.

Each landmark is bound to one face of the body mesh with barycentric weights (no offset), so it rides
the posed, shaped and expressive body exactly like the surface (:func:`face_points`). The data is built
once by ``tools/build_face_correspondence.py`` from MediaPipe's canonical face model (Apache-2.0) and
ships as ``uvatar/data/face_correspondence.safetensors`` (+ ``.json``: how it was made, residuals).

Landmark conventions (MediaPipe face mesh with refined irises):

* 0..467 the face mesh; "left" is the person's left (+X in body space): 263/362 are the left eye's
  outer/inner corners, 33/133 the right eye's, 291/61 the left/right mouth corners;
* 468..472 the iris of the person's RIGHT eye (the one around 33/133): centre, then ring points toward
  +X, up, -X, down; 473..477 the LEFT eye's iris in the same order.

Binding: mesh landmarks sit on the head skin at the closest point to MediaPipe's canonical face after a
similarity fit; the eyelid contours (16 per eye) and the inner lip contour (20) lie on the eyelid-margin
and lip-opening edges of the mesh; iris points lie on the front of the eyeballs (centre on the gaze axis,
ring 5.8 mm off it).

Weights (:attr:`FaceCorrespondence.weights`, for fitting losses), product of two factors:

* a prior per kind: 0.25 for the face-oval landmarks (:data:`FACE_OVAL`, the jawline/forehead
  silhouette, which slides over the surface as the head turns), 0.5 for the irises (they follow the
  gaze, which the body's rest eyes do not), 1 otherwise;
* ``1 / (1 + (residual / 4 mm)^2)``: landmarks where the canonical face and Anny's head disagree more
  (``residual_m``) count less.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import torch

from uvatar.body.skinning import bound_points_to_world
from uvatar.errors import UvatarError

__all__ = [
    "N_FACE_LANDMARKS",
    "FACE_OVAL",
    "RIGHT_IRIS",
    "LEFT_IRIS",
    "FaceCorrespondence",
    "landmark_weights",
    "load_face_correspondence",
    "face_points",
]

N_FACE_LANDMARKS = 478
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip  (MediaPipe FACEMESH_FACE_OVAL)
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)  # the person's right eye (around 33/133)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)  # the person's left eye (around 263/362)

_DATA_FILE = "face_correspondence.safetensors"
_OVAL_PRIOR = 0.25
_IRIS_PRIOR = 0.5
_RESIDUAL_SCALE_M = 0.004


@dataclass(frozen=True)
class FaceCorrespondence:
    """Where each of MediaPipe's 478 face landmarks sits on the body mesh.

    Attributes:
        face_index: ``(478,)`` int64 face of the body mesh (``BodyModel.faces``) holding each landmark.
        barycentrics: ``(478, 3)`` float32 weights of that face's three vertices.
        residual_m: ``(478,)`` float32 distance (metres) between the fitted canonical face and the bound point.
        weights: ``(478,)`` float32 per-landmark weight in (0, 1] (see the module docstring).
        mirror_index: ``(478,)`` int64 left-right partner of each landmark (itself on the midline).
        rest_points: ``(478, 3)`` float32 bound points on the average rest body, metres.
        scale: fitted similarity scale, body metres per canonical-model metre.
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    residual_m: torch.Tensor
    weights: torch.Tensor
    mirror_index: torch.Tensor
    rest_points: torch.Tensor
    scale: float


def landmark_weights(residual_m: torch.Tensor) -> torch.Tensor:
    """``(478,)`` fitting weights from ``(478,)`` residuals (metres): kind prior x residual factor."""
    prior = torch.ones(N_FACE_LANDMARKS)
    prior[list(FACE_OVAL)] = _OVAL_PRIOR
    prior[list(RIGHT_IRIS + LEFT_IRIS)] = _IRIS_PRIOR
    return prior / (1.0 + (residual_m.float() / _RESIDUAL_SCALE_M) ** 2)


@functools.lru_cache(maxsize=1)
def load_face_correspondence() -> FaceCorrespondence:
    """The packaged :class:`FaceCorrespondence` (read once per process, with safetensors only)."""
    from safetensors.torch import load

    resource = importlib.resources.files("uvatar") / "data" / _DATA_FILE
    try:
        tensors = load(resource.read_bytes())
    except FileNotFoundError:
        raise UvatarError(
            f"package data {_DATA_FILE} is missing; rebuild it with tools/build_face_correspondence.py"
        ) from None
    face_index = tensors["face_index"].long()
    if face_index.shape != (N_FACE_LANDMARKS,):
        raise UvatarError(f"{_DATA_FILE}: face_index has shape {tuple(face_index.shape)}, expected (478,)")
    residual = tensors["residual_m"].float()
    return FaceCorrespondence(
        face_index=face_index,
        barycentrics=tensors["barycentrics"].float(),
        residual_m=residual,
        weights=landmark_weights(residual),
        mirror_index=tensors["mirror_index"].long(),
        rest_points=tensors["rest_points"].float(),
        scale=float(tensors["scale"].item()),
    )


def face_points(
    vertices: torch.Tensor, faces: torch.Tensor, corr: FaceCorrespondence | None = None
) -> torch.Tensor:
    """The 478 face landmarks on a (posed) body mesh.

    Args:
        vertices: ``(B, V, 3)`` body vertices, metres.
        faces: ``(F, 3)`` int64 body faces (``BodyModel.faces``).
        corr: the correspondence; the packaged one when None.
    Returns:
        ``(B, 478, 3)`` landmark positions, metres, in MediaPipe's landmark order.
    """
    corr = corr or load_face_correspondence()
    points, _ = bound_points_to_world(
        vertices,
        faces,
        corr.face_index.to(faces.device),
        corr.barycentrics.to(device=vertices.device, dtype=vertices.dtype),
    )
    return points
