"""With PostgreSQL down, every service answers 503 problem details within a second; back up, all works again.

Issue 6, item 9: the registry answered 500 text/plain, search 500 after a pool's 30 s timeout. This module stops
its PostgreSQL, so it runs its own server (the session's is shared by other modules).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edms_runtime.stack import EmbeddedPostgres, Stack, free_port
from tests.conftest import _run_stack
from tests.infra import containers_requested
from tests.support import Client, eventually, incoming

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    if containers_requested() or os.environ.get("EDMS_DATABASE_URL"):
        pytest.skip("stops the embedded PostgreSQL; a given server is not ours to stop")
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-down") / "pgdata", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(own_postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system on this module's own PostgreSQL (overrides conftest's `stack`, so `clerk` uses it)."""
    data_dir: Path = tmp_path_factory.mktemp("edms")
    yield from _run_stack(data_dir, own_postgres.url, os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None)


def _timed(request: httpx.Request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(timeout=60) as http:
        response = http.send(request)
    return response, time.monotonic() - started


def test_with_postgres_down_every_service_answers_503_at_once_and_works_again_when_it_is_back(
    own_postgres: EmbeddedPostgres, stack: Stack, clerk: Client
) -> None:
    document = clerk.register(title="Зарегистрирован до остановки базы")["id"]
    requests = {
        "register": httpx.Request("POST", clerk.url("registry", "/documents"), headers=clerk.headers, json=incoming()),
        "search": httpx.Request("GET", clerk.url("search", "/search?q=базы"), headers=clerk.headers),
        "card": httpx.Request("GET", clerk.url("registry", f"/documents/{document}"), headers=clerk.headers),
        "route": httpx.Request("GET", clerk.url("routing", f"/documents/{document}/route"), headers=clerk.headers),
        "control": httpx.Request("GET", clerk.url("control", f"/cards/{document}"), headers=clerk.headers),
        "filing": httpx.Request("GET", clerk.url("archive", f"/documents/{document}"), headers=clerk.headers),
        "on control": httpx.Request("GET", clerk.url("control", "/cards"), headers=clerk.headers),
        "cases": httpx.Request("GET", clerk.url("archive", "/cases"), headers=clerk.headers),
    }
    own_postgres.stop()
    try:
        for name, request in requests.items():
            for attempt in range(2):  # the first one right after the stop, and one more
                response, seconds = _timed(request)
                assert response.status_code == 503, (name, attempt, response.text)
                assert response.headers["content-type"] == "application/problem+json", (name, response.text)
                assert response.headers["retry-after"] == "1"
                assert response.json()["status"] == 503
                assert seconds < 1.0, (name, attempt, seconds)
        for service in stack.processes:
            assert httpx.get(clerk.url(service, "/health"), timeout=10).status_code == 200
            ready = httpx.get(clerk.url(service, "/ready"), timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] is False, (service, ready.text)
    finally:
        own_postgres.start()

    def registered() -> dict[str, Any] | None:
        response = clerk.post("registry", "/documents", {**incoming(), "title": "После восстановления базы"})
        return response.json() if response.status_code == 201 else None

    after = eventually(registered, 10)
    eventually(lambda: clerk.get("search", "/search", q="базы").status_code == 200, 10)
    for service in stack.processes:
        eventually(lambda: httpx.get(clerk.url(service, "/ready"), timeout=10).status_code == 200, 30)  # noqa: B023
    # and what was registered after the outage flows on as before: relays and consumers came back too
    eventually(lambda: clerk.get("search", "/search", q=after["reg_number"]).json()["total"] == 1, 30)
    eventually(lambda: clerk.get("control", f"/cards/{after['id']}").status_code == 200, 30)
