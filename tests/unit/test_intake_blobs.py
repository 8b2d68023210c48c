"""The blob store and the intake limits: pure file-system and byte logic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from crashpilot.errors import ConfigError, CrashpilotError
from crashpilot.ingest.intake import part_sha
from crashpilot.ingest.limits import Limits, sniff_kind
from crashpilot.store.blobs import BlobStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    sha = store.put(b"crash text")
    assert sha == hashlib.sha256(b"crash text").hexdigest()
    assert store.path(sha) == tmp_path / "blobs" / sha[:2] / sha[2:]
    assert store.put(b"crash text") == sha
    assert store.read(sha) == b"crash text"
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []  # no temporary files left behind


def test_put_file_streams_and_matches_put(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # larger than one chunk
    src = tmp_path / "big.dmp"
    src.write_bytes(data)
    store = BlobStore(tmp_path / "blobs")
    sha, size = store.put_file(src)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    with store.open(sha) as fh:
        assert fh.read() == data
    assert store.put_file(src) == (sha, size)
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_missing_and_invalid_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(CrashpilotError, match="missing"):
        store.read("0" * 64)
    with pytest.raises(CrashpilotError, match="not a sha256"):
        store.path("../../etc/passwd")


def test_sniff_kind() -> None:
    assert sniff_kind(b"MDMP\x93\xa7\x00\x00") == "dump"
    assert sniff_kind(b"\x7fELF\x02\x01\x01") == "dump"
    assert sniff_kind(b"anything", "crash.DMP") == "dump"
    assert sniff_kind(b"#0  0x0000 in main () at a.c:3\n", "core.txt") == "text"
    assert sniff_kind(b"\x00\x01binary", "core.1234") == "dump"
    assert sniff_kind(b"==1==ERROR: AddressSanitizer", "asan.log") == "text"


def test_limits() -> None:
    limits = Limits()
    assert limits.max_bytes("text") == 16 * 1024 * 1024
    assert limits.max_bytes("dump") == 512 * 1024 * 1024
    with pytest.raises(ConfigError):
        Limits(text_max_bytes=0)


def test_part_sha() -> None:
    sha = "a" * 64
    assert part_sha(sha, 0) == sha
    assert part_sha(sha, 1) != part_sha(sha, 2) != sha
    assert len(part_sha(sha, 1)) == 64


def test_batch_blobs_are_invisible_until_synced(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    batch = store.batch()
    a = batch.put(b"first report")
    b, size = batch.put_file(_file(tmp_path / "b.txt", b"second report"))
    assert size == len(b"second report") and len(batch) == 2
    assert batch.put(b"first report") == a and len(batch) == 2  # the same bytes twice: one blob
    # before sync() nothing is under its final name: a crash now leaves temporary files only
    assert not store.exists(a) and not store.exists(b)
    batch.sync()
    assert store.read(a) == b"first report" and store.read(b) == b"second report"
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    again = store.batch()
    assert again.put(b"first report") == a and len(again) == 0  # already stored: nothing to write


def test_batch_discard_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    batch = store.batch()
    sha = batch.put(b"dropped")
    batch.discard()
    batch.sync()  # nothing pending any more
    assert not store.exists(sha)
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_batch_without_syncfs_fsyncs_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from crashpilot.store import blobs as blobs_mod

    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(blobs_mod, "_SYNCFS", None)
    monkeypatch.setattr(blobs_mod.os, "fsync", counting_fsync)
    store = BlobStore(tmp_path / "blobs")
    batch = store.batch()
    shas = [batch.put(f"report {i}".encode()) for i in range(3)]
    batch.sync()
    assert all(store.read(s) == f"report {i}".encode() for i, s in enumerate(shas))
    folders = {s[:2] for s in shas}
    assert len(synced) == 3 + len(folders)  # every file, then every folder a rename went into


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
