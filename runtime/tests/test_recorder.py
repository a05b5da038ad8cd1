"""The event store's recorder against a real PostgreSQL: pinned settings, joined transactions, lost acknowledgements,
and notification ids that a relay-style reader never skips.

Issue 6 items 5 and 6 ("Registration is idempotent", "The guarantees do not hang on luck"); shared/ARCHITECTURE.md
"Pitfalls found in the landed backbone".
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from edms_runtime.db import make_pool
from edms_runtime.eventstore import build_application
from edms_runtime.recorder import ServiceRecorder
from runtime.tests.apps import Note, NotesApp, count, notes_app
from runtime.tests.pgproxy import CommitAckLosingProxy


def test_the_event_store_runs_with_the_pinned_settings(fresh_database_url: str) -> None:
    with notes_app(fresh_database_url) as app:
        assert isinstance(app.recorder, ServiceRecorder)
        datastore = app.store.datastore
        assert datastore.enable_db_functions is False  # the insert takes the table lock: ids in commit order
        assert datastore.lock_timeout == 5
        assert datastore.idle_in_transaction_session_timeout == 5


def test_a_pinned_setting_cannot_be_overridden(fresh_database_url: str) -> None:
    with pytest.raises(ValueError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        build_application(NotesApp, fresh_database_url, "notes", POSTGRES_ENABLE_DB_FUNCTIONS="y")


def test_a_save_whose_commit_answer_is_lost_is_found_committed(fresh_database_url: str) -> None:
    """The COMMIT reached the server, its answer did not: the retry meets our own events, not a conflict."""
    with CommitAckLosingProxy.in_front_of(fresh_database_url) as (proxy, url), notes_app(url) as app:
        app.save(Note("warm-up", "x"))
        proxy.lose_next_commit_answer()
        note = Note("letter-1", "the answer to this commit is lost")
        app.save(note)
        assert proxy.lost == 1
        assert app.repository.get(note.id).text == "the answer to this commit is lost"
        assert count(app, "Note.Written") == 2


def test_a_joined_transaction_whose_commit_answer_is_lost_is_found_committed(fresh_database_url: str) -> None:
    with CommitAckLosingProxy.in_front_of(fresh_database_url) as (proxy, url), notes_app(url) as app:
        note = Note("letter-2", "joined")
        proxy.lose_next_commit_answer()
        with app.store.transaction():
            app.save(note)
        assert proxy.lost == 1
        assert count(app, "Note.Written") == 1


def test_a_joined_transaction_whose_commit_is_lost_is_reported_failed(fresh_database_url: str) -> None:
    """The check is real: when the COMMIT never reached the server, nothing is stored and the caller hears it."""
    with CommitAckLosingProxy.in_front_of(fresh_database_url) as (proxy, url), notes_app(url) as app:
        proxy.lose_next_commit()
        with pytest.raises((OperationalError, psycopg.OperationalError)), app.store.transaction():
            app.save(Note("letter-3", "never committed"))
        assert count(app, "Note.Written") == 0


def test_a_save_joined_to_a_transaction_is_undone_with_it(fresh_database_url: str) -> None:
    with notes_app(fresh_database_url) as app:
        pool = make_pool(fresh_database_url, "notes", max_size=1)
        try:
            seen_before_commit = []

            def save_then_fail() -> None:
                with pool.connection() as conn, conn.transaction(), app.store.joined(conn):
                    app.save(Note("rolled-back", "x"))
                    seen_before_commit.append(count(app, "Note.Written"))  # others do not see it yet
                    raise RuntimeError("the caller's transaction fails after the save")

            with pytest.raises(RuntimeError):
                save_then_fail()
            assert seen_before_commit == [0]
            assert count(app, "Note.Written") == 0
            with pool.connection() as conn, conn.transaction(), app.store.joined(conn):
                app.save(Note("committed", "x"))
            assert count(app, "Note.Written") == 1
        finally:
            pool.close()


def test_eight_concurrent_writers_and_a_relay_style_reader_skip_no_notification(fresh_database_url: str) -> None:
    """A reader that asks for "ids after the last one I saw" (as the relay does) must see every id: ids commit in
    order because every insert holds the table lock until its transaction ends, joined ones included."""
    writers, per_writer = 8, 150
    seen: list[int] = []
    done = threading.Event()
    with notes_app(fresh_database_url) as app:

        def read() -> None:
            last = 0
            while True:
                finished = done.is_set()
                batch = app.recorder.select_notifications(last + 1, 50)
                seen.extend(n.id for n in batch)
                last = batch[-1].id if batch else last
                if finished and not batch:
                    return

        def write(writer: int) -> None:
            pool = make_pool(fresh_database_url, "notes", max_size=1)
            try:
                for i in range(per_writer):
                    note = Note(f"w{writer}-{i}", "x")
                    if i % 2:
                        app.save(note)  # its own transaction
                    else:
                        with pool.connection() as conn, conn.transaction(), app.store.joined(conn):
                            app.save(note)  # joined to a caller's transaction, as a consumer's fetch does
            finally:
                pool.close()

        reader = threading.Thread(target=read)
        reader.start()
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(write, range(writers)))
        done.set()
        reader.join(60)
        with app.store.datastore.get_connection() as conn:
            stored = [r["notification_id"] for r in conn.execute("SELECT notification_id FROM notes.notesapp_events")]
    assert len(stored) == writers * per_writer
    assert seen == sorted(seen), "the reader saw ids out of order"
    assert set(seen) == set(stored), f"skipped: {sorted(set(stored) - set(seen))[:10]}"


def test_existing_reports_which_aggregates_are_created(fresh_database_url: str) -> None:
    with notes_app(fresh_database_url) as app:
        note = Note("exists", "x")
        app.save(note)
        assert app.store.existing([note.id, uuid.uuid4()]) == {note.id}
