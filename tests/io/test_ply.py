"""3DGS .ply: exact layout (checked with plyfile), bit-exact round trips, clear errors for other PLYs."""

from __future__ import annotations

import numpy as np
import pytest
from float_bounds import U32, gamma
from plyfile import PlyData, PlyElement

from uvatar.errors import InputError
from uvatar.io.ply import (
    SH_C0,
    GaussianCloud,
    gaussian_ply_property_names,
    read_gaussian_ply,
    write_gaussian_ply,
)


def _cloud(n: int = 50, degree: int = 0, seed: int = 0) -> GaussianCloud:
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2
    sh = rng.normal(size=(n, k, 3)).astype(np.float32)
    return GaussianCloud.from_activated(
        means=rng.normal(size=(n, 3)),
        quats_wxyz=rng.normal(size=(n, 4)),
        scales=rng.uniform(1e-3, 0.1, size=(n, 3)),
        opacities=rng.uniform(0.01, 0.99, size=n),
        sh=sh,
    )


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_layout_read_by_plyfile(tmp_path, degree):
    cloud = _cloud(37, degree)
    p = write_gaussian_ply(tmp_path / "g.ply", cloud)
    ply = PlyData.read(str(p))
    assert not ply.text and ply.byte_order == "<"
    assert [e.name for e in ply.elements] == ["vertex"]
    v = ply["vertex"]
    names = [q.name for q in v.properties]
    n_rest = 3 * ((degree + 1) ** 2 - 1)
    expected = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    expected += [f"f_rest_{i}" for i in range(n_rest)]
    expected += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert names == expected == gaussian_ply_property_names(degree)
    assert all(q.val_dtype in ("f4", "float32") or np.dtype(q.val_dtype) == np.float32 for q in v.properties)
    assert v.count == 37
    # File size is exactly header + N * 4 bytes per property: nothing else is in the file.
    header_len = p.read_bytes().index(b"end_header\n") + len(b"end_header\n")
    assert p.stat().st_size == header_len + 37 * 4 * len(expected)
    # Values: positions, zero normals, DC, logit opacity, log scales, WXYZ quaternion.
    np.testing.assert_array_equal(v["x"], cloud.means[:, 0])
    for name in ("nx", "ny", "nz"):
        np.testing.assert_array_equal(v[name], 0)
    np.testing.assert_array_equal(v["f_dc_1"], cloud.sh[:, 0, 1])
    np.testing.assert_array_equal(v["opacity"], cloud.opacity_logits)
    np.testing.assert_array_equal(v["scale_2"], cloud.log_scales[:, 2])
    np.testing.assert_array_equal(v["rot_0"], cloud.quats_wxyz[:, 0])


def test_f_rest_is_channel_major(tmp_path):
    n, k = 4, 16
    sh = np.zeros((n, k, 3), np.float32)
    for coef in range(k):
        for ch in range(3):
            sh[:, coef, ch] = 100 * ch + coef
    cloud = GaussianCloud.from_activated(np.zeros((n, 3)), np.tile([1, 0, 0, 0], (n, 1)), np.ones((n, 3)), np.full(n, 0.5), sh)
    v = PlyData.read(str(write_gaussian_ply(tmp_path / "g.ply", cloud)))["vertex"]
    for ch in range(3):
        for coef in range(1, k):
            j = ch * (k - 1) + (coef - 1)  # all R coefficients, then G, then B
            np.testing.assert_array_equal(v[f"f_rest_{j}"], 100 * ch + coef)


@pytest.mark.parametrize("degree", [0, 3])
def test_write_read_write_is_byte_identical(tmp_path, degree):
    cloud = _cloud(200, degree, seed=degree)
    a = write_gaussian_ply(tmp_path / "a.ply", cloud)
    back = read_gaussian_ply(a)
    for field in ("means", "quats_wxyz", "log_scales", "opacity_logits", "sh"):
        np.testing.assert_array_equal(_bits(getattr(back, field)), _bits(getattr(cloud, field)), err_msg=field)
    b = write_gaussian_ply(tmp_path / "b.ply", back)
    assert a.read_bytes() == b.read_bytes()
    assert back.sh_degree == degree and len(back) == 200


def test_raw_values_survive_even_when_unnormalised(tmp_path):
    """Files from other tools hold unnormalised quaternions and odd logits; they are kept bit for bit."""
    rng = np.random.default_rng(5)
    raw = GaussianCloud(
        means=rng.normal(size=(30, 3)),
        quats_wxyz=rng.normal(size=(30, 4)) * 3,
        log_scales=rng.normal(size=(30, 3)) - 4,
        opacity_logits=rng.normal(size=30) * 10,
        sh=rng.normal(size=(30, 4, 3)),
    )
    back = read_gaussian_ply(write_gaussian_ply(tmp_path / "g.ply", raw))
    np.testing.assert_array_equal(_bits(back.quats_wxyz), _bits(raw.quats_wxyz))
    np.testing.assert_array_equal(_bits(back.opacity_logits), _bits(raw.opacity_logits))


def test_activated_values_and_colors(tmp_path):
    rng = np.random.default_rng(1)
    n = 64
    colors = rng.uniform(0, 1, size=(n, 3))
    scales = rng.uniform(0.001, 0.2, size=(n, 3))
    opac = rng.uniform(0.05, 0.95, size=n)
    quats = rng.normal(size=(n, 4))
    cloud = GaussianCloud.from_colors(rng.normal(size=(n, 3)), quats, scales, opac, colors, sh_degree=2)
    assert cloud.sh.shape == (n, 9, 3) and cloud.sh_degree == 2
    np.testing.assert_array_equal(cloud.sh[:, 1:], 0)
    # float32 storage: colours rounded (u), minus 0.5 and / C0 in float32 (u each, on |sh| <= 1.8): the DC
    # term is within (1.5 u) / C0 + 2 u 1.8 of the float64 value (was rtol and atol 1e-6)
    dc_tol = 1.5 * U32 / SH_C0 + 2 * U32 * 1.8
    np.testing.assert_allclose(cloud.sh[:, 0], (colors - 0.5) / SH_C0, rtol=0, atol=dc_tol)
    # back to colours: sh C0 + 0.5 in float32 (2 roundings on values <= 1) (was atol 1e-6)
    colour_tol = dc_tol * SH_C0 + gamma(2)
    np.testing.assert_allclose(cloud.colors, colors, rtol=0, atol=colour_tol)
    # exp(log(s)) in float32 through numpy's SIMD kernels (<= 4 ulp each): log's error is relative to
    # |log s| <= 7, and exp turns it into a relative error of s (was rtol 1e-6)
    log_max = float(np.abs(np.log(scales)).max())
    np.testing.assert_allclose(cloud.scales, scales, rtol=U32 + 8 * U32 * log_max + 8 * U32, atol=0)
    # opacity: float64 logit stored as float32 (u |logit|), sigmoid in float64, stored (u): the sigmoid's
    # slope o (1 - o) <= 1/4 (was atol 1e-6)
    logit_max = float(np.abs(np.log(opac / (1 - opac))).max())
    np.testing.assert_allclose(cloud.opacities, opac, rtol=0, atol=U32 * (1 + logit_max / 4) + U32)
    # normalised in float64, stored in float32 (u per component); numpy's float32 norm here (gamma(4))
    np.testing.assert_allclose(np.linalg.norm(cloud.quats_wxyz, axis=1), 1, rtol=0, atol=U32 + gamma(4))
    expected = quats / np.linalg.norm(quats, axis=1, keepdims=True) * np.sign(quats[:, :1])
    np.testing.assert_allclose(cloud.quats_wxyz * np.sign(quats[:, :1]), expected, rtol=0, atol=2 * U32)
    back = read_gaussian_ply(write_gaussian_ply(tmp_path / "c.ply", cloud))
    np.testing.assert_allclose(back.colors, colors, rtol=0, atol=colour_tol)  # the file is bit-exact float32
    # The file's f_dc is (rgb - 0.5) / C0 (was atol 1e-5)
    v = PlyData.read(str(tmp_path / "c.ply"))["vertex"]
    np.testing.assert_allclose(v["f_dc_2"], (colors[:, 2] - 0.5) / SH_C0, rtol=0, atol=dc_tol)


def test_colors_property_clips():
    sh = np.zeros((2, 1, 3), np.float32)
    sh[0, 0] = 10.0
    sh[1, 0] = -10.0
    c = GaussianCloud.from_activated(np.zeros((2, 3)), np.tile([1, 0, 0, 0], (2, 1)), np.ones((2, 3)), [0.5, 0.5], sh)
    np.testing.assert_array_equal(c.colors, [[1, 1, 1], [0, 0, 0]])


def test_empty_cloud_round_trips(tmp_path):
    cloud = _cloud(0, 1)
    back = read_gaussian_ply(write_gaussian_ply(tmp_path / "e.ply", cloud))
    assert len(back) == 0 and back.sh.shape == (0, 4, 3)


def test_ascii_and_big_endian_files_are_read(tmp_path):
    cloud = _cloud(20, 1)
    binary = PlyData.read(str(write_gaussian_ply(tmp_path / "g.ply", cloud)))
    for name, kwargs in (("ascii.ply", {"text": True}), ("be.ply", {"byte_order": ">"})):
        PlyData([PlyElement.describe(binary["vertex"].data, "vertex")], **kwargs).write(str(tmp_path / name))
        back = read_gaussian_ply(tmp_path / name)
        # plyfile writes text with '%.18g' (a float32 round-trips from 9 digits) and big-endian bytes as
        # they are: both exact (was rtol 1e-6)
        np.testing.assert_array_equal(back.sh, cloud.sh)
        np.testing.assert_array_equal(back.means, cloud.means)


def test_validation_of_shapes():
    n = 3
    ok = dict(means=np.zeros((n, 3)), quats_wxyz=np.tile([1, 0, 0, 0], (n, 1)), log_scales=np.zeros((n, 3)),
              opacity_logits=np.zeros(n), sh=np.zeros((n, 1, 3)))
    GaussianCloud(**ok)
    for field, bad in (("means", np.zeros((n, 2))), ("quats_wxyz", np.zeros((n, 3))), ("log_scales", np.zeros((n + 1, 3))),
                       ("opacity_logits", np.zeros((n, 1))), ("sh", np.zeros((n, 2, 3))), ("sh", np.zeros((n, 4)))):
        with pytest.raises(InputError, match=field):
            GaussianCloud(**{**ok, field: bad})
    with pytest.raises(InputError, match="scales"):
        GaussianCloud.from_activated(ok["means"], ok["quats_wxyz"], np.zeros((n, 3)), np.full(n, 0.5), ok["sh"])
    with pytest.raises(InputError, match="zero quaternion"):
        GaussianCloud.from_activated(ok["means"], np.zeros((n, 4)), np.ones((n, 3)), np.full(n, 0.5), ok["sh"])


def test_write_is_atomic(tmp_path):
    with pytest.raises(InputError):
        write_gaussian_ply(tmp_path / "x.ply", "not a cloud")
    assert list(tmp_path.iterdir()) == []


def test_not_a_ply(tmp_path):
    p = tmp_path / "x.ply"
    p.write_text("hello, I am a text file\n")
    with pytest.raises(InputError, match="not a PLY"):
        read_gaussian_ply(p)
    with pytest.raises(InputError, match="no such file"):
        read_gaussian_ply(tmp_path / "missing.ply")


def test_broken_ply_header(tmp_path):
    p = tmp_path / "x.ply"
    p.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nproperty floot x\nend_header\n")
    with pytest.raises(InputError, match="not a readable PLY"):
        read_gaussian_ply(p)


def test_truncated_ply(tmp_path):
    data = write_gaussian_ply(tmp_path / "g.ply", _cloud(100, 0)).read_bytes()
    (tmp_path / "cut.ply").write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError):
        read_gaussian_ply(tmp_path / "cut.ply")


def test_mesh_ply_is_refused(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    p = tmp_path / "box.ply"
    trimesh.creation.box().export(p)
    with pytest.raises(InputError, match="mesh"):
        read_gaussian_ply(p)


def test_point_cloud_ply_is_refused(tmp_path):
    pts = np.zeros(5, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    PlyData([PlyElement.describe(pts, "vertex")]).write(str(tmp_path / "pc.ply"))
    with pytest.raises(InputError, match="f_dc_0"):
        read_gaussian_ply(tmp_path / "pc.ply")


def test_wrong_f_rest_count_is_refused(tmp_path):
    names = gaussian_ply_property_names(0)
    names = names[:9] + ["f_rest_0", "f_rest_1", "f_rest_2", "f_rest_3"] + names[9:]
    arr = np.zeros(3, dtype=[(n, "f4") for n in names])
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(tmp_path / "odd.ply"))
    with pytest.raises(InputError, match="f_rest"):
        read_gaussian_ply(tmp_path / "odd.ply")


def test_compressed_supersplat_ply_is_refused(tmp_path):
    chunk = np.zeros(1, dtype=[("min_x", "f4")])
    vertex = np.zeros(3, dtype=[("packed_position", "u4"), ("packed_rotation", "u4")])
    PlyData([PlyElement.describe(chunk, "chunk"), PlyElement.describe(vertex, "vertex")]).write(str(tmp_path / "c.ply"))
    with pytest.raises(InputError, match="compressed"):
        read_gaussian_ply(tmp_path / "c.ply")
