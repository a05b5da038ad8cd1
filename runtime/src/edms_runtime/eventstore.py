"""The write side: an eventsourcing Application on PostgreSQL, in the service's own schema."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

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
    """Base of every service's Application: extra transcodings, idempotent creation, and a unit of work.

    Aggregates created in reaction to an event have ids derived from what caused them, so creating one twice is an
    integrity error meaning "already done". Inside a consumer's batch (`unit_of_work`) such aggregates are staged
    and saved in one transaction when the batch ends, before its tracking commits: one event-store transaction per
    batch instead of one per event. If the batch's save conflicts (some were saved before a crash), they are saved
    one by one and the existing ones skipped.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self._stored: set[uuid.UUID] = set()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[dict[uuid.UUID, Aggregate]]:
        """Stage what this thread saves with `save_once` until the block ends, then save it in one transaction.

        Yields the staged aggregates by id, so a caller can drop what a failed step staged.
        """
        staged: dict[uuid.UUID, Aggregate] = {}
        self._local.staged = staged
        try:
            yield staged
            if staged:
                self._save_all_once(list(staged.values()))
        finally:
            self._local.staged = None

    def save_once(self, *aggregates: Aggregate) -> None:
        """Save aggregates with deterministic ids, skipping those already saved (a redelivery)."""
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        if staged is None:
            self._save_all_once(list(aggregates))
            return
        for aggregate in aggregates:
            staged.setdefault(aggregate.id, aggregate)

    def is_staged(self, aggregate_id: uuid.UUID) -> bool:
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        return staged is not None and aggregate_id in staged

    def exists(self, aggregate_id: uuid.UUID) -> bool:
        """Saved (or staged in this batch). Saved aggregates never vanish, so a yes from the store is remembered."""
        if aggregate_id in self._stored or self.is_staged(aggregate_id):
            return True
        if self.recorder.select_events(aggregate_id, limit=1):
            self._stored.add(aggregate_id)
            return True
        return False

    def _save_all_once(self, aggregates: list[Aggregate]) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            if len(aggregates) == 1:
                return
            for aggregate in aggregates:
                with contextlib.suppress(IntegrityError):
                    self.save(aggregate)


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
