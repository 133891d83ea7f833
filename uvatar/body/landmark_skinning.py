"""MediaPipe's 33 body points of a posed body without skinning the whole mesh.

Each of Anny's 23 COCO keypoints is a fixed blend of vertices (``BodyKeypoints.coco_weights``, 8.8K
vertices in all) and linear blend skinning is linear in the bone transforms, so

    coco_k = Σ_j T_j · Σ_v W_kv w_vj [x_v; 1]  (+ the translation, weighted by Σ_v W_kv)

for bone transforms ``T_j`` (3 x 4), regressor ``W``, skinning weights ``w`` and rest vertices ``x``.
The table ``W_kv w_vj`` has 39K non-zeros (23 keypoints x 104 bones x 8.8K vertices mostly zero): a
sparse product with the rest vertices, which stays differentiable in them (the photo fit's shape
gradient), replaces skinning 13.7K vertices. The other sources of the 33 points (eye corners, mouth
corners) read a dozen vertices, skinned directly. :meth:`LandmarkSkinning.points` equals
``keypoints.mediapipe33(forward_from_rest(...))`` up to float32 rounding of the reordered sums (tested
against the full pass with a derived bound).

The video tracker holds one shape for a whole clip and optimises the facial actions too, so it
contracts the same table further, with that shape's rest vertices and the facial basis, once per clip
(``uvatar/track/video.py``, ``_contract_coco``: 23 x bones x 4 dense numbers, no per-step product);
this module serves fits whose shape changes (the photo fit's body stage).
"""

from __future__ import annotations

import warnings

import roma
import torch

__all__ = ["LandmarkSkinning"]


class LandmarkSkinning:
    """Posed MediaPipe body points from bone transforms and rest vertices (module doc), for one body model."""

    def __init__(self, body) -> None:
        self.body = body
        keypoints = body.keypoints
        regressor = keypoints.coco_weights  # (K, V)
        self.support = torch.nonzero(regressor.abs().sum(0) > 0)[:, 0]  # (S,)
        skin = body.skinning_weight_matrix[self.support]  # (S, J)
        n_k, n_j = regressor.shape[0], skin.shape[1]
        rows, cols, values = [], [], []
        for k in range(n_k):  # keypoint k's vertices, each with its few bones
            s = torch.nonzero(regressor[k, self.support])[:, 0]
            v, j = torch.nonzero(skin[s], as_tuple=True)
            rows.append(k * n_j + j)
            cols.append(s[v])
            values.append(regressor[k, self.support[s[v]]] * skin[s[v], j])
        with warnings.catch_warnings():  # torch calls CSR "beta"; its product and gradient are what we use
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            self.table = torch.sparse_coo_tensor(
                torch.stack([torch.cat(rows), torch.cat(cols)]), torch.cat(values), (n_k * n_j, len(self.support)),
                check_invariants=True,
            ).coalesce().to_sparse_csr()  # (K * J, S), 39K non-zeros; CSR: 2.8 against 6.9 ms a step with COO
        self.n_k, self.n_j = n_k, n_j
        self.row_sums = regressor.sum(1)  # (K,): the translation's share
        gather = keypoints._mediapipe33_gather
        self.few = torch.unique(torch.cat([gather["vertex"], gather["face_corners"].reshape(-1)]))  # (F,)
        self.few_weights = body.skinning_weight_matrix[self.few]  # (F, J)

    def points(self, params, rest) -> torch.Tensor:
        """``(B, 33, 3)`` MediaPipe body points of ``params`` posed from the :class:`RestState` ``rest``
        (its vertices may carry a gradient, e.g. to the shape); ``params.facial`` is applied through the
        body's facial basis, as :meth:`BodyModel.forward_from_rest` does."""
        from uvatar.body.skinning import linear_blend_skinning_dense

        body = self.body
        batch = params.batch_size
        delta = torch.eye(4, device=body.device).repeat(batch, body.n_bones, 1, 1)
        delta[..., :3, :3] = roma.rotvec_to_rotmat(params.rotvecs)
        transforms, bone_poses = body._anny.get_bone_transforms(delta, rest.bone_poses.expand(batch, -1, -1, -1))
        rest_vertices = rest.vertices.expand(batch, -1, -1)
        shift = params.translation[:, None, :]
        # the COCO keypoints through the sparse table
        x = rest_vertices[:, self.support]
        if bool(params.facial.detach().any()):  # zero facial actions add nothing (the photo fit's body stage)
            x = x + torch.einsum("bf,fsd->bsd", params.facial, body.facial_basis[:, self.support])
        x_h = torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)  # (B, S, 4)
        tables = torch.stack([torch.sparse.mm(self.table, x_h[b]) for b in range(batch)])  # (B, K * J, 4)
        tables = tables.reshape(batch, self.n_k, self.n_j, 4)
        coco = torch.einsum("bkjc,bjrc->bkr", tables, transforms[..., :3, :]) + shift * self.row_sums[None, :, None]
        # the few vertices of the eye and mouth points
        few_rest = rest_vertices[:, self.few] + torch.einsum("bf,fvd->bvd", params.facial, body.facial_basis[:, self.few])
        few = linear_blend_skinning_dense(few_rest, self.few_weights, transforms) + shift
        vertices = torch.zeros(batch, rest.vertices.shape[1], 3, dtype=few.dtype, device=few.device).index_copy(1, self.few, few)
        bone_poses = bone_poses.clone()
        bone_poses[..., :3, 3] = bone_poses[..., :3, 3] + shift
        return body.keypoints.mediapipe33(vertices, bone_poses, coco=coco)
