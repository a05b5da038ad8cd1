"""The shell's guards at the edge (issue 12, item 6): a body over its limit is 413 before it is read and expensive
routes are rate-limited per identity (OWASP API4:2023 "Unrestricted Resource Consumption"), security headers on every
answer (OWASP Secure Headers), CORS only for the configured desk. No database: the shell is asked through ASGI."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from psycopg_pool import ConnectionPool

from edms_runtime.auth import CurrentPrincipal, issue_token
from edms_runtime.http import ServiceParts, create_app
from edms_runtime.ratelimit import Buckets
from edms_runtime.roles import DEFAULT_FILE, table
from edms_runtime.settings import PlatformSettings


def _app(tmp_path: Path, **settings: Any) -> tuple[FastAPI, list[int]]:
    platform = PlatformSettings(
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        max_body_bytes=1000,
        max_upload_bytes=10_000,
        **settings,
    )
    parts = ServiceParts(name="shell", settings=platform, pool=ConnectionPool(platform.database_url, open=False))
    router = APIRouter()
    seen: list[int] = []

    @router.post("/things")
    async def things(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"size": len(body)}

    @router.post("/json")
    def json_body(body: dict[str, Any]) -> dict[str, int]:
        seen.append(len(body))
        return {"keys": len(body)}

    return create_app(parts, [router], title="t", description="t"), seen


def _call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(call())


def test_a_body_declared_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    app, seen = _app(tmp_path)
    pulled: list[int] = []

    async def fifty_megabytes() -> AsyncIterator[bytes]:
        for _ in range(50):
            pulled.append(1)
            yield b"x" * 1024 * 1024

    response = _call(
        app,
        "POST",
        "/json",
        content=fifty_megabytes(),
        headers={"content-type": "application/json", "content-length": str(50 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "<body>", "reason": "the request body is larger than 1000 bytes"}]
    assert seen == []
    assert len(pulled) <= 1  # at most the first chunk was produced by the client, none was read by the app


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(tmp_path: Path) -> None:
    app, seen = _app(tmp_path)
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            pulled.append(1)
            yield b'{"a":"' + b"x" * 500 + b'"}'

    response = _call(app, "POST", "/json", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert seen == []
    assert len(pulled) < 10


def test_files_get_the_larger_limit_json_the_smaller(tmp_path: Path) -> None:
    app, seen = _app(tmp_path)
    assert _call(app, "POST", "/json", json={"a": "x" * 1200}).status_code == 413
    assert _call(app, "POST", "/json", json={"a": "x" * 500}).status_code == 200
    upload = _call(app, "POST", "/things", files={"file": ("a.pdf", b"%PDF" + b"x" * 5000)})
    assert upload.status_code == 200, upload.text
    assert _call(app, "POST", "/things", files={"file": ("a.pdf", b"x" * 20_000)}).status_code == 413
    assert len(seen) == 2


def test_security_headers_on_every_answer_and_cors_only_for_the_desk(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    response = _call(app, "GET", "/health", headers={"Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "access-control-allow-origin" not in response.headers
    docs_policy = _call(app, "GET", "/docs").headers["content-security-policy"]
    assert docs_policy.startswith("default-src 'self';")
    assert "script-src" not in docs_policy  # scripts fall back to 'self': no inline script, no CDN

    desk, _ = _app(tmp_path, cors_origins="https://desk.region.example")
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = _call(desk, "OPTIONS", "/json", headers={"Origin": "https://desk.region.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://desk.region.example"
    refused = _call(desk, "OPTIONS", "/json", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


def test_a_token_bucket_refills_at_its_rate_and_holds_twice_as_many() -> None:
    buckets = Buckets()
    assert [buckets.take("ivanov", "GET /search", 2.0, now=100.0) for _ in range(4)] == [0.0] * 4
    assert buckets.take("ivanov", "GET /search", 2.0, now=100.0) == 0.5  # empty: the next token in half a second
    assert buckets.take("petrov", "GET /search", 2.0, now=100.0) == 0.0  # per identity
    assert buckets.take("ivanov", "GET /search", 2.0, now=100.5) == 0.0


def test_an_expensive_route_is_limited_per_identity_429_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route under [limits] in the role table: here `GET /search` at 1 per second (bursts of 2)."""
    policy = tmp_path / "roles.toml"
    policy.write_text(DEFAULT_FILE.read_text().replace('"GET /search" = 20', '"GET /search" = 1'))
    monkeypatch.setenv("EDMS_ROLES_FILE", str(policy))
    table.cache_clear()
    platform = PlatformSettings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    parts = ServiceParts(name="shell", settings=platform, pool=ConnectionPool(platform.database_url, open=False))
    router = APIRouter()

    @router.get("/search")
    def search(principal: CurrentPrincipal) -> dict[str, str]:
        return {"who": principal.sub}

    app = create_app(parts, [router], title="t", description="t")
    eager = {"Authorization": f"Bearer {issue_token(platform, user='eager', org='o', roles=['clerk'])}"}
    calm = {"Authorization": f"Bearer {issue_token(platform, user='calm', org='o', roles=['clerk'])}"}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answers = [await client.get("/search", headers=eager) for _ in range(4)]
            return [*answers, await client.get("/search", headers=calm)]

    try:
        answers = asyncio.run(burst())
    finally:
        table.cache_clear()
    codes = [answer.status_code for answer in answers]
    assert codes[:2] == [200, 200]
    assert 429 in codes[2:4]
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["content-type"] == "application/problem+json"
    assert "at most 1 requests per second to GET /search" in limited.json()["detail"]
    assert codes[-1] == 200  # another person is not slowed by the first


#: What each kind of asset must answer as, or a browser refuses it (`X-Content-Type-Options: nosniff`).
ASSET_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_everything_from_the_service_itself(tmp_path: Path, page: str) -> None:
    """Issue 12, item 6: on a closed government network `/docs` was blank, its scripts and styles were on a CDN."""
    app, _ = _app(tmp_path)
    html = _call(app, "GET", page)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', html.text)
    assert len(urls) >= 2, html.text
    assert not re.search(r"<script>|<style>|https?://|//cdn", html.text)  # no inline script, no other origin
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    for url in urls:
        answer = _call(app, "GET", url)
        assert answer.status_code == 200, url
        if url == "/openapi.json":
            assert answer.json()["paths"]
            continue
        expected = ASSET_TYPES[Path(url).suffix]
        assert answer.headers["content-type"].split(";")[0] == expected, url
        assert len(answer.content) > 100, url
    if page == "/docs":
        start = _call(app, "GET", "/docs/init.js").text
        assert '"url": "/openapi.json"' in start


def test_the_rate_limited_routes_document_their_429(tmp_path: Path) -> None:
    platform = PlatformSettings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    parts = ServiceParts(name="shell", settings=platform, pool=ConnectionPool(platform.database_url, open=False))
    router = APIRouter()

    @router.get("/search")
    def search() -> dict[str, str]:
        return {}

    document = _call(create_app(parts, [router], title="t", description="t"), "GET", "/openapi.json").json()
    limited = document["paths"]["/search"]["get"]["responses"]["429"]
    assert list(limited["content"]) == ["application/problem+json"]
    assert "Retry-After" in limited["headers"]
    assert "429" not in document["paths"]["/health"]["get"]["responses"]
