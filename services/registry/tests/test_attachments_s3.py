"""The registry's attachment API with its blob store in S3 (`EDMS_BLOB_URL=s3://…`) on a real S3-API server (moto's
standalone server) and a real PostgreSQL: upload streamed into the bucket, download streamed out of it, the size
limit as configured, and the text extracted from the object (issue 7, point 4)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from edms_registry.config import RegistrySettings
from edms_registry.extraction import extracted_chunks
from edms_registry.main import build_app
from edms_runtime.auth import issue_token
from edms_runtime.blobs import S3Blobs
from edms_runtime.settings import PlatformSettings
from services.registry.tests import samples

LIMIT = 64 * 1024


@pytest.fixture
async def registry(
    fresh_database_url: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    bucket = f"edms-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("EDMS_BLOB_URL", f"s3://{bucket}/attachments?endpoint={s3_endpoint}")
    platform = PlatformSettings(database_url=fresh_database_url, data_dir=tmp_path)
    app = build_app(platform, RegistrySettings(max_attachment_bytes=LIMIT))
    token = issue_token(platform, user="clerk1", org="org-s3", unit="01", roles=["clerk"])
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://registry", headers=headers) as client:
            yield app, client
    finally:
        app.state.parts.application.close()
        app.state.parts.pool.close()


async def _document(client: httpx.AsyncClient) -> str:
    body = {
        "kind": "incoming_letter",
        "title": "Письмо с приложением в S3",
        "correspondent": "Росстат",
        "correspondent_number": f"12-07/{uuid.uuid4().hex[:6]}",
        "correspondent_date": "2026-11-20",
    }
    response = await client.post("/documents", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _objects(blobs: S3Blobs) -> list[str]:
    listed: dict[str, Any] = blobs.client.list_objects_v2(Bucket=blobs.bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_a_file_goes_into_the_bucket_by_its_hash_and_comes_back(
    registry: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = registry
    blobs = app.state.blobs
    assert isinstance(blobs, S3Blobs)
    document = await _document(client)
    content = samples.docx(["Письмо о ремонте дорог", "Приложение на 2 листах"])

    response = await client.post(f"/documents/{document}/attachments", files={"file": ("письмо.docx", content)})

    assert response.status_code == 201, response.text
    sha = hashlib.sha256(content).hexdigest()
    assert _objects(blobs) == [f"attachments/{sha[:2]}/{sha[2:4]}/{sha}"]
    download = await client.get(f"/documents/{document}/attachments/{sha}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-length"] == str(len(content))
    tail = await client.get(f"/documents/{document}/attachments/{sha}", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == content[-100:]

    await app.state.extraction.extract(uuid.UUID(document), sha)  # what the worker does, from the bucket
    [chunk] = extracted_chunks(app.state.parts.application, uuid.UUID(document))
    assert chunk["text"] == "Письмо о ремонте дорог\nПриложение на 2 листах"


async def test_the_configured_limit_refuses_with_413_and_writes_nothing(
    registry: tuple[FastAPI, httpx.AsyncClient], tmp_path: Path
) -> None:
    app, client = registry
    document = await _document(client)

    at_limit = await client.post(f"/documents/{document}/attachments", files={"file": ("a.txt", b"a" * LIMIT)})
    over = await client.post(f"/documents/{document}/attachments", files={"file": ("b.txt", b"b" * (LIMIT + 1))})

    assert at_limit.status_code == 201, at_limit.text
    assert over.status_code == 413
    assert over.json()["errors"] == [{"field": "file", "reason": f"the file is larger than {LIMIT} bytes"}]
    assert _objects(app.state.blobs) == [app.state.blobs.key(hashlib.sha256(b"a" * LIMIT).hexdigest())]
    spool = tmp_path / "blobs" / ".spool"  # where an S3 store spools uploads (edms_runtime.blobs.open_blobs)
    assert spool.is_dir()
    assert [p for p in spool.rglob("*") if p.is_file()] == []
    listed = (await client.get(f"/documents/{document}/attachments")).json()
    assert [a["filename"] for a in listed] == ["a.txt"]


async def test_a_letter_with_its_appendices_in_one_request_lands_in_the_bucket(
    registry: tuple[FastAPI, httpx.AsyncClient], tmp_path: Path
) -> None:
    """POST /documents/with-attachments against S3: every file of the request in the bucket by its hash, on the
    card in the order sent; one file over the configured limit refuses the request, and nothing reaches the bucket."""
    app, client = registry
    card = {
        "kind": "incoming_letter",
        "title": "Письмо с приложениями в S3",
        "correspondent": "Росстат",
        "correspondent_number": f"12-07/{uuid.uuid4().hex[:6]}",
        "correspondent_date": "2026-11-20",
    }
    scan, appendix = samples.cyrillic_pdf(["Скан письма"]), "Приложение 1".encode()
    over: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("card", (None, json.dumps({**card, "correspondent_number": "другой"}).encode(), "application/json")),
        ("file", ("a.txt", b"a" * 10, "text/plain")),
        ("file", ("b.txt", b"b" * (LIMIT + 1), "text/plain")),
    ]

    refused = await client.post("/documents/with-attachments", files=over)
    assert refused.status_code == 413, refused.text
    assert _objects(app.state.blobs) == []

    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("card", (None, json.dumps(card).encode(), "application/json")),
        ("file", ("скан.pdf", scan, "application/pdf")),
        ("file", ("приложение.txt", appendix, "text/plain")),
    ]
    response = await client.post("/documents/with-attachments", files=parts)

    assert response.status_code == 201, response.text
    shas = [hashlib.sha256(content).hexdigest() for content in (scan, appendix)]
    assert [(a["filename"], a["sha256"]) for a in response.json()["attachments"]] == list(
        zip(["скан.pdf", "приложение.txt"], shas, strict=True)
    )
    assert sorted(_objects(app.state.blobs)) == sorted(app.state.blobs.key(sha) for sha in shas)
    download = await client.get(f"/documents/{response.json()['id']}/attachments/{shas[1]}")
    assert download.content == appendix
    spool = tmp_path / "blobs" / ".spool"
    assert [p for p in spool.rglob("*") if p.is_file()] == []
