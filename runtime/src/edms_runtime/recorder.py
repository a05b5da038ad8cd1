"""The event store's recorder: eventsourcing's PostgreSQL recorder, with saves that can join a transaction of ours.

Two things the stock recorder cannot do, and the backbone needs:

- **Join a transaction.** A consumer records what a fetch caused (new events) in the same PostgreSQL transaction as
  its tracking rows and read-model rows, so a crash between "saved" and "tracked" cannot exist; the registry holds a
  journal's advisory lock on the very connection that saves the numbers. `joined(conn)` makes every save of this
  thread an insert in a savepoint of `conn`'s open transaction; `transaction()` opens such a transaction itself.
- **Survive a lost commit acknowledgement.** When a COMMIT reaches the server but its reply does not, the stock
  recorder retries the insert, meets an integrity error and reports a conflict for a save that took effect. Here a
  save whose outcome is unknown is checked: if the store holds exactly the events we sent (same topic, same bytes —
  no other writer produces an event with our timestamp and content), it succeeded.

Notification ids stay in commit order: every insert takes eventsourcing's `LOCK TABLE ... IN EXCLUSIVE MODE` first
and holds it to the end of its transaction (never the database-function insert, which skips the lock; see
`edms_runtime.db.eventsourcing_env`, which pins both settings).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.composite import register_composite

#: Connection errors after which a commit may or may not have happened.
OUTCOME_UNKNOWN = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)
#: Attempts of a save on its own connection when the connection fails (the stock recorder's count).
SAVE_ATTEMPTS = 10


class ServiceRecorder(PostgresApplicationRecorder):
    """eventsourcing's application recorder, joined to our transactions and checked after a lost acknowledgement."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self._select_recorded = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {schema}.{table} "
            "WHERE (originator_id, originator_version) IN (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))

    # -- joining a transaction -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def joined(self, conn: psycopg.Connection[Any]) -> Iterator[list[StoredEvent]]:
        """Saves made by this thread inside the block go into `conn`'s open transaction, a savepoint each.

        Yields the list of events inserted so far (the caller may need to check them after a failed commit).
        """
        for info in self.datastore.psycopg_type_adapters.values():
            if not conn.adapters.types.get(info.oid):
                register_composite(info, conn)
        previous = getattr(self._local, "joined", None)
        inserted: list[StoredEvent] = []
        self._local.joined = (conn, inserted)
        try:
            yield inserted
        finally:
            self._local.joined = previous

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[DictRow]]:
        """A transaction on one connection that this thread's saves join; committed when the block ends.

        If the commit's acknowledgement is lost and the store holds what the block saved, the block succeeded.
        """
        with self.datastore.get_connection() as conn, self.joined(conn) as inserted:
            try:
                with conn.transaction():
                    yield conn
            except OUTCOME_UNKNOWN:
                if inserted and self.recorded(inserted) is not None:
                    return  # committed; only the reply was lost
                raise

    # -- inserting ---------------------------------------------------------------------------------------------------
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        joined: tuple[psycopg.Connection[Any], list[StoredEvent]] | None = getattr(self._local, "joined", None)
        if joined is not None:
            conn, inserted = joined
            ids = self._insert_in(conn, stored_events)
            inserted.extend(stored_events)
            return ids
        return self._insert_alone(stored_events, **kwargs)

    def _insert_in(self, conn: psycopg.Connection[Any], stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """Insert in a savepoint of the joined transaction: a conflict undoes only this insert."""
        if not stored_events:
            return []
        try:
            with conn.transaction(), conn.cursor() as curs:
                self._insert_stored_events(curs, stored_events)
                return list(self._fetch_ids_after_insert_events(curs, stored_events) or [])
        except psycopg.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def _insert_alone(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The stock insert in its own transaction, retried on connection errors like the stock recorder does.

        A retry after an unknown outcome that meets an integrity error checks whether the first attempt took effect.
        """
        insert = PostgresApplicationRecorder.insert_events.__wrapped__  # the stock insert without its retry
        failures = 0
        while True:
            try:
                ids: Sequence[int] | None = insert(self, stored_events, **kwargs)
                return ids
            except IntegrityError:
                if failures:
                    recorded = self.recorded(stored_events)
                    if recorded is not None:
                        return recorded
                raise
            except (OperationalError, InterfaceError):
                failures += 1
                if failures >= SAVE_ATTEMPTS:
                    raise
                time.sleep(0.2)

    # -- checking ----------------------------------------------------------------------------------------------------
    def recorded(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of these very events if the store holds every one of them (same bytes), else None."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                self._select_recorded,
                ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events]),
            )
            rows = {(row["originator_id"], row["originator_version"]): row for row in curs.fetchall()}
        ids: list[int] = []
        for event in stored_events:
            row = rows.get((event.originator_id, event.originator_version))
            if row is None or row["topic"] != event.topic or bytes(row["state"]) != event.state:
                return None
            ids.append(int(row["notification_id"]))
        return ids

    def existing(self, originator_ids: Sequence[Any]) -> set[Any]:
        """Which of these aggregates have events stored (one query for a whole batch)."""
        if not originator_ids:
            return set()
        statement = SQL(
            "SELECT originator_id FROM {schema}.{table} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(originator_ids),))
            return {row["originator_id"] for row in curs.fetchall()}
