"""Keypoints of the body: COCO-style joints from Anny's regressor and MediaPipe's 33 body landmarks.

MediaPipe's pose landmarks name sides from the person's point of view, as Anny does (``left`` = ``.L``
= +X). The mapping from each of the 33 landmarks to a body point (``MEDIAPIPE33_SOURCES``) is:

* ``coco:<label>``: Anny's COCO regressor (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
  ankles, heels, big toes for ``foot_index``), a fixed linear blend of vertices;
* ``bone:<label>``: the head (joint position) of an Anny bone; MediaPipe's pinky and index landmarks sit
  near the knuckles (``finger5-1``, ``finger2-1``), its thumb near the thumb's last joint (``finger1-3``);
* ``vertex:<rule>``: a surface vertex picked once on the average rest body by a geometric rule (eye
  corners 16 mm to either side of the eye keypoint), the nearest vertex of a non-interior head face;
* ``face:<index>``: the MediaPipe face-mesh landmark of that index on Anny's head
  (:mod:`uvatar.body.face_map`): the mouth corners are the lip-opening corners 291 and 61 (a
  geometric rule put them 7.5 mm too low, measured on synthetic photos).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

__all__ = ["MEDIAPIPE33_NAMES", "MEDIAPIPE33_SOURCES", "HAND21_SOURCES", "BodyKeypoints"]

MEDIAPIPE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip

MEDIAPIPE33_SOURCES: dict[str, str] = {
    "nose": "coco:nose",
    "left_eye_inner": "vertex:left_eye_inner",
    "left_eye": "coco:left_eye",
    "left_eye_outer": "vertex:left_eye_outer",
    "right_eye_inner": "vertex:right_eye_inner",
    "right_eye": "coco:right_eye",
    "right_eye_outer": "vertex:right_eye_outer",
    "left_ear": "coco:left_ear",
    "right_ear": "coco:right_ear",
    "mouth_left": "face:291",
    "mouth_right": "face:61",
    "left_shoulder": "coco:left_shoulder",
    "right_shoulder": "coco:right_shoulder",
    "left_elbow": "coco:left_elbow",
    "right_elbow": "coco:right_elbow",
    "left_wrist": "coco:left_wrist",
    "right_wrist": "coco:right_wrist",
    "left_pinky": "bone:finger5-1.L",
    "right_pinky": "bone:finger5-1.R",
    "left_index": "bone:finger2-1.L",
    "right_index": "bone:finger2-1.R",
    "left_thumb": "bone:finger1-3.L",
    "right_thumb": "bone:finger1-3.R",
    "left_hip": "coco:left_hip",
    "right_hip": "coco:right_hip",
    "left_knee": "coco:left_knee",
    "right_knee": "coco:right_knee",
    "left_ankle": "coco:left_ankle",
    "right_ankle": "coco:right_ankle",
    "left_heel": "coco:left_heel",
    "right_heel": "coco:right_heel",
    "left_foot_index": "coco:left_big_toe",
    "right_foot_index": "coco:right_big_toe",
}


# MediaPipe's 21 hand landmarks (uvatar.detect.HAND_LANDMARKS order) on Anny's hand: joints are bone
# heads (finger1 = thumb ... finger5 = pinky; -1/-2/-3 are the proximal to distal bones), tips are the
# surface vertex furthest along each finger's last bone.
HAND21_SOURCES: tuple[str, ...] = (
    "bone:wrist",
    "bone:finger1-1", "bone:finger1-2", "bone:finger1-3", "tip:finger1",
    "bone:finger2-1", "bone:finger2-2", "bone:finger2-3", "tip:finger2",
    "bone:finger3-1", "bone:finger3-2", "bone:finger3-3", "tip:finger3",
    "bone:finger4-1", "bone:finger4-2", "bone:finger4-3", "tip:finger4",
    "bone:finger5-1", "bone:finger5-2", "bone:finger5-3", "tip:finger5",
)  # fmt: skip


@dataclass
class BodyKeypoints:
    """Keypoint extractors for one :class:`~uvatar.body.model.BodyModel`.

    Attributes:
        coco_labels: the 23 labels of Anny's COCO regressor (COCO-17, toes, heels).
        coco_weights: ``(23, V)`` regression weights.
        vertex_points: name -> vertex index for the ``vertex:`` sources.
        bone_indices: label -> bone index for the ``bone:`` sources.
    """

    coco_labels: list[str]
    coco_weights: torch.Tensor
    vertex_points: dict[str, int]
    bone_indices: dict[str, int]
    hand_sources: dict[str, list[tuple[str, int]]] | None = None
    faces: torch.Tensor | None = None

    @classmethod
    def build(cls, body) -> "BodyKeypoints":
        import anny

        from uvatar.body.parts import PART_NAMES, face_parts, interior_faces

        regressor = anny.KeypointsRegressor.coco(body.anny)
        coco_labels = list(regressor.labels)
        weights = regressor.regression_weights.detach().float().to(body.device)
        rest = body.forward(body.default_params(1)).vertices[0]
        coco = weights @ rest
        named = dict(zip(coco_labels, coco))

        parts = face_parts(body)
        usable = (parts == PART_NAMES.index("head")) & ~interior_faces(body)
        head_vertices = torch.unique(body.faces[usable].reshape(-1))
        candidates = rest[head_vertices]

        def nearest(point: torch.Tensor) -> int:
            return int(head_vertices[torch.linalg.norm(candidates - point, dim=-1).argmin()])

        vertex_points = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            eye = named[f"{side}_eye"]
            vertex_points[f"{side}_eye_inner"] = nearest(eye - torch.tensor([sign * 0.016, 0.0, 0.0]))
            vertex_points[f"{side}_eye_outer"] = nearest(eye + torch.tensor([sign * 0.016, 0.0, 0.0]))
        bone_indices = {
            src.split(":", 1)[1]: body.bone_index(src.split(":", 1)[1])
            for src in MEDIAPIPE33_SOURCES.values()
            if src.startswith("bone:")
        }
        return cls(coco_labels, weights, vertex_points, bone_indices, _hand_sources(body, rest), body.faces)

    def coco(self, vertices: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3)`` vertices -> ``(B, 23, 3)`` COCO-style keypoints."""
        return torch.einsum("kv,bvd->bkd", self.coco_weights, vertices)

    def hand21(self, vertices: torch.Tensor, bone_poses: torch.Tensor, side: str) -> torch.Tensor:
        """``(B, 21, 3)`` body points of MediaPipe's 21 hand landmarks for side ``"L"`` or ``"R"`` (the person's)."""
        points = []
        for kind, index in self.hand_sources[side]:
            points.append(bone_poses[:, index, :3, 3] if kind == "bone" else vertices[:, index])
        return torch.stack(points, dim=1)

    def mediapipe33(self, vertices: torch.Tensor, bone_poses: torch.Tensor, coco: torch.Tensor | None = None) -> torch.Tensor:
        """Body points of MediaPipe's 33 pose landmarks.

        Args:
            vertices: ``(B, V, 3)`` posed vertices; bone_poses: ``(B, J, 4, 4)`` posed bone frames.
            coco: ``(B, 23, 3)`` the :meth:`coco` keypoints of these vertices when the caller has them
                (computed another way); then only the few vertices of the ``vertex:`` and ``face:``
                sources are read.
        Returns:
            ``(B, 33, 3)`` points in :data:`MEDIAPIPE33_NAMES` order, metres.
        """
        if coco is None:
            coco = self.coco(vertices)
        gather = self._mediapipe33_gather
        corners = vertices[:, gather["face_corners"]]  # (B, F, 3, 3): each face point's triangle
        face = torch.einsum("fk,bfkd->bfd", gather["face_weights"].to(vertices), corners)
        parts = (coco[:, gather["coco"]], bone_poses[:, gather["bone"], :3, 3], vertices[:, gather["vertex"]], face)
        return torch.cat(parts, dim=1)[:, gather["order"]]

    @functools.cached_property
    def _mediapipe33_gather(self) -> dict[str, torch.Tensor]:
        """Index tensors that gather the 33 points by source kind in one step each: ``coco``, ``bone``,
        ``vertex`` indices, the ``face`` points' triangle corners ``(F, 3)`` and barycentric weights
        ``(F, 3)``, and ``order``, the position of each of :data:`MEDIAPIPE33_NAMES` in the
        concatenation of the four kinds."""
        from uvatar.body.face_map import load_face_correspondence

        kinds = {"coco": [], "bone": [], "vertex": [], "face": []}
        for position, name in enumerate(MEDIAPIPE33_NAMES):
            kind, key = MEDIAPIPE33_SOURCES[name].split(":", 1)
            kinds[kind].append((position, key))
        concatenated = [position for kind in ("coco", "bone", "vertex", "face") for position, _ in kinds[kind]]
        landmarks = [int(key) for _, key in kinds["face"]]
        corr = load_face_correspondence()
        device = self.coco_weights.device
        return {
            "coco": torch.tensor([self.coco_labels.index(key) for _, key in kinds["coco"]], dtype=torch.long, device=device),
            "bone": torch.tensor([self.bone_indices[key] for _, key in kinds["bone"]], dtype=torch.long, device=device),
            "vertex": torch.tensor([self.vertex_points[key] for _, key in kinds["vertex"]], dtype=torch.long, device=device),
            "face_corners": self.faces[corr.face_index[landmarks]].to(device),
            "face_weights": corr.barycentrics[landmarks].to(device),
            "order": torch.argsort(torch.tensor(concatenated)).to(device),
        }


def _hand_sources(body, rest: torch.Tensor) -> dict[str, list[tuple[str, int]]]:
    """Per side, the 21 (kind, index) pairs of :data:`HAND21_SOURCES`, tips found on the rest mesh."""
    out = body.forward(body.default_params(1))
    heads = out.bone_poses[0, :, :3, 3]
    dominant = body.skinning_weight_matrix.argmax(1)
    sources: dict[str, list[tuple[str, int]]] = {}
    for side in ("L", "R"):
        rows = []
        for source in HAND21_SOURCES:
            kind, name = source.split(":")
            if kind == "bone":
                rows.append(("bone", body.bone_index(f"{name}.{side}")))
                continue
            last = body.bone_index(f"{name}-3.{side}")
            previous = body.bone_index(f"{name}-2.{side}")
            direction = torch.nn.functional.normalize(heads[last] - heads[previous], dim=0)
            candidates = torch.nonzero(dominant == last).squeeze(1)
            along = (rest[candidates] - heads[last]) @ direction
            rows.append(("vertex", int(candidates[along.argmax()])))
        sources[side] = rows
    return sources
