"""The envelope every event travels in, and its byte codec (UTF-8 JSON).

Outside publishers (municipal nodes) build against this module and the JSON Schemas generated from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

#: Namespace for event ids derived from (aggregate id, version): republishing gives the same id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c9a52-8a0e-4f6b-9d0c-5d2f3c1e7a10")


class Envelope(BaseModel):
    """Uniform metadata around one event's payload (ghga/hexkit style)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(description="Unique id; equal ids mean the same event")
    event_type: str = Field(min_length=1, description="Payload model name, e.g. DocumentRegistered")
    schema_version: int = Field(ge=1, description="Version of the payload schema for this event type")
    occurred_at: AwareDatetime = Field(description="When it happened (UTC), not when it was processed")
    aggregate_id: uuid.UUID
    aggregate_version: int = Field(ge=1)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    producer: str = Field(min_length=1, description="Service or municipal node id")
    payload: dict[str, Any]


class MalformedEnvelope(ValueError):
    """Bytes that are not a valid envelope; the reason says why."""


def event_id_for(aggregate_id: uuid.UUID, aggregate_version: int) -> uuid.UUID:
    """Deterministic event id, so a republished event is recognised as the same event."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}/{aggregate_version}")


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode("utf-8")


#: The Kafka record header that names the envelope's `event_type` (the services' relays set it): a consumer with no
#: use for that type drops the record without parsing its value (an attachment's text is ~100 KB of JSON). Optional:
#: a record without it is decoded and told apart by its envelope, as always.
EVENT_TYPE_HEADER = "event_type"


def headers_for(envelope: Envelope) -> list[tuple[str, bytes]]:
    """The record headers an envelope is published with."""
    return [(EVENT_TYPE_HEADER, envelope.event_type.encode("utf-8"))]


def declared_type(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The event type a record's headers name, if they do."""
    for name, value in headers:
        if name == EVENT_TYPE_HEADER:
            return value.decode("utf-8", "replace")
    return None


def decode(raw: bytes | None) -> Envelope:
    if raw is None:
        raise MalformedEnvelope("empty message value")
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedEnvelope(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors())


def utcnow() -> datetime:
    return datetime.now(UTC)
