"""Shard plans, deterministic tars, manifest checks and the index (no rendering)."""

import json
import tarfile

import pytest

from uvatar.data.shards import (
    ShardWriter, build_index, check_or_write_manifest, clear_stale, owned_shards, parse_shard_spec, read_member,
    read_shard, shard_paths, shard_subjects,
)  # fmt: skip
from uvatar.errors import InputError


def test_parse_shard_spec():
    assert parse_shard_spec("0/1") == (0, 1) and parse_shard_spec("3/4") == (3, 4) and parse_shard_spec(None) == (0, 1)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(InputError):
            parse_shard_spec(bad)


@pytest.mark.parametrize("subjects,per_shard,jobs", [(200, 8, 3), (17, 4, 5), (5, 8, 2), (64, 1, 7)])
def test_jobs_cover_every_subject_exactly_once(subjects, per_shard, jobs):
    seen = []
    for job in range(jobs):
        for shard in owned_shards(subjects, per_shard, job, jobs):
            seen += list(shard_subjects(shard, subjects, per_shard))
    assert sorted(seen) == list(range(subjects))  # no duplicates, nothing missing
    mine = [set(owned_shards(subjects, per_shard, j, jobs)) for j in range(jobs)]
    for a in range(jobs):
        for b in range(a + 1, jobs):
            assert not mine[a] & mine[b]


def _write(path, items):
    with ShardWriter(path) as w:
        for key, files in items:
            for name, data in files.items():
                w.add(key, name, data)
    return w


def test_tar_is_byte_deterministic_and_members_are_addressable(tmp_path):
    items = [("s0000001", {"meta.json": b'{"a": 1}', "uv_albedo.png": b"x" * 1000}),
             ("s0000001_v00", {"image.png": bytes(range(256)) * 3, "camera.json": b"{}"})]
    a = _write(tmp_path / "a.tar", items)
    b = _write(tmp_path / "b.tar", items)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert a.sha256.hexdigest() == b.sha256.hexdigest()
    for name, offset, size in a.members:
        key, _, file = name.partition(".")
        assert read_member(tmp_path / "a.tar", offset, size) == dict(items)[key][file]
    with tarfile.open(tmp_path / "a.tar") as tar:  # an ordinary tar: mtime 0, no owner
        member = tar.getmembers()[0]
        assert member.mtime == 0 and member.uname == "" and member.uid == 0
    assert [(k, sorted(f)) for k, f in read_shard(tmp_path / "a.tar")] == [(k, sorted(f)) for k, f in items]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "c.tar") as w:
            w.add("k", "a.bin", b"1")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError):
        with ShardWriter(tmp_path / "d.tar") as w:
            w.add("bad.key", "a.bin", b"1")


def test_manifest_must_match_to_resume(tmp_path):
    manifest = {"format": "f/1", "config": {"subjects": 2}, "counts": {"shards": 1}, "versions": {"x": "1"}}
    check_or_write_manifest(tmp_path, manifest)
    check_or_write_manifest(tmp_path, dict(manifest, versions={"x": "2"}))  # versions only warn
    with pytest.raises(InputError, match="another config"):
        check_or_write_manifest(tmp_path, dict(manifest, config={"subjects": 3}))


def test_index_lists_complete_shards_and_stale_files_are_cleared(tmp_path):
    check_or_write_manifest(tmp_path, {"format": "f/1", "config": {}, "counts": {"shards": 2}})
    tar, index = shard_paths(tmp_path, 0)
    tar.parent.mkdir(parents=True)
    w = _write(tar, [("k", {"a.bin": b"123"})])
    index.write_text(json.dumps({"bytes": tar.stat().st_size, "counts": {"views": 3, "view": {"front": 3}}}))
    stale = tar.parent / ".shard-000001.abcd.tmp.tar"
    stale.write_bytes(b"half")
    assert clear_stale(tmp_path, [1]) == 1 and not stale.exists()
    result = build_index(tmp_path)
    assert result["missing"] == [1] and not result["complete"]
    assert result["counts"] == {"views": 3, "view": {"front": 3}}
    assert json.loads((tmp_path / "index.json").read_text())["shards"][0]["bytes"] == w.size
