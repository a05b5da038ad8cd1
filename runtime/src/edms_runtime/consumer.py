"""Tracking consumer: applies events to a read model and records them in the same PostgreSQL transaction.

Tracking is by event id (not by Kafka offset, which starts again from zero when a broker loses its data), so a
redelivered or republished event changes nothing. An event that cannot be decoded or applied goes to the dead-letter
topic with the reason and the original bytes; the consumer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import Counter
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from edms_contracts import EVENT_TYPES, Envelope, Event, MalformedEnvelope, decode
from edms_contracts.topics import DLQ
from edms_runtime.kafka import ensure_topics, make_consumer, make_producer
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
"""

APPLIED = Counter("edms_consumer_applied_total", "Events applied to a read model", ["consumer", "event_type"])
DUPLICATES = Counter("edms_consumer_duplicates_total", "Redelivered events skipped by tracking", ["consumer"])
DEAD_LETTERS = Counter("edms_consumer_dead_letters_total", "Events sent to the dead-letter topic", ["consumer"])

#: A handler runs inside the tracking transaction; it gets the connection, the envelope and the typed payload.
Handler = Callable[[psycopg.Connection[Any], Envelope, Any], None]
#: Stages event-store saves of a batch and makes them when the block ends (ServiceApplication.unit_of_work).
UnitOfWork = Callable[[], AbstractContextManager[dict[Any, Any]]]


@dataclass
class DeadLetter:
    record: ConsumerRecord[bytes, bytes]
    reason: str


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead: list[DeadLetter] = field(default_factory=list)


class EventRejected(Exception):
    """Raised by a handler for an event that is well-formed but cannot be applied."""


class TrackingConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: tuple[str, ...],
        handlers: Mapping[str, Handler],
        pool: ConnectionPool[Any],
        settings: PlatformSettings,
        unit_of_work: UnitOfWork | None = None,
    ) -> None:
        self.name = name
        self.unit_of_work = unit_of_work
        self.topics = topics
        self.handlers = dict(handlers)
        self.pool = pool
        self.settings = settings
        self.running = False
        self._stopping = False

    # -- applying (runs in a worker thread) -----------------------------------------------------------------------
    def apply_batch(self, records: list[ConsumerRecord[bytes, bytes]]) -> BatchResult:
        """Apply records in one transaction, each in its own savepoint so a bad one cannot spoil the rest."""
        result = BatchResult()
        work = self.unit_of_work() if self.unit_of_work else contextlib.nullcontext({})
        # Exit order matters: the unit of work saves what the handlers staged, then the tracking commits.
        with self.pool.connection() as conn, conn.transaction(), work as staged:
            for record in records:
                try:
                    envelope = decode(record.value)
                    payload = self._payload(envelope)
                except (MalformedEnvelope, EventRejected) as exc:
                    result.dead.append(DeadLetter(record, str(exc)))
                    continue
                handler = self.handlers.get(envelope.event_type)
                if handler is None:
                    result.ignored += 1  # a known event this consumer has no use for
                    continue
                before = set(staged)
                try:
                    with conn.transaction():
                        if not self._track(conn, envelope):
                            result.duplicates += 1
                            continue
                        handler(conn, envelope, payload)
                except Exception as exc:  # the event cannot be applied: dead-letter it and go on
                    for aggregate_id in set(staged) - before:
                        del staged[aggregate_id]
                    log.warning("%s: cannot apply %s %s: %s", self.name, envelope.event_type, envelope.event_id, exc)
                    result.dead.append(DeadLetter(record, f"{type(exc).__name__}: {exc}"))
                    continue
                result.applied += 1
                APPLIED.labels(self.name, envelope.event_type).inc()
        DUPLICATES.labels(self.name).inc(result.duplicates)
        return result

    @staticmethod
    def _payload(envelope: Envelope) -> Event:
        model = EVENT_TYPES.get(envelope.event_type)
        if model is None:
            raise EventRejected(f"event_type: unknown event type {envelope.event_type!r}")
        if envelope.schema_version > model.schema_version:
            raise EventRejected(
                f"schema_version: {envelope.event_type} v{envelope.schema_version} is newer than "
                f"v{model.schema_version} known here"
            )
        try:
            return model.model_validate(envelope.payload)
        except ValidationError as exc:
            reasons = "; ".join(f"payload.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise EventRejected(reasons) from None

    def _track(self, conn: psycopg.Connection[Any], envelope: Envelope) -> bool:
        row = conn.execute(
            "INSERT INTO tracking (consumer, event_id, event_type, aggregate_id, aggregate_version) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (
                self.name,
                envelope.event_id,
                envelope.event_type,
                envelope.aggregate_id,
                envelope.aggregate_version,
            ),
        ).fetchone()
        return row is not None

    # -- loop -----------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.running = False
                log.exception("consumer %s: session failed; retrying", self.name)
                await asyncio.sleep(1.0)

    async def _session(self) -> None:
        await ensure_topics(self.settings)
        consumer = make_consumer(self.settings, f"edms-{self.name}", *self.topics)
        dlq = make_producer(self.settings, client_id=f"dlq-{self.name}")
        await consumer.start()
        await dlq.start()
        self.running = True
        try:
            while not self._stopping:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if not batches:
                    continue
                # One transaction for everything fetched; each partition's records stay in their order.
                records = [record for partition in batches.values() for record in partition]
                result = await asyncio.to_thread(self.apply_batch, records)
                await self._send_dead_letters(dlq, result.dead)
                await consumer.commit()
        finally:
            self.running = False
            await consumer.stop()
            await dlq.stop()

    async def _send_dead_letters(self, dlq: AIOKafkaProducer, dead: list[DeadLetter]) -> None:
        for letter in dead:
            record = letter.record
            headers = [
                ("edms-consumer", self.name.encode()),
                ("edms-reason", letter.reason.encode()),
                ("edms-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ]
            await dlq.send_and_wait(DLQ.name, value=record.value or b"", key=record.key, headers=headers)
            DEAD_LETTERS.labels(self.name).inc()
            log.warning("consumer %s: dead-lettered %s: %s", self.name, headers[2][1].decode(), letter.reason)

    def stop(self) -> None:
        self._stopping = True
