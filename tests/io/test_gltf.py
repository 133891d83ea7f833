"""The small glTF 2.0 binary writer and reader."""


import numpy as np
import pytest
from float_bounds import U64, gamma

from uvatar.errors import InputError
from uvatar.io.gltf import (
    GltfMesh,
    GltfSkin,
    accessor_array,
    glb_bytes,
    node_world_matrices,
    parse_glb,
    write_glb,
)


def _two_joint_mesh():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 2, 0]], dtype=np.float32)
    mesh = GltfMesh(
        positions=positions,
        indices=np.array([[0, 1, 2], [1, 3, 2]]),
        normals=np.tile([[0, 0, 1.0]], (4, 1)),
        texcoords=np.array([[0, 1], [1, 1], [0, 0], [1, 0]], dtype=np.float32),
        joints=np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]),
        weights=np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0.5, 0.5, 0, 0], [1, 0, 0, 0]], dtype=np.float32),
    )
    ibm = np.stack([np.eye(4), np.eye(4)])
    ibm[1, 1, 3] = -1.0  # joint 1 sits at y = 1
    skin = GltfSkin(["root", "child"], [-1, 0], np.array([[0, 0, 0], [0, 1.0, 0]]), np.array([[0, 0, 0, 1.0]] * 2), ibm)
    return mesh, skin


def test_round_trip_and_layout():
    mesh, skin = _two_joint_mesh()
    data = glb_bytes(mesh, skin)
    assert data[:4] == b"glTF" and len(data) % 4 == 0
    doc, blob = parse_glb(data)
    prim = doc["meshes"][0]["primitives"][0]
    assert np.array_equal(accessor_array(doc, blob, prim["attributes"]["POSITION"]), mesh.positions)
    assert np.array_equal(accessor_array(doc, blob, prim["indices"]).reshape(-1, 3), mesh.indices)
    assert doc["accessors"][prim["attributes"]["POSITION"]]["max"] == [1.0, 2.0, 0.0]
    assert all(view["byteOffset"] % 4 == 0 for view in doc["bufferViews"])
    ibm = accessor_array(doc, blob, doc["skins"][0]["inverseBindMatrices"])
    assert np.array_equal(ibm, skin.inverse_bind_matrices)  # column-major storage undone
    world = node_world_matrices(doc)
    joints = doc["skins"][0]["joints"]
    # identity rotations and whole-number translations: float64 TRS composition and the 4x4 products round
    # by a few u (was the default allclose)
    assert np.allclose(world[joints] @ ibm, np.eye(4), rtol=0, atol=gamma(8, U64))
    assert doc["nodes"][joints[0]]["children"] == [joints[1]]
    assert doc["scenes"][0]["nodes"] == [0, joints[0]] and doc["nodes"][0]["skin"] == 0


def test_node_world_matrices_compose_trs():
    doc = {"nodes": [
        {"children": [1], "translation": [1, 0, 0], "rotation": [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)]},
        {"translation": [1, 0, 0], "scale": [2, 2, 2]},
    ]}  # fmt: skip
    world = node_world_matrices(doc)
    # child origin: parent rotates +90 deg about Z, so the child's +X offset points along +Y
    # float64: the quaternion's sin/cos (1 ulp), its rotation matrix (1 - 2 (y^2 + z^2) ...: gamma(4)) and two
    # 4x4 products (gamma(4) each) on magnitudes <= 2 (was the default allclose)
    tol = 2 * gamma(16, U64)
    assert np.allclose(world[1][:3, 3], [1, 1, 0], rtol=0, atol=tol) and np.allclose(world[1][:3, 0], [0, 2, 0], rtol=0, atol=tol)


def test_bad_meshes_are_refused():
    mesh, skin = _two_joint_mesh()
    mesh.indices = np.array([[0, 1, 9]])
    with pytest.raises(InputError, match="indices"):
        glb_bytes(mesh, skin)
    mesh, skin = _two_joint_mesh()
    mesh.positions[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        glb_bytes(mesh, skin)
    mesh, skin = _two_joint_mesh()
    with pytest.raises(InputError, match="come together"):
        glb_bytes(mesh)
    mesh.joints = np.full((4, 4), 5)
    with pytest.raises(InputError, match="joint indices"):
        glb_bytes(mesh, skin)


def test_foreign_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="not a glTF"):
        parse_glb(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(InputError, match="no file"):
        from uvatar.io.gltf import read_glb

        read_glb(tmp_path / "missing.glb")
    mesh, skin = _two_joint_mesh()
    with pytest.raises(InputError, match="truncated"):
        parse_glb(glb_bytes(mesh, skin)[:-8])


def test_write_is_atomic_and_valid(tmp_path):
    from gltf_validator_helper import validate_glb

    mesh, skin = _two_joint_mesh()
    path = write_glb(tmp_path / "two.glb", mesh, skin)
    assert [p.name for p in tmp_path.iterdir()] == ["two.glb"]
    report = validate_glb(path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]


def test_validator_catches_a_broken_file(tmp_path):
    """The validator check above can fail: weights that do not sum to 1 are errors."""
    from gltf_validator_helper import validate_glb

    mesh, skin = _two_joint_mesh()
    mesh.weights = mesh.weights * 0.7
    report = validate_glb(write_glb(tmp_path / "bad.glb", mesh, skin))
    codes = {message["code"] for message in report["issues"]["messages"]}
    assert report["issues"]["numErrors"] > 0 and "ACCESSOR_WEIGHTS_NON_NORMALIZED" in codes
