"""PostgreSQL access: one schema per service, psycopg pools, and the eventsourcing environment derived from a URL."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

#: eventsourcing settings the backbone's guarantees rest on; `build_application` checks they took effect.
PINNED_EVENTSOURCING_ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.postgres",
    # Our recorder: saves that join a consumer's or the registry's transaction, lost acknowledgements checked.
    "APPLICATION_RECORDER_TOPIC": "edms_runtime.recorder:ServiceRecorder",
    # Notification ids in commit order: inserts take LOCK TABLE ... IN EXCLUSIVE MODE until they commit. The
    # database-function insert skips that lock, and a relay-style reader then skips notifications.
    "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    # Seconds an insert waits for that table lock before it fails (a transient error: the work is retried).
    "POSTGRES_LOCK_TIMEOUT": "5",
    # A transaction left idle this long is ended by the server and its locks freed. No lock of ours may live on an
    # idle pooled connection for that reason: locks are taken on the connection that saves (ServiceRecorder).
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
}


def eventsourcing_env(database_url: str, schema: str) -> dict[str, str]:
    """Translate `postgresql://user:pw@host:port/db` into eventsourcing's POSTGRES_* settings."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"database URL must start with postgresql://, got {parts.scheme!r}")
    return {
        **PINNED_EVENTSOURCING_ENV,
        "POSTGRES_DBNAME": (parts.path or "/postgres").lstrip("/") or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_CONN_MAX_AGE": "",
        "CREATE_TABLE": "y",
    }


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if the server does not have it yet."""
    parts = urlsplit(database_url)
    name = (parts.path or "/").lstrip("/")
    if not name:
        return
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_schema(database_url: str, schema: str, ddl: str = "") -> None:
    """Create the service's schema (and run its idempotent DDL) before anything else touches it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Several services start at once; the advisory lock keeps concurrent CREATE ... IF NOT EXISTS apart.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"edms-ddl-{schema}",))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            if ddl:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                conn.execute(ddl.encode())
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"edms-ddl-{schema}",))


def make_pool(
    database_url: str, schema: str, *, min_size: int = 1, max_size: int = 8, wait_for_disk: bool = True
) -> ConnectionPool[Any]:
    """A pool whose connections see the service's schema first. `wait_for_disk=False` (a replay's shadow schema
    only: a replay that stops starts again from nothing) commits without waiting for the WAL to reach the disk
    (`synchronous_commit = off`)."""

    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        if not wait_for_disk:
            conn.execute("SET synchronous_commit TO off")
        conn.commit()

    pool: ConnectionPool[Any] = ConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        configure=configure,
        kwargs={"row_factory": dict_row},
        open=True,
    )
    return pool


async def try_lead(connection: psycopg.AsyncConnection[Any], role: str) -> bool:
    """Become the one process doing `role` (e.g. a service's relay): a session advisory lock on `connection`.

    Other replicas get False and stand by; the lock is freed when the connection closes or its process dies.
    """
    cursor = await connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (role,))
    row = await cursor.fetchone()
    return bool(row and row[0])


#: Share of PostgreSQL's own page cache (`shared_buffers`) that `prewarm` may fill.
PREWARM_SHARE = 0.5


def prewarm(database_url: str, schema: str, tables: Sequence[str], share: float = PREWARM_SHARE) -> str:
    """Read `tables` of `schema` and their indexes into PostgreSQL's own page cache (`pg_prewarm`), when together they
    take at most `share` of it; answers what was done (or why not), for the log.

    A table that was just loaded in bulk or rebuilt by a replay (or a server just restarted) has none of its pages in
    `shared_buffers`: a bulk write passes through a small ring of buffers, not the cache. The first queries then read
    every page they need through the operating system — at a million search cards a common word's few thousand pages,
    20–35 ms instead of ≈ 15 (bench/search.py). Without the extension (a managed server may not offer it) or without
    the room, nothing is read and the answer says so."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            with contextlib.suppress(psycopg.errors.UniqueViolation):  # two replicas creating it at once
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA public")
        except psycopg.Error as exc:
            return f"not prewarmed: pg_prewarm is not available ({type(exc).__name__}: {exc})".strip()
        relations = conn.execute(
            "SELECT c.oid::regclass::text, pg_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s "
            "AND (c.relname = ANY(%(tables)s) OR c.oid IN (SELECT i.indexrelid FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relnamespace = n.oid AND t.relname = ANY(%(tables)s))) "
            "ORDER BY c.relkind DESC, c.relname",
            {"schema": schema, "tables": list(tables)},
        ).fetchall()
        row = conn.execute(
            "SELECT setting::bigint * current_setting('block_size')::bigint FROM pg_settings "
            "WHERE name = 'shared_buffers'"
        ).fetchone()
        cache = int(row[0]) if row else 0
        size = sum(int(r[1]) for r in relations)
        mib = 1024 * 1024
        if size > cache * share:
            return (
                f"not prewarmed: {len(relations)} relations of {size // mib} MB take more than {share:.0%} of "
                f"shared_buffers ({cache // mib} MB)"
            )
        blocks = 0
        for name, _ in relations:
            read = conn.execute("SELECT public.pg_prewarm(%s::regclass)", (name,)).fetchone()
            blocks += int(read[0]) if read else 0
        return f"prewarmed {len(relations)} relations, {blocks} blocks ({size // mib} MB of {cache // mib} MB)"
