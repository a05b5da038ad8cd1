"""The HTTP shell's answers to a database that cannot serve a request: 503 problem details, never a bare 500.

Issue 6, item 9 ("Faults at the edge answer fast and clearly"). No database here: routes raise what psycopg,
psycopg_pool and eventsourcing raise, and the shell is asked through ASGI (its lifespan, and so the watch's loop,
does not run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import psycopg
import pytest
from eventsourcing import persistence
from fastapi import APIRouter, Depends, FastAPI
from psycopg_pool import ConnectionPool, PoolTimeout

from edms_runtime.eventstore import ServiceApplication
from edms_runtime.http import ServiceParts, application_dependency, create_app
from edms_runtime.settings import PlatformSettings


def _wrap(cause: Exception) -> Exception:
    """As eventsourcing raises it: its own error, caused by psycopg's."""
    error = persistence.OperationalError(str(cause))
    error.__cause__ = cause
    return error


FAILURES: dict[str, tuple[Callable[[], Exception], bool]] = {
    # name: (the error, whether it means the server is out of reach)
    "connection lost under eventsourcing": (
        lambda: _wrap(psycopg.OperationalError("server closed the connection unexpectedly")),
        True,
    ),
    "connection refused": (lambda: psycopg.OperationalError("connection failed: Connection refused"), True),
    "server shutting down": (lambda: psycopg.errors.AdminShutdown("terminating connection"), True),
    "pool timeout": (lambda: PoolTimeout("couldn't get a connection after 30.00 sec"), False),
    "deadlock": (lambda: psycopg.errors.DeadlockDetected("deadlock detected"), False),
    "lock timeout": (lambda: _wrap(psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")), False),
}


def _app(tmp_path: Path, failure: Exception | None = None) -> tuple[FastAPI, ServiceParts]:
    settings = PlatformSettings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    parts = ServiceParts(name="shell", settings=settings, pool=ConnectionPool(settings.database_url, open=False))
    router = APIRouter()

    @router.get("/fails")
    def fails() -> None:
        assert failure is not None
        raise failure

    @router.get("/needs-the-application")
    def needs_the_application(
        app: Annotated[ServiceApplication, Depends(application_dependency(ServiceApplication))],
    ) -> None:
        raise AssertionError("not reached while the database is down")

    return create_app(parts, [router], title="shell", description=""), parts


async def _aget(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shell") as client:
        return await client.get(path)


@pytest.mark.parametrize("name", FAILURES)
async def test_a_database_failure_is_503_problem_with_retry_after(tmp_path: Path, name: str) -> None:
    make, lost = FAILURES[name]
    app, parts = _app(tmp_path, make())

    response = await _aget(app, "/fails")

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["status"] == 503
    assert parts.database.up is not lost  # only a lost server makes the next requests fail at once


async def test_a_database_error_that_would_fail_again_stays_a_500(tmp_path: Path) -> None:
    """Not every database error is the database's absence: a statement too large for it is a bug, not a retry."""
    app, parts = _app(tmp_path, psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"))

    response = await _aget(app, "/fails")

    assert response.status_code == 500
    assert parts.database.up


async def test_while_the_database_is_down_requests_needing_it_answer_503_without_asking_it(tmp_path: Path) -> None:
    app, parts = _app(tmp_path)
    parts.database.up = False

    response = await _aget(app, "/needs-the-application")

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the database does not answer; try again in a moment"
    assert (await _aget(app, "/health")).status_code == 200
    ready = await _aget(app, "/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": False}


PROBLEM_STATUSES = ["400", "401", "403", "404", "409", "413", "422", "503"]


async def test_every_operation_documents_its_problem_details_as_the_shell_answers_them(tmp_path: Path) -> None:
    """Issue 12, item 7: the OpenAPI lists the problem-details answers (`application/problem+json`, one schema) of
    every operation, and the shell answers them so; `/metrics` is text, `/ready`'s 503 its checks."""
    app, _ = _app(tmp_path, psycopg.errors.DeadlockDetected("deadlock detected"))
    document = (await _aget(app, "/openapi.json")).json()
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's 422 is never answered
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            statuses = [code for code in PROBLEM_STATUSES if path != "/ready" or code != "503"]
            for code in statuses:
                assert responses[code]["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                }, (method, path, code)
            assert "429" not in responses  # no route of this shell is under [limits]
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert list(document["paths"]["/ready"]["get"]["responses"]["503"]["content"]) == ["application/json"]

    answer = await _aget(app, "/fails")
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert set(problem["required"]) <= set(body)
    assert {name: type(body[name]).__name__ for name in problem["required"]} == {
        "type": "str",
        "title": "str",
        "status": "int",
        "detail": "str",
        "errors": "list",
    }
    metrics = await _aget(app, "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
