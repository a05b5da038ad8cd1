"""The audit log of every service: each read and each command through the API, refusals included — who, what,
when, from where, and the outcome — append-only and hash-chained, in the service's own schema (`audit_log`).

Why here and how:
- **Every request, by the HTTP shell.** `AuditMiddleware` (pure ASGI, installed by `create_app` for every service
  that `build_parts` made) records each request but the operational ones (`/health`, `/ready`, `/metrics`, the API
  docs, the JWKS): so no endpoint can forget it, and a new endpoint is audited the day it is added. A refused token
  is recorded with the identity it claims (marked unverified); a document the access rule hides is recorded as
  `refused` although the caller gets the same 404 as for an unknown id (`edms_runtime.auth.readable` tells it).
- **Before the answer.** The answer is held until its entry is committed: a caller never sees a document whose
  read is not on record. Should the entry fail to be written, a read is answered 503 instead; a command, already
  committed by then, is answered as it is and the failure logged and counted (`edms_audit_failures_total`) — the
  entry is not written in the command's own transaction (that needs each service's unit of work; not done).
- **Group commit.** Entries of concurrent requests are written together, one transaction, one fsync.
- **The chain.** Each entry's hash covers the previous one's and its own canonical bytes (`edms_runtime.hashchain`,
  as the archive's event chain). Writers of all replicas take one transaction-scoped advisory lock, so `seq` is
  gapless and the chain follows it. Triggers refuse UPDATE, DELETE and TRUNCATE; whoever gets round them (a
  superuser) is caught by `edms audit verify`, which names every changed, missing and inserted entry. A cut-off tail
  shows only against a head recorded elsewhere (`--head`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edms_runtime import hashchain
from edms_runtime.errors import Unavailable

log = logging.getLogger(__name__)

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    org text,
    unit text,
    roles text[] NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    document text,
    outcome text NOT NULL,
    status integer NOT NULL,
    reason text,
    client text,
    forwarded_for text,
    correlation_id text,
    prev_hash bytea NOT NULL,
    entry_hash bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, seq);
CREATE INDEX IF NOT EXISTS audit_log_document ON audit_log (document, seq) WHERE document IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

#: The fields an entry's hash covers, in the order the table holds them.
HASHED = (
    "seq",
    "at",
    "actor",
    "org",
    "unit",
    "roles",
    "action",
    "target",
    "document",
    "outcome",
    "status",
    "reason",
    "client",
    "forwarded_for",
    "correlation_id",
)

FAILURES = Counter("edms_audit_failures_total", "Audit entries that could not be written", ["service"])

#: Paths that are not reads of anything a person owns: not audited.
OPERATIONAL = frozenset({"/health", "/ready", "/metrics", "/docs", "/redoc", "/openapi.json", "/favicon.ico"})
OPERATIONAL_PREFIXES = ("/.well-known/", "/docs/")

#: What `edms_runtime.auth.readable` refused during the current request (a list the middleware puts in place; the
#: endpoint's thread gets a copy of the context, so it appends to the very same list).
REFUSALS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("edms_audit_refusals", default=None)


def note_refusal(reason: str) -> None:
    """Mark the current request as refused by the access rule, whatever it answers (a hidden document is 404)."""
    refusals = REFUSALS.get()
    if refusals is not None:
        refusals.append(reason)


@dataclass
class Entry:
    at: datetime
    actor: str
    org: str | None
    unit: str | None
    roles: list[str]
    action: str
    target: str
    document: str | None
    outcome: str
    status: int
    reason: str | None
    client: str | None
    forwarded_for: str | None
    correlation_id: str | None
    seq: int = 0
    prev_hash: bytes = b""
    entry_hash: bytes = b""

    def hashed_fields(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in HASHED}
        values["at"] = self.at.astimezone(UTC).isoformat()
        values["roles"] = sorted(self.roles)
        return values

    def seal(self, seq: int, previous: bytes) -> None:
        self.seq, self.prev_hash = seq, previous
        self.entry_hash = hashchain.link(previous, hashchain.canonical(self.hashed_fields()))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Entry:
        values = dict(row)
        values["prev_hash"] = bytes(values["prev_hash"])
        values["entry_hash"] = bytes(values["entry_hash"])
        values["roles"] = list(values["roles"])
        return cls(**values)


#: The columns an insert fills: the hashed fields and the chain.
COLUMNS = (*HASHED, "prev_hash", "entry_hash")


@dataclass(frozen=True)
class _Statements:
    """The log's statements, composed once (composing them for every batch was a tenth of the log's CPU)."""

    lock: str
    last: str
    insert: str

    @classmethod
    def of(cls, schema: str) -> _Statements:
        table = sql.SQL("{}.audit_log").format(sql.Identifier(schema))
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table,
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
        )
        return cls(
            lock="SELECT pg_advisory_xact_lock(hashtext(%s))",
            last=sql.SQL("SELECT seq, entry_hash FROM {} ORDER BY seq DESC LIMIT 1").format(table).as_string(None),
            insert=insert.as_string(None),
        )


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    """Settle a waiting request's future from the batch's writer. The waiter may run on another event loop (a
    test client starts one per request; several servers may share a log): a future is settled on its own loop."""

    def settle() -> None:
        if future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is running:
        settle()
    else:
        loop.call_soon_threadsafe(settle)


def _lock_key(schema: str) -> str:
    return f"edms-audit-{schema}"


@dataclass
class AuditLog:
    """Writes entries to `<schema>.audit_log`, the entries of concurrent requests in one transaction."""

    service: str
    #: The service's pool: `GET /audit` reads with it. Entries are written on a connection of the log's own.
    pool: ConnectionPool[Any]
    database_url: str = ""
    #: False: an entry's commit does not wait for its WAL to reach the disk (PostgreSQL's asynchronous commit): the
    #: answer still waits for the entry to be committed and visible, but a crash of the server may lose the last
    #: ~0.6 s of entries (the chain stays whole, shorter). `EDMS_AUDIT_SYNCHRONOUS_COMMIT`; see docs/BENCHMARKS.md.
    synchronous_commit: bool = True
    #: Whether PostgreSQL answers now (the shell's DatabaseWatch): while it does not, entries fail at once rather
    #: than wait for a pooled connection.
    database_up: Callable[[], bool] = lambda: True
    _pending: list[tuple[Entry, asyncio.Future[None]]] = field(default_factory=list)
    _writing: bool = False
    _conn: psycopg.AsyncConnection[Any] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The event loop the connection and the lock belong to. A server has one; a test client may start one per
    #: request, and a connection cannot be used from another loop: a new loop gets a connection of its own.
    _loop: asyncio.AbstractEventLoop | None = None
    #: The last entry this log committed (seq, hash): the next batch is sealed on it, the primary key telling
    #: whether another replica wrote meanwhile. None: read it under the lock.
    _head: tuple[int, bytes] | None = None
    _statements: _Statements = field(init=False)

    def __post_init__(self) -> None:
        self._statements = _Statements.of(self.service)

    async def record(self, entry: Entry) -> None:
        """Return once `entry` is committed (or raise why it is not)."""
        if not self.database_up():
            raise Unavailable("the database does not answer; the audit entry cannot be written")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, done))
        if not self._writing:
            self._writing = True
            try:
                while self._pending:
                    batch, self._pending = self._pending, []
                    try:
                        await self.write([item for item, _ in batch])
                    except Exception as exc:
                        for _, future in batch:
                            _settle(future, exc)
                    else:
                        for _, future in batch:
                            _settle(future, None)
            finally:
                self._writing = False
        await done

    async def write(self, entries: list[Entry]) -> None:
        """Seal and insert `entries` in one transaction, on the log's own connection, in the event loop.

        One round trip when this log wrote the last entry: the lock, the inserts sealed on the head it remembers,
        and the commit, in one pipeline. Should another replica have written since, the first insert takes a `seq`
        that is there already (seq is gapless, and every writer continues from the head): the primary key refuses
        it, the transaction rolls back, and the entries are sealed again on the head read under the lock (two
        round trips: the lock then the last entry, the inserts then the commit). Not in a thread: between two
        round trips a thread waits for the GIL while the event loop is busy, which made every entry cost several
        milliseconds under load."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._conn, self._lock, self._head = loop, None, asyncio.Lock(), None
        async with self._lock:
            conn = await self._connection()
            try:
                if self._head is not None:
                    try:
                        await self._insert(conn, entries, self._head)
                        return
                    except psycopg.errors.UniqueViolation:
                        await conn.rollback()  # another replica wrote meanwhile: read the head under the lock
                self._head = None
                async with conn.pipeline():
                    await conn.execute(self._statements.lock, (_lock_key(self.service),))
                    cursor = await conn.execute(self._statements.last)
                    last = await cursor.fetchone()
                head = (int(last[0]), bytes(last[1])) if last else (0, hashchain.GENESIS)
                await self._insert(conn, entries, head, locked=True)
            except BaseException:
                self._conn, self._head = None, None
                with contextlib.suppress(Exception):
                    await conn.close()
                raise

    async def _insert(
        self, conn: psycopg.AsyncConnection[Any], entries: list[Entry], head: tuple[int, bytes], locked: bool = False
    ) -> None:
        """Seal `entries` after `head`, insert and commit them (taking the lock first unless `locked`); remember
        the new head."""
        seq, previous = head
        rows = []
        for entry in entries:
            seq += 1
            entry.seal(seq, previous)
            previous = entry.entry_hash
            rows.append([getattr(entry, name) for name in COLUMNS])
        async with conn.pipeline(), conn.cursor() as cursor:
            if not locked:
                await cursor.execute(self._statements.lock, (_lock_key(self.service),))
            await cursor.executemany(self._statements.insert, rows)
            await conn.commit()
        self._head = (seq, previous)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        fresh: psycopg.AsyncConnection[Any] = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(self.database_url), timeout=5
        )
        if not self.synchronous_commit:
            await fresh.execute("SET synchronous_commit = off")
            await fresh.commit()
        self._conn = fresh
        return fresh

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def _outcome(status: int, refusals: list[str]) -> str:
    if refusals or status in (401, 403):
        return "refused"
    if status < 400:
        return "allowed"
    if status == 404:
        return "not_found"
    return "invalid" if status < 500 else "failed"


class AuditMiddleware:
    """Records every request but the operational ones, and holds the answer until its entry is committed.

    Refusals (4xx) are small problem-details bodies: they are held whole, so their `detail` becomes the entry's
    reason. Other answers are held only until their status is known, then streamed.
    """

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or _operational(path):
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        refusals: list[str] = []
        token = REFUSALS.set(refusals)
        held: list[Message] = []
        recorded = False

        async def record(status: int, body: bytes) -> bool:
            """Write the entry; False when it could not be written."""
            nonlocal recorded
            recorded = True
            try:
                await self.audit.record(_entry(scope, at, status, refusals, body))
            except Exception:
                FAILURES.labels(self.audit.service).inc()
                log.exception("audit entry of %s %s could not be written", scope["method"], path)
                return False
            return True

        async def send_audited(message: Message) -> None:
            if recorded:
                await send(message)
                return
            held.append(message)
            start = held[0]
            status = int(start["status"])
            if message["type"] == "http.response.start" and not 400 <= status < 500:
                written = await record(status, b"")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                written = await record(status, b"".join(m.get("body", b"") for m in held[1:]))
            else:
                return
            if not written and scope["method"] == "GET" and status < 400:
                await _unavailable(send)
                held.clear()
                return
            for item in held:
                await send(item)
            held.clear()

        try:
            await self.app(scope, receive, send_audited)
        except BaseException:
            if not recorded:  # a crash below the error handlers: still on record
                await record(500, b"")
            raise
        finally:
            REFUSALS.reset(token)
        if not recorded:  # the app ended without an answer
            await record(500, b"")


def _operational(path: str) -> bool:
    return path in OPERATIONAL or path.startswith(OPERATIONAL_PREFIXES)


async def _unavailable(send: Send) -> None:
    body = json.dumps(
        {
            "type": "https://edms.example/problems/503",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "the read could not be recorded in the audit log; try again",
            "errors": [],
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _entry(scope: Scope, at: datetime, status: int, refusals: list[str], body: bytes) -> Entry:
    state = scope.get("state") or {}
    principal = state.get("principal")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    route = scope.get("route")
    params = scope.get("path_params") or {}
    template = getattr(route, "path", None) or "<unmatched>"
    reason = ("; ".join(refusals) or _detail(body)) if status >= 400 or refusals else None
    client = scope.get("client")
    if principal is not None:
        actor, org, unit, roles = principal.sub, principal.org, principal.unit, sorted(principal.roles)
    else:
        actor, org, unit, roles = f"unverified:{state.get('refused_identity', 'anonymous')}", None, None, []
    document = params.get("document_id") or params.get("sha256")
    return Entry(
        at=at,
        actor=actor,
        org=org,
        unit=unit,
        roles=roles,
        action=f"{scope['method']} {template}",
        target=_target(scope),
        document=str(document) if document is not None else None,
        outcome=_outcome(status, refusals),
        status=status,
        reason=reason[:1000] if reason else None,
        client=client[0] if client else None,
        forwarded_for=headers.get("x-forwarded-for"),
        correlation_id=headers.get("x-correlation-id"),
    )


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope.get("path", "")) + (f"?{query}" if query else "")


def _detail(body: bytes) -> str | None:
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    return str(detail) if detail is not None else None


# -- verification (`edms audit verify`) ---------------------------------------------------------------------------
@dataclass
class Verification:
    service: str
    entries: int = 0
    head: tuple[int, str] | None = None
    problems: list[str] = field(default_factory=list)


def verify(database_url: str, service: str, *, expect_head: str | None = None) -> Verification:
    """Walk `<service>.audit_log` in order, recomputing every hash: name each entry changed, missing (deleted) or
    inserted, and whether `expect_head` (a head recorded elsewhere) is still on the chain."""
    result = Verification(service)
    previous, expected_seq, seen_head = hashchain.GENESIS, 1, expect_head is None
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass(%s) AS t", (f"{service}.audit_log",)).fetchone()
        if exists is None or exists["t"] is None:
            result.problems.append(f"{service}: no audit log (the service never started here?)")
            return result
        query = sql.SQL("SELECT * FROM {}.audit_log ORDER BY seq").format(sql.Identifier(service))
        with conn.cursor(name=f"audit_verify_{service}") as cursor:
            cursor.execute(query)
            for row in cursor:
                entry = Entry.from_row(row)
                result.entries += 1
                if entry.seq > expected_seq:
                    missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}-{entry.seq - 1}"
                    result.problems.append(f"{service}: entry {missing} missing (deleted)")
                elif entry.seq < expected_seq:  # cannot happen with the primary key, but a verifier does not assume
                    result.problems.append(f"{service}: entry {entry.seq} out of order (inserted)")
                if entry.prev_hash != previous:
                    result.problems.append(
                        f"{service}: entry {entry.seq} does not follow the entry before it "
                        "(an entry was removed or inserted before it)"
                    )
                recomputed = hashchain.link(entry.prev_hash, hashchain.canonical(entry.hashed_fields()))
                if recomputed != entry.entry_hash:
                    result.problems.append(
                        f"{service}: entry {entry.seq} ({entry.actor}, {entry.action}, {entry.at.isoformat()}) "
                        "changed: its hash does not match its content (or it was inserted)"
                    )
                previous, expected_seq = entry.entry_hash, entry.seq + 1
                seen_head = seen_head or previous.hex() == expect_head
                result.head = (entry.seq, previous.hex())
    if not seen_head:
        result.problems.append(f"{service}: head {expect_head} is not on the chain (entries after it were cut off)")
    return result
