"""Output folders UVatar may write into, checked before any work: never delete what UVatar did not write.

A folder UVatar wrote holds a marker, ``.uvatar-output.json``, listing the files it wrote there
(paths relative to the folder). A later run may replace those files; every other file stays.

Refused before any work (:class:`~uvatar.errors.InputError`, one line saying what to do):

- ``-o`` naming an existing file;
- the current folder, the home folder, the file system root, or a folder that holds one of the inputs
  (directly or further down), with or without ``--overwrite``;
- a non-empty folder without the marker, unless ``overwrite`` (then UVatar's files are written into
  it, same-named files are replaced, and all other files are kept);
- a place the process cannot write (probed by creating and removing a file, which also finds
  read-only mounts, where permission bits say nothing for root).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from uvatar.errors import InputError

__all__ = ["MARKER", "check_output_dir", "read_marker", "marker_text"]

MARKER = ".uvatar-output.json"


def read_marker(folder: Path) -> list[str] | None:
    """Relative paths of the files UVatar wrote in ``folder``, or None if it holds no (readable) marker.

    Only plain relative paths inside the folder are returned: an entry that is absolute, climbs out
    (``..``) or leads through a link out of the folder is dropped, so a damaged or crafted marker can
    never make a re-run delete anything outside ``folder``.
    """
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    root = folder.resolve()
    return [f for f in files if _inside(root, f)]


def _inside(root: Path, name: str) -> bool:
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        return False
    return (root / relative).parent.resolve().is_relative_to(root)


def marker_text(files: Iterable[str]) -> str:
    """The marker's JSON for the relative paths ``files``."""
    return json.dumps({"written_by": "uvatar", "files": sorted(files)}, indent=1) + "\n"


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path))).resolve()


def _probe_writable(folder: Path, shown: Path) -> None:
    """Create and remove a file in ``folder`` (an existing directory), or raise InputError naming ``shown``."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".uvatar-probe."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot write into {shown} ({reason}); pass -o a folder you can write to") from None


def check_output_dir(path: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """Check that ``path`` may receive UVatar's output (module docstring); returns it unchanged.

    Args:
        path: the output folder the user named (need not exist).
        inputs: the files the command reads (photos, videos, avatars): their folders may not be the output.
        overwrite: allow a non-empty folder that UVatar did not write (its other files are kept).
    Raises:
        InputError: before any work, with what to do.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"-o {path} is an existing file, not a folder; pass -o a new folder name")
    target = _resolved(path)
    forbidden = {_resolved(Path.cwd()): "the current folder", _resolved(Path.home()): "your home folder", Path(target.anchor): "the file system root"}
    if target in forbidden:
        raise InputError(f"-o {path} is {forbidden[target]}; pass -o a new folder for UVatar's files, e.g. -o out/NAME")
    for item in inputs:
        source = _resolved(Path(item))
        if target == source:
            raise InputError(f"-o {path} is the input {item} itself; pass -o a new folder, e.g. -o out/NAME")
        if target in source.parents:
            raise InputError(f"-o {path} holds the input {item}; pass -o a new folder for UVatar's files, e.g. -o out/NAME")
    if target.is_dir():
        entries = [e.name for e in os.scandir(target)]
        if entries and read_marker(target) is None and not overwrite:
            raise InputError(
                f"-o {path} is a folder UVatar did not write ({len(entries)} entries); pass -o a new folder, "
                "or add --overwrite to write into it (its other files are kept)"
            )
        _probe_writable(target, path)
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"-o {path}: {existing} is a file, not a folder; pass -o a path in a folder")
    _probe_writable(existing, existing)
    return path
