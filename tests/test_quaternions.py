"""uvatar.quaternions against roma, the library whose conversions it wraps or re-expresses."""

import math

import roma
import torch
from float_bounds import gamma

from uvatar.quaternions import rotmat_to_wxyz, wxyz_to_rotmat, xyzw_to_wxyz


def _rotations(n: int, seed: int = 0) -> torch.Tensor:
    """Random rotations plus the ones where Shepperd's candidates tie or one entry vanishes."""
    generator = torch.Generator().manual_seed(seed)
    random = roma.unitquat_to_rotmat(torch.nn.functional.normalize(torch.randn(n, 4, generator=generator), dim=-1))
    half = math.pi / 2
    special = roma.rotvec_to_rotmat(torch.tensor([
        [0.0, 0.0, 0.0], [math.pi, 0, 0], [0, math.pi, 0], [0, 0, math.pi], [half, 0, 0], [0, half, 0],
        [0, 0, half], [math.pi / math.sqrt(2), math.pi / math.sqrt(2), 0], [2.0, 2.0, 2.0], [-1e-8, 0, 0],
    ]))  # fmt: skip
    return torch.cat([random, special])


def test_rotmat_to_wxyz_is_roma_in_wxyz_order():
    rotations = _rotations(20000)
    ours = rotmat_to_wxyz(rotations)
    reference = xyzw_to_wxyz(roma.rotmat_to_unitquat(rotations))
    # same candidate vector, same sign: the entries differ only by the rounding of the norm's 4-term sum
    # (order W,X,Y,Z here, X,Y,Z,W in roma), the square root and the division: gamma(8) of a unit quaternion
    assert (ours - reference).abs().max() <= gamma(8)
    assert ((ours.norm(dim=-1) - 1).abs() <= gamma(8)).all()


def test_rotmat_to_wxyz_round_trips_and_keeps_batch_shape():
    rotations = _rotations(600).reshape(-1, 5, 3, 3)[:100]  # (100, 5, 3, 3)
    quats = rotmat_to_wxyz(rotations)
    assert quats.shape == (100, 5, 4)
    # a matrix entry from a unit quaternion (1 - 2(y^2 + z^2), 2(xy - zw), ...) sums terms of at most 2 in
    # magnitude with 4 roundings: gamma(4) * 2, once for the input (roma's) and once for the round trip;
    # the quaternion's own error (gamma(8) per entry, first test) moves an entry by at most 4 * gamma(8)
    assert (wxyz_to_rotmat(quats) - rotations).abs().max() <= 4 * gamma(4) + 4 * gamma(8)
    assert torch.equal(rotmat_to_wxyz(torch.eye(3)), torch.tensor([1.0, 0.0, 0.0, 0.0]))
