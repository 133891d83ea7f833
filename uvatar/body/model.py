"""The body model: a thin layer over Anny (rig and topology "anny", float32).

Body space is Anny's: metres, Z up, the body faces -Y, its left side at +X.

Pose parameters are per-bone rotation vectors in Anny's ``local-ref`` parameterization (each bone's
rotation relative to its reference orientation, expressed in world-aligned axes), plus a global
translation added after skinning. All-zero rotations give Anny's reference pose (close to the rest
A-pose, with the root at the origin). The rest pose itself is what the skinning transforms are relative
to: ``vertices = LBS(rest_vertices, bone_transforms)``.

Anny's first build of the model data takes about a minute and writes its cache to ``ANNY_CACHE_DIR``;
:func:`default_cache_dir` points that at ``.cache/anny`` in the checkout when the variable is unset.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import roma
import torch

from uvatar.errors import InputError

__all__ = [
    "BodyModel",
    "BodyParams",
    "BodyOutput",
    "RestState",
    "load_body_model",
    "default_cache_dir",
    "rest_vertices",
]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Where Anny's build cache lives: ``$ANNY_CACHE_DIR`` or ``<checkout>/.cache/anny``."""
    env = os.environ.get("ANNY_CACHE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "anny"


@dataclass
class BodyParams:
    """Batched body parameters.

    Attributes:
        rotvecs: ``(B, J, 3)`` per-bone rotation vectors (radians, ``local-ref``, world-aligned axes).
        translation: ``(B, 3)`` metres, added to every vertex after skinning.
        phenotypes: ``(B, 6)`` in [0, 1], columns in ``BodyModel.phenotype_labels`` order
            (gender, age, muscle, weight, height, proportions); 0.5 is Anny's average.
        facial: ``(B, 52)`` ARKit-style facial action weights in [0, 1] (``BodyModel.facial_labels``).
    """

    rotvecs: torch.Tensor
    translation: torch.Tensor
    phenotypes: torch.Tensor
    facial: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.rotvecs.shape[0])

    def to(self, device) -> "BodyParams":
        return BodyParams(*(getattr(self, f).to(device) for f in ("rotvecs", "translation", "phenotypes", "facial")))

    def detach(self) -> "BodyParams":
        return BodyParams(*(getattr(self, f).detach().clone() for f in ("rotvecs", "translation", "phenotypes", "facial")))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f: getattr(self, f) for f in ("rotvecs", "translation", "phenotypes", "facial")}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "BodyParams":
        try:
            return cls(**{f: tensors[f].float() for f in ("rotvecs", "translation", "phenotypes", "facial")})
        except KeyError as exc:
            raise InputError(f"body parameters lack {exc}; expected rotvecs, translation, phenotypes, facial") from None


@dataclass
class BodyOutput:
    """Result of :meth:`BodyModel.forward`.

    Attributes:
        vertices: ``(B, V, 3)`` posed vertices, metres.
        rest_vertices: ``(B, V, 3)`` rest-pose (A-pose) vertices of the same shape.
        bone_transforms: ``(B, J, 4, 4)`` skinning transforms mapping rest to posed space
            (translation included), ``posed_bone_pose @ inv(rest_bone_pose)``.
        bone_poses: ``(B, J, 4, 4)`` posed bone frames (translation included).
        rest_bone_poses: ``(B, J, 4, 4)`` rest bone frames.
    """

    vertices: torch.Tensor
    rest_vertices: torch.Tensor
    bone_transforms: torch.Tensor
    bone_poses: torch.Tensor
    rest_bone_poses: torch.Tensor
    extras: dict = field(default_factory=dict)


@dataclass
class RestState:
    """Rest-pose vertices ``(B, V, 3)`` and bone frames ``(B, J, 4, 4)`` of given shapes (neutral face)."""

    vertices: torch.Tensor
    bone_poses: torch.Tensor


class BodyModel:
    """Anny's full body ("anny" rig and topology, facial actions on), float32.

    Attributes:
        faces: ``(F, 3)`` int64 triangle vertex indices (counter-clockwise seen from outside).
        uv_corners: ``(F, 3, 2)`` per-corner UVs in [0, 1], v up (OBJ convention).
        bone_labels, phenotype_labels, facial_labels: label lists fixing tensor column orders.
        vertex_bone_weights, vertex_bone_indices: ``(V, 9)`` skinning weights and bone indices.
    """

    def __init__(self, anny_model, device="cpu") -> None:
        self._anny = anny_model.to(device=device, dtype=torch.float32)
        self.device = torch.device(device)
        self.faces = self._anny.faces.to(self.device)
        tc = self._anny.texture_coordinates.to(self.device, torch.float32)
        self.uv_corners = tc[self._anny.face_texture_coordinate_indices.to(self.device)]
        self.bone_labels: list[str] = list(self._anny.bone_labels)
        self.bone_parents: list[int] = list(self._anny.bone_parents)
        self.phenotype_labels: list[str] = list(self._anny.phenotype_labels)
        self.facial_labels: list[str] = list(self._anny.facial_action_labels)
        self.vertex_bone_weights = self._anny.vertex_bone_weights.to(self.device, torch.float32)
        self.vertex_bone_indices = self._anny.vertex_bone_indices.to(self.device)
        self.base_mesh_vertex_indices = self._anny.base_mesh_vertex_indices.to(self.device)
        self._rasters: dict[int, object] = {}

    # ------------------------------------------------------------------ sizes and labels
    @property
    def n_vertices(self) -> int:
        return int(self.vertex_bone_weights.shape[0])

    @property
    def n_bones(self) -> int:
        return len(self.bone_labels)

    @property
    def anny(self):
        """The wrapped ``anny.Anny`` module (for Anny's own tools, e.g. its keypoint regressor)."""
        return self._anny

    # ------------------------------------------------------------------ derived data (cached)
    def uv_raster(self, resolution: int):
        """:class:`~uvatar.body.uv.UVRaster` of the atlas at ``resolution x resolution`` (cached)."""
        from uvatar.body.uv import cached_rasterize_uv

        if resolution not in self._rasters:
            cache = default_cache_dir() / "uvatar" if resolution >= 256 else None
            self._rasters[resolution] = cached_rasterize_uv(self.uv_corners, resolution, cache)
        return self._rasters[resolution]

    @functools.cached_property
    def mirror(self):
        """:class:`~uvatar.body.mirror.MirrorMaps` of the mesh."""
        from uvatar.body.mirror import build_mirror_maps

        return build_mirror_maps(self.faces, self.base_mesh_vertex_indices)

    @functools.cached_property
    def segment_names(self) -> list[str]:
        """``F`` labels of Anny's body-part segmentation, one per face (read once from Anny's data)."""
        from uvatar.body.parts import segment_names

        return segment_names(self.uv_corners)

    @functools.cached_property
    def face_parts(self) -> torch.Tensor:
        """``(F,)`` part index per face (:data:`uvatar.body.parts.PART_NAMES`)."""
        from uvatar.body.parts import face_parts

        return face_parts(self)

    @functools.cached_property
    def left_faces(self) -> torch.Tensor:
        """``(F,)`` bool: the faces on the body's left (Anny's left is +x), by their centres in the
        reference pose (computed once)."""
        with torch.no_grad():
            rest = self.forward(self.default_params(1)).vertices[0]
        return rest[self.faces].mean(1)[:, 0] > 0

    @functools.cached_property
    def keypoints(self):
        """:class:`~uvatar.body.keypoints.BodyKeypoints` (COCO and MediaPipe-33 body points)."""
        from uvatar.body.keypoints import BodyKeypoints

        return BodyKeypoints.build(self)

    @functools.cached_property
    def landmark_skinning(self):
        """:class:`~uvatar.body.landmark_skinning.LandmarkSkinning`: the MediaPipe-33 body points of a pose
        without skinning the whole mesh (built on first use, ~0.1 s)."""
        from uvatar.body.landmark_skinning import LandmarkSkinning

        return LandmarkSkinning(self)

    def bone_index(self, label: str) -> int:
        try:
            return self.bone_labels.index(label)
        except ValueError:
            raise InputError(f"unknown bone {label!r}; known bones: {', '.join(self.bone_labels)}") from None

    # ------------------------------------------------------------------ parameters
    def default_params(self, batch_size: int = 1) -> BodyParams:
        """Reference pose, average shape, neutral face, no translation."""
        d = self.device
        return BodyParams(
            rotvecs=torch.zeros(batch_size, self.n_bones, 3, device=d),
            translation=torch.zeros(batch_size, 3, device=d),
            phenotypes=torch.full((batch_size, len(self.phenotype_labels)), 0.5, device=d),
            facial=torch.zeros(batch_size, len(self.facial_labels), device=d),
        )

    def params_from_labels(
        self,
        rotations: dict[str, list[float]] | None = None,
        phenotypes: dict[str, float] | None = None,
        facial: dict[str, float] | None = None,
        translation=(0.0, 0.0, 0.0),
    ) -> BodyParams:
        """Batch-1 parameters from labelled dicts; unknown labels raise :class:`InputError`."""
        params = self.default_params(1)
        for label, rotvec in (rotations or {}).items():
            params.rotvecs[0, self.bone_index(label)] = torch.as_tensor(rotvec, dtype=torch.float32)
        for table, values, column_labels in (
            (params.phenotypes, phenotypes, self.phenotype_labels),
            (params.facial, facial, self.facial_labels),
        ):
            for label, value in (values or {}).items():
                if label not in column_labels:
                    raise InputError(f"unknown label {label!r}; known: {', '.join(column_labels)}")
                table[0, column_labels.index(label)] = float(value)
        params.translation[0] = torch.as_tensor(translation, dtype=torch.float32)
        return params

    def tpose_params(self, batch_size: int = 1, phenotypes: torch.Tensor | None = None) -> BodyParams:
        """Parameters of a T-pose: upper arms rotated so each arm points straight out along ±X."""
        params = self.default_params(batch_size)
        if phenotypes is not None:
            params.phenotypes = phenotypes.to(self.device).float().expand(batch_size, -1).clone()
        out = self.forward(params)
        for side, sign in (("L", 1.0), ("R", -1.0)):
            shoulder = out.bone_poses[:, self.bone_index(f"upperarm01.{side}"), :3, 3]
            wrist = out.bone_poses[:, self.bone_index(f"wrist.{side}"), :3, 3]
            direction = torch.nn.functional.normalize(wrist - shoulder, dim=-1)
            target = torch.tensor([sign, 0.0, 0.0], device=self.device).expand_as(direction)
            axis = torch.linalg.cross(direction, target)
            angle = torch.atan2(torch.linalg.norm(axis, dim=-1), (direction * target).sum(-1))
            rotvec = torch.nn.functional.normalize(axis, dim=-1) * angle.unsqueeze(-1)
            params.rotvecs[:, self.bone_index(f"upperarm01.{side}")] = rotvec
        return params

    # ------------------------------------------------------------------ forward
    def forward(self, params: BodyParams) -> BodyOutput:
        """Posed body for batched parameters.

        Args:
            params: :class:`BodyParams` with batch ``B``.
        Returns:
            :class:`BodyOutput` with ``(B, V, 3)`` vertices and ``(B, J, 4, 4)`` transforms.
        """
        self._check_params(params)
        batch = params.batch_size
        delta = torch.eye(4, device=self.device).repeat(batch, self.n_bones, 1, 1)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(params.rotvecs)
        out = self._anny(
            pose_parameters=delta,
            phenotype_kwargs=params.phenotypes,
            facial_actions=params.facial,
        )
        shift = params.translation[:, None, :]
        rest_bone_poses = out["rest_bone_poses"].expand(batch, -1, -1, -1)
        bone_poses = out["bone_poses"].clone()
        bone_poses[..., :3, 3] = bone_poses[..., :3, 3] + shift
        bone_transforms = bone_poses @ torch.linalg.inv(rest_bone_poses)
        return BodyOutput(
            vertices=out["vertices"] + shift,
            rest_vertices=out["rest_vertices"].expand(batch, -1, -1),
            bone_transforms=bone_transforms,
            bone_poses=bone_poses,
            rest_bone_poses=rest_bone_poses,
        )

    __call__ = forward

    # ------------------------------------------------------------------ fast path for fitting
    def rest_state(self, phenotypes: torch.Tensor, facial: torch.Tensor | None = None) -> "RestState":
        """Rest mesh and bones of shapes ``(B, 6)`` with facial actions ``(B, 52)`` (default: a neutral
        face), differentiable in both; no posing or skinning.

        Fitting loops that hold the shape still reuse it with :meth:`forward_from_rest`, which then
        costs only forward kinematics and skinning.
        """
        if facial is None:
            facial = torch.zeros(phenotypes.shape[0], len(self.facial_labels), device=self.device)
        _, pheno, local, facial = self._anny.get_tensor_inputs(None, phenotypes, None, facial)
        coeffs = self._anny._get_phenotype_blendshape_coefficients(pheno, local, facial)
        rest = self._anny.get_rest_model(coeffs)
        return RestState(rest["rest_vertices"], rest["rest_bone_poses"])

    @functools.cached_property
    def skinning_weight_matrix(self) -> torch.Tensor:
        """``(V, J)`` dense skinning weights (from the ``(V, 9)`` sparse ones)."""
        dense = torch.zeros(self.n_vertices, self.n_bones, device=self.device)
        return dense.scatter_add_(1, self.vertex_bone_indices, self.vertex_bone_weights)

    @functools.cached_property
    def facial_basis(self) -> torch.Tensor:
        """``(52, V, 3)`` rest-vertex displacement of each facial action at weight 1 (average shape).

        Anny's rest vertices are linear in its blendshape coefficients and the facial actions enter
        them unmixed with the phenotypes, so this basis is exact for vertices; the facial actions' tiny
        effect on the rest bones (eyes) is left out (tests bound it).
        """
        with torch.no_grad():
            params = self.default_params(len(self.facial_labels) + 1)
            params.facial[1:] = torch.eye(len(self.facial_labels), device=self.device)
            rest = self.rest_state(params.phenotypes, params.facial).vertices
            return rest[1:] - rest[:1]

    def forward_from_rest(self, params: BodyParams, rest: "RestState") -> BodyOutput:
        """Like :meth:`forward` for a shape whose :meth:`rest_state` is given (``params.phenotypes`` is
        ignored; ``params.facial`` is applied through :attr:`facial_basis`)."""
        from uvatar.body.skinning import linear_blend_skinning_dense

        self._check_params(params)
        batch = params.batch_size
        delta = torch.eye(4, device=self.device).repeat(batch, self.n_bones, 1, 1)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(params.rotvecs)
        rest_bone_poses = rest.bone_poses.expand(batch, -1, -1, -1)
        transforms, bone_poses = self._anny.get_bone_transforms(delta, rest_bone_poses)
        rest_vertices = rest.vertices.expand(batch, -1, -1) + torch.einsum("bf,fvd->bvd", params.facial, self.facial_basis)
        vertices = linear_blend_skinning_dense(rest_vertices, self.skinning_weight_matrix, transforms)
        shift = params.translation[:, None, :]
        bone_poses = bone_poses.clone()
        bone_poses[..., :3, 3] = bone_poses[..., :3, 3] + shift
        transforms = transforms.clone()
        transforms[..., :3, 3] = transforms[..., :3, 3] + params.translation[:, None, :]
        return BodyOutput(vertices + shift, rest_vertices, transforms, bone_poses, rest_bone_poses)

    def rest_vertices(self, phenotypes: torch.Tensor | None = None) -> torch.Tensor:
        """``(V, 3)`` rest-pose (A-pose) vertices for one shape (average shape by default)."""
        params = self.default_params(1)
        if phenotypes is not None:
            params.phenotypes = phenotypes.reshape(1, -1).to(self.device).float()
        return self.forward(params).rest_vertices[0]

    def _check_params(self, params: BodyParams) -> None:
        batch = params.rotvecs.shape[0] if params.rotvecs.ndim == 3 else -1
        expected = {
            "rotvecs": (batch, self.n_bones, 3),
            "translation": (batch, 3),
            "phenotypes": (batch, len(self.phenotype_labels)),
            "facial": (batch, len(self.facial_labels)),
        }
        for name, shape in expected.items():
            got = tuple(getattr(params, name).shape)
            if got != shape:
                raise InputError(f"BodyParams.{name} must have shape {shape}; got {got}")


def rest_vertices(body: BodyModel, phenotypes: torch.Tensor, facial: torch.Tensor) -> torch.Tensor:
    """``(V, 3)`` the subject's vertices in the reference pose (shape ``phenotypes (6,)`` and face
    ``facial (52,)`` its own): where an avatar's Gaussians are bound."""
    params = body.default_params(1)
    params.phenotypes = phenotypes.reshape(1, -1).to(params.phenotypes)
    params.facial = facial.reshape(1, -1).to(params.facial)
    with torch.no_grad():
        return body.forward(params).vertices[0].cpu()


@functools.lru_cache(maxsize=4)
def load_body_model(device: str = "cpu") -> BodyModel:
    """The shared :class:`BodyModel` (built once per process; Anny's first build is ~1 min)."""
    cache = default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import anny

        log.info("building the Anny body model (cache: %s)", os.environ["ANNY_CACHE_DIR"])
        # torch LBS: same result as Warp LBS here, no Warp start-up (which prints to stdout)
        model = anny.Anny(rig="anny", topology="anny", facial_actions="all", skinning_method="lbs")
    return BodyModel(model, device=device)
