"""The blob store, both kinds: the local directory and an S3-compatible bucket on a real S3-API server (moto's
standalone server, a subprocess). Claim check (ROADMAP: "attachments stored by SHA-256, events carry hash and
metadata, never bytes"): the bytes are found by their SHA-256, stored once, never seen half-written."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edms_runtime.blobs import (
    BlobMissing,
    Blobs,
    LocalBlobs,
    S3Blobs,
    local_copy,
    open_blobs,
    stream_sha256,
    sweep_spool,
)


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Blobs]:
    if request.param == "local":
        yield LocalBlobs(tmp_path / "blobs")
        return
    endpoint: str = request.getfixturevalue("s3_endpoint")
    yield open_blobs(f"s3://edms-{uuid.uuid4().hex[:8]}/files?endpoint={endpoint}", tmp_path)


def _spooled(blobs: Blobs, content: bytes) -> tuple[Path, str]:
    path = blobs.spool()
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_a_spooled_file_is_adopted_under_its_sha256_and_read_back(blobs: Blobs) -> None:
    content = "Сканированная копия письма".encode() * 1000
    path, sha = _spooled(blobs, content)

    blobs.adopt(path, sha)

    assert not path.exists()  # moved (local) or uploaded and removed (S3): the spool does not fill up
    assert blobs.exists(sha)
    assert blobs.size(sha) == len(content)
    with blobs.open(sha) as source:
        assert source.read() == content
    with blobs.open(sha) as source:
        assert stream_sha256(source) == (sha, len(content))  # what the archive's audit reads with


def test_the_same_bytes_twice_are_stored_once(blobs: Blobs, tmp_path: Path) -> None:
    content = b"%PDF-1.7 the same order"
    first, sha = _spooled(blobs, content)
    blobs.adopt(first, sha)
    second, _ = _spooled(blobs, content)

    blobs.adopt(second, sha)

    assert not second.exists()
    source = tmp_path / "copy.pdf"
    source.write_bytes(content)
    assert blobs.put_file(source) == sha
    assert source.exists()  # put_file copies; the caller's file stays
    if isinstance(blobs, LocalBlobs):
        files = [p for p in blobs.root.rglob("*") if p.is_file()]
        assert files == [blobs.path(sha)]  # one file, no temporary leftovers
    else:
        assert isinstance(blobs, S3Blobs)
        keys = [o["Key"] for o in blobs.client.list_objects_v2(Bucket=blobs.bucket)["Contents"]]
        assert keys == [blobs.key(sha)]


def test_concurrent_adoptions_of_the_same_content_leave_one_copy(blobs: Blobs) -> None:
    content = bytes(range(256)) * 4000
    spooled = [_spooled(blobs, content) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: blobs.adopt(*item), spooled))
    sha = spooled[0][1]
    with blobs.open(sha) as source:
        assert source.read() == content
    assert not any(path.exists() for path, _ in spooled)


def test_an_unknown_hash_is_missing(blobs: Blobs) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert not blobs.exists(sha)
    with pytest.raises(BlobMissing):
        blobs.open(sha)
    with pytest.raises(BlobMissing):
        blobs.size(sha)
    assert blobs.delete(sha) is False


def test_delete_removes_the_bytes(blobs: Blobs) -> None:
    path, sha = _spooled(blobs, b"a scan to dispose of by an approved act")
    blobs.adopt(path, sha)
    assert blobs.delete(sha) is True
    assert not blobs.exists(sha)


def test_a_large_file_goes_through_in_pieces(blobs: Blobs, tmp_path: Path) -> None:
    """20 MB: above boto3's multipart threshold (8 MB) for S3; read back in chunks, hashed as it streams."""
    path = blobs.spool()
    digest = hashlib.sha256()
    with path.open("wb") as target:
        for i in range(20):
            piece = bytes([i]) * (1 << 20)
            digest.update(piece)
            target.write(piece)
    sha = digest.hexdigest()
    blobs.adopt(path, sha)
    with local_copy(blobs, sha) as copy:
        assert copy.stat().st_size == 20 << 20
        with copy.open("rb") as source:
            assert stream_sha256(source)[0] == sha


def test_the_local_layout_is_the_one_the_archive_reads(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    path, sha = _spooled(blobs, b"letter")
    blobs.adopt(path, sha)
    assert (tmp_path / sha[:2] / sha[2:4] / sha).read_bytes() == b"letter"


def test_the_blob_url_chooses_the_store(tmp_path: Path, s3_endpoint: str) -> None:
    assert isinstance(open_blobs(None, tmp_path), LocalBlobs)
    assert isinstance(open_blobs(f"file://{tmp_path}/x", tmp_path), LocalBlobs)
    s3 = open_blobs(f"s3://edms-url-test?endpoint={s3_endpoint}&region=eu-central-1", tmp_path)
    assert isinstance(s3, S3Blobs)
    assert s3.client.meta.region_name == "eu-central-1"
    with pytest.raises(ValueError, match="no such blob store"):
        open_blobs("ftp://host/blobs", tmp_path)


def test_spooled_files_left_by_a_crash_are_swept_after_a_day(blobs: Blobs) -> None:
    old, fresh = blobs.spool(), blobs.spool()
    old.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))

    assert sweep_spool(blobs) == 1

    assert not old.exists()
    assert fresh.exists()


def test_reading_from_an_offset(blobs: Blobs) -> None:
    """What a range request (a browser resuming a download, a PDF viewer) reads."""
    content = bytes(range(256)) * 100
    path, sha = _spooled(blobs, content)
    blobs.adopt(path, sha)
    with blobs.open(sha, start=25_000) as source:
        assert source.read() == content[25_000:]
