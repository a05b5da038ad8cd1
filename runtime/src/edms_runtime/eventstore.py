"""The write side: an eventsourcing Application on PostgreSQL, in the service's own schema."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, ClassVar, TypeVar, cast

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from edms_runtime.db import PINNED_EVENTSOURCING_ENV, ensure_schema, eventsourcing_env
from edms_runtime.faults import ConcurrencyConflict
from edms_runtime.recorder import ServiceRecorder

Events = list[DomainEventProtocol[uuid.UUID]]


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

    Aggregates created in reaction to an event have ids derived from what caused them, so an aggregate that exists
    already was created by the same cause: creating it again is skipped. Inside a consumer's fetch
    (`unit_of_work(conn)`) such aggregates are staged and saved when the fetch ends, in the fetch's own transaction
    (the one that records its tracking and read-model rows): what a fetch caused is stored exactly when the fetch
    is tracked, never one without the other.
    """

    #: Tables of the write side beside the event store (e.g. lookups written in the same transactions as the
    #: events), created in the service's schema when the application is built.
    ddl: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self._stored: set[uuid.UUID] = set()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    @property
    def store(self) -> ServiceRecorder:
        return cast(ServiceRecorder, self.recorder)

    # -- the unit of work of a consumer's fetch ---------------------------------------------------------------------
    @contextlib.contextmanager
    def unit_of_work(self, conn: psycopg.Connection[Any]) -> Iterator[dict[uuid.UUID, Aggregate]]:
        """Stage what this thread saves with `save_once`; when the block ends, save it in `conn`'s transaction.

        Yields the staged aggregates by id, so a caller can drop what a failed step staged.
        """
        staged: dict[uuid.UUID, Aggregate] = {}
        self._local.staged = staged
        joined = self.store.joined(conn) if isinstance(self.recorder, ServiceRecorder) else contextlib.nullcontext()
        try:
            with joined:
                yield staged
                if staged:
                    self.save_new(list(staged.values()))
        finally:
            self._local.staged = None

    def save_once(self, *aggregates: Aggregate) -> None:
        """Save aggregates with deterministic ids, skipping those already saved (a redelivery, a replay)."""
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        if staged is None:
            self.save_new(list(aggregates))
            return
        for aggregate in aggregates:
            staged.setdefault(aggregate.id, aggregate)

    def staged(self, aggregate_id: uuid.UUID) -> Aggregate | None:
        """The aggregate this thread staged in its unit of work (changed there, not saved yet), if any: a later event
        of the same fetch must change that one, not load a stale copy from the store."""
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        return None if staged is None else staged.get(aggregate_id)

    def is_staged(self, aggregate_id: uuid.UUID) -> bool:
        return self.staged(aggregate_id) is not None

    def load(self, aggregate_id: uuid.UUID) -> Aggregate:
        """The aggregate as this unit of work sees it: the one staged here (changed, not yet saved), or the stored one.

        Raises eventsourcing's AggregateNotFoundError when there is neither.
        """
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        if staged is not None and aggregate_id in staged:
            return staged[aggregate_id]
        aggregate: Aggregate = self.repository.get(aggregate_id)
        return aggregate

    def stage(self, *aggregates: Aggregate) -> None:
        """Save changed aggregates with the unit of work (in the fetch's transaction), or at once outside one."""
        staged: dict[uuid.UUID, Aggregate] | None = getattr(self._local, "staged", None)
        if staged is None:
            self.save(*aggregates)
            return
        for aggregate in aggregates:
            staged[aggregate.id] = aggregate

    def exists(self, aggregate_id: uuid.UUID) -> bool:
        """Saved (or staged in this batch). Saved aggregates never vanish, so a yes from the store is remembered."""
        if aggregate_id in self._stored or self.is_staged(aggregate_id):
            return True
        if self.recorder.select_events(aggregate_id, limit=1):
            self._stored.add(aggregate_id)
            return True
        return False

    def save_new(self, aggregates: Sequence[Aggregate]) -> None:
        """Save these aggregates' pending events; an aggregate whose creation is stored already is skipped.

        The pending events are collected once and kept, so a save that conflicts can be tried again per aggregate
        (eventsourcing's `save` takes them out of the aggregates before it writes). A conflict that is not a
        creation made already by the same cause is a concurrent change: `ConcurrencyConflict`, and the caller's
        whole unit of work is retried with fresh aggregates.
        """
        pending: dict[uuid.UUID, Events] = {a.id: list(a.collect_events()) for a in aggregates}
        created = [i for i, events in pending.items() if events and events[0].originator_version == 1]
        for aggregate_id in self._existing(created):
            self._skip_creation(aggregate_id, pending.pop(aggregate_id))
        events = [event for batch in pending.values() for event in batch]
        if not events:
            return
        try:
            self.save(*events)
        except IntegrityError:
            for aggregate_id, batch in pending.items():
                try:
                    self.save(*batch)
                except IntegrityError:
                    if batch[0].originator_version != 1:
                        raise ConcurrencyConflict(f"aggregate {aggregate_id} was changed meanwhile") from None
                    self._skip_creation(aggregate_id, batch)  # another replica created it a moment ago

    def _existing(self, aggregate_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if isinstance(self.recorder, ServiceRecorder):
            return self.recorder.existing(aggregate_ids)
        return {i for i in aggregate_ids if self.recorder.select_events(i, limit=1)}  # in memory (unit tests)

    def _skip_creation(self, aggregate_id: uuid.UUID, events: Events) -> None:
        if len(events) > 1:
            # created here and changed at once, but created before by someone else: redo from the stored aggregate
            raise ConcurrencyConflict(f"aggregate {aggregate_id} was created meanwhile")
        self._stored.add(aggregate_id)


TApp = TypeVar("TApp", bound=ServiceApplication)


def build_application(cls: type[TApp], database_url: str, schema: str, **extra_env: str) -> TApp:
    """Create the service's schema if needed and construct its Application against it."""
    pinned = set(extra_env) & set(PINNED_EVENTSOURCING_ENV)
    if pinned:
        raise ValueError(f"these eventsourcing settings are pinned by edms_runtime.db: {sorted(pinned)}")
    ensure_schema(database_url, schema, cls.ddl)
    env: dict[str, Any] = eventsourcing_env(database_url, schema)
    env.update(extra_env)
    app = cls(env=env)
    store = app.recorder
    if not isinstance(store, ServiceRecorder) or store.datastore.enable_db_functions:
        raise RuntimeError(f"{cls.__name__}: the event store does not run with the pinned settings: {type(store)}")
    return app


def events_channel(app: ServiceApplication) -> str:
    """The LISTEN/NOTIFY channel eventsourcing notifies on every insert."""
    return str(getattr(app.recorder, "channel_name", ""))
