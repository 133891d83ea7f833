import pytest
import torch
from avatar_samples import small_avatar
from float_bounds import gamma

from uvatar.animate.pose import GaussianPoser


@pytest.mark.parametrize("path", ["compiled", "torch"])  # the CPU default (numba) and its torch twin
def test_fast_poser_matches_avatar_on_vertices(body, path):
    avatar = small_avatar(body)
    params = avatar.params(body)
    torch.manual_seed(3)
    params.rotvecs = torch.randn(1, body.n_bones, 3) * 0.4
    params.translation = torch.tensor([[0.1, -0.2, 0.3]])
    with torch.no_grad():
        vertices = body.forward(params).vertices[0]
        reference = avatar.on_vertices(vertices, body.faces)
    poser = GaussianPoser(avatar, body.faces, drop_invisible=False)
    fast = poser(vertices) if path == "compiled" else poser.pose_torch(vertices)
    order = poser.order
    assert sorted(order.tolist()) == list(range(len(avatar)))
    # Means: sum_k b_k v_k + F offset, as 3 + 3 products summed in one order (reference: gamma(4)) or as a
    # 6-term dot product (gamma(6)), on |v|max + |offset|max (was atol 1e-6).
    magnitude = float(vertices.abs().max()) + float(avatar.offsets.abs().max())
    assert torch.allclose(fast.means, reference.means[order], rtol=0, atol=(gamma(4) + gamma(6)) * magnitude)
    # Quaternions: the reference converts F R(q) to a quaternion, the fast path multiplies F's quaternion by
    # q: each conversion is absolute-accurate to gamma(8) and a product adds gamma(4), but they agree only as
    # far as the face frame F is orthogonal: gamma(6) (1 + |e1| |e2| / |e1 x e2|) per face (per-Gaussian
    # bound; was 1e-5 for all)
    corners = vertices[body.faces[avatar.face_index[order]]].double()
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    cond = e1.norm(dim=-1) * e2.norm(dim=-1) / torch.linalg.cross(e1, e2).norm(dim=-1)
    tol = 2 * gamma(16) + 2 * gamma(6) * (1 + cond)
    same_sign = (fast.quats_wxyz - reference.quats_wxyz[order]).abs().amax(-1)
    flipped = (fast.quats_wxyz + reference.quats_wxyz[order]).abs().amax(-1)
    assert (torch.minimum(same_sign, flipped).double() <= tol).all()
    for name in ("scales", "opacities", "colors"):
        assert torch.equal(getattr(fast, name), getattr(reference, name)[order])


def test_poser_drops_invisible_gaussians(body):
    avatar = small_avatar(body)
    poser = GaussianPoser(avatar, body.faces)
    assert len(poser) == len(avatar) - 10
    assert (poser.opacities >= 1 / 255).all()
