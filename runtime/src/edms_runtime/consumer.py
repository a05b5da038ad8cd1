"""Tracking consumer: applies events and records that it did, in one PostgreSQL transaction per fetch.

Tracking is by event id (not by Kafka offset, which starts again from zero when a broker loses its data), so a
redelivered or republished event changes nothing. A service's handlers come in two kinds, tracked apart:

- **policies** turn an event into commands on the service's Application (a registration opens a control card);
  what they save is staged in the Application's unit of work and stored in the fetch's own transaction;
- **the read model** (`ReadModel`): tables written only by its handlers, which `edms replay` can rebuild beside the
  live ones and swap in (edms_runtime.replay).

The consumer's topics come from the contract classes its handlers take; an event of a known type it has no handler
for is dropped before its payload is validated. An event that is itself wrong (not an envelope, unknown type, newer
schema, invalid payload, refused by a handler) is a dead letter (edms_runtime.deadletters) recorded in the fetch's
transaction and then published to the dead-letter topic; the rest of the fetch goes on. A failure that is not the
event's (deadlock, lost connection, lock timeout, a concurrent writer: edms_runtime.faults) aborts the whole fetch
without committing anything, offsets included, and it is applied again after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Annotated, Any, Literal, Protocol, TypeAlias, cast

import psycopg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import Counter
from psycopg_pool import ConnectionPool
from pydantic import Field, TypeAdapter, ValidationError, create_model

from edms_contracts import EVENT_TYPES, Envelope, Event, MalformedEnvelope, declared_type, decode
from edms_contracts.topics import DLQ, Topic
from edms_runtime import deadletters
from edms_runtime.faults import Transient, is_transient
from edms_runtime.kafka import cluster_id, ensure_topics, make_consumer, make_producer
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS tracking (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    aggregate_id uuid NOT NULL,
    aggregate_version integer NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
-- How far the live consumer has applied each partition (of the current broker cluster): a replay is caught up
-- when it has read as far.
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer text NOT NULL,
    cluster_id text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, cluster_id, topic, partition)
);
"""

APPLIED = Counter("edms_consumer_applied_total", "Events applied", ["consumer", "event_type"])
DUPLICATES = Counter("edms_consumer_duplicates_total", "Redelivered events skipped by tracking", ["consumer"])
IGNORED = Counter("edms_consumer_ignored_total", "Events of types the consumer does not handle", ["consumer"])
DEAD_LETTERS = Counter("edms_consumer_dead_letters_total", "Events sent to the dead-letter topic", ["consumer"])
RETRIES = Counter("edms_consumer_retries_total", "Fetches applied again after a transient failure", ["consumer"])

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
#: A handler runs inside the fetch's transaction; it gets the connection, the envelope and the typed payload.
Handler = Callable[[psycopg.Connection[Any], Envelope, Any], None]
Handlers = Mapping[type[Event], Handler]
#: Applies a run of consecutive events at once (in their order), e.g. folding them in memory and writing each row
#: once; it must leave the tables as the events' own handlers would, one by one.
BatchHandler = Callable[[psycopg.Connection[Any], list[tuple[Envelope, Any]]], None]
#: Stages the event-store saves of a fetch and makes them in its transaction (ServiceApplication.unit_of_work).
UnitOfWork = Callable[[psycopg.Connection[Any]], AbstractContextManager[dict[Any, Any]]]


def topics_of(*handlers: Handlers) -> tuple[Topic, ...]:
    """The topics carrying the events these handlers take, each once, in name order."""
    by_name = {event.topic.name: event.topic for group in handlers for event in group}
    return tuple(by_name[name] for name in sorted(by_name))


@dataclass(frozen=True)
class ReadModel:
    """Tables a service builds from events: made by `ddl` (idempotent), written only by `handlers`.

    `tables` and `functions` name what the DDL creates; a replay builds them in a shadow schema and moves them in.
    """

    ddl: str
    tables: tuple[str, ...]
    handlers: Handlers
    functions: tuple[str, ...] = ()
    #: Optional: these event types are applied in runs by `batch` instead of one by one by their handlers (which
    #: stay: they name the topics, and a test can hold the two to the same result).
    batch: BatchHandler | None = None
    batch_types: tuple[type[Event], ...] = ()
    #: Tables (with their indexes) read into PostgreSQL's page cache when the service starts and before a replay
    #: swaps them in (`db.prewarm`): those every query reads many pages of, such as search's documents.
    warm: tuple[str, ...] = ()
    #: Each row is written by the events of one partition only (one aggregate's, keyed by it): a replay may then
    #: apply the partitions of a fetch in several processes at once (`edms_runtime.lanes`).
    partitioned: bool = False
    #: Indexes and keys (by name) a replay makes only once it has caught up, not row by row as it fills the tables
    #: (`edms_runtime.replay.defer_indexes`): those no handler's statement reads or takes as its conflict target.
    deferred: tuple[str, ...] = ()

    def track(self, name: str) -> Track:
        return Track(name, self.handlers, self.batch, frozenset(t.event_type() for t in self.batch_types))


def upsert(
    conn: psycopg.Connection[Any], table: str, key: tuple[str, object], also: str = "", **columns: object
) -> None:
    """Set these columns of a read-model row, making the row if it is not there yet.

    Each event sets only its own columns, so events of different aggregates (different topics, different partitions)
    may arrive in any order and still make the same row. `also` is an extra SET clause of ours (not input).
    """
    names = list(columns)
    assignments = ", ".join([*(f"{n} = EXCLUDED.{n}" for n in names), *([also] if also else [])])
    conn.execute(
        f"INSERT INTO {table} ({key[0]}, {', '.join(names)}) VALUES (%s, {', '.join(['%s'] * len(names))}) "  # noqa: S608
        f"ON CONFLICT ({key[0]}) DO UPDATE SET {assignments}",
        (key[1], *columns.values()),
    )


@dataclass(frozen=True)
class Track:
    """A set of handlers tracked under one name: a redelivered event is skipped by the set that applied it."""

    name: str
    handlers: Handlers
    batch: BatchHandler | None = None
    batch_types: frozenset[str] = frozenset()

    @cached_property
    def by_type(self) -> dict[str, Handler]:
        return {contract.event_type(): handler for contract, handler in self.handlers.items()}


def read_track(service: str) -> str:
    """The tracking name of a service's read-model handlers."""
    return f"{service}.read"


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead: list[deadletters.Letter] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.dead.extend(other.dead)


class BatchApplier(Protocol):
    """What applies a fetch: an `Applier`, or a replay's `lanes.Lanes` of them."""

    def apply_batch(self, records: Sequence[Record]) -> BatchResult: ...


class EventRejected(Exception):
    """Raised by a handler for an event that is well-formed but cannot be applied."""


class _BatchFailed(Exception):
    """Something outside any one event's savepoint failed for good (e.g. the batch's event-store save)."""


def source_of(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


class Applier:
    """Applies fetched records in one transaction (the part of the consumer that replay shares)."""

    def __init__(
        self,
        *,
        service: str,
        pool: ConnectionPool[Any],
        tracks: Sequence[Track],
        unit_of_work: UnitOfWork | None = None,
        swap_lock: bool = False,
        record_positions: bool = False,
        pipelined: bool = False,
        seen: set[int] | None = None,
    ) -> None:
        self.service = service
        self.pool = pool
        self.tracks = tuple(tracks)
        self.unit_of_work = unit_of_work
        #: Live consumers of a service with a read model hold this shared while they write; a replay's swap waits
        #: for them and keeps them out while it moves the rebuilt tables in.
        self.swap_lock = swap_lock
        self.record_positions = record_positions
        #: The replay's applier (`edms replay`): the read-model handlers' statements go out in pipeline mode (see
        #: `_pipeline`) and tracking rows by COPY (see `_copy_tracking`).
        self.pipelined = pipelined
        #: A replay's own exact record of the events it has applied (their ids as integers, ≈ 80 bytes each), kept in
        #: memory instead of asked of the tracking table's key, which the replay makes once it has caught up
        #: (`edms_runtime.replay`): at a million events an insert into that key cost the server 6.5 us, the key made
        #: at the end 0.7. Only what committed is in it; the tracking rows are written all the same. One handler set.
        self.seen = seen
        #: A fetch failed (its commit may have gone through all the same, the connection lost on the way back): the
        #: next fetch asks the tracking table which of its events are there before it trusts `seen`.
        self._unsure = False
        if seen is not None and len(self.tracks) != 1:
            raise ValueError("an applier that keeps what it has seen has one handler set")
        self._types = {contract.event_type() for track in self.tracks for contract in track.handlers}
        self._typed = typed_envelopes(frozenset(self._types))

    def apply_batch(self, records: Sequence[Record], *, cluster: str = "", settle: Sequence[int] = ()) -> BatchResult:
        """Apply records in one transaction; raises `Transient` when the whole fetch must be applied again later.

        A handler that fails for good spoils the transaction, so then the records are applied again one per
        transaction: the one that fails is set aside alone with its reason, the others are applied. `settle`: when
        the records re-drive dead letters, the row id of each record's letter; those applied now are marked
        replayed in the same transaction.
        """
        try:
            return self._apply(records, cluster, settle)
        except _BatchFailed as exc:
            if len(records) == 1:
                return self._dead_alone(records[0], str(exc))
            log.warning("%s: a fetch of %d failed (%s); applying one by one", self.service, len(records), exc)
            result = BatchResult()
            for i, record in enumerate(records):
                result.add(self.apply_batch([record], cluster=cluster, settle=settle[i : i + 1]))
            return result

    def _apply(self, records: Sequence[Record], cluster: str, settle: Sequence[int]) -> BatchResult:
        result = BatchResult()
        events = self._events(records, result)
        applied: dict[str, int] = {}
        try:
            with self.pool.connection() as conn, conn.transaction():
                if self.swap_lock:
                    conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", (swap_lock_name(self.service),))
                new = self._track(conn, events)
                tracked = [event_id.int for _, event_id in new] if self.seen is not None else []
                with self._work(conn), self._pipeline(conn) as pipeline:
                    runs: dict[str, list[tuple[Envelope, Any]]] = {}
                    for envelope, payload in events:
                        if self._handle(conn, envelope, payload, new, runs, pipeline):
                            applied[envelope.event_type] = applied.get(envelope.event_type, 0) + 1
                        else:
                            result.duplicates += 1
                    result.applied = sum(applied.values())
                    self._flush(conn, runs, pipeline)
                    # before the event-store save, so that its table lock is the last lock this transaction takes
                    deadletters.record(conn, result.dead)
                    if settle:
                        conn.execute(
                            "UPDATE dead_letters SET state = 'replayed', last_seen = now() "
                            "WHERE id = ANY(%s) AND state = 'replay'",
                            (list(settle),),
                        )
                    if self.record_positions and cluster:
                        self._save_positions(conn, records, cluster)
            if self.seen is not None:
                self.seen.update(tracked)
        except Exception as exc:
            self._unsure = self.seen is not None
            if is_transient(exc):
                raise Transient(f"{type(exc).__name__}: {exc}") from exc
            raise _BatchFailed(f"{type(exc).__name__}: {exc}") from exc
        for event_type, count in applied.items():
            APPLIED.labels(self.service, event_type).inc(count)
        DUPLICATES.labels(self.service).inc(result.duplicates)
        IGNORED.labels(self.service).inc(result.ignored)
        return result

    def _pipeline(self, conn: psycopg.Connection[Any]) -> _Pipeline:
        """Read-model handlers only (a replay): their statements go out in psycopg's pipeline mode, without a round
        trip each (an error still fails the fetch, which is then applied one by one as always). Not with a unit of
        work: the event store's saves wait for their own results."""
        return _Pipeline(conn, self.pipelined and self.unit_of_work is None)

    def _work(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[dict[Any, Any]]:
        return self.unit_of_work(conn) if self.unit_of_work else contextlib.nullcontext({})

    def _events(self, records: Sequence[Record], result: BatchResult) -> list[tuple[Envelope, Event]]:
        """The records this consumer handles, decoded and validated; the others dropped or set aside."""
        events: list[tuple[Envelope, Event]] = []
        for record in records:
            declared = declared_type(record.headers) if record.headers else None
            if declared is not None and declared not in self._types and declared in EVENT_TYPES:
                result.ignored += 1  # its headers name a known type this consumer has no use for: not even parsed
                continue
            try:
                envelope = self._decode(record.value)
            except MalformedEnvelope as exc:
                result.dead.append(self._letter(record, str(exc)))
                continue
            if envelope.event_type not in self._types:
                if envelope.event_type in EVENT_TYPES:
                    result.ignored += 1  # a known event this consumer has no use for: dropped unvalidated
                else:
                    reason = f"event_type: unknown event type {envelope.event_type!r}"
                    result.dead.append(self._letter(record, reason, envelope))
                continue
            try:
                events.append((envelope, validated(envelope)))
            except EventRejected as exc:
                result.dead.append(self._letter(record, str(exc), envelope))
        return events

    def _decode(self, raw: bytes | None) -> Envelope:
        """The envelope with its payload already typed, in one pass, when it is of a type handled here and valid;
        anything else (unknown or unhandled type, a newer schema, an invalid field) by `decode`, which gives the
        reason a dead letter records."""
        if self._typed is not None and raw is not None:
            try:
                return self._typed.validate_json(raw)
            except ValidationError:
                pass
        return decode(raw)

    def _track(self, conn: psycopg.Connection[Any], events: list[tuple[Envelope, Event]]) -> set[tuple[str, Any]]:
        """Record every (handler set, event) of the fetch in one statement; returns those not applied before.

        An event twice in one fetch (delivered again before the first was committed) counts once.
        """
        rows: dict[tuple[str, Any], Envelope] = {}
        for envelope, _ in events:
            for track in self.tracks:
                if envelope.event_type in track.by_type:
                    rows.setdefault((track.name, envelope.event_id), envelope)
        if not rows:
            return set()
        if self.seen is not None:
            seen = self.seen
            if self._unsure:  # what an uncertain commit applied is there, if anything: asked (no key: a scan)
                there = conn.execute(
                    "SELECT event_id FROM tracking WHERE consumer = %s AND event_id = ANY(%s)",
                    (self.tracks[0].name, [event_id for _, event_id in rows]),
                ).fetchall()
                seen.update(row["event_id"].int for row in there)
                self._unsure = False
            rows = {key: envelope for key, envelope in rows.items() if key[1].int not in seen}
            if rows:
                self._copy_tracking(conn, rows)
            return set(rows)
        if self.pipelined:
            with contextlib.suppress(psycopg.errors.UniqueViolation), conn.transaction():
                self._copy_tracking(conn, rows)
                return set(rows)
        # one order for every replica: no deadlock between two fetches over these rows (a UUID's int orders as its text)
        keys = sorted(rows, key=lambda key: (key[0], key[1].int))
        cursor = conn.execute(
            "INSERT INTO tracking (consumer, event_id, event_type, aggregate_id, aggregate_version) "
            "SELECT * FROM unnest(%b::text[], %b::uuid[], %b::text[], %b::uuid[], %b::int[]) "
            "ON CONFLICT DO NOTHING RETURNING consumer, event_id",
            (
                [name for name, _ in keys],
                [event_id for _, event_id in keys],
                [rows[key].event_type for key in keys],
                [rows[key].aggregate_id for key in keys],
                [rows[key].aggregate_version for key in keys],
            ),
        )
        return {(str(row["consumer"]), row["event_id"]) for row in cursor.fetchall()}

    @staticmethod
    def _copy_tracking(conn: psycopg.Connection[Any], rows: dict[tuple[str, Any], Envelope]) -> None:
        """The replay's way (`pipelined`): the rows by COPY, without asking which are new (a rebuild seldom meets an
        event twice). One that is there already fails the COPY (in its savepoint), and `_track` asks after all."""
        with conn.cursor().copy(
            "COPY tracking (consumer, event_id, event_type, aggregate_id, aggregate_version) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "uuid", "text", "uuid", "int4"])
            for (name, event_id), envelope in rows.items():
                copy.write_row((name, event_id, envelope.event_type, envelope.aggregate_id, envelope.aggregate_version))

    def _handle(
        self,
        conn: psycopg.Connection[Any],
        envelope: Envelope,
        payload: Event,
        new: set[tuple[str, Any]],
        runs: dict[str, list[tuple[Envelope, Any]]],
        pipeline: _Pipeline,
    ) -> bool:
        """Run the handlers of every set that had not applied this event; True if any ran. `new` loses what ran, so
        a second copy of the event in the same fetch is a duplicate. An event of a set's batch types joins the
        set's current run (`runs`); any other event of the set first applies the run, so the order holds."""
        handled = False
        event_id = envelope.event_id
        for track in self.tracks:
            handler = track.by_type.get(envelope.event_type)
            if handler is not None and (track.name, event_id) in new:
                new.discard((track.name, event_id))
                if envelope.event_type in track.batch_types:
                    runs.setdefault(track.name, []).append((envelope, payload))
                    handled = True
                    continue
                self._flush(conn, runs, pipeline, track)
                pipeline.enter()
                try:
                    handler(conn, envelope, payload)
                except Exception as exc:
                    if not is_transient(exc):
                        log.warning("%s: cannot apply %s %s: %s", self.service, envelope.event_type, event_id, exc)
                    raise
                handled = True
        return handled

    def _flush(
        self,
        conn: psycopg.Connection[Any],
        runs: dict[str, list[tuple[Envelope, Any]]],
        pipeline: _Pipeline,
        only: Track | None = None,
    ) -> None:
        """Apply the pending runs (of one set, or of all) with their batch handlers (outside the pipeline: they may
        COPY)."""
        for track in [only] if only is not None else self.tracks:
            run = runs.pop(track.name, None)
            if run and track.batch is not None:
                pipeline.leave()
                try:
                    track.batch(conn, run)
                except Exception as exc:
                    if not is_transient(exc):
                        log.warning("%s: cannot apply a run of %d events: %s", self.service, len(run), exc)
                    raise

    @staticmethod
    def _save_positions(conn: psycopg.Connection[Any], records: Sequence[Record], cluster: str) -> None:
        ends: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.topic, record.partition)
            ends[key] = max(ends.get(key, 0), record.offset + 1)
        keys = sorted(ends)  # one order for every replica: no deadlock between two fetches over these rows
        conn.execute(
            "INSERT INTO consumer_positions (consumer, cluster_id, topic, partition, next_offset) "
            "SELECT 'live', %s, * FROM unnest(%s::text[], %s::int[], %s::bigint[]) "
            "ON CONFLICT (consumer, cluster_id, topic, partition) "
            "DO UPDATE SET next_offset = GREATEST(consumer_positions.next_offset, EXCLUDED.next_offset)",
            (cluster, [t for t, _ in keys], [p for _, p in keys], [ends[k] for k in keys]),
        )

    def _dead_alone(self, record: Record, reason: str) -> BatchResult:
        """A record that fails even alone, outside its own savepoint (e.g. in the event-store save): set it aside."""
        envelope = None
        with contextlib.suppress(MalformedEnvelope):
            envelope = decode(record.value)
        letter = self._letter(record, reason, envelope)
        log.warning("%s: %s set aside: %s", self.service, source_of(record), reason)
        try:
            with self.pool.connection() as conn, conn.transaction():
                deadletters.record(conn, [letter])
        except Exception as exc:
            if is_transient(exc):
                raise Transient(str(exc)) from exc
            raise
        return BatchResult(dead=[letter])

    def _letter(self, record: Record, reason: str, envelope: Envelope | None = None) -> deadletters.Letter:
        DEAD_LETTERS.labels(self.service).inc()
        return deadletters.Letter(
            consumer=self.service,
            source=source_of(record),
            reason=reason,
            value=record.value or b"",
            key=record.key,
            headers=list(record.headers),
            event_id=envelope.event_id if envelope else None,
            event_type=envelope.event_type if envelope else None,
        )


class _Pipeline:
    """psycopg's pipeline mode around the single handlers' statements of a fetch (`Applier.pipelined`), left before
    a run's batch handler (which may COPY, and a pipeline cannot carry a COPY) and entered again at the next single
    handler."""

    def __init__(self, conn: psycopg.Connection[Any], enabled: bool) -> None:
        self._conn = conn
        self._enabled = enabled
        self._open: AbstractContextManager[Any] | None = None

    def enter(self) -> None:
        if self._enabled and self._open is None:
            self._open = self._conn.pipeline()
            self._open.__enter__()

    def leave(self) -> None:
        self.__exit__(None, None, None)

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        opened, self._open = self._open, None
        if opened is not None:
            opened.__exit__(kind, error, trace)


def swap_lock_name(service: str) -> str:
    return f"edms-read-model-{service}"


@functools.cache
def typed_envelopes(types: frozenset[str]) -> TypeAdapter[Envelope] | None:
    """A validator from bytes to an `Envelope` whose `payload` is already its event (a subclass per type, told apart
    by `event_type`): one pass instead of the envelope, then the payload from a dict. Only for the known types given."""
    classes = [
        create_model(
            f"{name}Envelope",
            __base__=Envelope,
            event_type=(Literal[name], ...),  # type: ignore[arg-type]
            payload=(EVENT_TYPES[name], ...),
        )
        for name in sorted(types)
        if name in EVENT_TYPES
    ]
    if not classes:
        return None
    if len(classes) == 1:
        return TypeAdapter(classes[0])
    union = functools.reduce(lambda a, b: a | b, cast(list[Any], classes))
    return cast(TypeAdapter[Envelope], TypeAdapter(Annotated[union, Field(discriminator="event_type")]))  # type: ignore[arg-type]


def validated(envelope: Envelope) -> Event:
    model = EVENT_TYPES.get(envelope.event_type)
    if model is None:
        raise EventRejected(f"event_type: unknown event type {envelope.event_type!r}")
    if envelope.schema_version > model.schema_version:
        raise EventRejected(
            f"schema_version: {envelope.event_type} v{envelope.schema_version} is newer than "
            f"v{model.schema_version} known here"
        )
    payload: Any = envelope.payload
    if type(payload) is model:
        event: Event = payload  # validated with the envelope (`typed_envelopes`)
        return event
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        reasons = "; ".join(f"payload.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise EventRejected(reasons) from None


def records_of(rows: Iterable[deadletters.Row]) -> Iterator[Record]:
    """Dead-letter rows as the records they came from (for re-driving them through the same code)."""
    for row in rows:
        topic, _, rest = row.source.partition("/")
        partition, _, offset = rest.partition("/")
        yield ConsumerRecord(
            topic=topic,
            partition=int(partition or 0),
            offset=int(offset or 0),
            timestamp=0,
            timestamp_type=0,
            key=row.key,
            value=row.value,
            checksum=None,
            serialized_key_size=len(row.key) if row.key else -1,
            serialized_value_size=len(row.value),
            headers=[],
        )


class TrackingConsumer:
    """The live consumer of a service: group `edms-<service>`, fetch, apply (retrying transient failures), commit."""

    name = "consumer"
    #: Backoff of a fetch that failed transiently: doubles from the first value up to the second.
    retry_seconds = (0.1, 5.0)

    def __init__(
        self,
        *,
        service: str,
        pool: ConnectionPool[Any],
        settings: PlatformSettings,
        policies: Handlers | None = None,
        read_model: ReadModel | None = None,
        unit_of_work: UnitOfWork | None = None,
        access: Handlers | None = None,
    ) -> None:
        tracks = []
        if policies:
            tracks.append(Track(service, policies))
        if read_model is not None:
            tracks.append(read_model.track(read_track(service)))
        if access:  # the facts of the shared read rule (edms_runtime.access), tracked apart
            tracks.append(Track(f"{service}.access", access))
        self.service = service
        self.settings = settings
        self.pool = pool
        self.topics = topics_of(*(track.handlers for track in tracks))
        self.applier = Applier(
            service=service,
            pool=pool,
            tracks=tracks,
            unit_of_work=unit_of_work,
            swap_lock=read_model is not None,
            record_positions=read_model is not None,
        )
        self.running = False
        self._stopping = False

    def healthy(self) -> bool:
        return self.running

    def apply_batch(self, records: Sequence[Record], *, cluster: str = "") -> BatchResult:
        return self.applier.apply_batch(records, cluster=cluster)

    async def apply_until_done(
        self, records: Sequence[Record], *, cluster: str = "", settle: Sequence[int] = ()
    ) -> BatchResult:
        """Apply a fetch, again and again after transient failures, until it is applied (or the consumer stops)."""
        delay, most = self.retry_seconds
        while True:
            try:
                return await asyncio.to_thread(self.applier.apply_batch, records, cluster=cluster, settle=settle)
            except Transient as exc:
                RETRIES.labels(self.service).inc()
                log.warning("consumer %s: fetch not applied (%s); again in %.1f s", self.service, exc, delay)
                if self._stopping:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, most)

    # -- loop -----------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.running = False
                log.exception("consumer %s: session failed; retrying", self.service)
                await asyncio.sleep(1.0)

    async def _session(self) -> None:
        await ensure_topics(self.settings)
        consumer = make_consumer(self.settings, f"edms-{self.service}", *(t.name for t in self.topics))
        dlq = make_producer(self.settings, client_id=f"dlq-{self.service}")
        await consumer.start()
        await dlq.start()
        try:
            cluster = await cluster_id(consumer._client)
            self.running = True
            await self._publish_dead_letters(dlq)  # any a crash left unpublished
            loop = asyncio.get_running_loop()
            last_redrive = loop.time()
            while not self._stopping:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if batches:
                    # One transaction for everything fetched; each partition's records stay in their order.
                    records = [record for partition in batches.values() for record in partition]
                    result = await self.apply_until_done(records, cluster=cluster)
                    if result.dead:
                        await self._publish_dead_letters(dlq)
                    await consumer.commit()
                if loop.time() - last_redrive > 1.0:
                    last_redrive = loop.time()
                    await self._redrive(dlq)
        finally:
            self.running = False
            await consumer.stop()
            await dlq.stop()

    def _rows(
        self, select: Callable[[psycopg.Connection[Any], str, str], list[deadletters.Row]]
    ) -> list[deadletters.Row]:
        with self.pool.connection() as conn:
            return select(conn, self.service, self.service)

    def _mark_published(self, ids: list[int]) -> None:
        with self.pool.connection() as conn:
            deadletters.mark_published(conn, ids)

    async def _publish_dead_letters(self, dlq: AIOKafkaProducer) -> None:
        rows = await asyncio.to_thread(self._rows, deadletters.unpublished)
        for row in rows:
            headers = [
                ("edms-consumer", self.service.encode()),
                ("edms-reason", row.reason.encode()),
                ("edms-source", row.source.encode()),
                ("edms-dead-letter-id", str(row.id).encode()),
            ]
            await dlq.send_and_wait(DLQ.name, value=row.value, key=row.key, headers=headers)
            log.warning("consumer %s: dead-lettered %s: %s", self.service, row.source, row.reason)
        if rows:
            await asyncio.to_thread(self._mark_published, [row.id for row in rows])

    async def _redrive(self, dlq: AIOKafkaProducer) -> None:
        """Dead letters marked for another try (`edms dlq replay`) go through the same code as a new fetch."""
        rows = await asyncio.to_thread(self._rows, deadletters.waiting)
        if not rows:
            return
        result = await self.apply_until_done(list(records_of(rows)), settle=[row.id for row in rows])
        log.info("consumer %s: re-drove %d dead letters, %d still dead", self.service, len(rows), len(result.dead))
        if result.dead:
            await self._publish_dead_letters(dlq)

    def stop(self) -> None:
        self._stopping = True
