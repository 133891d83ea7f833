import torch
from avatar_samples import small_avatar

from uvatar.animate.pose import GaussianPoser


def test_fast_poser_matches_avatar_on_vertices(body):
    avatar = small_avatar(body)
    params = avatar.params(body)
    torch.manual_seed(3)
    params.rotvecs = torch.randn(1, body.n_bones, 3) * 0.4
    params.translation = torch.tensor([[0.1, -0.2, 0.3]])
    with torch.no_grad():
        vertices = body.forward(params).vertices[0]
        reference = avatar.on_vertices(vertices, body.faces)
    poser = GaussianPoser(avatar, body.faces, drop_invisible=False)
    fast = poser(vertices)
    order = poser.order
    assert sorted(order.tolist()) == list(range(len(avatar)))
    assert torch.allclose(fast.means, reference.means[order], atol=1e-6)
    same_sign = (fast.quats_wxyz - reference.quats_wxyz[order]).abs().amax(-1)
    flipped = (fast.quats_wxyz + reference.quats_wxyz[order]).abs().amax(-1)
    assert torch.minimum(same_sign, flipped).max() < 1e-5
    for name in ("scales", "opacities", "colors"):
        assert torch.equal(getattr(fast, name), getattr(reference, name)[order])


def test_poser_drops_invisible_gaussians(body):
    avatar = small_avatar(body)
    poser = GaussianPoser(avatar, body.faces)
    assert len(poser) == len(avatar) - 10
    assert (poser.opacities >= 1 / 255).all()
