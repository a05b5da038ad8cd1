"""The tracking consumer against a real PostgreSQL (issue 6 items 1-4): what a fetch causes is stored with its
tracking or not at all, replicas and replays lose nothing, transient failures are retried and never dead-lettered,
an event that breaks a batch's save goes aside alone, and dead letters are kept once and re-driven.

Records are built by hand as aiokafka returns them (runtime.tests.records) and handed to the real consumer's
apply path, which is what its loop does with each fetch; waiting on a broker adds nothing to these properties.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from edms_contracts import EVENT_TYPE_HEADER, AttachmentAdded, CaseOpened, DocumentRegistered, Envelope
from edms_contracts.topics import ARCHIVE_FILING
from edms_runtime import deadletters
from edms_runtime.consumer import BatchResult, Handlers, ReadModel, TrackingConsumer, records_of
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.faults import Transient
from edms_runtime.service import PLUMBING_DDL
from edms_runtime.settings import PlatformSettings
from runtime.tests.apps import Book, Note, NotesApp, count, notes_app
from runtime.tests.records import Record, attachment, consumer_record, delivered_again, envelope_for, registered

SERVICE = "notes"

LETTERS_DDL = """
CREATE TABLE IF NOT EXISTS letters (
    document_id uuid PRIMARY KEY,
    title text,
    attachments integer NOT NULL DEFAULT 0
);
"""


class Hooks:
    """What the test handlers do besides their work: wait at a barrier, fail once, refuse a word."""

    def __init__(self) -> None:
        self.barrier: threading.Barrier | None = None
        self.first_attempt = threading.local()
        self.refuse: str | None = None
        self.drop_connection_once = False

    def pause_once(self) -> None:
        """Wait for the other replica at the barrier, on a thread's first attempt only (not on its retries)."""
        if self.barrier is not None and not getattr(self.first_attempt, "done", False):
            self.first_attempt.done = True
            self.barrier.wait(timeout=20)


def read_model(hooks: Hooks) -> ReadModel:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        if hooks.refuse and hooks.refuse in event.title:
            raise ValueError(f"title: {hooks.refuse!r} is not accepted")
        if hooks.drop_connection_once:
            hooks.drop_connection_once = False
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        conn.execute(
            "INSERT INTO letters (document_id, title) VALUES (%s, %s) "
            "ON CONFLICT (document_id) DO UPDATE SET title = EXCLUDED.title",
            (event.document_id, event.title),
        )
        hooks.pause_once()

    def on_attachment(conn: psycopg.Connection[Any], envelope: Envelope, event: AttachmentAdded) -> None:
        conn.execute(
            "INSERT INTO letters (document_id, attachments) VALUES (%s, 1) "
            "ON CONFLICT (document_id) DO UPDATE SET attachments = letters.attachments + 1",
            (event.document_id,),
        )
        hooks.pause_once()

    return ReadModel(
        ddl=LETTERS_DDL,
        tables=("letters",),
        handlers={DocumentRegistered: on_registered, AttachmentAdded: on_attachment},
    )


def policies(app: NotesApp, hooks: Hooks) -> Handlers:
    def on_registered(conn: psycopg.Connection[Any], envelope: Envelope, event: DocumentRegistered) -> None:
        if "poison" in event.title:  # a note the event store cannot encode: its save fails for good
            app.save_once(Note(str(event.document_id), object()))  # type: ignore[arg-type]
            return
        app.write(str(event.document_id), event.title, book=event.org)
        hooks.pause_once()

    return {DocumentRegistered: on_registered}


@dataclass
class Replica:
    app: NotesApp
    pool: ConnectionPool[Any]
    consumer: TrackingConsumer

    def apply(self, *records: Record) -> BatchResult:
        """As the consumer loop does: apply, and again after a transient failure."""
        return asyncio.run(self.consumer.apply_until_done(list(records), cluster="cluster-1"))


@contextmanager
def replica(database_url: str, hooks: Hooks) -> Iterator[Replica]:
    model = read_model(hooks)
    ensure_schema(database_url, SERVICE, PLUMBING_DDL + model.ddl)
    pool = make_pool(database_url, SERVICE, max_size=2)
    with notes_app(database_url, SERVICE) as app:
        consumer = TrackingConsumer(
            service=SERVICE,
            pool=pool,
            settings=PlatformSettings(database_url=database_url),
            policies=policies(app, hooks),
            read_model=model,
            unit_of_work=app.unit_of_work,
        )
        consumer.retry_seconds = (0.05, 0.2)
        try:
            yield Replica(app, pool, consumer)
        finally:
            pool.close()


def _one(database_url: str, sql: str, *params: object) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def tracked(database_url: str, name: str) -> int:
    return int(_one(database_url, f"SELECT count(*) FROM {SERVICE}.tracking WHERE consumer = %s", name))


def dead_letters(database_url: str) -> list[tuple[str, str, int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT source, reason, attempts, state FROM {SERVICE}.dead_letters ORDER BY id"
        ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


def letters(org: str = "org-a", n: int = 2, prefix: str = "Письмо") -> list[tuple[uuid.UUID, Record]]:
    return [registered(f"{prefix} {i}", org=org, reg_number=f"01-10/{i}") for i in range(n)]


# -- one transaction, two kinds of handlers -------------------------------------------------------------------------
def test_policies_and_read_model_apply_in_one_transaction_tracked_apart(fresh_database_url: str) -> None:
    hooks = Hooks()
    with replica(fresh_database_url, hooks) as one:
        batch = letters(n=2)
        result = one.apply(*(record for _, record in batch))
        assert (result.applied, result.duplicates, result.dead) == (2, 0, [])
        assert count(one.app, "Note.Written") == 2
        assert count(one.app, "Book.Opened") == 1
        assert tracked(fresh_database_url, SERVICE) == tracked(fresh_database_url, f"{SERVICE}.read") == 2
        again = one.apply(*(delivered_again(record) for _, record in batch))
        assert (again.applied, again.duplicates) == (0, 2)
        assert count(one.app, "Note.Written") == 2
        positions = _one(fresh_database_url, f"SELECT sum(next_offset) FROM {SERVICE}.consumer_positions")
        assert positions > 0  # how far the live consumer applied, for a replay to catch up with


# -- item 1: nothing a fetch caused is lost or doubled -------------------------------------------------------------
def test_two_replicas_opening_the_same_new_book_lose_no_note(fresh_database_url: str) -> None:
    """Two replicas, one new book (as two archive replicas open the same new case): both stage the book, one saves
    it first; the other's save conflicts on the book, skips it and still saves its own notes."""
    hooks = Hooks()
    hooks.barrier = threading.Barrier(2)
    first, second = letters(n=2, prefix="Первая"), letters(n=2, prefix="Вторая")
    with replica(fresh_database_url, hooks) as a, replica(fresh_database_url, hooks) as b:
        with ThreadPoolExecutor(2) as pool:
            results = list(
                pool.map(lambda job: job[0].apply(*(record for _, record in job[1])), [(a, first), (b, second)])
            )
        assert [r.dead for r in results] == [[], []]
        assert count(a.app, "Note.Written") == 4
        assert count(a.app, "Book.Opened") == 1
        assert tracked(fresh_database_url, SERVICE) == 4
        for document_id, _ in first + second:
            assert a.app.repository.get(Note.create_id(str(document_id))).book == Book.create_id("org-a")


def test_a_fetch_that_fails_after_its_save_leaves_nothing_and_its_retry_with_more_records_saves_all(
    fresh_database_url: str,
) -> None:
    """A crash between the event-store save and the tracking commit cannot exist: they are one transaction."""
    hooks = Hooks()
    with replica(fresh_database_url, hooks) as one:
        batch = letters(n=3)
        real_work = one.app.unit_of_work

        @contextmanager
        def crash_after_save(conn: psycopg.Connection[Any]) -> Iterator[dict[Any, Any]]:
            with real_work(conn) as staged:
                yield staged
            raise psycopg.OperationalError("server closed the connection unexpectedly")  # after the save

        one.consumer.applier.unit_of_work = crash_after_save
        with pytest.raises(Transient):
            one.consumer.apply_batch([record for _, record in batch[:2]])
        assert count(one.app, "Note.Written") == 0
        assert tracked(fresh_database_url, SERVICE) == 0

        one.consumer.applier.unit_of_work = real_work
        result = one.apply(*(record for _, record in batch))  # re-fetched, with a record more
        assert result.applied == 3
        assert count(one.app, "Note.Written") == 3
        assert count(one.app, "Book.Opened") == 1


# -- item 2: transient failures are retried, never dead-lettered -----------------------------------------------------
def test_a_deadlock_between_two_replicas_is_retried_not_dead_lettered(fresh_database_url: str) -> None:
    """Two replicas upsert the same two rows in opposite orders (events of one document on different topics)."""
    hooks = Hooks()
    hooks.barrier = threading.Barrier(2)
    (x, registered_x), (y, registered_y) = letters(n=2)
    retries_before = REGISTRY.get_sample_value("edms_consumer_retries_total", {"consumer": SERVICE}) or 0.0
    with replica(fresh_database_url, hooks) as a, replica(fresh_database_url, hooks) as b:
        a.consumer.applier.tracks = a.consumer.applier.tracks[1:]  # the read model only: rows, not notes
        b.consumer.applier.tracks = b.consumer.applier.tracks[1:]
        with ThreadPoolExecutor(2) as pool:
            jobs = [(a, [registered_x, attachment(y)]), (b, [registered_y, attachment(x)])]
            results = list(pool.map(lambda job: job[0].apply(*job[1]), jobs))
    assert [r.dead for r in results] == [[], []]
    assert dead_letters(fresh_database_url) == []
    with psycopg.connect(fresh_database_url) as conn:
        rows = conn.execute(f"SELECT title, attachments FROM {SERVICE}.letters ORDER BY title").fetchall()
    assert rows == [("Письмо 0", 1), ("Письмо 1", 1)]
    assert tracked(fresh_database_url, f"{SERVICE}.read") == 4
    retries = REGISTRY.get_sample_value("edms_consumer_retries_total", {"consumer": SERVICE}) or 0.0
    assert retries > retries_before  # the deadlock happened, and its victim's fetch was applied again


def test_a_connection_lost_in_the_middle_of_a_fetch_is_retried(fresh_database_url: str) -> None:
    hooks = Hooks()
    hooks.drop_connection_once = True
    with replica(fresh_database_url, hooks) as one:
        result = one.apply(*(record for _, record in letters(n=2)))
    assert (result.applied, result.dead) == (2, [])
    assert dead_letters(fresh_database_url) == []


# -- item 3: poison is set aside alone ---------------------------------------------------------------------------------
def test_an_event_whose_save_fails_for_good_is_set_aside_and_the_rest_are_applied(fresh_database_url: str) -> None:
    hooks = Hooks()
    good = letters(n=2)
    _, poison = registered("poison: the store cannot encode its note", org="org-a", reg_number="01-10/99")
    with replica(fresh_database_url, hooks) as one:
        result = one.apply(good[0][1], poison, good[1][1])
        assert result.applied == 2
        (letter,) = result.dead
        assert letter.value == poison.value
        assert "is not serializable" in letter.reason
        assert count(one.app, "Note.Written") == 2
        ((source, _, attempts, state),) = dead_letters(fresh_database_url)
        assert (source, attempts, state) == (f"{poison.topic}/{poison.partition}/{poison.offset}", 1, "dead")
        # the next fetch flows
        later = letters(n=1, prefix="Позже")
        assert one.apply(later[0][1]).applied == 1


def test_a_known_event_without_a_handler_is_dropped_unvalidated_and_an_unknown_type_is_dead(
    fresh_database_url: str,
) -> None:
    hooks = Hooks()
    case_id = uuid.uuid4()
    invalid_case = envelope_for(
        CaseOpened(case_id=case_id, index="01-10", title="x", year=2026, retention="5"), case_id
    )
    invalid_case = invalid_case.model_copy(update={"payload": {"nonsense": True}})
    unknown = invalid_case.model_copy(update={"event_type": "CaseTeleported", "event_id": uuid.uuid4()})
    with replica(fresh_database_url, hooks) as one:
        result = one.apply(
            consumer_record(invalid_case.model_dump_json().encode(), ARCHIVE_FILING),
            consumer_record(unknown.model_dump_json().encode(), ARCHIVE_FILING),
        )
    assert result.ignored == 1
    (letter,) = result.dead
    assert letter.reason == "event_type: unknown event type 'CaseTeleported'"


def test_a_record_whose_headers_name_a_type_without_a_handler_is_dropped_unparsed(fresh_database_url: str) -> None:
    """The relay names each record's event type in its headers (`edms_contracts.EVENT_TYPE_HEADER`): a consumer with
    no use for that type drops it without parsing the value (an attachment's text is ~100 KB of JSON). The value is
    parsed, as before, when the headers name no type, an unknown one, or one this consumer handles."""
    hooks = Hooks()
    garbage = b"not an envelope at all"
    named = [(EVENT_TYPE_HEADER, b"CaseOpened")]  # known, and no handler here
    with replica(fresh_database_url, hooks) as one:
        skipped = one.apply(consumer_record(garbage, ARCHIVE_FILING, headers=named))
        assert (skipped.ignored, skipped.dead) == (1, [])
        unnamed = one.apply(consumer_record(garbage, ARCHIVE_FILING))
        unknown = one.apply(consumer_record(garbage, ARCHIVE_FILING, headers=[(EVENT_TYPE_HEADER, b"CaseTeleported")]))
        handled = one.apply(consumer_record(garbage, headers=[(EVENT_TYPE_HEADER, b"DocumentRegistered")]))
        for result in (unnamed, unknown, handled):
            (letter,) = result.dead
            assert "Invalid JSON" in letter.reason
        _, good = registered("Письмо", org="org-a", reg_number="01-10/1")
        assert one.apply(good).applied == 1  # a handled type named in its headers (as `published` makes it) applies


def test_a_handled_event_with_an_invalid_payload_or_a_newer_schema_is_dead_with_its_reason_beside_a_valid_one(
    fresh_database_url: str,
) -> None:
    """Events of handled types are decoded with their payload in one pass (`typed_envelopes`); what that pass
    refuses is decoded as before, so a dead letter names the field or the version exactly as it did."""
    hooks = Hooks()
    document_id, good = registered("Письмо", org="org-a", reg_number="01-10/1")
    _, other = registered("Другое", org="org-a", reg_number="01-10/2")
    base = Envelope.model_validate_json(other.value or b"")
    invalid = base.model_copy(update={"payload": {**base.payload, "reg_date": "2026-02-30"}})
    newer = base.model_copy(update={"event_id": uuid.uuid4(), "schema_version": 99})
    with replica(fresh_database_url, hooks) as one:
        result = one.apply(
            good, consumer_record(invalid.model_dump_json().encode()), consumer_record(newer.model_dump_json().encode())
        )
    assert result.applied == 1
    assert _one(fresh_database_url, f"SELECT title FROM {SERVICE}.letters WHERE document_id = %s", document_id) == (
        "Письмо"
    )
    invalid_letter, newer_letter = result.dead
    assert invalid_letter.reason.startswith("payload.reg_date: ")
    assert newer_letter.reason == "schema_version: DocumentRegistered v99 is newer than v1 known here"


# -- item 4: dead letters are kept once and re-driven --------------------------------------------------------------
def test_a_dead_letter_is_kept_once_and_re_driven_after_the_fix(fresh_database_url: str) -> None:
    hooks = Hooks()
    hooks.refuse = "запрещ"  # the bug: a handler that refuses a word
    document_id, refused = registered("Письмо о запрещённых свалках", org="org-a", reg_number="01-10/7")
    with replica(fresh_database_url, hooks) as one:
        assert len(one.apply(refused).dead) == 1
        assert len(one.apply(delivered_again(refused)).dead) == 1  # delivered again: the same letter
        ((_, reason, attempts, state),) = dead_letters(fresh_database_url)
        assert (attempts, state) == (2, "dead")
        assert "'запрещ' is not accepted" in reason

        hooks.refuse = None  # the fix
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            marked = deadletters.request_replay(conn, [SERVICE], consumer=SERVICE, ids=[])
        assert len(marked) == 1
        redrive(one, marked)
        assert [row[3] for row in dead_letters(fresh_database_url)] == ["replayed"]
        assert _one(fresh_database_url, f"SELECT title FROM {SERVICE}.letters WHERE document_id = %s", document_id)
        # re-driven again (a second `edms dlq replay`): nothing is left to replay, nothing is applied twice
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            assert deadletters.request_replay(conn, [SERVICE], consumer=SERVICE, ids=[]) == []
        assert one.apply(delivered_again(refused)).duplicates == 1


def redrive(replica: Replica, rows: Sequence[deadletters.Row]) -> None:
    """What the consumer loop does with rows marked for replay."""
    records = list(records_of(rows))
    asyncio.run(replica.consumer.apply_until_done(records, settle=[row.id for row in rows]))
