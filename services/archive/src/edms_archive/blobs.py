"""How the archive reaches the bytes of documents' files: the shared blob store (edms_runtime.blobs).

The registry writes attachments there (claim check: events carry the hash, never the bytes). The archive reads them
to build transfer packages and to audit them, writes them when it imports a package, and deletes them only when it
executes an approved disposal act (edms_archive.application.ArchiveApplication.execute_act). It sees the store only
through `Blobs`, so the S3-compatible store (`EDMS_BLOB_URL=s3://…`) serves it as well as the local directory.
"""

from __future__ import annotations

import os

from edms_runtime.blobs import CHUNK, BlobMissing, Blobs, LocalBlobs, file_sha256, open_blobs, stream_sha256

__all__ = ["CHUNK", "BlobMissing", "Blobs", "LocalBlobs", "cpu_workers", "file_sha256", "open_blobs", "stream_sha256"]


def cpu_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))
