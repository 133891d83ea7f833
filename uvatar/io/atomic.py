"""Write files under a temporary name and rename, so a crash never leaves a half-written output."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from uvatar.errors import OutputError
from uvatar.io.output_dir import MARKER, check_output_dir, marker_text, read_marker

# errno values that mean "this output cannot be written here" (not a bug, not a missing input)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_dir"]


def _current_umask() -> int:
    """The process umask, read without changing it (Linux); falls back to 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix so that writers choosing a format by extension work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the file the usual permissions
    tmp = Path(tmp_name)
    try:
        with _write_errors_name(path):
            yield tmp
        if tmp.exists():  # writers that recreate the file (e.g. safetensors) bring their own mode
            os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def _write_errors_name(path: Path) -> Iterator[None]:
    """Turn a full disk, a quota, a too-large file or a read-only file system met while writing ``path``
    into an :class:`OutputError` that names ``path`` (OSError often carries no file name, and
    safetensors raises its own SafetensorError)."""
    try:
        yield
    except OutputError as exc:  # raised by a writer inside this one: name the outer output, which the user chose
        raise OutputError(path, exc.reason) from exc
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise OutputError(path, exc.strerror) from exc
    except Exception as exc:
        code = re.search(r"os error (\d+)", str(exc)) if type(exc).__name__ == "SafetensorError" else None
        if code is None or int(code.group(1)) not in _WRITE_ERRNOS:
            raise
        raise OutputError(path, os.strerror(int(code.group(1)))) from exc


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success its files move into ``path``.

    ``path`` is first checked by :func:`~uvatar.io.output_dir.check_output_dir` (a non-empty folder
    UVatar did not write is refused unless ``overwrite``). A new ``path`` appears whole, by one rename.
    An existing one receives the new files one by one (each an atomic rename); the files an earlier run
    listed in its marker and this run did not write are removed; every other file is kept. The marker is
    written last. On failure (or an interrupt) the temporary directory is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    check_output_dir(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes 0700; give the folder the usual permissions
    try:
        with _write_errors_name(path):
            yield tmp
        written = [p.relative_to(tmp).as_posix() for p in sorted(tmp.rglob("*")) if not p.is_dir()]
        (tmp / MARKER).write_text(marker_text(written))
        if path.is_dir():
            _merge_into(tmp, path, written)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _merge_into(tmp: Path, path: Path, written: list[str]) -> None:
    """Move the files ``written`` (relative paths) of ``tmp`` into the existing folder ``path``; remove
    what the previous marker listed and this run did not write (and folders that this leaves empty)."""
    previous = read_marker(path) or []
    for name in written:
        destination = path / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / name, destination)
    stale = set(previous) - set(written) - {MARKER}
    for name in sorted(stale, key=lambda n: -n.count("/")):
        stale_path = path / name
        if stale_path.is_file() or stale_path.is_symlink():
            stale_path.unlink()
        for parent in stale_path.parents:  # folders the old run made and nobody else uses
            if parent == path or not parent.is_relative_to(path):
                break
            try:
                parent.rmdir()
            except OSError:
                break
    os.replace(tmp / MARKER, path / MARKER)
