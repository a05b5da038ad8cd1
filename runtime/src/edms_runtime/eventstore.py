"""The write side: an eventsourcing Application on PostgreSQL, in the service's own schema."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from edms_runtime.db import ensure_schema, eventsourcing_env


class DateAsISO(Transcoding):
    """Dates are common in cards (registration date, deadlines); eventsourcing has no transcoding for them."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[uuid.UUID]):
    """Base of every service's Application: registers the extra transcodings."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


TApp = TypeVar("TApp", bound=ServiceApplication)


def build_application(cls: type[TApp], database_url: str, schema: str, **extra_env: str) -> TApp:
    """Create the service's schema if needed and construct its Application against it."""
    ensure_schema(database_url, schema)
    env: dict[str, Any] = eventsourcing_env(database_url, schema)
    env.update(extra_env)
    return cls(env=env)


def events_channel(app: ServiceApplication) -> str:
    """The LISTEN/NOTIFY channel eventsourcing notifies on every insert."""
    return str(getattr(app.recorder, "channel_name", ""))
