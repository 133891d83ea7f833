"""The asset catalogue: names, kinds, body regions and the ``loose`` flag of the shipped templates.

The data (``uvatar/data/assets/catalogue.json``) is written by ``tools/build_assets.py`` from MakeHuman's
CC0 assets; this module only reads it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from uvatar.errors import InputError

__all__ = ["DATA_DIR", "KINDS", "AssetInfo", "asset_info", "asset_names", "catalogue"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "assets"
KINDS: tuple[str, ...] = ("hair", "outfit", "shoes", "hat", "eyebrows", "eyelashes")


@dataclass(frozen=True)
class AssetInfo:
    """One template of the catalogue.

    Attributes:
        name: unique lower-case name (the source file's stem, e.g. ``"bob01"``, ``"male_casualsuit03"``).
        kind: one of :data:`KINDS`.
        region: body parts it covers (:data:`uvatar.body.parts.PART_NAMES`; parts under >= 5% of its vertices).
        loose: True for geometry that hangs away from the body (long hair, skirts, coat tails).
        vertices, faces: sizes of its mesh (faces are triangles).
        z_depth: MakeHuman's draw order (higher is drawn over lower: hair 50 over eyebrows 5).
        source: path of the ``.mhclo`` in the source repository (``source_commit`` in the catalogue).
    """

    name: str
    kind: str
    region: tuple[str, ...]
    loose: bool
    vertices: int
    faces: int
    z_depth: int
    source: str


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    path = DATA_DIR / "catalogue.json"
    if not path.is_file():
        raise InputError(f"asset data missing at {path}; rebuild it with python tools/build_assets.py")
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, AssetInfo]:
    """All shipped assets by name."""
    return {
        name: AssetInfo(
            name=name,
            kind=entry["kind"],
            region=tuple(entry["region"]),
            loose=bool(entry["loose"]),
            vertices=int(entry["vertices"]),
            faces=int(entry["faces"]),
            z_depth=int(entry["z_depth"]),
            source=entry["source"],
        )
        for name, entry in _document()["assets"].items()
    }


def asset_names(kind: str | None = None) -> list[str]:
    """Sorted names of all assets, or of one kind (:data:`KINDS`)."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown asset kind {kind!r}; kinds: {', '.join(KINDS)}")
    return sorted(n for n, info in catalogue().items() if kind is None or info.kind == kind)


def asset_info(name: str, kind: str | None = None) -> AssetInfo:
    """The :class:`AssetInfo` of ``name``; an unknown name (or one of another ``kind``) raises a
    one-line :class:`InputError` listing the names that exist."""
    info = catalogue().get(name)
    if info is None or (kind is not None and info.kind != kind):
        what = f"{kind} asset" if kind else "asset"
        raise InputError(f"unknown {what} {name!r}; known: {', '.join(asset_names(kind))}")
    return info
