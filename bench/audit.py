"""Audit log benchmark: what recording every request costs, beside the same endpoint unaudited and beside writing
each entry in a transaction of its own (the raw limit group commit is there to beat), and how fast verify walks it.

    .venv/bin/python bench/audit.py [--requests N] [--concurrency C]

Starts an embedded PostgreSQL in a temporary directory (or uses EDMS_DATABASE_URL: a fresh database on it), builds
the HTTP shell of a service (`edms_runtime.http.create_app`) with one endpoint, `GET /documents/{document_id}`,
that reads one row, and drives it in-process (httpx over ASGI, C concurrent clients), in the same run:

1. the shell without an audit log;
2. the shell with the audit log (`AuditMiddleware`, entries of concurrent requests committed together), and
   2b. the same with `EDMS_AUDIT_SYNCHRONOUS_COMMIT=false` (the commit does not wait for the disk);
3. the same entries written one transaction each (`AuditLog.write` of one entry per request: the raw limit);
then `edms_runtime.audit.verify` over everything written.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from fastapi import APIRouter

from edms_runtime.audit import AuditLog, Entry, verify
from edms_runtime.auth import CurrentPrincipal, issue_token
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.http import Database, ServiceParts, create_app
from edms_runtime.service import PLUMBING_DDL
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import EmbeddedPostgres, free_port

SERVICE = "bench"


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/documents/{document_id}")
    def document(document_id: uuid.UUID, principal: CurrentPrincipal, pool: Database) -> dict[str, Any]:
        with pool.connection() as conn:
            row = conn.execute("SELECT %s::uuid AS id, now() AS at", (document_id,)).fetchone()
        return {"id": str(row["id"]) if row else None, "reader": principal.sub}

    return router


async def _drive(app: Any, token: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(requests))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def worker() -> None:
            for _ in counter:
                started = time.perf_counter()
                response = await client.get(f"/documents/{uuid.uuid4()}", headers=headers)
                assert response.status_code == 200, response.text
                latencies.append(time.perf_counter() - started)

        await client.get(f"/documents/{uuid.uuid4()}", headers=headers)  # warm: token verified once, pools open
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


async def _one_per_transaction(audit: AuditLog, requests: int, concurrency: int) -> tuple[float, list[float]]:
    from datetime import UTC, datetime

    latencies: list[float] = []
    counter = iter(range(requests))

    def entry() -> Entry:
        return Entry(
            at=datetime.now(UTC),
            actor="bench",
            org="o",
            unit=None,
            roles=["clerk"],
            action="GET /documents/{id}",
            target="/documents/x",
            document=str(uuid.uuid4()),
            outcome="allowed",
            status=200,
            reason=None,
            client="127.0.0.1",
            forwarded_for=None,
            correlation_id=None,
        )

    async def worker() -> None:
        for _ in counter:
            started = time.perf_counter()
            await audit.write([entry()])
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def _row(name: str, elapsed: float, latencies: list[float], requests: int) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return f"| {name} | {requests / elapsed:,.0f} | {p50:.1f} | {p99:.1f} |"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        base = os.environ.get("EDMS_DATABASE_URL")
        if base is None:
            server = EmbeddedPostgres(Path(tmp) / "pgdata", free_port())
            server.start()
            base = server.url
        try:
            name = f"edms_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(urlsplit(base)._replace(path="/postgres").geturl(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = urlsplit(base)._replace(path=f"/{name}").geturl()
            settings = PlatformSettings(data_dir=Path(tmp), database_url=url)
            token = issue_token(settings, user="bench", org="o", roles=["clerk"])
            ensure_schema(url, SERVICE, PLUMBING_DDL)
            pool = make_pool(url, SERVICE)
            rows = ["| shell | requests/s | p50 ms | p99 ms |", "|---|---|---|---|"]
            bare = create_app(
                ServiceParts(name=SERVICE, settings=settings, pool=pool), [_router()], title="b", description="b"
            )
            elapsed, latencies = asyncio.run(_drive(bare, token, args.requests, args.concurrency))
            rows.append(_row("1. no audit log", elapsed, latencies, args.requests))
            audit = AuditLog(service=SERVICE, pool=pool, database_url=url)
            audited = create_app(
                ServiceParts(name=SERVICE, settings=settings, pool=pool, audit=audit),
                [_router()],
                title="b",
                description="b",
            )
            elapsed, latencies = asyncio.run(_drive(audited, token, args.requests, args.concurrency))
            rows.append(_row("2. audit log, group commit", elapsed, latencies, args.requests))
            asynchronous = AuditLog(service=SERVICE, pool=pool, database_url=url, synchronous_commit=False)
            app = create_app(
                ServiceParts(name=SERVICE, settings=settings, pool=pool, audit=asynchronous),
                [_router()],
                title="b",
                description="b",
            )
            elapsed, latencies = asyncio.run(_drive(app, token, args.requests, args.concurrency))
            rows.append(_row("2b. audit log, group commit, synchronous_commit off", elapsed, latencies, args.requests))
            raw = AuditLog(service=SERVICE, pool=pool, database_url=url)  # its connection lives in one event loop
            elapsed, latencies = asyncio.run(_one_per_transaction(raw, args.requests, args.concurrency))
            rows.append(
                _row("3. raw: one entry per transaction (writes only, no HTTP)", elapsed, latencies, args.requests)
            )
            started = time.perf_counter()
            result = verify(url, SERVICE)
            seconds = time.perf_counter() - started
            assert not result.problems, result.problems
            pool.close()
            print(f"{args.requests} requests per row, {args.concurrency} concurrent clients, in-process ASGI\n")
            print("\n".join(rows))
            print(f"\nverify: {result.entries} entries in {seconds:.2f} s ({result.entries / seconds:,.0f} entries/s)")
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
