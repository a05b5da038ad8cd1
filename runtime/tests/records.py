"""Records as aiokafka's consumer returns them, holding the envelopes the services publish (edms_contracts).

The tests of the runtime's consumer and of every read model feed these to the real `Applier` / `TrackingConsumer`,
which is what the consumer loop does with each polled batch. Imported by package path (runtime.tests.records): the
tests run with --import-mode=importlib, which puts no test directory on sys.path.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from aiokafka import ConsumerRecord

from edms_contracts import (
    AttachmentAdded,
    ControlCardOpened,
    DocumentRegistered,
    Envelope,
    Event,
    RouteStarted,
    encode,
    event_id_for,
    headers_for,
)
from edms_contracts.topics import CONTROL_CARD, REGISTRY_DOCUMENT, ROUTING_ROUTE, Topic
from edms_runtime.auth import Principal

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

ORG = "demo-region"
OCCURRED = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
_offsets = itertools.count()


# -- records by hand ---------------------------------------------------------------------------------------------------
def envelope_for(payload: Event, aggregate_id: uuid.UUID, version: int = 1, producer: str = "registry") -> Envelope:
    return Envelope(
        event_id=event_id_for(aggregate_id, version),
        event_type=payload.event_type(),
        schema_version=payload.schema_version,
        occurred_at=OCCURRED + timedelta(seconds=version),
        aggregate_id=aggregate_id,
        aggregate_version=version,
        correlation_id=None,
        causation_id=None,
        producer=producer,
        payload=payload.model_dump(mode="json"),
    )


def consumer_record(
    value: bytes | None,
    topic: Topic = REGISTRY_DOCUMENT,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> Record:
    """A ConsumerRecord as aiokafka's consumer returns it (each call a new offset, as a redelivery would have)."""
    record: Record = ConsumerRecord(
        topic=topic.name,
        partition=0,
        offset=next(_offsets),
        timestamp=1_764_055_800_000,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key) if key else -1,
        serialized_value_size=len(value) if value is not None else -1,
        headers=list(headers),
    )
    return record


def delivered_again(record: Record) -> Record:
    """The same message delivered again (after a rebalance, or republished after a broker change): a new offset."""
    again: Record = replace(record, offset=next(_offsets))
    return again


def published(payload: Event, aggregate_id: uuid.UUID, topic: Topic, version: int = 1) -> Record:
    """An event as its service publishes it: the producer is the service the topic belongs to, keyed by aggregate."""
    envelope = envelope_for(payload, aggregate_id, version, producer=topic.name.split(".")[1])
    return consumer_record(encode(envelope), topic, key=str(aggregate_id).encode(), headers=headers_for(envelope))


# -- events, as the services publish them ------------------------------------------------------------------------------
def registered(
    title: str = "О предоставлении сведений о численности населения",
    *,
    reg_number: str = "01-10/1",
    org: str = ORG,
    access: str | None = None,
    kind: str = "incoming_letter",
    text: str | None = None,
    reg_date: date = date(2026, 11, 25),
    document_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, Record]:
    document = document_id or uuid.uuid4()
    event = DocumentRegistered(
        document_id=document,
        kind=kind,
        journal="ВХ",
        reg_number=reg_number,
        reg_date=reg_date,
        title=title,
        text=text,
        correspondent="Территориальный орган Росстата",
        correspondent_number="12-07/345",
        correspondent_date=date(2026, 11, 20),
        case_index="01-10",
        org=org,
        unit="01",
        access=access,
        registered_by="clerk1",
    )
    return document, published(event, document, REGISTRY_DOCUMENT)


def attachment(document: uuid.UUID) -> Record:
    event = AttachmentAdded(
        document_id=document,
        sha256="a" * 64,
        filename="письмо.pdf",
        media_type="application/pdf",
        size=1024,
        added_by="clerk1",
    )
    return published(event, document, REGISTRY_DOCUMENT, version=2)


def route_started(document: uuid.UUID) -> Record:
    route = uuid.uuid4()
    event = RouteStarted(
        route_id=route,
        document_id=document,
        process="6-incoming-registration",
        stages=["resolution", "execution", "completion"],
        current_stage="resolution",
    )
    return published(event, route, ROUTING_ROUTE)


def card_opened(document: uuid.UUID, reg_number: str = "01-10/1") -> Record:
    card = uuid.uuid4()
    event = ControlCardOpened(
        card_id=card, document_id=document, reg_number=reg_number, deadline=date(2026, 12, 4), rule="official-10-days"
    )
    return published(event, card, CONTROL_CARD)


def principal(org: str = ORG, *roles: str) -> Principal:
    return Principal(sub="user1", org=org, unit="01", roles=frozenset(roles or ("clerk",)))
