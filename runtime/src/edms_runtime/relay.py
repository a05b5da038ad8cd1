"""Outbox relay: follows an Application's notification log and publishes each event as an envelope.

At-least-once: the position (last published notification id) is saved only after the broker acknowledged every
message up to it. The broker cluster id is saved beside the position; when it changes (a local broker that started
empty, or a new cluster) the relay starts again from the beginning, and consumers dedupe by event id.

A stored event that cannot be turned into its contract (it does not map, or its payload does not validate) would
stop everything behind it if the relay kept retrying it. It goes aside instead, as a dead letter of the relay
(`edms_runtime.deadletters`, consumer `<service>-relay`) with its reason, a metric and a log line, in the same
transaction that moves the position past it; `edms dlq replay` brings it back once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from aiokafka import AIOKafkaProducer
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import Notification
from prometheus_client import Counter, Gauge
from psycopg_pool import ConnectionPool

from edms_contracts import Envelope, Event, encode, event_id_for, headers_for
from edms_contracts.topics import Topic
from edms_runtime import deadletters
from edms_runtime.background import LeaderLoop
from edms_runtime.eventstore import ServiceApplication, events_channel
from edms_runtime.kafka import cluster_id, ensure_topics, make_producer
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)

RELAY_DDL = """
CREATE TABLE IF NOT EXISTS relay_position (
    relay text PRIMARY KEY,
    cluster_id text NOT NULL,
    position bigint NOT NULL
);
"""

PUBLISHED = Counter("edms_relay_published_total", "Envelopes published by the outbox relay", ["relay"])
POSITION = Gauge("edms_relay_position", "Last notification id acknowledged by the broker", ["relay"])
POISONED = Counter("edms_relay_dead_letters_total", "Stored events the relay could not publish", ["relay"])


@dataclass(frozen=True)
class Outgoing:
    """What a domain event becomes on the wire: a contract payload and its topic."""

    topic: Topic
    payload: Event


class UnmappedEvent(Exception):
    """A domain event that is neither published nor declared internal: a mistake, found by a test."""


@dataclass(frozen=True)
class Publish:
    """How one domain event class is published: contract model (which names its topic), the aggregate id's field."""

    contract: type[Event]
    id_field: str
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None


class ContractMapper:
    """Maps domain events (by class qualname, e.g. "Document.Registered") to contract payloads.

    The contract takes the domain event's fields it declares; `derive` adds fields the event does not store. Events
    that stay inside the service are declared `internal` on purpose; any other event is an error.
    """

    def __init__(self, routes: dict[str, Publish], *, internal: Iterable[str] = ()) -> None:
        self.routes = routes
        self.internal = frozenset(internal)

    def __call__(self, event: DomainEventProtocol[uuid.UUID]) -> Outgoing | None:
        name = type(event).__qualname__
        route = self.routes.get(name)
        if route is None:
            if name in self.internal:
                return None
            raise UnmappedEvent(f"{name} is neither published nor declared internal")
        state = vars(event)
        fields = {key: state[key] for key in route.contract.model_fields if key in state}
        fields[route.id_field] = event.originator_id
        if route.derive is not None:
            fields.update(route.derive(state))
        return Outgoing(route.contract.topic, route.contract.model_validate(fields))

    def unmapped(self, *aggregates: type[Aggregate]) -> list[str]:
        """The event classes of these aggregates that are neither published nor internal (for a test)."""
        names = [
            value.__qualname__
            for aggregate in aggregates
            for value in vars(aggregate).values()
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and value.__name__ not in _BASES
        ]
        return sorted(name for name in names if name not in self.routes and name not in self.internal)


_BASES = {"Event", "Created"}


def envelope_for(domain_event: DomainEventProtocol[uuid.UUID], payload: Event, producer: str) -> Envelope:
    aggregate_id = domain_event.originator_id
    version = domain_event.originator_version
    return Envelope(
        event_id=event_id_for(aggregate_id, version),
        event_type=payload.event_type(),
        schema_version=payload.schema_version,
        occurred_at=getattr(domain_event, "timestamp"),  # noqa: B009 - not on the protocol, on every event
        aggregate_id=aggregate_id,
        aggregate_version=version,
        correlation_id=getattr(domain_event, "correlation_id", None),
        causation_id=getattr(domain_event, "causation_id", None),
        producer=producer,
        payload=payload.model_dump(mode="json"),
    )


class Message(NamedTuple):
    """One record to publish: the topic, the key (the aggregate id), the envelope's bytes and the headers naming its
    event type (`edms_contracts.headers_for`)."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Prepared:
    """A batch of notifications turned into messages, and those that could not be."""

    messages: list[Message]
    dead: list[deadletters.Letter]


class OutboxRelay(LeaderLoop):
    name = "relay"

    def __init__(
        self,
        *,
        service: str,
        app: ServiceApplication,
        mapper: ContractMapper,
        pool: ConnectionPool[Any],
        settings: PlatformSettings,
    ) -> None:
        super().__init__(role=f"edms-relay-{service}", database_url=settings.database_url)
        self.service = service
        self.app = app
        self.mapper = mapper
        self.pool = pool
        self.settings = settings
        self.position = 0
        self.dead_letter_name = deadletters.relay_consumer(service)

    # -- position -------------------------------------------------------------------------------------------------
    # The position is read before every batch and saved only if nobody moved it meanwhile, so a reset to 0 (a
    # republish) and a second replica of the service are both safe.
    def _load_position(self, current_cluster: str) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT cluster_id, position FROM relay_position WHERE relay = %s", (self.service,)
            ).fetchone()
            if row is not None and row["cluster_id"] == current_cluster:
                return int(row["position"])
            if row is not None:
                log.warning(
                    "relay %s: broker cluster changed (%s -> %s); republishing from the beginning",
                    self.service,
                    row["cluster_id"],
                    current_cluster,
                )
            conn.execute(
                "INSERT INTO relay_position (relay, cluster_id, position) VALUES (%s, %s, 0) "
                "ON CONFLICT (relay) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, position = 0",
                (self.service, current_cluster),
            )
        return 0

    def _advance(self, current_cluster: str, expected: int, position: int, dead: list[deadletters.Letter]) -> None:
        """Move the position past what was published, keeping what could not be published, in one transaction."""
        with self.pool.connection() as conn, conn.transaction():
            moved = conn.execute(
                "UPDATE relay_position SET position = %s WHERE relay = %s AND cluster_id = %s AND position = %s",
                (position, self.service, current_cluster, expected),
            ).rowcount
            if moved:
                deadletters.record(conn, dead)

    # -- mapping --------------------------------------------------------------------------------------------------
    def prepare(self, notifications: Sequence[Notification]) -> Prepared:
        messages: list[Message] = []
        dead: list[deadletters.Letter] = []
        for notification in notifications:
            try:
                domain_event = self.app.mapper.to_domain_event(notification)
                outgoing = self.mapper(domain_event)
                if outgoing is None:
                    continue
                envelope = envelope_for(domain_event, outgoing.payload, producer=self.service)
            except Exception as exc:  # this stored event cannot be published; the ones behind it can
                dead.append(self._letter(notification, f"{type(exc).__name__}: {exc}"))
                continue
            key = str(envelope.aggregate_id).encode()
            messages.append(Message(outgoing.topic.name, key, encode(envelope), headers_for(envelope)))
        return Prepared(messages, dead)

    def _letter(self, notification: Notification, reason: str) -> deadletters.Letter:
        POISONED.labels(self.service).inc()
        log.error(
            "relay %s: notification %d (%s) set aside: %s", self.service, notification.id, notification.topic, reason
        )
        return deadletters.Letter(
            consumer=self.dead_letter_name,
            source=f"notification/{notification.id}",
            reason=reason,
            value=notification.state,
            event_type=notification.topic,
        )

    # -- loop -----------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name=f"{self.service}-relay-listen")
        try:
            await super().run()
        finally:
            listener.cancel()

    async def lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        producer = make_producer(self.settings, client_id=f"relay-{self.service}")
        await producer.start()
        try:
            cluster = await cluster_id(producer.client)
            await ensure_topics(self.settings)
            self.active = True
            loop = asyncio.get_running_loop()
            last_check = loop.time()
            while not self.stopping:
                published = await self._publish_batch(producer, cluster)
                await self.keep(leader)
                if loop.time() - last_check > 1.0:
                    last_check = loop.time()
                    if await cluster_id(producer.client) != cluster:
                        return  # a new lead reloads the position for the new cluster
                    await self._redrive(producer)
                if not published:
                    self.wakeup.clear()
                    await self.idle(self.settings.relay_idle_poll_seconds)
                    # Let commits that arrive together go out as one batch: one read and one position save.
                    await asyncio.sleep(self.settings.relay_coalesce_seconds)
        finally:
            await producer.stop()

    def _next_batch(self, cluster: str) -> tuple[int, Sequence[Notification]]:
        start = self._load_position(cluster)
        return start, self.app.recorder.select_notifications(start + 1, self.settings.relay_batch_size)

    async def _publish_batch(self, producer: AIOKafkaProducer, cluster: str) -> int:
        start, notifications = await asyncio.to_thread(self._next_batch, cluster)
        if not notifications:
            return 0
        prepared = self.prepare(notifications)
        await self._send(producer, prepared.messages)
        last = notifications[-1].id
        await asyncio.to_thread(self._advance, cluster, start, last, prepared.dead)
        self.position = last
        POSITION.labels(self.service).set(last)
        return len(notifications)

    async def _send(self, producer: AIOKafkaProducer, messages: list[Message]) -> None:
        futures = [await producer.send(m.topic, value=m.value, key=m.key, headers=m.headers) for m in messages]
        await asyncio.gather(*futures)
        PUBLISHED.labels(self.service).inc(len(futures))

    # -- re-driving set-aside events (`edms dlq replay`) ------------------------------------------------------------
    def _requested(self) -> list[tuple[deadletters.Row, Sequence[Notification]]]:
        with self.pool.connection() as conn:
            rows = deadletters.waiting(conn, self.service, self.dead_letter_name)
        return [(row, self.app.recorder.select_notifications(int(row.source.split("/")[1]), 1)) for row in rows]

    async def _redrive(self, producer: AIOKafkaProducer) -> None:
        requested = await asyncio.to_thread(self._requested)
        for row, notifications in requested:
            prepared = self.prepare(notifications)
            await self._send(producer, prepared.messages)
            await asyncio.to_thread(self._settle, row, prepared.dead)

    def _settle(self, row: deadletters.Row, dead: list[deadletters.Letter]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            if dead:
                deadletters.record(conn, dead)
            else:
                deadletters.mark_replayed(conn, [row.id])

    async def _listen(self) -> None:
        """LISTEN on the event table's channel so a save elsewhere (another replica) wakes the relay at once."""
        channel = events_channel(self.app)
        if not channel:
            return
        while not self.stopping:
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{channel}"')
                    async for _ in conn.notifies():
                        self.wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay %s: LISTEN connection lost; reconnecting", self.service)
                await self.pause(1.0)
