"""Outbox relay: follows an Application's notification log and publishes each event as an envelope.

At-least-once: the position (last published notification id) is saved only after the broker acknowledged every
message up to it. The broker cluster id is saved beside the position; when it changes (a local broker that started
empty, or a new cluster) the relay starts again from the beginning, and consumers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification
from prometheus_client import Counter, Gauge
from psycopg_pool import ConnectionPool

from edms_contracts import Envelope, Event, encode, event_id_for
from edms_contracts.topics import Topic
from edms_runtime.db import try_lead
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


@dataclass(frozen=True)
class Outgoing:
    """What a domain event becomes on the wire: a contract payload and its topic."""

    topic: Topic
    payload: Event


#: Maps a domain event to what is published, or None for events that stay inside the service.
ContractMapper = Callable[[DomainEventProtocol[uuid.UUID]], Outgoing | None]


@dataclass(frozen=True)
class Publish:
    """How one domain event class is published: topic, contract model, the field that gets the aggregate id."""

    topic: Topic
    contract: type[Event]
    id_field: str
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def contract_mapper(routes: dict[str, Publish]) -> ContractMapper:
    """A mapper from domain events (by class qualname, e.g. "Document.Registered") to contract payloads.

    The contract takes the domain event's fields it declares; `derive` adds fields the event does not store.
    """

    def to_contract(event: DomainEventProtocol[uuid.UUID]) -> Outgoing | None:
        route = routes.get(type(event).__qualname__)
        if route is None:
            return None  # stays inside the service
        state = vars(event)
        fields = {name: state[name] for name in route.contract.model_fields if name in state}
        fields[route.id_field] = event.originator_id
        if route.derive is not None:
            fields.update(route.derive(state))
        return Outgoing(route.topic, route.contract.model_validate(fields))

    return to_contract


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


class OutboxRelay:
    def __init__(
        self,
        *,
        name: str,
        app: ServiceApplication,
        mapper: ContractMapper,
        pool: ConnectionPool[Any],
        settings: PlatformSettings,
    ) -> None:
        self.name = name
        self.app = app
        self.mapper = mapper
        self.pool = pool
        self.settings = settings
        self.position = 0
        self.connected = False
        self.standby = False
        self._wakeup = asyncio.Event()
        self._stopping = False

    # -- position -----------------------------------------------------------------------------------------------
    # The position is read before every batch and saved only if nobody moved it meanwhile, so `edms replay` (which
    # resets it to 0) and a second replica of the service are both safe.
    def _load_position(self, current_cluster: str) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT cluster_id, position FROM relay_position WHERE relay = %s", (self.name,)
            ).fetchone()
            if row is not None and row["cluster_id"] == current_cluster:
                return int(row["position"])
            if row is not None:
                log.warning(
                    "relay %s: broker cluster changed (%s -> %s); republishing from the beginning",
                    self.name,
                    row["cluster_id"],
                    current_cluster,
                )
            conn.execute(
                "INSERT INTO relay_position (relay, cluster_id, position) VALUES (%s, %s, 0) "
                "ON CONFLICT (relay) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, position = 0",
                (self.name, current_cluster),
            )
        return 0

    def _save_position(self, current_cluster: str, expected: int, position: int) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE relay_position SET position = %s WHERE relay = %s AND cluster_id = %s AND position = %s",
                (position, self.name, current_cluster, expected),
            )

    # -- loop ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name=f"{self.name}-listen")
        try:
            while not self._stopping:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        self.settings.database_url, autocommit=True
                    ) as leader:
                        if await self._lead(leader):
                            await self._session(leader)
                        else:
                            await asyncio.sleep(2.0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.connected = False
                    log.exception("relay %s: session failed; retrying", self.name)
                    await asyncio.sleep(1.0)
        finally:
            listener.cancel()

    async def _lead(self, leader: psycopg.AsyncConnection[Any]) -> bool:
        """One relay per service publishes; other replicas stand by (a session advisory lock, freed on death)."""
        self.standby = not await try_lead(leader, f"edms-relay-{self.name}")
        return not self.standby

    async def _session(self, leader: psycopg.AsyncConnection[Any]) -> None:
        producer = make_producer(self.settings, client_id=f"relay-{self.name}")
        await producer.start()
        try:
            cluster = await cluster_id(producer.client)
            await ensure_topics(self.settings)
            self.connected = True
            loop = asyncio.get_running_loop()
            last_cluster_check = loop.time()
            while not self._stopping:
                published = await self._publish_batch(producer, cluster)
                if loop.time() - last_cluster_check > 1.0:
                    last_cluster_check = loop.time()
                    await leader.execute("SELECT 1")  # the lock lives as long as this connection
                    if await cluster_id(producer.client) != cluster:
                        return  # a new session reloads the position for the new cluster
                if not published:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self.settings.relay_idle_poll_seconds)
                    # Let commits that arrive together go out as one batch: one read and one position save.
                    await asyncio.sleep(self.settings.relay_coalesce_seconds)
        finally:
            self.connected = False
            await producer.stop()

    def _next_batch(self, cluster: str) -> tuple[int, Sequence[Notification]]:
        start = self._load_position(cluster)
        return start, self.app.recorder.select_notifications(start + 1, self.settings.relay_batch_size)

    async def _publish_batch(self, producer: AIOKafkaProducer, cluster: str) -> int:
        start, notifications = await asyncio.to_thread(self._next_batch, cluster)
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            domain_event = self.app.mapper.to_domain_event(notification)
            outgoing = self.mapper(domain_event)
            if outgoing is None:
                continue
            envelope = envelope_for(domain_event, outgoing.payload, producer=self.name)
            futures.append(
                await producer.send(
                    outgoing.topic.name, value=encode(envelope), key=str(envelope.aggregate_id).encode()
                )
            )
        await asyncio.gather(*futures)
        last = notifications[-1].id
        await asyncio.to_thread(self._save_position, cluster, start, last)
        self.position = last
        PUBLISHED.labels(self.name).inc(len(futures))
        POSITION.labels(self.name).set(last)
        return len(notifications)

    async def _listen(self) -> None:
        """LISTEN on the event table's channel so a save elsewhere (another replica) wakes the relay at once."""
        channel = events_channel(self.app)
        if not channel:
            return
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(self.settings.database_url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{channel}"')
                    async for _ in conn.notifies():
                        self._wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay %s: LISTEN connection lost; reconnecting", self.name)
                await asyncio.sleep(1.0)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
