"""The blob store: files' bytes, content-addressed by SHA-256 (claim check: events carry the hash, never the bytes).

One store for every service: the registry writes attachments, the archive reads them for transfer packages and
audits, writes them when it imports a package, and deletes them only through an approved disposal act. Two kinds:

- `LocalBlobs`, the default: a directory, `<root>/aa/bb/<sha256>`;
- `S3Blobs`, when `EDMS_BLOB_URL` is `s3://bucket[/prefix]?endpoint=http://host:port&region=...` (any S3-compatible
  server; credentials come the usual boto3 way: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, a role).

Files come in streamed: a writer spools them into `spool()` (a temporary file in the store's own spool directory,
so that the local store can rename it into place), hashing while it writes, and hands it over with `adopt`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, urlsplit

#: Bytes read at a time when hashing or copying (large reads keep hashing near the disk's and the CPU's rate).
CHUNK = 1 << 20
SHA256_HEX = frozenset("0123456789abcdef")


class BlobMissing(FileNotFoundError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256} in the blob store")
        self.sha256 = sha256


def is_sha256(value: str) -> bool:
    return len(value) == 64 and set(value) <= SHA256_HEX


class Blobs(Protocol):
    """A content-addressed store of file bytes."""

    def open(self, sha256: str, start: int = 0) -> BinaryIO:
        """The bytes for reading, from byte `start` on (a range request); raises `BlobMissing`."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int:
        """Length in bytes; raises `BlobMissing`."""
        ...

    def put_file(self, path: Path) -> str:
        """Store a copy of a file's bytes (streamed, not read whole); returns their SHA-256."""
        ...

    def spool(self) -> Path:
        """A new temporary file path to write an incoming file to, for `adopt`."""
        ...

    def adopt(self, path: Path, sha256: str) -> None:
        """Take over a spooled file whose SHA-256 the caller computed while writing it (the file is gone after)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove the bytes; True if they were there. Called by the execution of an approved disposal act only."""
        ...


class LocalBlobs:
    """A directory: `<root>/aa/bb/<sha256>`; incoming files are spooled in `<root>/.spool` and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def open(self, sha256: str, start: int = 0) -> BinaryIO:
        try:
            source = self.path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobMissing(sha256) from None
        if start:
            source.seek(start)
        return source

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    def put_file(self, path: Path) -> str:
        sha256 = file_sha256(path)
        if not self.exists(sha256):
            tmp = self.spool()
            shutil.copyfile(path, tmp)
            self.adopt(tmp, sha256)
        return sha256

    def spool(self) -> Path:
        directory = self.root / ".spool"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{uuid.uuid4().hex}.part"

    def adopt(self, path: Path, sha256: str) -> None:
        target = self.path(sha256)
        if target.exists():
            path.unlink(missing_ok=True)  # the same bytes are there already
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)  # atomic on one file system: a reader never sees half a file

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True


class S3Blobs:
    """An S3-compatible bucket: object `<prefix><aa>/<bb>/<sha256>`; uploads are multipart for large files."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        spool_dir: Path | None = None,
        create_bucket: bool = True,
    ) -> None:
        import boto3  # imported here: only a deployment that names an S3 store needs it loaded
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
        )
        self.spool_dir = spool_dir or Path(tempfile.gettempdir()) / "edms-blob-spool"
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            region = self.client.meta.region_name
            where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
                self.client.create_bucket(Bucket=self.bucket, **where)

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _missing(self, exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        return response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")

    def open(self, sha256: str, start: int = 0) -> BinaryIO:
        extra = {"Range": f"bytes={start}-"} if start else {}
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256), **extra)["Body"]
        except Exception as exc:
            if self._missing(exc):
                raise BlobMissing(sha256) from None
            raise
        return io.BufferedReader(_BodyReader(body), CHUNK)

    def size(self, sha256: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if self._missing(exc):
                raise BlobMissing(sha256) from None
            raise
        return int(head["ContentLength"])

    def exists(self, sha256: str) -> bool:
        try:
            self.size(sha256)
        except BlobMissing:
            return False
        return True

    def put_file(self, path: Path) -> str:
        sha256 = file_sha256(path)
        if not self.exists(sha256):
            self.client.upload_file(str(path), self.bucket, self.key(sha256))
        return sha256

    def spool(self) -> Path:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        return self.spool_dir / f"{uuid.uuid4().hex}.part"

    def adopt(self, path: Path, sha256: str) -> None:
        try:
            if not self.exists(sha256):
                # upload_file streams from the file (multipart above 8 MB): never the whole file in memory
                self.client.upload_file(str(path), self.bucket, self.key(sha256))
        finally:
            path.unlink(missing_ok=True)

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        return True


class _BodyReader(io.RawIOBase):
    """An S3 response body as a raw stream with `readinto` (what hashing and copying read with)."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.body.close()
        super().close()


def open_blobs(url: str | None, default_dir: Path) -> Blobs:
    """The store `EDMS_BLOB_URL` names (`file:///dir`, `s3://bucket/prefix?endpoint=...&region=...`), or the local
    directory of the data dir when it is unset."""
    if not url:
        return LocalBlobs(default_dir)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobs(Path(parts.path))
    if parts.scheme == "s3":
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if not parts.netloc:
            raise ValueError("EDMS_BLOB_URL=s3://…: name the bucket, e.g. s3://edms-blobs")
        return S3Blobs(
            parts.netloc,
            prefix=parts.path,
            endpoint=query.get("endpoint"),
            region=query.get("region"),
            spool_dir=default_dir / ".spool",
        )
    raise ValueError(f"EDMS_BLOB_URL={parts.scheme}://…: no such blob store; use file:// or s3://")


def stream_sha256(source: BinaryIO, limit: int | None = None) -> tuple[str, int]:
    """SHA-256 and length of a stream (at most `limit` bytes), read in large chunks into one buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    while limit is None or total < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - total)
        read = source.readinto(view[:want])  # type: ignore[attr-defined]
        if not read:
            break
        digest.update(view[:read])
        total += read
    return digest.hexdigest(), total


def file_sha256(path: Path) -> str:
    with path.open("rb", buffering=0) as source:
        return stream_sha256(source)[0]


def sweep_spool(blobs: Blobs, older_than_seconds: float = 24 * 3600) -> int:
    """Remove spooled files left by uploads a crash cut short (older than a day: no upload takes that long, so a
    replica's upload in progress is never touched). Returns how many were removed."""
    directory = blobs.root / ".spool" if isinstance(blobs, LocalBlobs) else getattr(blobs, "spool_dir", None)
    if directory is None or not directory.is_dir():
        return 0
    removed = 0
    limit = time.time() - older_than_seconds
    for path in directory.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def local_copy(blobs: Blobs, sha256: str) -> Iterator[Path]:
    """A path to the blob's bytes on this machine: the file itself in a local store, else a temporary copy."""
    if isinstance(blobs, LocalBlobs):
        path = blobs.path(sha256)
        if not path.is_file():
            raise BlobMissing(sha256)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="edms-blob-") as directory:
        path = Path(directory) / sha256
        with blobs.open(sha256) as source, path.open("wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
        yield path
