"""Control's read model against the real PostgreSQL: runs of events folded at once (`apply_run`, used by the live
consumer and `edms replay`) leave exactly the tables the events' own handlers leave one at a time, whatever the
runs' cuts, duplicates included (shared/ARCHITECTURE.md "Replay": a rebuild gives the same read model, byte for byte).
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from edms_contracts import ControlCardOpened, decode
from edms_contracts.control import (
    ControlAssignmentOpened,
    ControlCardClosed,
    ControlCardReported,
    ControlCardReturned,
    ControlDeadlineMoved,
    ControlOverdue,
    Recipient,
)
from edms_contracts.directory import PersonRegistered
from edms_contracts.routing import StageCompleted, StageStarted
from edms_contracts.topics import CONTROL_CARD, REGISTRY_DIRECTORY, ROUTING_ROUTE
from edms_control import projections
from edms_control.projections import READ_MODEL
from edms_runtime.consumer import TRACKING_DDL, Applier, Track, read_track
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.deadletters import DEAD_LETTERS_DDL
from edms_runtime.faults import Transient
from edms_runtime.replay import TRACKING_KEY, defer_indexes, make_indexes
from runtime.tests.pgproxy import CommitAckLosingProxy
from runtime.tests.records import Record, delivered_again, published

ORG = "demo-region"


def _life(rng: random.Random) -> list[Record]:
    """One document with an assignment, in the order control publishes them (one card's events in order)."""
    document, assignment, doc_card, card, route = (uuid.uuid4() for _ in range(5))
    reg = date(2026, 1, 1) + timedelta(days=rng.randrange(300))
    deadline = reg + timedelta(days=10)
    out = [
        published(ControlCardOpened(card_id=doc_card, document_id=document, reg_number="01/1", deadline=deadline,
                                    rule="default", reg_date=reg, org=ORG, unit="u1"), doc_card, CONTROL_CARD, 1),
        published(ControlAssignmentOpened(card_id=card, document_id=document, assignment_id=assignment,
                                          reg_number="01/1", org=ORG, deadline=deadline, executor="ivanov",
                                          controller="ctl", author="boss", unit="u2", opened_on=reg),
                  card, CONTROL_CARD, 1),
        published(ControlCardReported(card_id=card, document_id=document, assignment_id=assignment, by="ivanov",
                                      on=reg + timedelta(days=3)), card, CONTROL_CARD, 2),
        published(ControlCardReturned(card_id=card, document_id=document, assignment_id=assignment, by="ctl",
                                      reason="нет", on=reg + timedelta(days=4)), card, CONTROL_CARD, 3),
        published(ControlDeadlineMoved(card_id=card, document_id=document, assignment_id=assignment,
                                       cause="extension", previous_deadline=deadline,
                                       deadline=deadline + timedelta(days=5), counts=rng.random() < 0.5,
                                       reason="продление", on=reg + timedelta(days=5)), card, CONTROL_CARD, 4),
        published(ControlOverdue(card_id=card, document_id=document, assignment_id=assignment, deadline=deadline,
                                 on=deadline + timedelta(days=1), executor="ivanov",
                                 recipients=[Recipient(login="boss", role="head")]), card, CONTROL_CARD, 5),
        published(ControlCardClosed(card_id=card, document_id=document, assignment_id=assignment,
                                    done_on=reg + timedelta(days=rng.randrange(20)), deadline=deadline, late=True,
                                    by="ctl"), card, CONTROL_CARD, 6),
        published(StageCompleted(document_id=document, org=ORG, route_id=route, stage="approval",
                                  outcome="approved"), route, ROUTING_ROUTE, 1),
        published(StageStarted(document_id=document, org=ORG, route_id=route, stage="approval",
                               participants=["boss"]), route, ROUTING_ROUTE, 2),
        published(StageCompleted(document_id=document, org=ORG, route_id=route, stage="approval",
                                 outcome="approved"), route, ROUTING_ROUTE, 3),
    ]  # fmt: skip
    if rng.random() < 0.3:  # an event for a card control never opened: nothing to change
        stray = ControlCardClosed(
            card_id=uuid.uuid4(), document_id=document, done_on=reg, deadline=reg, late=False, by="x"
        )
        out.append(published(stray, stray.card_id, CONTROL_CARD, 2))
    return out


def _stream(seed: int) -> list[Record]:
    """Several documents' events interleaved (each card's own order kept), with redeliveries and a directory
    event between them (a handler that is not folded: the run before it is applied first)."""
    rng = random.Random(seed)
    lives = [_life(rng) for _ in range(30)]
    out: list[Record] = []
    while any(lives):
        life = rng.choice([life for life in lives if life])
        out.append(life.pop(0))
        if rng.random() < 0.05:
            out.append(delivered_again(out[-1]))
        if rng.random() < 0.03:
            person = uuid.uuid4()
            joined = PersonRegistered(org=ORG, by="admin", person_id=person, login=f"p{len(out)}", full_name="Пётр")
            out.append(published(joined, person, REGISTRY_DIRECTORY))
    return out


def _dump(url: str, schema: str) -> dict[str, list[Any]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT row_to_json(t)::text AS r FROM {} t ORDER BY 1").format(sql.Identifier(schema, table))
            ).fetchall()
            for table in READ_MODEL.tables
        }


def _apply(url: str, schema: str, track: Track, records: list[Record], cut: int) -> dict[str, list[Any]]:
    ensure_schema(url, schema, TRACKING_DDL + DEAD_LETTERS_DDL + READ_MODEL.ddl)
    pool = make_pool(url, schema, max_size=2)
    try:
        applier = Applier(service="control", pool=pool, tracks=[track], pipelined=True)
        for i in range(0, len(records), cut):
            assert applier.apply_batch(records[i : i + cut]).dead == []
    finally:
        pool.close()
    return _dump(url, schema)


@pytest.mark.parametrize(("seed", "cut"), [(1, 7), (2, 50), (3, 1000)])
def test_runs_folded_leave_the_tables_the_handlers_leave(fresh_database_url: str, seed: int, cut: int) -> None:
    records = _stream(seed)
    one_by_one = _apply(fresh_database_url, "single", Track(read_track("control"), READ_MODEL.handlers), records, 1)
    folded = _apply(fresh_database_url, "folded", READ_MODEL.track(read_track("control")), records, cut)
    assert len(one_by_one["cards"]) == 60
    assert len(one_by_one["card_states"]) > 60
    assert one_by_one == folded


@pytest.mark.parametrize("in_memory", [False, True], ids=["tracking-key", "in-memory"])
def test_a_replay_fetch_with_events_applied_in_an_earlier_fetch_applies_only_the_new_ones(
    fresh_database_url: str, in_memory: bool
) -> None:
    """The replay's applier writes tracking by COPY; a fetch that meets events it applied before (republished after
    a broker change) fails that COPY in its savepoint and asks which are new — or, as `edms replay` runs, tells them
    by what it has seen, the tracking table without its key until the replay has caught up: each applied once, and
    the key made afterwards holds."""
    records = [record for _ in range(3) for record in _life(random.Random(4))]
    ensure_schema(fresh_database_url, "again", TRACKING_DDL + DEAD_LETTERS_DDL + READ_MODEL.ddl)
    deferred = defer_indexes(fresh_database_url, "again", (TRACKING_KEY, *READ_MODEL.deferred)) if in_memory else []
    pool = make_pool(fresh_database_url, "again", max_size=2)
    try:
        applier = Applier(service="control", pool=pool, tracks=[READ_MODEL.track(read_track("control"))],
                          pipelined=True, seen=set() if in_memory else None)  # fmt: skip
        first = applier.apply_batch(records[:10])
        second = applier.apply_batch([delivered_again(r) for r in records[:10]] + records[10:])
        third = applier.apply_batch([delivered_again(r) for r in records[5:15]])
        with pool.connection() as conn:
            tracked = conn.execute("SELECT count(*) AS n FROM tracking").fetchone()
    finally:
        pool.close()
    make_indexes(fresh_database_url, deferred)
    assert (first.applied, first.duplicates) == (10, 0)
    assert (second.applied, second.duplicates) == (len(records) - 10, 10)
    assert (third.applied, third.duplicates) == (0, 10)
    assert tracked == {"n": len(records)}


def test_what_a_replay_has_seen_holds_only_what_committed(fresh_database_url: str) -> None:
    """A fetch that fails (here a handler refuses one event for good) is applied again one by one: the event set
    aside is not counted as seen, so its next delivery is tried again (and set aside again), while the others are
    duplicates."""
    ensure_schema(fresh_database_url, "seen", TRACKING_DDL + DEAD_LETTERS_DDL + READ_MODEL.ddl)
    defer_indexes(fresh_database_url, "seen", (TRACKING_KEY,))
    records = _life(random.Random(5))[:3]  # opened, assignment opened, reported
    refused = records[2]

    def refuse(conn: Any, envelope: Any, event: Any) -> None:
        raise ValueError("refused")

    track = Track(read_track("control"), {**READ_MODEL.handlers, ControlCardReported: refuse})
    pool = make_pool(fresh_database_url, "seen", max_size=2)
    try:
        applier = Applier(service="control", pool=pool, tracks=[track], pipelined=True, seen=set())
        first = applier.apply_batch(records)
        again = applier.apply_batch([delivered_again(r) for r in records])
    finally:
        pool.close()
    assert (first.applied, len(first.dead)) == (2, 1)
    assert (again.applied, again.duplicates, len(again.dead)) == (0, 2, 1)
    assert applier.seen == {decode(r.value).event_id.int for r in records if r is not refused}


def test_a_replay_whose_commit_answer_was_lost_applies_nothing_twice(fresh_database_url: str) -> None:
    """The connection drops after the server committed a fetch (its answer lost on the way back): the replay applies
    the fetch again (a transient failure), and the applier, unsure of what it has seen, asks the tracking table
    first — every event counts once, and the tracking key made afterwards holds."""
    ensure_schema(fresh_database_url, "unsure", TRACKING_DDL + DEAD_LETTERS_DDL + READ_MODEL.ddl)
    deferred = defer_indexes(fresh_database_url, "unsure", (TRACKING_KEY, *READ_MODEL.deferred))
    records = _life(random.Random(6))
    with CommitAckLosingProxy.in_front_of(fresh_database_url) as (proxy, url):
        pool = make_pool(url, "unsure", max_size=1)
        try:
            applier = Applier(service="control", pool=pool, tracks=[READ_MODEL.track(read_track("control"))],
                              pipelined=True, seen=set())  # fmt: skip
            pool.wait()  # its connection made (and its set-up committed) before the proxy is armed
            proxy.lose_next_commit_answer()
            with pytest.raises(Transient):
                applier.apply_batch(records)
            again = applier.apply_batch(records)
        finally:
            pool.close()
    assert proxy.lost == 1
    assert (again.applied, again.duplicates) == (0, len(records))
    make_indexes(fresh_database_url, deferred)
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM unsure.tracking").fetchone() == (len(records),)


def test_indexes_a_replay_defers_are_made_again_as_the_ddl_makes_them(fresh_database_url: str) -> None:
    """`defer_indexes` drops what a replay makes only once caught up and returns what makes each again: afterwards
    the schema's indexes and keys are those of the DDL, and a key the rows break fails there, before any swap."""

    def indexes() -> list[Any]:
        with psycopg.connect(fresh_database_url) as conn:
            return conn.execute(
                "SELECT indexname, replace(indexdef, 'deferred.', '') FROM pg_indexes WHERE schemaname = 'deferred' "
                "ORDER BY 1"
            ).fetchall()

    ensure_schema(fresh_database_url, "deferred", TRACKING_DDL + READ_MODEL.ddl)
    made = indexes()
    statements = defer_indexes(fresh_database_url, "deferred", (TRACKING_KEY, *READ_MODEL.deferred))
    left = {name for name, _ in indexes()}
    assert left == {name for name, _ in made} - {TRACKING_KEY, *READ_MODEL.deferred}
    make_indexes(fresh_database_url, statements)
    assert indexes() == made
    with pytest.raises(LookupError):
        defer_indexes(fresh_database_url, "deferred", ("no_such_index",))
    statements = defer_indexes(fresh_database_url, "deferred", (TRACKING_KEY,))
    with psycopg.connect(fresh_database_url) as conn:
        twice = ("control:read", uuid.uuid4(), "ControlCardOpened", uuid.uuid4(), 1)
        conn.execute("INSERT INTO deferred.tracking VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s)", twice * 2)
    with pytest.raises(psycopg.errors.UniqueViolation):
        make_indexes(fresh_database_url, statements)


def test_a_row_made_after_the_run_read_its_table_goes_by_the_upsert_not_the_copy(fresh_database_url: str) -> None:
    """A run writes the rows it did not find by COPY; a row made meanwhile (two replicas of the live consumer while a
    partition changes hands) fails the COPY in its savepoint, and then every row of the run goes by the upsert: the
    row made meanwhile takes the run's values, the others are made, and nothing fails."""
    ensure_schema(fresh_database_url, "meanwhile", READ_MODEL.ddl)
    card, other = uuid.uuid4(), uuid.uuid4()

    def row(card_id: uuid.UUID, deadline: date) -> dict[str, Any]:
        return {**dict.fromkeys(projections.CARD_COLUMNS), "card_id": card_id, "document_id": card_id, "org": ORG,
                "reg_number": "01/1", "deadline": deadline, "rule": "default", "kind": "document"}  # fmt: skip

    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in projections.CARD_COLUMNS[1:])
    with psycopg.connect(fresh_database_url, row_factory=psycopg.rows.dict_row) as conn:
        conn.execute("SET search_path TO meanwhile")
        projections._write(conn, "cards", projections.CARD_TYPES, [row(card, date(2026, 3, 1))], lambda r: True,
                           f"ON CONFLICT (card_id) DO UPDATE SET {update}")  # fmt: skip
        projections._write(conn, "cards", projections.CARD_TYPES,
                           [row(card, date(2026, 3, 9)), row(other, date(2026, 3, 5))], lambda r: True,
                           f"ON CONFLICT (card_id) DO UPDATE SET {update}")  # fmt: skip
        rows = conn.execute("SELECT card_id, deadline FROM cards ORDER BY deadline").fetchall()
    assert rows == [{"card_id": other, "deadline": date(2026, 3, 5)}, {"card_id": card, "deadline": date(2026, 3, 9)}]
