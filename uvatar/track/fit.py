"""Fit the proxy body (Anny pose, shape, face, camera) to one photo's detections.

The fit runs in stages, each switching on more parameters and terms:

1. **root**: the body's global rotation and translation from torso and head landmarks, from several
   yaw starts (front, three-quarter, profile, back), on the rigid reference body (no skinning: fast);
2. **body**: the bones of the parts the framing shows (head and spine always; arms for half and full;
   legs only for full) and the shape, against the body landmarks;
3. **detail**: adds the dense face term (478 MediaPipe face points against their fixed correspondence on
   Anny's head), facial actions, the fingers of each detected hand (21 MediaPipe hand landmarks on
   Anny's finger joints and tips), and, for half and full framings, the silhouette term.

Robustness: the Geman-McClure scale is annealed from a wide basin (0.3 box heights) to 0.04 during the
body stage, and learning rates decay exponentially within each stage (Adam moves every parameter by
about its learning rate per step, and a chain of bones adds up). An optional prior that orders limb
depths like MediaPipe's 3D landmarks exists (``w_depth_order``) but is off: on synthetic photos it made
half-body MPJPE worse.

Terms (all image distances are divided by the person-box height, so weights do not depend on the photo
size): re-projection of the 33 body landmarks, weighted by MediaPipe's visibility and in-frame flag, with a
Geman-McClure robust loss; dense face alignment; silhouette (fitted vertices must project inside the
person mask, and the mask's outline must be reached by the body); priors that keep unseen parts
natural (legs straight under a half-body photo, zero hand and finger rotations), keep joints within
human ranges (a soft bound on each bone's rotation angle), and keep the shape near Anny's average.

The camera is a pinhole at the world origin looking along +Y (the body faces -Y, towards it) with a
field-of-view prior (``FitConfig.fov_deg`` over the longer image side): the body's root translation
absorbs the distance, so focal length and depth are not fitted against each other.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import roma
import torch

from uvatar.body.model import BodyModel, BodyParams, RestState
from uvatar.camera import Camera
from uvatar.detect.detections import BODY_INDEX, Detections
from uvatar.track.proxyfit import ProxyFit

__all__ = ["FitConfig", "fit_proxy", "photo_camera", "temporal_terms", "neck_angle", "FREE_BONES"]

log = logging.getLogger(__name__)

# Bones the fit may rotate, by the part of the body they move.
FREE_BONES = {
    "head": ("neck01", "neck02", "head"),
    "spine": ("spine03", "spine02", "spine01"),
    "arms": ("clavicle.L", "clavicle.R", "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R"),
    "legs": ("upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R"),
}

# Landmark groups (MediaPipe pose indices).
_TORSO = [BODY_INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
_HEAD = [BODY_INDEX[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "mouth_left", "mouth_right")]
_HAND_TIPS = [BODY_INDEX[n] for n in ("left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb")]
_LEGS = [BODY_INDEX[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")]


@dataclass(frozen=True)
class FitConfig:
    """Knobs of the fit (defaults tuned on the photos in shared/realdata)."""

    fov_deg: float = 45.0  # field-of-view prior over the longer image side
    root_steps: int = 40
    body_steps: int = 90
    detail_steps: int = 50
    robust_scale: float = 0.04  # final Geman-McClure scale, in person-box heights
    robust_scale_start: float = 0.3  # annealed from this (wide basin first, robust at the end)
    w_face: float = 1.0
    w_hands: float = 0.5
    w_depth_order: float = 0.0  # off: measured on synthetic photos, it made half-body MPJPE worse (158 -> 178 mm)
    w_silhouette: float = 1.0
    w_pose_prior: float = 2e-3
    w_unseen_prior: float = 0.5
    w_shape_prior: float = 1e-3
    w_facial_prior: float = 1e-4
    max_bone_angle: float = 2.2  # radians; soft bound per fitted bone
    max_neck_angle: float = 1.3  # radians; soft bound on the head's turn on the torso (neck01, neck02 and head
    # composed; a person turns the head ~80 degrees at most). Each bone's own bound let the video tracker
    # carry the head 60-160 degrees round on the body through the turnaround clip's back views
    yaw_starts: tuple[float, ...] = (0.0, 45.0, -45.0, 90.0, -90.0, 180.0)
    silhouette_fill: float = 0.75  # weight of "the body reaches the mask outline" against "stays inside"
    silhouette_side: int = 192  # mask resolution (longer side) of the silhouette term
    shape_every: int = 4  # shape gets a gradient every this many steps
    lr_final_fraction: float = 0.3  # learning rates decay exponentially to this fraction over a stage (0.05
    # left the landmark pass short of its minimum: arms travel too little)


def photo_camera(width: int, height: int, fov_deg: float = 45.0) -> Camera:
    """The fit's camera: at the origin, looking along +Y with world Z up; ``fov_deg`` over the longer side."""
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    K = torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    R = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    return Camera(K, R, torch.zeros(3), width, height)


def neck_angle(chain: torch.Tensor) -> torch.Tensor:
    """Radians the head turns on the torso: the angle of the ``(K, 3)`` rotation vectors ``chain`` (neck
    to head, parent first) composed. Differentiable; its gradient is zero at the identity and at a half turn."""
    rotation = torch.eye(3, dtype=chain.dtype, device=chain.device)
    for matrix in roma.rotvec_to_rotmat(chain):
        rotation = rotation @ matrix
    cos = ((torch.diagonal(rotation).sum() - 1.0) / 2.0).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    return torch.acos(cos)


def _gmof(residual_sq: torch.Tensor, scale: float) -> torch.Tensor:
    """Geman-McClure robust penalty of squared residuals."""
    s2 = scale * scale
    return s2 * residual_sq / (s2 + residual_sq)


@dataclass
class _Targets:
    points: torch.Tensor  # (33, 2)
    weights: torch.Tensor  # (33,)
    box_h: float
    face: torch.Tensor | None
    face_weights: torch.Tensor | None
    dist_outside: torch.Tensor | None  # (1, 1, h, w) distance to the mask, in box heights
    outline: torch.Tensor | None  # (M, 2) mask outline samples, pixels
    mask_scale: float = 1.0


def _targets(det: Detections, regime: str, config: FitConfig) -> _Targets:
    box = det.box
    box_h = float(max(box[3] - box[1], box[2] - box[0], 16.0))
    weights = np.clip(det.body_visibility, 0.0, 1.0) * det.body_in_frame.astype(np.float32)
    weights = np.where(weights > 0.3, weights, 0.0)
    weights[_HAND_TIPS] *= 0.3
    if regime != "full":
        weights[_LEGS] = 0.0
    if regime == "head":
        weights[[BODY_INDEX[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip")]] = 0.0
        weights[_HAND_TIPS] = 0.0
    face = face_w = None
    if det.face is not None:
        from uvatar.body.face_map import load_face_correspondence

        face = torch.as_tensor(det.face, dtype=torch.float32)
        inside = (face[:, 0] >= 0) & (face[:, 0] < det.image_size[0]) & (face[:, 1] >= 0) & (face[:, 1] < det.image_size[1])
        face_w = load_face_correspondence().weights.float() * inside.float()  # out-of-frame points are guesses
    dist = outline = None
    scale = 1.0
    if det.mask is not None and regime in ("half", "full"):
        dist, outline, scale = _silhouette_targets(det.mask, box_h, config.silhouette_side)
    return _Targets(torch.as_tensor(det.body), torch.as_tensor(weights, dtype=torch.float32), box_h, face, face_w, dist, outline, scale)


def _silhouette_targets(mask: np.ndarray, box_h: float, side: int):
    from scipy import ndimage

    h, w = mask.shape
    scale = min(1.0, side / max(h, w))
    small_h, small_w = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
    small = torch.nn.functional.interpolate(torch.as_tensor(mask)[None, None], size=(small_h, small_w), mode="area")[0, 0] > 0.5
    inside = small.numpy()
    outside_dist = ndimage.distance_transform_edt(~inside) / scale / box_h  # box heights
    edge = inside & ~ndimage.binary_erosion(inside)
    rows, cols = np.nonzero(edge)
    if len(rows) > 600:
        pick = np.linspace(0, len(rows) - 1, 600).astype(int)
        rows, cols = rows[pick], cols[pick]
    outline = torch.as_tensor(np.stack([(cols + 0.5) / scale, (rows + 0.5) / scale], -1), dtype=torch.float32)
    return torch.as_tensor(outside_dist, dtype=torch.float32)[None, None], outline, scale


def nearest_distance_sq(queries: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``(M,)`` squared distance from each of ``queries (M, 2)`` to its nearest of ``points (N, 2)``
    (N >= 1), differentiable in both as ``cdist(queries, points).amin(1).pow(2)`` is.

    The nearest point is searched without autograd (scipy's k-d tree) and its distance recomputed
    from the pair, so the backward pass touches M pairs instead of the M x N distance matrix (cdist's
    backward divided and copied the whole 528 x 1864 matrix of a photo fit every step: a third of the
    detail stage; the tree's search takes 0.6 ms where cdist's argmin took 2.4). Where two points tie,
    the gradient goes to one of them (amin splits it between them).
    """
    from scipy.spatial import cKDTree

    _, index = cKDTree(points.detach().cpu().numpy()).query(queries.detach().cpu().numpy())
    return (queries - points[torch.as_tensor(index, device=points.device)]).pow(2).sum(-1)


def _sample_map(grid_map: torch.Tensor, pixels: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear sample of a ``(1, 1, h, w)`` map at ``(N, 2)`` pixel positions of the full image."""
    norm = torch.stack([pixels[:, 0] / width * 2 - 1, pixels[:, 1] / height * 2 - 1], -1)
    return torch.nn.functional.grid_sample(grid_map, norm[None, None], align_corners=False, padding_mode="border")[0, 0, 0]


class _Fitter:
    def __init__(self, body: BodyModel, det: Detections, regime: str, config: FitConfig) -> None:
        self.body, self.regime, self.config = body, regime, config
        self.width, self.height = det.image_size
        self.camera = photo_camera(self.width, self.height, config.fov_deg)
        parts = ["head", "spine"] + (["arms"] if regime in ("half", "full") else []) + (["legs"] if regime == "full" else [])
        self.free = [body.bone_index(b) for p in parts for b in FREE_BONES[p]]
        self.neck_bones = [body.bone_index(b) for b in FREE_BONES["head"]]  # parent first
        unseen = [] if regime == "full" else list(FREE_BONES["legs"])
        if regime == "head":
            unseen += list(FREE_BONES["arms"])
        self.unseen = [body.bone_index(b) for b in unseen]
        self.silhouette_vertices = self._silhouette_vertex_subset()
        self.retarget(det)

    def retarget(self, det: Detections) -> None:
        """Point the fitter at ``det`` (same image size, regime and camera): the video tracker fits one
        clip's frames with one fitter."""
        regime, body = self.regime, self.body
        self.det = det
        self.targets = _targets(det, regime, self.config)
        if det.face is not None:
            from uvatar.body.face_map import load_face_correspondence

            self.face_corr = load_face_correspondence()
        else:
            self.face_corr = None
        self.depth_pairs = self._depth_pairs(det, regime)
        # hands: fit the fingers of each hand the detector found (person's left = Anny's .L)
        self.hands = {}
        if regime in ("half", "full"):
            for side, points in (("L", det.left_hand), ("R", det.right_hand)):
                if points is not None:
                    size = float(np.ptp(points, axis=0).max())
                    if size > 8:  # pixels; smaller hands carry no usable finger detail
                        self.hands[side] = (torch.as_tensor(points, dtype=torch.float32), size)
        self.finger_bones = [
            body.bone_index(f"finger{k}-{j}.{side}") for side in self.hands for k in range(1, 6) for j in (1, 2, 3)
        ]

    def _depth_pairs(self, det: Detections, regime: str):
        """(child, parent, MediaPipe depth difference) for limb joints whose order in depth is clear."""
        if det.body_world is None or regime == "head":
            return None
        pairs = [("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_shoulder"), ("right_wrist", "right_shoulder")]
        if regime == "full":
            pairs += [("left_knee", "left_hip"), ("right_knee", "right_hip"), ("left_ankle", "left_hip"), ("right_ankle", "right_hip")]
        world = torch.as_tensor(det.body_world)
        rows = []
        for child, parent in pairs:
            c, p = BODY_INDEX[child], BODY_INDEX[parent]
            difference = float(world[c, 2] - world[p, 2])
            if abs(difference) > 0.05 and self.targets.weights[c] > 0:
                rows.append((c, p, difference))
        if not rows:
            return None
        child, parent, target = zip(*rows)
        return torch.tensor(child), torch.tensor(parent), torch.tensor(target)

    def _silhouette_vertex_subset(self) -> torch.Tensor:
        from uvatar.body.parts import interior_faces

        keep = ~interior_faces(self.body)
        verts = torch.unique(self.body.faces[keep].reshape(-1))
        return verts[:: max(1, len(verts) // 3000)]

    # -------------------------------------------------------------- projection helpers
    def project(self, points: torch.Tensor) -> torch.Tensor:
        pixels, _ = self.camera.project(points)
        return pixels

    def landmark_loss(self, keypoints: torch.Tensor, scale: float) -> torch.Tensor:
        t = self.targets
        pixels = self.project(keypoints)
        residual_sq = ((pixels - t.points) / t.box_h).pow(2).sum(-1)
        return (t.weights * _gmof(residual_sq, scale)).sum() / t.weights.sum().clamp(min=1e-6) / scale**2

    def face_loss(self, vertices: torch.Tensor, scale: float) -> torch.Tensor:
        from uvatar.body.face_map import face_points

        t = self.targets
        points = face_points(vertices[None], self.body.faces, self.face_corr)[0]
        pixels = self.project(points)
        residual_sq = ((pixels - t.face) / t.box_h).pow(2).sum(-1)
        return (t.face_weights * _gmof(residual_sq, scale)).sum() / t.face_weights.sum().clamp(min=1e-6) / scale**2

    def hand_loss(self, vertices: torch.Tensor, bone_poses: torch.Tensor, scale: float) -> torch.Tensor:
        """Robust re-projection of the detected hands' 21 landmarks, in units of each hand's size."""
        total = vertices.new_zeros(())
        for side, (points, size) in self.hands.items():
            pixels = self.project(self.body.keypoints.hand21(vertices[None], bone_poses, side)[0])
            residual_sq = ((pixels - points) / size).pow(2).sum(-1)
            total = total + _gmof(residual_sq, 4 * scale).mean() / (4 * scale) ** 2
        return total

    def depth_order_loss(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Elbows, wrists, knees and ankles in front of or behind their shoulder/hip as MediaPipe's 3D
        world landmarks say (metres; only pairs whose depth differs by more than 5 cm count)."""
        if self.depth_pairs is None:
            return keypoints.new_zeros(())
        child, parent, target = self.depth_pairs
        z = self.camera.world_to_camera(keypoints)[:, 2]
        fitted = z[child] - z[parent]
        return torch.relu(-fitted * torch.sign(target)).pow(2).mean() / 0.03**2

    def silhouette_loss(self, vertices: torch.Tensor, scale: float, ids: torch.Tensor | None = None) -> torch.Tensor:
        """The body inside the person mask and reaching its outline, read on ``vertices (V, 3)`` at
        ``ids`` (default :attr:`silhouette_vertices`)."""
        t = self.targets
        pixels = self.project(vertices[self.silhouette_vertices if ids is None else ids])
        in_frame = (pixels[:, 0] >= 0) & (pixels[:, 0] < self.width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < self.height)
        outside = _sample_map(t.dist_outside, pixels[in_frame], self.width, self.height)
        loss_out = _gmof(outside.pow(2), scale).mean()
        loss_in = _gmof(nearest_distance_sq(t.outline, pixels[in_frame]) / t.box_h**2, scale).mean()
        return (loss_out + self.config.silhouette_fill * loss_in) / scale**2

    def pose_priors(self, free_rot: torch.Tensor, unseen_mask: torch.Tensor, bones: list[int]) -> dict[str, torch.Tensor]:
        """Pose prior on the seen bones, a stronger one on the unseen, a soft joint limit per bone and one
        on the neck's bones together (:func:`neck_angle`).

        Args:
            free_rot: ``(N, 3)`` rotation vectors of the fitted ``bones`` (N indices); unseen_mask: ``(N,)`` bool.
        """
        cfg = self.config
        angles = free_rot.norm(dim=-1)
        chain = [bones.index(b) for b in self.neck_bones if b in bones]
        neck = torch.zeros(())
        if float(angles[chain].detach().sum()) > cfg.max_neck_angle:  # else within the bound (angles of composed rotations add up to at most the sum)
            neck = torch.relu(neck_angle(free_rot[chain]) - cfg.max_neck_angle).pow(2)
        return {
            "pose_prior": cfg.w_pose_prior * ((~unseen_mask).float() * angles.pow(2)).sum(),
            "unseen_prior": cfg.w_unseen_prior * (unseen_mask.float() * angles.pow(2)).sum(),
            "joint_limit": torch.relu(angles - cfg.max_bone_angle).pow(2).sum(),
            "neck_limit": neck,
        }

    # -------------------------------------------------------------- stage 1: rigid root
    def fit_root(self, params: BodyParams) -> BodyParams:
        body = self.body
        ref = body.forward(params)
        keypoints = body.keypoints.mediapipe33(ref.vertices, ref.bone_poses)[0]  # (33, 3)
        t = self.targets
        weights = t.weights.clone()
        group = _TORSO + _HEAD + [BODY_INDEX[n] for n in ("left_elbow", "right_elbow")]
        mask = torch.zeros(33, dtype=torch.bool)
        mask[group] = True
        if (weights[mask] > 0).sum() < 3:  # too little of the torso: use whatever is seen
            mask[:] = True
        weights = weights * mask.float()
        root = body.bone_index("root")
        pivot = ref.bone_poses[0, root, :3, 3]
        depth = self._initial_depth(keypoints, weights)
        # all yaw starts at once, as a batch: (S, 3) rotation vectors and translations
        yaws = torch.tensor([math.radians(y) for y in self.config.yaw_starts])
        rotvecs = torch.stack([torch.zeros_like(yaws), torch.zeros_like(yaws), yaws], -1).requires_grad_(True)
        trans = torch.stack([self._initial_translation(keypoints, weights, depth, r, pivot) for r in rotvecs.detach()])
        trans.requires_grad_(True)
        opt = torch.optim.Adam([{"params": [rotvecs], "lr": 0.05}, {"params": [trans], "lr": 0.02 * depth}])
        for _ in range(self.config.root_steps):
            opt.zero_grad()
            self._root_loss(keypoints, weights, rotvecs, trans, pivot).sum().backward()
            opt.step()
        with torch.no_grad():
            losses = self._root_loss(keypoints, weights, rotvecs, trans, pivot)
        best = int(losses.argmin())
        params = params.detach()
        params.rotvecs[0, root] = rotvecs[best].detach()
        # rotating the root turns the body about its pivot; the translation moves it afterwards
        params.translation[0] = trans[best].detach()
        self.root_loss = float(losses[best])
        return params

    def _root_loss(self, keypoints, weights, rotvecs, trans, pivot):
        """Per-start losses ``(S,)`` of the rigid reference keypoints ``(33, 3)`` under ``(S, 3)`` rotations."""
        rot = roma.rotvec_to_rotmat(rotvecs)  # (S, 3, 3)
        posed = (keypoints - pivot) @ rot.transpose(-1, -2) + pivot + trans[:, None, :]
        pixels = self.project(posed)
        residual_sq = ((pixels - self.targets.points) / self.targets.box_h).pow(2).sum(-1)
        scale = self.config.robust_scale_start
        return (weights * _gmof(residual_sq, scale)).sum(-1) / weights.sum().clamp(min=1e-6) / scale**2

    def _initial_depth(self, keypoints, weights) -> float:
        """Distance from the camera that makes the seen landmarks' spread match (pinhole similar triangles)."""
        seen = torch.nonzero(weights > 0).squeeze(1)
        focal = float(self.camera.K[1, 1])
        if len(seen) >= 2:
            d2 = torch.cdist(self.targets.points[seen], self.targets.points[seen])
            d3 = torch.cdist(keypoints[seen][:, [0, 2]], keypoints[seen][:, [0, 2]])
            ok = d2 > 5
            if ok.any():
                return float(focal * torch.median(d3[ok] / d2[ok]))
        return float(focal * 1.7 / self.targets.box_h)

    def _initial_translation(self, keypoints, weights, depth, rotvec, pivot) -> torch.Tensor:
        rot = roma.rotvec_to_rotmat(rotvec)
        posed = (keypoints - pivot) @ rot.T + pivot
        w = weights / weights.sum().clamp(min=1e-6)
        target_px = (w[:, None] * self.targets.points).sum(0)
        body_centre = (w[:, None] * posed).sum(0)
        target_world = self.camera.backproject(target_px, torch.tensor(depth))
        return target_world - body_centre

    # -------------------------------------------------------------- stages 2 and 3
    def fit_body(self, params: BodyParams, steps: int, detail: bool, fit_shape: bool = True) -> tuple[BodyParams, dict]:
        """Stages 2 and 3 (module doc); ``fit_shape=False`` holds ``params.phenotypes`` (the video
        tracker's clip shape) and skinning reuses one rest state."""
        body, cfg = self.body, self.config
        free_list = self.free + (self.finger_bones if detail else [])
        free = torch.tensor(free_list)
        base = params.detach()
        free_rot = base.rotvecs[0, free].clone().requires_grad_(True)
        root_rot = base.rotvecs[0, body.bone_index("root")].clone().requires_grad_(True)
        trans = base.translation[0].clone().requires_grad_(True)
        shape_logit = torch.logit(base.phenotypes[0].clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
        facial = base.facial[0].clone().requires_grad_(True)
        depth = float(trans.detach().norm().clamp(min=0.3))
        # Adam moves every parameter by about its learning rate per step, and a chain of bones adds
        # up: the first pass travels far, the detail pass only refines.
        boost = 0.25 if detail else 1.0
        groups = [
            {"params": [free_rot], "lr": 0.04 * boost},
            {"params": [root_rot], "lr": 0.02 * boost},
            {"params": [trans], "lr": 0.008 * depth * boost},
        ]
        if fit_shape:
            groups.append({"params": [shape_logit], "lr": 0.08 * boost})
        use_face = detail and self.face_corr is not None and self.targets.face is not None
        use_sil = detail and self.targets.dist_outside is not None
        if use_face:
            groups.append({"params": [facial], "lr": 0.02})
        opt = torch.optim.Adam(groups)
        # Adam moves each parameter by about its learning rate per step: decay it so the fit settles
        decay = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_final_fraction ** (1.0 / max(steps, 1)))
        unseen_mask = torch.tensor([b in self.unseen for b in free_list])
        terms = {}
        rest = body.rest_state(torch.sigmoid(shape_logit.detach())[None])
        for step in range(steps):
            opt.zero_grad()
            current = self._assemble(base, free, free_rot, root_rot, trans, shape_logit, facial)
            if fit_shape and step % cfg.shape_every == 0:  # shape gradient on these steps only (the rest model is costly)
                rest = body.rest_state(current.phenotypes)
            if detail:  # the face, hand and silhouette terms read the whole mesh
                out = body.forward_from_rest(current, rest)
                keypoints = body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0]
                scale = cfg.robust_scale
            else:  # only the landmarks: no mesh skinned (uvatar/body/landmark_skinning.py)
                keypoints = body.landmark_skinning.points(current, rest)[0]
                # anneal geometrically from a wide basin to the robust scale
                scale = cfg.robust_scale_start * (cfg.robust_scale / cfg.robust_scale_start) ** (step / max(steps - 1, 1))
            terms = {"landmarks": self.landmark_loss(keypoints, scale)}
            if self.depth_pairs is not None:
                terms["depth_order"] = cfg.w_depth_order * self.depth_order_loss(keypoints)
            if use_face:
                terms["face"] = cfg.w_face * self.face_loss(out.vertices[0], scale)
                terms["facial_prior"] = cfg.w_facial_prior * current.facial.abs().sum()
            if detail and self.hands:
                terms["hands"] = cfg.w_hands * self.hand_loss(out.vertices[0], out.bone_poses, scale)
            if use_sil:
                terms["silhouette"] = cfg.w_silhouette * self.silhouette_loss(out.vertices[0], scale)
            terms.update(self.pose_priors(free_rot, unseen_mask, free_list))
            terms["shape_prior"] = cfg.w_shape_prior * (torch.sigmoid(shape_logit) - 0.5).pow(2).sum()
            loss = sum(terms.values())
            loss.backward()
            opt.step()
            decay.step()
            rest = RestState(rest.vertices.detach(), rest.bone_poses.detach())
            with torch.no_grad():
                facial.clamp_(0.0, 1.0)
        final = self._assemble(base, free, free_rot, root_rot, trans, shape_logit, facial).detach()
        return final, {f"loss_{k}": float(v.detach()) for k, v in terms.items()}

    @staticmethod
    def _assemble(base, free, free_rot, root_rot, trans, shape_logit, facial) -> BodyParams:
        rotvecs = base.rotvecs.clone()
        rotvecs[0, free] = free_rot
        rotvecs[0, 0] = root_rot
        return BodyParams(rotvecs, trans[None], torch.sigmoid(shape_logit)[None], facial[None])


def temporal_terms(values: torch.Tensor, history: list[torch.Tensor], w_velocity: float, w_acceleration: float) -> dict[str, torch.Tensor]:
    """Velocity and acceleration priors of one frame's parameters against the frames before it.

    Args:
        values: ``(..., D)`` this frame's parameters (e.g. ``(N, 3)`` rotation vectors).
        history: the same parameters of the previous frames, oldest first (0, 1 or 2 used).
    Returns:
        ``{"velocity": w_v |x_t - x_t-1|^2, "acceleration": w_a |x_t - 2 x_t-1 + x_t-2|^2}`` (sums),
        each present when enough history exists.
    """
    terms = {}
    if history:
        terms["velocity"] = w_velocity * (values - history[-1]).pow(2).sum()
    if len(history) >= 2:
        terms["acceleration"] = w_acceleration * (values - 2 * history[-1] + history[-2]).pow(2).sum()
    return terms


def fit_proxy(
    body: BodyModel,
    det: Detections,
    regime: str,
    lower_extent: str | None = None,
    config: FitConfig = FitConfig(),
) -> ProxyFit:
    """Fit the body to ``det`` for the framing ``regime`` ("head", "half", "full").

    Returns:
        :class:`ProxyFit` with parameters, camera, per-term residuals, confidence and timings.
    """
    threads = torch.get_num_threads()
    # the fit's tensors are small: one thread is as fast, and does not collapse when another
    # process holds the second core (measured: 2 threads slow down 10x under contention)
    torch.set_num_threads(1)
    try:
        return _fit_proxy(body, det, regime, lower_extent, config)
    finally:
        torch.set_num_threads(threads)


def _fit_proxy(body, det, regime, lower_extent, config) -> ProxyFit:
    timings = {}
    start = time.perf_counter()
    fitter = _Fitter(body, det, regime, config)
    params = body.default_params(1)
    params = fitter.fit_root(params)
    timings["fit_root_s"] = time.perf_counter() - start
    t = time.perf_counter()
    params, _ = fitter.fit_body(params, config.body_steps, detail=False)
    timings["fit_body_s"] = time.perf_counter() - t
    t = time.perf_counter()
    params, losses = fitter.fit_body(params, config.detail_steps, detail=True)
    timings["fit_detail_s"] = time.perf_counter() - t
    residuals = measure_residuals(body, det, params, fitter.camera, regime, fitter.face_corr)
    residuals.update(losses)
    warnings = list(det.warnings)
    if det.mask is None and regime in ("half", "full"):
        warnings.append("degraded: the detector gave no person mask; the fit ran without its silhouette term")
    confidence, low = _confidence(residuals, det)
    box_h = float(det.box[3] - det.box[1])
    if box_h < 128:
        warnings.append(f"the person is only {box_h:.0f} px tall; use a photo where they are at least 256 px tall")
    if low:
        warnings.append("low-confidence fit: small person, few landmarks or a large re-projection error; check overlay.png")
    timings["fit_total_s"] = time.perf_counter() - start
    return ProxyFit(
        regime=regime,
        params=params,
        camera=fitter.camera,
        lower_extent=lower_extent,
        residuals=residuals,
        confidence=confidence,
        low_confidence=low,
        warnings=warnings,
        timings={k: round(v, 4) for k, v in timings.items()},
        image_size=det.image_size,
    )


@torch.no_grad()
def measure_residuals(body, det: Detections, params: BodyParams, camera: Camera, regime: str, face_corr=None) -> dict:
    """Re-projection errors of visible landmarks, face error and mask IoU of a fit (plain numbers)."""
    out = body.forward(params)
    keypoints = body.keypoints.mediapipe33(out.vertices, out.bone_poses)[0]
    pixels, _ = camera.project(keypoints)
    box = det.box
    box_h = float(max(box[3] - box[1], 1.0))
    visible = (torch.as_tensor(det.body_visibility) > 0.5) & torch.as_tensor(det.body_in_frame)
    if regime != "full":
        visible[_LEGS] = False
    visible[_HAND_TIPS] = False
    errors = (pixels - torch.as_tensor(det.body)).norm(dim=-1)
    result = {"n_landmarks": int(visible.sum())}
    if visible.any():
        result["landmark_px"] = float(errors[visible].mean())
        result["landmark_rel_box"] = float(errors[visible].mean() / box_h)
    if det.face is not None and face_corr is not None:
        from uvatar.body.face_map import face_points

        face_px, _ = camera.project(face_points(out.vertices, body.faces, face_corr)[0])
        result["face_px"] = float((face_px - torch.as_tensor(det.face)).norm(dim=-1).mean())
    if det.mask is not None:
        from uvatar.render.mesh import rasterize_mesh

        raster = rasterize_mesh(out.vertices[0], body.faces, camera)
        fitted = (raster.face_index >= 0).numpy()
        person = det.mask > 0.5
        union = np.logical_or(fitted, person).sum()
        result["mask_iou"] = float(np.logical_and(fitted, person).sum() / max(union, 1))
    return result


def _confidence(residuals: dict, det: Detections) -> tuple[float, bool]:
    rel = residuals.get("landmark_rel_box", 1.0)
    n = residuals.get("n_landmarks", 0)
    box_h = float(det.box[3] - det.box[1])
    confidence = float(np.clip(1.0 - rel / 0.05, 0.0, 1.0) * min(1.0, n / 6) * min(1.0, box_h / 256))
    return round(confidence, 3), bool(confidence < 0.3 or box_h < 128)
