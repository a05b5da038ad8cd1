"""The Elasticsearch indexer: copies read-model rows that changed into the engine, at least once, losing none.

The PostgreSQL read model (search.documents) stays the source of truth: the tracking consumer writes it, and every
write sets `indexed = false` in the same statement. This loop

1. checks the index behind the alias (creating it with its mappings if missing) and compares its uuid with the one
   recorded in `engine_index`; a different one (the engine lost its data, or the index was made anew) sets every
   row's flag back to false, so everything is indexed again;
2. reads up to `batch_size` rows `WHERE NOT indexed ... FOR UPDATE SKIP LOCKED` (rows a consumer transaction is
   writing at this moment are skipped: they are about to change) together with their row version (`xmin`), in a
   short transaction, so no lock is held while Elasticsearch answers and a slow engine never stalls the consumer;
3. bulk-indexes them (document _id = document_id, the row's content), through the alias with `require_alias`;
4. sets `indexed = true` only where the row's version is still the one read: a row updated meanwhile keeps
   `false` and goes again in the next pass, with its new content.

If Elasticsearch is down the flags stay false and the loop retries with a doubling backoff: nothing is lost, and
documents may be indexed twice (same _id, so that only overwrites). A document the engine refuses for good (e.g.
a mapping conflict) is logged, counted, and left unindexed; it is tried again after `quarantine_seconds` or when
the row changes. One indexer per service writes (a PostgreSQL session advisory lock, as the outbox relay does), so
two replicas can never write an older version of a document over a newer one; the others stand by.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from elasticsearch import ApiError, TransportError
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from edms_runtime.background import LeaderLoop
from edms_runtime.faults import is_transient
from edms_search.elastic import FIELDS, DocumentIndex, to_source

log = logging.getLogger(__name__)

INDEXED = Counter("edms_search_indexed_total", "Read-model rows indexed into Elasticsearch")
REFUSED = Counter("edms_search_index_refused_total", "Rows Elasticsearch refused (left unindexed, retried later)")
REINDEXES = Counter("edms_search_full_reindexes_total", "Times a new Elasticsearch index made every row due again")


class EngineUnavailable(Exception):
    """Elasticsearch refused part of a batch for now (overloaded, index gone): back off and try again."""


@dataclass
class Pass:
    """What one pass did."""

    read: int = 0
    indexed: int = 0
    #: Rows indexed but updated meanwhile: left unindexed for the next pass.
    changed: int = 0
    refused: int = 0


class Indexer(LeaderLoop):
    name = "indexer"

    def __init__(
        self,
        *,
        service: str,
        pool: ConnectionPool[Any],
        index: DocumentIndex,
        database_url: str,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
        retry_seconds: float = 0.5,
        max_retry_seconds: float = 30.0,
        quarantine_seconds: float = 300.0,
    ) -> None:
        super().__init__(role=f"edms-indexer-{service}", database_url=database_url)
        self.service = service
        self.pool = pool
        self.index = index
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.quarantine_seconds = quarantine_seconds
        #: The LISTEN connection is up (changes wake the loop at once; otherwise it looks every idle_seconds).
        self.listening = False
        self._known_uuid: str | None = None
        #: "document_id@row_version" of rows refused for good -> when to try them again.
        self._quarantine: dict[str, float] = {}

    # -- one pass (runs in a worker thread) -----------------------------------------------------------------------
    def index_once(self) -> Pass:
        self.check_index()
        rows = self.read_batch()
        return self.write(rows) if rows else Pass()

    def check_index(self) -> None:
        """Make sure the index exists; if it is not the one the flags refer to, make every row due again.

        An alias still on an index of older mappings is rebuilt beside it and swapped atomically (`rebuild`)."""
        current = self.index.ensure()
        if current == self._known_uuid:
            return
        behind = self.index.behind_alias()
        if behind is not None and behind != self.index.concrete:
            current = self.rebuild(behind)
        if current == self._known_uuid:
            return
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT index_uuid FROM engine_index WHERE alias = %s FOR UPDATE", (self.index.alias,)
            ).fetchone()
            if row is None or row["index_uuid"] != current:
                reset = conn.execute("UPDATE documents SET indexed = false WHERE indexed").rowcount
                conn.execute(
                    "INSERT INTO engine_index (alias, index_uuid) VALUES (%s, %s) "
                    "ON CONFLICT (alias) DO UPDATE SET index_uuid = EXCLUDED.index_uuid",
                    (self.index.alias, current),
                )
                if row is not None:
                    REINDEXES.inc()
                    log.warning(
                        "indexer: index %s is new (uuid %s, was %s); indexing all rows again (%d were indexed)",
                        self.index.alias,
                        current,
                        row["index_uuid"],
                        reset,
                    )
        self._known_uuid = current

    def rebuild(self, old: str) -> str:
        """Copy every row into a new index of the current mappings while `old` keeps answering searches, then move
        the alias in one request and record the new index, so the flags stay valid: a row that changed during the
        copy has its flag false and is indexed again through the alias, now the new index."""
        log.warning("indexer: alias %s is on %s; building %s beside it", self.index.alias, old, self.index.concrete)
        self.index.create_concrete()
        after = None
        copied = 0
        while True:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    f"SELECT {', '.join(FIELDS)} FROM documents "  # noqa: S608 - our names
                    "WHERE (%(after)s::uuid IS NULL OR document_id > %(after)s::uuid) ORDER BY document_id LIMIT %(n)s",
                    {"after": after, "n": self.batch_size},
                ).fetchall()
            if not rows:
                break
            outcome = self.index.bulk_index([to_source(r) for r in rows], into=self.index.concrete)
            if outcome.retry:
                raise EngineUnavailable(f"{len(outcome.retry)} documents not copied into {self.index.concrete}")
            copied += len(outcome.indexed)
            after = rows[-1]["document_id"]
        self.index.client.indices.refresh(index=self.index.concrete)
        current = self.index.swap(old)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO engine_index (alias, index_uuid) VALUES (%s, %s) "
                "ON CONFLICT (alias) DO UPDATE SET index_uuid = EXCLUDED.index_uuid",
                (self.index.alias, current),
            )
        REINDEXES.inc()
        log.warning("indexer: %d documents copied; alias %s now on %s", copied, self.index.alias, self.index.concrete)
        self._known_uuid = current
        return current

    def read_batch(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        self._quarantine = {key: until for key, until in self._quarantine.items() if until > now}
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT xmin::text AS row_version, {', '.join(FIELDS)} FROM documents "  # noqa: S608 - our names
                "WHERE NOT indexed AND document_id::text || '@' || xmin::text <> ALL(%s::text[]) "
                "LIMIT %s FOR UPDATE SKIP LOCKED",
                (list(self._quarantine), self.batch_size),
            ).fetchall()
        return [dict(r) for r in rows]

    def write(self, rows: list[dict[str, Any]]) -> Pass:
        """Index rows as read_batch read them; mark those still unchanged. Raises the client's errors if ES is down."""
        outcome = self.index.bulk_index([to_source(r) for r in rows])
        done = set(outcome.indexed)
        versions = {str(r["document_id"]): r["row_version"] for r in rows}
        marked = self._mark([(key, versions[key]) for key in outcome.indexed if key in versions])
        INDEXED.inc(marked)
        until = time.monotonic() + self.quarantine_seconds
        for key, reason in outcome.refused.items():
            self._quarantine[f"{key}@{versions[key]}"] = until  # this version of the row; a new one is tried
            log.error("indexer: Elasticsearch refused document %s: %s", key, reason)
        REFUSED.inc(len(outcome.refused))
        result = Pass(read=len(rows), indexed=marked, changed=len(done) - marked, refused=len(outcome.refused))
        if outcome.retry:
            key, reason = next(iter(outcome.retry.items()))
            raise EngineUnavailable(f"{len(outcome.retry)} documents not indexed for now, e.g. {key}: {reason}")
        return result

    def _mark(self, indexed: list[tuple[str, str]]) -> int:
        """Set the flag where the row is still the version that was indexed (compare and set on xmin)."""
        if not indexed:
            return 0
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE documents AS d SET indexed = true "
                "FROM unnest(%s::uuid[], %s::text[]) AS r(document_id, row_version) "
                "WHERE d.document_id = r.document_id AND d.xmin::text = r.row_version AND NOT d.indexed",
                ([key for key, _ in indexed], [version for _, version in indexed]),
            )
            return int(cursor.rowcount)

    # -- loop -----------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name=f"{self.service}-indexer-listen")
        try:
            await super().run()
        finally:
            listener.cancel()

    async def lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        backoff = self.retry_seconds
        while not self.stopping:
            self.wakeup.clear()  # before the pass: a change committed during it wakes the wait below at once
            try:
                result = await asyncio.to_thread(self.index_once)
            except Exception as exc:
                if not isinstance(exc, (ApiError, TransportError, EngineUnavailable)) and not is_transient(exc):
                    raise
                # the engine is unavailable, or PostgreSQL failed for a reason that is not the rows' (a deadlock
                # with a consumer, a lost connection): nothing was marked, so nothing is lost; try again later
                self.active = False
                log.warning("indexer: pass failed (%s); retrying in %.1f s", exc, backoff)
                await self.pause(backoff)
                backoff = min(backoff * 2, self.max_retry_seconds)
                continue
            self.active = True
            backoff = self.retry_seconds
            await self.keep(leader)
            if result.read == 0:
                await self.idle(self.idle_seconds)

    async def _listen(self) -> None:
        """LISTEN for changed rows (trigger documents_changed) so the indexer starts within milliseconds."""
        while not self.stopping:
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{self.service}.documents"')
                    self.listening = True
                    self.wakeup.set()  # a change made before LISTEN took effect is not missed
                    async for _ in conn.notifies():
                        self.wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("indexer: LISTEN connection lost; reconnecting")
                await self.pause(1.0)
            finally:
                self.listening = False
