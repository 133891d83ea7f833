"""``LandmarkSkinning``: the MediaPipe-33 points of a pose without skinning the mesh equal the full
forward pass's within float32 rounding of the reordered sums, and their gradient reaches the shape."""

import torch


def _posed(body, facial_scale: float):
    generator = torch.Generator().manual_seed(3)
    params = body.default_params(1)
    params.phenotypes = torch.rand(1, 6, generator=generator)
    params.rotvecs = 0.3 * torch.randn(params.rotvecs.shape, generator=generator)
    params.translation = torch.tensor([[0.1, 3.0, 0.2]])
    params.facial = facial_scale * torch.rand(1, 52, generator=generator)
    return params


def test_points_match_the_full_forward_pass(body):
    for facial_scale in (0.0, 0.5):  # the zero-facial shortcut and the facial basis path
        params = _posed(body, facial_scale)
        rest = body.rest_state(params.phenotypes)
        ours = body.landmark_skinning.points(params, rest)[0].double()
        full = body.forward_from_rest(params, rest)
        theirs = body.keypoints.mediapipe33(full.vertices, full.bone_poses)[0].double()
        # Both are float32 sums of the same products in different orders: the full pass sums <= 9 bones per
        # vertex then <= 8.8K vertices per keypoint; ours <= 104 bones x 4 coordinates of a table whose
        # entries are themselves 8.8K-term sums. Each is within gamma_n * sum|terms| of the exact value,
        # n <= 8.8K + 420, and sum|terms| <= max|W row| 1-norm x max |T x_h| (< 4 m for this body 3 m away):
        # gamma_n ~ 5.5e-4 makes 5e-3 m a bound for both together; measured ~5e-6 m.
        u = 2.0**-24
        n = len(body.landmark_skinning.support) + 4 * body.n_bones + 10
        gamma = n * u / (1 - n * u)
        magnitude = float(body.keypoints.coco_weights.abs().sum(1).max()) * 4.0
        assert float((ours - theirs).abs().max()) <= 2 * gamma * magnitude


def test_the_shape_gradient_flows_through_the_rest_vertices(body):
    params = _posed(body, 0.0)
    grads = []
    for use_table in (True, False):
        shape = params.phenotypes.clone().requires_grad_(True)
        rest = body.rest_state(shape)
        if use_table:
            points = body.landmark_skinning.points(params, rest)
        else:
            out = body.forward_from_rest(params, rest)
            points = body.keypoints.mediapipe33(out.vertices, out.bone_poses)
        points.pow(2).sum().backward()
        grads.append(shape.grad)
    assert float(grads[0].abs().max()) > 0.1
    # the backward sums the same products in other orders: within 2 gamma_n of their magnitudes, gamma_n ~
    # 5.5e-4 for the ~9.2K-term sums (above); 1e-3 of the largest component covers that (measured 3e-7)
    scale = float(grads[1].abs().max())
    torch.testing.assert_close(grads[0], grads[1], rtol=0.0, atol=1e-3 * scale)
