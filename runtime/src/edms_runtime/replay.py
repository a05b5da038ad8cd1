"""Rebuilding one service's read model beside the live one and swapping it in when caught up (`edms replay SERVICE`).

1. The read model's DDL runs in a shadow schema `<service>_replay` (tables, their functions, tracking).
2. A consumer of its own (no group: every partition assigned, from the beginning) reads the topics the read model's
   handlers take and applies them there with the live consumer's code (`Applier`), printing progress: 5,000 events
   a transaction, the handlers' statements pipelined, tracking rows by COPY.
3. It is caught up when it has read every partition as far as the live consumer has applied it (the live consumer
   records that in `consumer_positions`, in the same transaction as what it applies). Then it takes the read
   model's swap lock exclusively: live consumers finish their transaction and wait. It reads on until caught up with
   where they stopped, and in the same transaction drops the live tables, moves the rebuilt ones (and their
   functions) into the service's schema and replaces the read model's tracking rows with its own. Live consumers go
   on with the new tables and skip what the replay applied already.

The live API answers throughout (the old tables until the swap commits). Policies (the handlers that save to the
event store) are not replayed: their effects are facts in the event store. If the broker no longer has a topic's
beginning (a real cluster's retention removed it), the producers of that topic are asked to republish from their
event stores, and the replay reads on until it has everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql

from edms_runtime.consumer import (
    TRACKING_DDL,
    Applier,
    BatchApplier,
    BatchResult,
    ReadModel,
    Record,
    read_track,
    swap_lock_name,
    topics_of,
)
from edms_runtime.db import ensure_schema, make_pool, prewarm
from edms_runtime.deadletters import DEAD_LETTERS_DDL
from edms_runtime.kafka import cluster_id, ensure_topics
from edms_runtime.lanes import Lanes, applied
from edms_runtime.settings import PlatformSettings

#: Entry-point group under which each service names its read model (its pyproject.toml).
ENTRY_POINTS = "edms.read_models"


class NoReadModel(LookupError):
    pass


class _NotYet(Exception):
    """The replay did not catch up with the paused live consumers in time; they go on and it tries again."""


def read_model_of(service: str) -> ReadModel:
    for entry in entry_points(group=ENTRY_POINTS):
        if entry.name == service:
            model = entry.load()
            if not isinstance(model, ReadModel):
                raise TypeError(f"{entry.value} is not a ReadModel")
            return model
    names = sorted(entry.name for entry in entry_points(group=ENTRY_POINTS))
    raise NoReadModel(f"{service} has no read model to rebuild (services with one: {', '.join(names)})")


@contextlib.contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Python's cyclic garbage collector, tuned for a process that replays: what exists before is frozen out of its
    full collections, and the young generation is collected every `young` allocations instead of 700. A fetch of
    5,000 events keeps tens of thousands of objects alive while it is applied (records, envelopes, events, rows);
    with the defaults the collector went over them again and again: half of the applier's own CPU (36 -> 18 us an
    event, measured in-process). The replay makes no cycles worth collecting sooner; afterwards all is as before."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


#: Kept by a replay's appliers in memory instead (`Applier.seen`): at a million events an insert into this key cost
#: the server 6.5 us, the key made at the end 0.7 (bench/control.py).
TRACKING_KEY = "tracking_pkey"


def defer_indexes(database_url: str, schema: str, names: Sequence[str]) -> list[str]:
    """Drop these indexes and keys of a replay's shadow tables while it fills them, returning the statements that
    make them again (`make_indexes`, once caught up): an index made in one sorted pass costs a fraction of the
    inserts into it one row at a time. Only for what the replay's own statements do not read."""
    statements: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in names:
            key = conn.execute(
                "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = %s AND connamespace = %s::regnamespace",
                (name, schema),
            ).fetchone()
            if key is not None:
                table = sql.SQL(key[0])  # as PostgreSQL names it: quoted and qualified where needed
                statements.append(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    table, sql.Identifier(name), sql.SQL(key[1])).as_string(conn))  # fmt: skip
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(name)))
                continue
            index = conn.execute(
                "SELECT pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = %s AND n.nspname = %s AND c.relkind = 'i'",
                (name, schema),
            ).fetchone()
            if index is None:
                raise LookupError(f"{schema} has no index or key {name!r} to defer")
            statements.append(str(index[0]))
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
    return statements


def make_indexes(database_url: str, statements: Sequence[str]) -> None:
    """The deferred indexes and keys made (`defer_indexes`); a key that the rows break (an event tracked twice)
    fails here, before anything is swapped in."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


@dataclass
class Summary:
    service: str
    applied: int = 0
    duplicates: int = 0
    dead: int = 0
    seconds: float = 0.0
    swapped: bool = False

    @property
    def rate(self) -> float:
        return self.applied / self.seconds if self.seconds else 0.0


Positions = dict[tuple[str, int], int]


class Replay:
    """One rebuild of `service`'s read model; `run` returns when it has been swapped in (or raises)."""

    def __init__(
        self,
        service: str,
        settings: PlatformSettings,
        model: ReadModel,
        *,
        say: Callable[[str], None] = print,
        batch: int = 5000,
        swap_wait_seconds: float = 30.0,
        lanes: int = 1,
        remember: int = 5_000_000,
    ) -> None:
        self.service = service
        self.settings = settings
        self.model = model
        self.say = say
        self.batch = batch
        self.swap_wait_seconds = swap_wait_seconds
        #: Processes applying each fetch's partitions at once; only for a partitioned read model (1 otherwise).
        self.lanes = lanes if model.partitioned else 1
        #: Up to how many events (about) the replay tells an event met twice by memory (`Applier.seen`, ≈ 80 bytes an
        #: event, its tracking key made at the end); above it, by the tracking table's key as it goes (slower).
        self.remember = remember
        self.shadow = f"{service}_replay"
        self.track = read_track(service)
        self.topics = topics_of(model.handlers)
        self.read: Positions = {}
        self.summary = Summary(service)
        #: What makes the indexes the replay fills its tables without (`defer_indexes`) once it has caught up.
        self._deferred: list[str] = []

    async def run(self) -> Summary:
        with fewer_collections():
            return await self._run()

    async def _run(self) -> Summary:
        started = time.monotonic()
        expected = self._expected()
        remember = expected <= self.remember
        self.say(
            f"{self.service}: ≈ {expected} events; what it applies is remembered in memory (≈ 80 bytes an event)"
            if remember
            else f"{self.service}: ≈ {expected} events, more than it remembers ({self.remember}): it asks the "
            "tracking table's key as it goes"
        )
        self._prepare_shadow(remember)
        pool = None
        applier: BatchApplier
        if self.lanes > 1:
            applier = Lanes(self.service, self.settings.database_url, self.shadow, self.lanes, remember=remember)
            applier.start()
            self.say(f"{self.service}: applying in {self.lanes} processes at once (by partition)")
        else:
            pool = make_pool(self.settings.database_url, self.shadow, max_size=2, wait_for_disk=False)
            applier = Applier(
                service=self.service, pool=pool, tracks=[self.model.track(self.track)], pipelined=True,
                seen=set() if remember else None,
            )  # fmt: skip
        await ensure_topics(self.settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic.name, p) for topic in self.topics for p in range(topic.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            cluster = await cluster_id(consumer._client)
            await self._republish_lost_history(consumer, partitions)
            self.say(
                f"{self.service}: rebuilding {', '.join(self.model.tables)} in schema {self.shadow} from "
                f"{len(partitions)} partitions of {', '.join(t.name for t in self.topics)}"
            )
            last_report = time.monotonic()
            analyzed = False
            while True:
                read = await self._read(consumer, applier)
                now = time.monotonic()
                self.summary.seconds = now - started
                if now - last_report >= 1.0 or not read:
                    last_report = now
                    behind = await self._behind(cluster)
                    self.say(
                        f"{self.service}: {self.summary.applied} events applied ({self.summary.rate:.0f}/s), "
                        f"{behind} behind the live consumer"
                    )
                    if behind == 0 and not analyzed:
                        await asyncio.to_thread(self._drain, applier)
                        await asyncio.to_thread(self._analyze)
                        analyzed = True
                    if behind == 0 and await self._try_swap(consumer, applier, cluster):
                        break
        finally:
            await consumer.stop()
            if pool is not None:
                pool.close()
            if isinstance(applier, Lanes):
                applier.close()
        self.summary.seconds = time.monotonic() - started
        self.summary.swapped = True
        self._drop_shadow()
        self.say(
            f"{self.service}: swapped in — {self.summary.applied} events in {self.summary.seconds:.1f} s "
            f"({self.summary.rate:.0f}/s), {self.summary.dead} dead letters"
        )
        return self.summary

    # -- reading ------------------------------------------------------------------------------------------------------
    async def _read(self, consumer: AIOKafkaConsumer, applier: BatchApplier) -> int:
        batches = await consumer.getmany(timeout_ms=300, max_records=self.batch)
        records: list[Record] = [record for partition in batches.values() for record in partition]
        if records:
            await asyncio.to_thread(self._apply, applier, records)
        return len(records)

    def _apply(self, applier: BatchApplier, records: list[Record]) -> None:
        # the lanes take the fetch and go on (they retry their own parts); the positions below are then handed
        # over, not yet applied, and `_drain` waits for them before the tables are analyzed and swapped
        result = (
            applier.submit(records)
            if isinstance(applier, Lanes)
            else applied(applier.apply_batch, records, lambda message: self.say(f"{self.service}: {message}"))
        )
        self._count(result)
        for record in records:
            key = (record.topic, record.partition)
            self.read[key] = max(self.read.get(key, 0), record.offset + 1)

    def _drain(self, applier: BatchApplier) -> None:
        if isinstance(applier, Lanes):
            self._count(applier.drain())

    def _count(self, result: BatchResult) -> None:
        self.summary.applied += result.applied
        self.summary.duplicates += result.duplicates
        self.summary.dead += len(result.dead)

    # -- catching up --------------------------------------------------------------------------------------------------
    async def _live(self, conn: psycopg.AsyncConnection[Any], cluster: str) -> Positions:
        cursor = await conn.execute(
            sql.SQL("SELECT topic, partition, next_offset FROM {} WHERE consumer = 'live' AND cluster_id = %s").format(
                sql.Identifier(self.service, "consumer_positions")
            ),
            (cluster,),
        )
        wanted = {topic.name for topic in self.topics}
        return {(str(r[0]), int(r[1])): int(r[2]) for r in await cursor.fetchall() if r[0] in wanted}

    async def _behind(self, cluster: str) -> int:
        async with await psycopg.AsyncConnection.connect(self.settings.database_url) as conn:
            return self._lag(await self._live(conn, cluster))

    def _lag(self, live: Positions) -> int:
        return sum(max(0, end - self.read.get(key, 0)) for key, end in live.items())

    async def _try_swap(self, consumer: AIOKafkaConsumer, applier: BatchApplier, cluster: str) -> bool:
        """Keep the live consumers out, read what they applied meanwhile, and move the rebuilt tables in."""
        async with await psycopg.AsyncConnection.connect(self.settings.database_url) as conn:
            await conn.execute("SET lock_timeout = '10s'")
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (swap_lock_name(self.service),))
                    deadline = time.monotonic() + self.swap_wait_seconds
                    live = await self._live(conn, cluster)
                    while self._lag(live) > 0:
                        if time.monotonic() > deadline:
                            raise _NotYet
                        await self._read(consumer, applier)
                    await asyncio.to_thread(self._drain, applier)  # every part handed to the lanes applied
                    await self._swap(conn)
            except (_NotYet, psycopg.errors.LockNotAvailable):
                self.say(f"{self.service}: not caught up within {self.swap_wait_seconds:.0f} s; reading on")
                return False
        return True

    async def _swap(self, conn: psycopg.AsyncConnection[Any]) -> None:
        live, shadow = sql.Identifier(self.service), sql.Identifier(self.shadow)
        for table in self.model.tables:
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(live, sql.Identifier(table)))
            await conn.execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(shadow, sql.Identifier(table), live))
        for function in self.model.functions:
            name, _, args = function.partition("(")  # e.g. documents_changed(): identifier, then fixed text
            old = sql.SQL("{}.{}(" + args).format(live, sql.Identifier(name))
            new = sql.SQL("{}.{}(" + args).format(shadow, sql.Identifier(name))
            await conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {} CASCADE").format(old))
            await conn.execute(sql.SQL("ALTER FUNCTION {} SET SCHEMA {}").format(new, live))
        await conn.execute(sql.SQL("DELETE FROM {}.tracking WHERE consumer = %s").format(live), (self.track,))
        await conn.execute(
            sql.SQL("INSERT INTO {}.tracking SELECT * FROM {}.tracking WHERE consumer = %s").format(live, shadow),
            (self.track,),
        )

    def _analyze(self) -> None:
        """Statistics for the rebuilt tables, and the read model's busiest ones in the page cache (`ReadModel.warm`),
        before they are swapped in (outside the swap's lock): PostgreSQL has
        none for a table it has never analyzed, and the first queries after the swap would be planned blind until
        autovacuum got to it (control's discipline report at 1M events: p50 155 ms before, 66 ms after;
        bench/control.py)."""
        if self._deferred:
            started = time.monotonic()
            make_indexes(self.settings.database_url, self._deferred)
            self.say(f"{self.service}: made the deferred indexes and keys ({len(self._deferred)}) in "
                     f"{time.monotonic() - started:.1f} s")  # fmt: skip
            self._deferred = []
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            for table in self.model.tables:
                conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(self.shadow), sql.Identifier(table)))
        if self.model.warm:
            # and the busiest tables read into the page cache, so that the first queries after the swap are not cold
            self.say(f"{self.service}: {prewarm(self.settings.database_url, self.shadow, self.model.warm)}")

    # -- shadow schema and lost history ----------------------------------------------------------------------------
    def _prepare_shadow(self, remember: bool) -> None:
        self._drop_shadow()
        ensure_schema(self.settings.database_url, self.shadow, TRACKING_DDL + DEAD_LETTERS_DDL + self.model.ddl)
        keys = (TRACKING_KEY,) if remember else ()
        self._deferred = defer_indexes(self.settings.database_url, self.shadow, (*keys, *self.model.deferred))

    def _expected(self) -> int:
        """About how many events the replay will apply: as far as the live consumer has applied each partition of
        the read model's topics (on whichever broker cluster got furthest)."""
        with psycopg.connect(self.settings.database_url) as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT coalesce(sum(n), 0) FROM (SELECT max(next_offset) AS n FROM {} WHERE consumer = 'live' "
                    "AND topic = ANY(%s) GROUP BY topic, partition) AS p"
                ).format(sql.Identifier(self.service, "consumer_positions")),
                ([topic.name for topic in self.topics],),
            ).fetchone()
        return int(row[0]) if row else 0

    def _drop_shadow(self) -> None:
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.shadow)))

    async def _republish_lost_history(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        beginnings = await consumer.beginning_offsets(partitions)
        lost = sorted({tp.topic for tp, offset in beginnings.items() if offset > 0})
        if not lost:
            return
        producers = sorted({topic.split(".")[1] for topic in lost})
        with psycopg.connect(self.settings.database_url) as conn:
            for producer in producers:
                conn.execute(sql.SQL("UPDATE {}.relay_position SET position = 0").format(sql.Identifier(producer)))
        self.say(
            f"{self.service}: the broker no longer has the beginning of {', '.join(lost)}; "
            f"{', '.join(producers)} republish from their event stores"
        )
