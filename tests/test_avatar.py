import pytest
import torch

from body_helpers import random_params
from uvatar.avatar import Avatar
from uvatar.errors import InputError


def _avatar(body, n=500, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bary = torch.rand(n, 3, generator=gen)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=gen), dim=-1)
    return Avatar(
        face_index=torch.randint(0, len(body.faces), (n,), generator=gen),
        barycentrics=bary / bary.sum(-1, keepdim=True),
        offsets=torch.randn(n, 3, generator=gen) * 0.01,
        rotations_wxyz=quats,
        scales=torch.rand(n, 3, generator=gen) * 0.01 + 1e-3,
        colors=torch.rand(n, 3, generator=gen),
        opacities=torch.rand(n, generator=gen),
        layer=torch.zeros(n, dtype=torch.uint8),
        phenotypes=torch.full((6,), 0.5),
        facial=torch.zeros(52),
        meta={"test": True},
    )


def test_pose_to_rest_and_back_matches(body):
    avatar = _avatar(body)
    params = random_params(body, 1, seed=3)
    rest = avatar.pose(body)
    posed = avatar.pose(body, params)
    again = avatar.pose(body)
    assert (rest.means - again.means).abs().max() < 1e-4
    assert (rest.means - posed.means).norm(dim=-1).mean() > 0.05  # the pose did move them
    # rotations stay unit quaternions and scales are untouched
    assert torch.allclose(posed.quats_wxyz.norm(dim=-1), torch.ones(len(avatar)), atol=1e-5)
    assert torch.equal(posed.scales, avatar.scales)


def test_bundle_round_trip(tmp_path, body):
    avatar = _avatar(body)
    avatar.save(tmp_path / "a.uvatar")
    again = Avatar.load(tmp_path / "a.uvatar")
    for name in ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer"):
        assert torch.equal(getattr(again, name), getattr(avatar, name))
    assert again.meta == {"test": True}


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "x.uvatar").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(InputError, match="not a UVatar avatar"):
        Avatar.load(tmp_path / "x.uvatar")
    with pytest.raises(InputError, match="no avatar"):
        Avatar.load(tmp_path / "missing.uvatar")


def test_export_ply_readable(tmp_path, body):
    from uvatar.io.ply import read_gaussian_ply

    avatar = _avatar(body)
    avatar.export_ply(tmp_path / "a.ply", body)
    cloud = read_gaussian_ply(tmp_path / "a.ply")
    assert len(cloud) == len(avatar)
    assert torch.allclose(torch.as_tensor(cloud.colors), avatar.colors, atol=1e-5)
