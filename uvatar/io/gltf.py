"""A small glTF 2.0 binary (.glb) writer and reader for one skinned, textured triangle mesh.

Only numpy, json and struct: enough for what UVatar exports (one mesh, one skin, one base-colour
texture) and for reading such files back in tests and tools. The writer follows the glTF 2.0 spec:

- all numbers little endian; one buffer (the GLB ``BIN`` chunk); every buffer view 4-byte aligned;
- matrices are stored column-major (the spec's order): a numpy ``(4, 4)`` matrix ``M`` acting on
  column vectors is written as ``M.T.ravel()``;
- ``TEXCOORD_0`` has its origin at the top-left of the image (``v`` down), unlike OBJ's ``v`` up;
- a skinned mesh's node is a root node without a transform (its pose comes from the joints); the
  joints carry translation + rotation (XYZW quaternion) local transforms, and the skin's inverse
  bind matrices map mesh space to each joint's space in the bind pose, so that a vertex is skinned as
  ``sum_k w_k * world(joint_k) @ inverseBind(joint_k) @ v``.

>>> import numpy as np
>>> mesh = GltfMesh(positions=np.eye(3, dtype=np.float32), indices=np.array([[0, 1, 2]]))
>>> doc, _ = parse_glb(glb_bytes(mesh))
>>> doc["asset"]["version"], doc["accessors"][0]["count"]
('2.0', 3)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_write_bytes

__all__ = ["GltfMesh", "GltfSkin", "glb_bytes", "write_glb", "parse_glb", "read_glb", "accessor_array", "node_world_matrices"]

_GLB_MAGIC = 0x46546C67  # b"glTF"
_CHUNK_JSON = 0x4E4F534A  # b"JSON"
_CHUNK_BIN = 0x004E4942  # b"BIN\0"
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_COMPONENT = {np.dtype(np.int8): 5120, np.dtype(np.uint8): 5121, np.dtype(np.int16): 5122,
              np.dtype(np.uint16): 5123, np.dtype(np.uint32): 5125, np.dtype(np.float32): 5126}  # fmt: skip
_COMPONENT_DTYPE = {code: dtype for dtype, code in _COMPONENT.items()}
_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_TYPE_SIZE = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


@dataclass
class GltfSkin:
    """A skeleton: joints as a forest of nodes with rigid local transforms.

    Attributes:
        names: ``J`` joint names.
        parents: ``J`` parent joint indices, -1 for roots; a parent comes before its children.
        translations: ``(J, 3)`` local translations (metres, in the parent joint's frame).
        rotations_xyzw: ``(J, 4)`` local rotations as unit quaternions, glTF's X, Y, Z, W order.
        inverse_bind_matrices: ``(J, 4, 4)`` mesh-space-to-joint-space matrices in the bind pose
            (column-vector convention, last row ``0 0 0 1``).
    """

    names: list[str]
    parents: list[int]
    translations: np.ndarray
    rotations_xyzw: np.ndarray
    inverse_bind_matrices: np.ndarray


@dataclass
class GltfMesh:
    """One triangle mesh with optional normals, UVs, skin weights and base-colour texture.

    Attributes:
        positions: ``(N, 3)`` float32 vertex positions (glTF space: metres, Y up, front +Z).
        indices: ``(F, 3)`` triangle vertex indices, counter-clockwise seen from the front.
        normals: ``(N, 3)`` unit normals or None.
        texcoords: ``(N, 2)`` UVs with the origin at the top-left of the texture, or None.
        joints: ``(N, 4)`` joint indices into :attr:`GltfSkin.names` (uint8 or uint16) or None.
        weights: ``(N, 4)`` float32 skin weights summing to 1 per vertex, or None.
        base_color_png: PNG bytes of the base-colour texture (sRGB), or None.
        name: mesh and node name.
        extras: JSON-able dict stored as the asset's ``extras``.
    """

    positions: np.ndarray
    indices: np.ndarray
    normals: np.ndarray | None = None
    texcoords: np.ndarray | None = None
    joints: np.ndarray | None = None
    weights: np.ndarray | None = None
    base_color_png: bytes | None = None
    name: str = "mesh"
    extras: dict = field(default_factory=dict)


class _Builder:
    """Accumulates buffer views and accessors into one binary buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        self.blob += b"\0" * (-len(self.blob) % 4)
        entry = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            entry["target"] = target
        self.blob += data
        self.views.append(entry)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, target: int | None = None, kind: str | None = None, min_max: bool = False) -> int:
        array = np.ascontiguousarray(array)
        count = array.shape[0]
        width = int(np.prod(array.shape[1:])) if array.ndim > 1 else 1
        entry = {
            "bufferView": self.view(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(), target),
            "componentType": _COMPONENT[array.dtype],
            "count": int(count),
            "type": kind or _TYPE[width],
        }
        if min_max:
            flat = array.reshape(count, width)
            entry["min"] = [_json_number(x) for x in flat.min(0)]
            entry["max"] = [_json_number(x) for x in flat.max(0)]
        self.accessors.append(entry)
        return len(self.accessors) - 1


def _json_number(x):
    return int(x) if np.issubdtype(type(x), np.integer) else float(x)


def _check(name: str, array, shape: tuple, dtype=None) -> np.ndarray:
    array = np.asarray(array) if dtype is None else np.asarray(array, dtype=dtype)
    if array.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, array.shape)):
        raise InputError(f"glTF export: {name} must have shape {shape} (-1 = any); got {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"glTF export: {name} has NaN or infinite values; fix the data before exporting")
    return array


def glb_bytes(mesh: GltfMesh, skin: GltfSkin | None = None, generator: str = "UVatar") -> bytes:
    """The ``.glb`` file contents for ``mesh`` (skinned by ``skin`` when given)."""
    positions = _check("positions", mesh.positions, (-1, 3), np.float32)
    n = positions.shape[0]
    indices = _check("indices", mesh.indices, (-1, 3), np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise InputError(f"glTF export: triangle indices must lie in [0, {n}); got [{indices.min()}, {indices.max()}]")
    build = _Builder()
    attributes = {"POSITION": build.accessor(positions, _ARRAY_BUFFER, min_max=True)}
    if mesh.normals is not None:
        attributes["NORMAL"] = build.accessor(_check("normals", mesh.normals, (n, 3), np.float32), _ARRAY_BUFFER)
    if mesh.texcoords is not None:
        attributes["TEXCOORD_0"] = build.accessor(_check("texcoords", mesh.texcoords, (n, 2), np.float32), _ARRAY_BUFFER)
    if (mesh.joints is None) != (mesh.weights is None) or (mesh.joints is not None) != (skin is not None):
        raise InputError("glTF export: joints, weights and skin come together; give all three or none")
    if skin is not None:
        n_joints = len(skin.names)
        joints = _check("joints", mesh.joints, (n, 4))
        if joints.min() < 0 or joints.max() >= n_joints:
            raise InputError(f"glTF export: joint indices must lie in [0, {n_joints}); got [{joints.min()}, {joints.max()}]")
        joints = joints.astype(np.uint8 if n_joints <= 256 else np.uint16)
        attributes["JOINTS_0"] = build.accessor(joints, _ARRAY_BUFFER)
        attributes["WEIGHTS_0"] = build.accessor(_check("weights", mesh.weights, (n, 4), np.float32), _ARRAY_BUFFER)
    index_dtype = np.uint16 if n <= 65535 else np.uint32
    primitive = {
        "attributes": attributes,
        "indices": build.accessor(indices.reshape(-1).astype(index_dtype), _ELEMENT_ARRAY_BUFFER),
        "mode": 4,
    }
    doc: dict = {
        "asset": {"version": "2.0", "generator": generator},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": mesh.name, "mesh": 0}],
        "meshes": [{"name": mesh.name, "primitives": [primitive]}],
    }
    if mesh.extras:
        doc["asset"]["extras"] = mesh.extras
    if mesh.base_color_png is not None:
        image_view = build.view(bytes(mesh.base_color_png))
        doc["images"] = [{"bufferView": image_view, "mimeType": "image/png", "name": "base_color"}]
        doc["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}]
        doc["textures"] = [{"sampler": 0, "source": 0}]
        pbr = {"baseColorTexture": {"index": 0, "texCoord": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.9}
    else:
        pbr = {"metallicFactor": 0.0, "roughnessFactor": 0.9}
    doc["materials"] = [{"name": "skin", "pbrMetallicRoughness": pbr}]
    primitive["material"] = 0
    if skin is not None:
        _add_skin(doc, build, skin)
    doc["accessors"] = build.accessors
    doc["bufferViews"] = build.views
    build.blob += b"\0" * (-len(build.blob) % 4)
    doc["buffers"] = [{"byteLength": len(build.blob)}]
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(build.blob)
    return b"".join([
        struct.pack("<III", _GLB_MAGIC, 2, total),
        struct.pack("<II", len(text), _CHUNK_JSON), text,
        struct.pack("<II", len(build.blob), _CHUNK_BIN), bytes(build.blob),
    ])  # fmt: skip


def _add_skin(doc: dict, build: _Builder, skin: GltfSkin) -> None:
    n_joints = len(skin.names)
    translations = _check("translations", skin.translations, (n_joints, 3), np.float64)
    rotations = _check("rotations_xyzw", skin.rotations_xyzw, (n_joints, 4), np.float64)
    ibm = _check("inverse_bind_matrices", skin.inverse_bind_matrices, (n_joints, 4, 4), np.float64)
    if len(skin.parents) != n_joints or any(not (-1 <= p < j) for j, p in enumerate(skin.parents)):
        raise InputError("glTF export: skin parents must list one parent per joint, each before its child (-1 = root)")
    first = len(doc["nodes"])
    children: dict[int, list[int]] = {}
    for j, parent in enumerate(skin.parents):
        children.setdefault(parent, []).append(first + j)
    rotations = rotations / np.linalg.norm(rotations, axis=1, keepdims=True)
    for j, name in enumerate(skin.names):
        node = {"name": name, "translation": [float(x) for x in translations[j]], "rotation": [float(x) for x in rotations[j]]}
        if j in children:
            node["children"] = children[j]
        doc["nodes"].append(node)
    roots = children.get(-1, [])
    doc["scenes"][0]["nodes"] += roots
    ibm = ibm.astype(np.float32)
    ibm[:, 3] = (0.0, 0.0, 0.0, 1.0)  # exact last row, as the spec asks
    matrices = build.accessor(np.ascontiguousarray(ibm.transpose(0, 2, 1)).reshape(n_joints, 16), kind="MAT4")
    doc["skins"] = [{"name": "skeleton", "inverseBindMatrices": matrices, "joints": list(range(first, first + n_joints)), "skeleton": roots[0]}]
    doc["nodes"][0]["skin"] = 0


def write_glb(path: str | Path, mesh: GltfMesh, skin: GltfSkin | None = None, generator: str = "UVatar") -> Path:
    """Write ``mesh`` (and ``skin``) as a ``.glb`` file, atomically. Returns the path."""
    path = Path(path)
    atomic_write_bytes(path, glb_bytes(mesh, skin, generator))
    return path


# ---------------------------------------------------------------------------------------- reading
def parse_glb(data: bytes) -> tuple[dict, bytes]:
    """Split ``.glb`` bytes into the glTF JSON document and the ``BIN`` chunk (empty if absent)."""
    if len(data) < 20:
        raise InputError("not a .glb file (too short); pass a binary glTF 2.0 file")
    magic, version, total = struct.unpack_from("<III", data, 0)
    if magic != _GLB_MAGIC or version != 2:
        raise InputError(f"not a glTF 2.0 binary (magic {magic:#x}, version {version}); pass a .glb file")
    if total > len(data):
        raise InputError(f"truncated .glb file ({len(data)} of {total} bytes); write it again")
    offset, doc, blob = 12, None, b""
    while offset + 8 <= total:
        length, kind = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == _CHUNK_JSON:
            doc = json.loads(chunk.decode("utf-8"))
        elif kind == _CHUNK_BIN:
            blob = bytes(chunk)
        offset += 8 + length
    if doc is None:
        raise InputError("the .glb file has no JSON chunk; write it again")
    return doc, blob


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """:func:`parse_glb` of a file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no file at {path}; pass a .glb file")
    return parse_glb(path.read_bytes())


def accessor_array(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """The data of accessor ``index`` as a numpy array ``(count, width)`` (``(count,)`` for scalars;
    ``MAT4`` accessors as ``(count, 4, 4)`` matrices for column vectors). Tightly packed views only."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_COMPONENT_DTYPE[acc["componentType"]]).newbyteorder("<")
    width = _TYPE_SIZE[acc["type"]]
    if view.get("byteStride", width * dtype.itemsize) != width * dtype.itemsize:
        raise InputError("accessor_array reads tightly packed buffer views only")
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    array = np.frombuffer(blob, dtype=dtype, count=acc["count"] * width, offset=start)
    if acc["type"] == "MAT4":
        return array.reshape(-1, 4, 4).transpose(0, 2, 1)
    return array.reshape(acc["count"], width) if width > 1 else array


def node_world_matrices(doc: dict) -> np.ndarray:
    """``(nodes, 4, 4)`` world matrices of every node from its ``matrix`` or TRS (float64)."""
    n = len(doc["nodes"])
    local = np.zeros((n, 4, 4))
    parent = [-1] * n
    for i, node in enumerate(doc["nodes"]):
        for child in node.get("children", []):
            parent[child] = i
        if "matrix" in node:
            local[i] = np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
            continue
        x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
        rot = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])  # fmt: skip
        local[i, :3, :3] = rot * np.asarray(node.get("scale", (1.0, 1.0, 1.0)))[None, :]
        local[i, :3, 3] = node.get("translation", (0.0, 0.0, 0.0))
        local[i, 3, 3] = 1.0
    world = np.full((n, 4, 4), np.nan)

    def resolve(i: int) -> np.ndarray:
        if np.isnan(world[i, 0, 0]):
            world[i] = local[i] if parent[i] < 0 else resolve(parent[i]) @ local[i]
        return world[i]

    for i in range(n):
        resolve(i)
    return world
