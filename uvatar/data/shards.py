"""Deterministic tar shards, the plan that splits a dataset over ``--shard i/n`` jobs, manifest and index.

Layout of an output folder::

    OUT/manifest.json              format, config, seed, planned counts, package versions, label orders
    OUT/index.json                 every complete shard with its counts; which shards are missing
    OUT/shards/shard-000012.tar    the samples of subjects [12 * P, 13 * P) (P subjects per shard)
    OUT/shards/shard-000012.json   that shard's index: samples, their member offsets, counts; written
                                   after the tar, so its presence marks the shard complete

Plan: shard ``k`` holds the subjects ``[k P, min((k + 1) P, N))`` and belongs to job ``k mod n`` of
``--shard i/n``: any split of the jobs produces every shard exactly once, and since every subject is
generated from ``(seed, subject index)`` alone, the same shard has the same bytes whoever makes it.

Tars are byte-deterministic: USTAR headers with mtime 0, uid/gid 0, empty owner names, mode 0644,
members in a fixed order. Writes go to a temporary name beside the target and are renamed (atomic);
a job skips complete shards (resume) and clears its own shards' stale temporary files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Iterator

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path, atomic_write_text

__all__ = [
    "parse_shard_spec", "shard_subjects", "owned_shards", "ShardWriter", "read_shard", "read_member",
    "shard_paths", "shard_done", "check_or_write_manifest", "build_index", "clear_stale",
]  # fmt: skip

log = logging.getLogger(__name__)


def parse_shard_spec(spec: str | None) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; None -> ``(0, 1)``."""
    if spec is None or spec == "":
        return 0, 1
    try:
        i, n = (int(part) for part in str(spec).split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/n (e.g. 0/4); got {spec!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise InputError(f"--shard i/n needs n >= 1 and 0 <= i < n; got {spec!r}")
    return i, n


def shard_subjects(shard: int, subjects: int, per_shard: int) -> range:
    """Subject indices of ``shard``."""
    return range(shard * per_shard, min((shard + 1) * per_shard, subjects))


def owned_shards(subjects: int, per_shard: int, job: int, jobs: int) -> list[int]:
    """Shards that job ``job`` of ``jobs`` makes (``k mod jobs == job``)."""
    if per_shard < 1:
        raise InputError(f"subjects per shard must be >= 1; got {per_shard}")
    n_shards = -(-subjects // per_shard)
    return [k for k in range(n_shards) if k % jobs == job]


def shard_paths(out: Path, shard: int) -> tuple[Path, Path]:
    """``(tar, json)`` paths of a shard."""
    folder = Path(out) / "shards"
    return folder / f"shard-{shard:06d}.tar", folder / f"shard-{shard:06d}.json"


def shard_done(out: Path, shard: int) -> bool:
    """A shard is complete when its index JSON exists and its tar has the size the index says."""
    tar, index = shard_paths(out, shard)
    if not (tar.exists() and index.exists()):
        return False
    try:
        return json.loads(index.read_text()).get("bytes") == tar.stat().st_size
    except (OSError, json.JSONDecodeError):
        return False


def clear_stale(out: Path, shards: list[int]) -> int:
    """Remove temporary files left by a crash while writing ``shards`` (only those); returns how many."""
    folder = Path(out) / "shards"
    removed = 0
    if not folder.is_dir():
        return 0
    for shard in shards:
        for pattern in (f".shard-{shard:06d}.*.tmp.tar", f".shard-{shard:06d}.*.tmp.json"):
            for path in folder.glob(pattern):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


class ShardWriter:
    """Writes one tar deterministically under a temporary name; :meth:`close` renames it into place.

    Use as a context manager; on an exception the temporary file is removed. ``members`` records, per
    file, ``(name, data_offset, size)`` for random access.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._atomic = atomic_path(self.path)
        self._tmp = None
        self._file = None
        self._tar = None
        self.members: list[tuple[str, int, int]] = []
        self.sha256 = hashlib.sha256()

    def __enter__(self) -> "ShardWriter":
        self._tmp = self._atomic.__enter__()
        self._file = open(self._tmp, "wb")
        self._tar = tarfile.open(fileobj=_HashingFile(self._file, self.sha256), mode="w", format=tarfile.USTAR_FORMAT)
        return self

    def add(self, key: str, name: str, data: bytes) -> None:
        """Add the file ``<key>.<name>`` with ``data``."""
        if "." in key or "/" in key:
            raise InputError(f"sample keys must not contain '.' or '/'; got {key!r}")
        info = tarfile.TarInfo(f"{key}.{name}")
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        offset = self._tar.offset + 512  # USTAR: one 512-byte header, then the data
        self._tar.addfile(info, io.BytesIO(data))
        self.members.append((info.name, offset, len(data)))

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._tar.close()
            self._file.close()
        finally:
            self._atomic.__exit__(exc_type, exc, tb)
        return False

    @property
    def size(self) -> int:
        return self.path.stat().st_size


class _HashingFile:
    """A write-only file wrapper that feeds what is written to a hash."""

    def __init__(self, file, digest) -> None:
        self.file, self.digest = file, digest

    def write(self, data) -> int:
        self.digest.update(data)
        return self.file.write(data)

    def tell(self) -> int:
        return self.file.tell()


def read_shard(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Iterate ``(key, {name: bytes})`` samples of a tar in order (a key's files are adjacent)."""
    key, files = None, {}
    with tarfile.open(path, "r") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            k, _, name = base.partition(".")
            data = tar.extractfile(member).read()
            if k != key and key is not None:
                yield key, files
                files = {}
            key = k
            files[name] = data
    if key is not None:
        yield key, files


def read_member(path: Path, offset: int, size: int) -> bytes:
    """The bytes of one member by the offset and size recorded in the shard index."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def check_or_write_manifest(out: Path, manifest: dict) -> None:
    """Write ``manifest.json``, or check that an existing one has the same format and config.

    Raises:
        InputError: the folder holds a data set made with another config.
    """
    path = Path(out) / "manifest.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}; remove it or use another output folder") from None
        for key in ("format", "config"):
            if old.get(key) != manifest.get(key):
                raise InputError(
                    f"{path} was written with another {key}; use a new output folder, or the same options to resume"
                )
        if old.get("versions") != manifest.get("versions"):
            log.warning("%s was written with other package versions: %s (now %s)", path, old.get("versions"), manifest.get("versions"))
        return
    atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True))


def _merge_counts(total: dict, counts: dict) -> None:
    for key, value in counts.items():
        if isinstance(value, dict):
            _merge_counts(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def build_index(out: Path, n_shards: int | None = None) -> dict:
    """Collect the complete shards' indexes into ``index.json`` (atomic) and return it."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if n_shards is None:
        n_shards = int(manifest.get("counts", {}).get("shards", 0))
    shards, counts, missing = [], {}, []
    for k in range(n_shards):
        tar, index = shard_paths(out, k)
        if not shard_done(out, k):
            missing.append(k)
            continue
        data = json.loads(index.read_text())
        shards.append({"shard": k, "tar": str(tar.relative_to(out)), "index": str(index.relative_to(out)),
                       "bytes": data["bytes"], "sha256": data.get("sha256"), "counts": data["counts"]})
        _merge_counts(counts, data["counts"])
    result = {"format": manifest.get("format"), "shards": shards, "missing": missing, "complete": not missing,
              "counts": counts}
    atomic_write_text(out / "index.json", json.dumps(result, indent=1, sort_keys=True))
    return result
