"""The Elasticsearch backend against a real osmem-server process and a real PostgreSQL read model.

Rows get into the read model the way they do in production: envelopes applied by the real TrackingConsumer
(edms_runtime.consumer). The indexer (edms_search.indexer) copies them into the engine; ElasticsearchSearch
(edms_search.backend) answers with the ACL inside the query (own organization; ДСП only for those admitted, Decree of
the Government of the RF No. 1233 of 03.11.1994). osmem-server is memory only, so stopping and starting it again
is an engine that lost everything, which the indexer has to notice and repair.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pytest
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as EngineConnectionError
from psycopg_pool import ConnectionPool

from edms_runtime.auth import Principal
from edms_runtime.consumer import TrackingConsumer
from edms_runtime.stack import OsmemProcess
from edms_search.backend import ElasticsearchSearch, Page, PostgresSearch, SearchUnavailable
from edms_search.elastic import FIELDS, DocumentIndex, make_client, to_source
from edms_search.indexer import Indexer
from services.search.tests.records import (
    ORG,
    Record,
    ask,
    attachment,
    card_opened,
    principal,
    registered,
    route_started,
    running_osmem,
    search_read_model,
)


# -- fixtures ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OsmemProcess]:
    """A real osmem-server process on a free port (memory only)."""
    yield from running_osmem(tmp_path_factory)


@pytest.fixture(scope="module")
def client(engine: OsmemProcess) -> Iterator[Elasticsearch]:
    es = make_client(engine.url, timeout=5.0)
    try:
        yield es
    finally:
        es.close()


@dataclass
class Search:
    """The read model, its indexer and both backends, over one fresh database and one fresh index alias."""

    pool: ConnectionPool[Any]
    consumer: TrackingConsumer
    index: DocumentIndex
    indexer: Indexer

    @property
    def engine_search(self) -> ElasticsearchSearch:
        return ElasticsearchSearch(self.index, self.pool)

    @property
    def postgres_search(self) -> PostgresSearch:
        return PostgresSearch(self.pool)

    def apply(self, *records: Record) -> None:
        result = self.consumer.apply_batch(list(records))
        assert (result.applied, result.dead) == (len(records), []), result

    def index_all(self) -> int:
        """Indexer passes until nothing is due; then make it searchable (Elasticsearch refreshes every second)."""
        indexed = 0
        while (result := self.indexer.index_once()).read:
            indexed += result.indexed
        self.index.refresh()
        return indexed

    def rows(self) -> dict[str, dict[str, Any]]:
        with self.pool.connection() as conn:
            found = conn.execute(f"SELECT indexed, {', '.join(FIELDS)} FROM documents").fetchall()
        return {str(r["document_id"]): dict(r) for r in found}

    def unindexed(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) AS n FROM documents WHERE NOT indexed").fetchone()
        assert row is not None
        return int(row["n"])

    def ids(self, page: Page) -> list[str]:
        return [hit.id for hit in page.hits]


@pytest.fixture
def search(fresh_database_url: str, client: Elasticsearch) -> Iterator[Search]:
    with search_read_model(fresh_database_url, max_size=4) as (pool, consumer):
        index = DocumentIndex(client, f"edms-test-{uuid.uuid4().hex[:10]}")
        indexer = Indexer(
            service="search",
            pool=pool,
            index=index,
            database_url=fresh_database_url,
            batch_size=250,
            idle_seconds=0.2,
            retry_seconds=0.05,
            max_retry_seconds=0.2,
        )
        yield Search(pool, consumer, index, indexer)


# -- the client against the engine ---------------------------------------------------------------------------------
def test_the_unadjusted_9x_client_is_refused_and_the_adjusted_one_is_not(engine: OsmemProcess) -> None:
    """Why edms_search.elastic rewrites the versioned media type: osmem (like Elasticsearch 8) refuses it."""
    plain = Elasticsearch(engine.url)
    try:
        with pytest.raises(ApiError) as refused:
            plain.indices.create(index=f"refused-{uuid.uuid4().hex[:8]}", mappings={"properties": {}})
        assert refused.value.status_code == 406
    finally:
        plain.close()
    adjusted = make_client(engine.url)
    try:
        name = f"accepted-{uuid.uuid4().hex[:8]}"
        assert adjusted.indices.create(index=name).body["acknowledged"] is True
        adjusted.indices.delete(index=name)
    finally:
        adjusted.close()


# -- indexing --------------------------------------------------------------------------------------------------------
def test_the_indexer_copies_every_row_of_the_read_model(search: Search) -> None:
    documents = []
    for n in range(1, 4):
        document, record = registered(reg_number=f"01-10/{n}")
        search.apply(record, attachment(document), route_started(document), card_opened(document))
        documents.append(document)
    early = uuid.uuid4()
    search.apply(card_opened(early))  # its registration has not arrived yet
    assert search.unindexed() == 4

    assert search.index_all() == 4
    rows = search.rows()
    assert all(row["indexed"] for row in rows.values())
    assert search.index.count() == len(rows) == 4
    for key, row in rows.items():
        assert search.index.get(key) == to_source(row)  # the whole row content, by document id
    first = search.index.get(str(documents[0]))
    assert first is not None
    assert (first["reg_date"], first["deadline"], first["route_stage"]) == ("2026-11-25", "2026-12-04", "resolution")
    assert first["attachments"] == {"a" * 64: "письмо.pdf"}
    assert search.indexer.index_once().read == 0  # nothing is due any more

    # the row without a registration is in the engine but not searchable, as in PostgreSQL
    page = ask(search.engine_search, principal(ORG, "admin"), None, None)
    assert sorted(search.ids(page)) == sorted(str(d) for d in documents)
    assert page.total == 3


def test_a_row_updated_while_being_indexed_is_indexed_again(search: Search) -> None:
    document, record = registered()
    search.apply(record)
    search.indexer.check_index()  # creates the index (index_once does this before every batch)
    read = search.indexer.read_batch()
    assert [str(r["document_id"]) for r in read] == [str(document)]

    search.apply(route_started(document))  # the consumer changes the row after the indexer read it
    result = search.indexer.write(read)
    assert (result.read, result.indexed, result.changed) == (1, 0, 1)
    assert search.unindexed() == 1  # the flag was not set for a version the engine does not have
    stale = search.index.get(str(document))
    assert stale is not None
    assert stale["route_stage"] is None

    again = search.indexer.index_once()
    assert (again.read, again.indexed) == (1, 1)
    fresh = search.index.get(str(document))
    assert fresh is not None
    assert fresh["route_stage"] == "resolution"
    assert search.unindexed() == 0


def test_a_document_the_engine_refuses_stays_unindexed_and_the_rest_go_on(
    search: Search, client: Elasticsearch
) -> None:
    """An index someone made with a conflicting mapping: reg_number as a number. Nothing is marked that is not in."""
    client.indices.create(
        index=search.index.concrete,
        aliases={search.index.alias: {}},
        mappings={"properties": {"reg_number": {"type": "integer"}}},
    )
    refused, record = registered(reg_number="01-10/1")
    accepted = uuid.uuid4()
    search.apply(record, card_opened(accepted))  # the second row has no reg_number yet

    result = search.indexer.index_once()
    assert (result.read, result.indexed, result.refused) == (2, 1, 1)
    assert search.rows()[str(refused)]["indexed"] is False
    assert search.rows()[str(accepted)]["indexed"] is True
    assert search.indexer.index_once().read == 0  # refused for good as it stands: not retried in a hot loop

    search.apply(route_started(refused))  # a new version of the row is tried at once
    assert search.indexer.index_once().read == 1
    assert search.unindexed() == 1


# -- searching ---------------------------------------------------------------------------------------------------------
def test_search_finds_other_russian_word_forms(search: Search) -> None:
    """Russian analysis: "сведениями" (instrumental plural) finds "сведений" (genitive plural)."""
    wanted, wanted_record = registered("О предоставлении сведений о численности населения", reg_number="01-10/1")
    other, other_record = registered(
        "О ремонте автомобильных дорог общего пользования",
        reg_number="01-10/2",
        text="Прошу включить в план ремонт дороги до села.",
    )
    search.apply(wanted_record, other_record, card_opened(wanted), route_started(wanted))
    search.index_all()
    engine = search.engine_search

    page = ask(engine, principal(), "сведениями", None)
    assert search.ids(page) == [str(wanted)]
    assert page.total == 1
    hit = page.hits[0]
    assert (hit.reg_number, hit.reg_date, hit.deadline, hit.route_stage, hit.kind) == (
        "01-10/1",
        date(2026, 11, 25),
        date(2026, 12, 4),
        "resolution",
        "incoming_letter",
    )
    assert hit.rank > 0
    assert search.ids(ask(engine, principal(), "сведениями о населении", None)) == [str(wanted)]
    assert search.ids(ask(engine, principal(), "дорогами", None)) == [str(other)]
    assert search.ids(ask(engine, principal(), "село", None)) == [str(other)]  # body: "села"
    assert ask(engine, principal(), "Росстатом", None).total == 2  # correspondent
    assert ask(engine, principal(), "космодром", None).total == 0
    assert ask(engine, principal(), "сведениями дорогами", None).total == 0  # every word must match


def test_search_shows_only_the_callers_organization_and_dsp_only_to_those_admitted(search: Search) -> None:
    ours, ours_record = registered("О предоставлении сведений о численности", org="org-a", reg_number="01-10/1")
    theirs, theirs_record = registered("О предоставлении сведений о численности", org="org-b", reg_number="01-10/1")
    dsp, dsp_record = registered(
        "О предоставлении сведений о мобилизационной готовности", org="org-a", reg_number="01-10/2", access="ДСП"
    )
    search.apply(ours_record, theirs_record, dsp_record)
    search.index_all()
    engine = search.engine_search

    clerk_a = ask(engine, principal("org-a", "clerk"), "сведений", None)
    assert search.ids(clerk_a) == [str(ours)]
    assert clerk_a.total == 1
    assert ask(engine, principal("org-a", "clerk"), "01-10/2", None).total == 0  # not even by number
    assert search.ids(ask(engine, principal("org-b", "clerk"), "сведений", None)) == [str(theirs)]
    for roles in (("dsp_reader",), ("clerk", "dsp_reader"), ("admin",)):
        admitted = ask(engine, principal("org-a", *roles), "сведений", None)
        assert set(search.ids(admitted)) == {str(ours), str(dsp)}, roles
        assert admitted.total == 2
        assert search.ids(ask(engine, principal("org-a", *roles), "01-10/2", None)) == [str(dsp)]
    assert ask(engine, principal("org-b", "admin"), "мобилизационной", None).total == 0
    assert ask(engine, principal("org-c", "admin"), None, None).total == 0


def test_registration_numbers_match_exactly_and_ranking_is_relevance_then_newest(search: Search) -> None:
    first, first_record = registered("Письмо о сведениях", reg_number="01-10/1", reg_date=date(2026, 11, 23))
    twelfth, twelfth_record = registered("Письмо", reg_number="01-10/12", reg_date=date(2026, 11, 25))
    body_only, body_record = registered(
        "Письмо о графике", reg_number="01-10/2", reg_date=date(2026, 11, 24), text="Приложены сведения о графике."
    )
    order, order_record = registered(
        "Об утверждении положения", reg_number="01-03/1-п", kind="order", reg_date=date(2026, 11, 22)
    )
    search.apply(first_record, twelfth_record, body_record, order_record)
    search.index_all()
    engine = search.engine_search

    assert search.ids(ask(engine, principal(), "01-10/1", None)) == [str(first)]  # not 01-10/12
    assert search.ids(ask(engine, principal(), "01-10/12", None)) == [str(twelfth)]
    assert search.ids(ask(engine, principal(), "12-07/345", None)) != []  # the correspondent's number
    # relevance first: the title match before the body-only match, though the latter is newer
    assert search.ids(ask(engine, principal(), "сведения", None)) == [str(first), str(body_only)]
    # no words: newest registration first
    newest = [str(twelfth), str(body_only), str(first), str(order)]
    assert search.ids(ask(engine, principal(), None, None)) == newest
    assert search.ids(ask(engine, principal(), None, "order")) == [str(order)]
    assert ask(engine, principal(), None, "incoming_letter").total == 3
    page_one = ask(engine, principal(), None, None, size=2)
    pages = [page_one, ask(engine, principal(), None, None, size=2, cursor=page_one.next_cursor)]
    assert [search.ids(p) for p in pages] == [newest[:2], newest[2:]]
    assert pages[0].total == pages[1].total == 4


def test_both_backends_find_the_same_documents(search: Search) -> None:
    records = [
        registered("О предоставлении сведений о численности населения", reg_number="01-10/1")[1],
        registered("О ремонте дорог", reg_number="01-10/2", text="Ремонт дороги до села Ивановка.")[1],
        registered("О сведениях для ремонта", reg_number="01-10/3", access="ДСП")[1],
        registered("Об утверждении положения о сведениях", reg_number="01-03/1-п", kind="order")[1],
        registered("О численности", reg_number="01-10/1", org="org-b")[1],
    ]
    search.apply(*records)
    search.index_all()
    queries: list[tuple[Principal, str | None, str | None]] = [
        (principal(), "сведениями", None),
        (principal(ORG, "dsp_reader"), "сведениями", None),
        (principal(), "ремонтом дороги", None),
        (principal(ORG, "admin"), "ремонта", None),
        (principal(), "01-10/1", None),
        (principal(), "сведения", "order"),
        (principal(), None, None),
        (principal("org-b"), "численности", None),
        (principal("org-b"), "сведений", None),
    ]
    for who, q, kind in queries:
        in_postgres = ask(search.postgres_search, who, q, kind)
        in_engine = ask(search.engine_search, who, q, kind)
        assert sorted(search.ids(in_engine)) == sorted(search.ids(in_postgres)), (who.roles, q, kind)
        assert in_engine.total == in_postgres.total


# -- at least once -----------------------------------------------------------------------------------------------------
async def _until(condition: Callable[[], bool]) -> None:
    """Poll (the indexer runs in this event loop, so the wait must not block it) for up to 15 s."""
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition not reached within 15 s")


async def test_the_running_indexer_wakes_on_a_change_at_once(search: Search) -> None:
    """The consumer's write notifies (trigger documents_changed); the idle loop does not wait for its next look."""
    search.indexer.idle_seconds = 60.0
    loop = asyncio.create_task(search.indexer.run())
    try:
        await _until(lambda: search.indexer.healthy() and search.indexer.listening)
        document, record = registered()
        search.apply(record)
        await _until(lambda: search.unindexed() == 0)  # well before the 60 s idle look
        search.apply(route_started(document))
        await _until(lambda: search.unindexed() == 0)
    finally:
        search.indexer.stop()
        await loop
    assert not search.indexer.healthy()  # stopped
    indexed = search.index.get(str(document))
    assert indexed is not None
    assert indexed["route_stage"] == "resolution"


async def test_nothing_is_lost_when_the_engine_stops_midway(search: Search, engine: OsmemProcess) -> None:
    """ES stopped after the first batch: the rest stay unindexed; the engine comes back empty; all get in, once."""
    documents = []
    records = []
    for n in range(600):
        document, record = registered(f"Обращение гражданина номер {n}", reg_number=f"02-01/{n + 1}")
        documents.append(document)
        records.append(record)
    search.apply(*records)
    assert search.indexer.index_once().indexed == 250  # the first batch gets in

    engine.stop()
    with pytest.raises(EngineConnectionError):
        search.indexer.index_once()
    assert search.unindexed() == 350  # nothing was marked that the engine does not have
    with pytest.raises(SearchUnavailable):
        ask(search.engine_search, principal(), "обращение", None)

    loop = asyncio.create_task(search.indexer.run())
    try:
        await asyncio.sleep(0.5)  # the loop keeps trying with backoff while the engine is down
        assert not search.indexer.healthy()
        late, late_record = registered("Обращение после остановки", reg_number="02-01/601")
        search.apply(late_record, route_started(documents[0]))  # a new row, and a change to an indexed one
        assert search.unindexed() == 352

        engine.start()  # memory only: an empty engine; the indexer makes every row due again
        await _until(lambda: search.indexer.healthy() and search.unindexed() == 0)
    finally:
        search.indexer.stop()
        await loop

    search.index.refresh()
    assert search.index.count() == len(search.rows()) == 601  # every row once, no duplicates
    changed = search.index.get(str(documents[0]))
    assert changed is not None
    assert changed["route_stage"] == "resolution"
    assert search.index.get(str(late)) is not None
    page = ask(search.engine_search, principal(), "обращению", None)
    assert page.total == 601


async def test_a_deadlock_while_marking_is_retried_and_the_indexer_keeps_its_lead(
    search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking rows and checking the index run beside the consumer's transactions; a deadlock there (SQLSTATE 40P01)
    is transient (issue 6 item 2): the pass is tried again, without giving up the lead or losing the row."""
    mark = search.indexer._mark
    failures = [psycopg.errors.DeadlockDetected("deadlock detected")]

    def deadlocking_mark(indexed: list[tuple[str, str]]) -> int:
        if failures:
            raise failures.pop()
        return mark(indexed)

    leads = 0
    lead = search.indexer.lead

    async def counted_lead(leader: Any) -> None:
        nonlocal leads
        leads += 1
        await lead(leader)

    monkeypatch.setattr(search.indexer, "_mark", deadlocking_mark)
    monkeypatch.setattr(search.indexer, "lead", counted_lead)
    search.indexer.retry_seconds = 0.05
    _, record = registered("Письмо, которое помечают после взаимной блокировки")
    search.apply(record)
    loop = asyncio.create_task(search.indexer.run())
    try:
        await _until(lambda: search.unindexed() == 0)
    finally:
        search.indexer.stop()
        await loop
    assert failures == []  # the deadlock happened
    assert leads == 1  # and the indexer went on leading


def test_new_mappings_are_built_beside_the_old_index_and_the_alias_swaps_at_once(
    search: Search, client: Elasticsearch
) -> None:
    """An alias on an index of older mappings (v1): the indexer copies every row into `<alias>-v2` while v1 still
    answers, moves the alias in one `_aliases` request and deletes v1; the flags stay valid (no second full pass)."""
    old = f"{search.index.alias}-v1"
    client.indices.create(index=old, aliases={search.index.alias: {}}, mappings={"properties": {}})
    client.index(index=old, id="stale", document={"title": "только в старом индексе"}, refresh=True)
    documents = []
    for n in range(1, 4):
        document, record = registered(f"Письмо о переносе остановки {n}", reg_number=f"03-01/{n}")
        search.apply(record)
        documents.append(str(document))
    assert search.index.behind_alias() == old

    search.indexer.check_index()
    assert search.index.behind_alias() == search.index.concrete == f"{search.index.alias}-v2"
    assert not client.indices.exists(index=old)
    assert search.index.count() == 3  # every row copied before the swap, the old index's own document gone
    assert search.index.get("stale") is None
    found = ask(search.engine_search, principal(), "переносом остановки")
    assert sorted(search.ids(found)) == sorted(documents)
    # the rows were due before the swap and are indexed once more through the alias; nothing else is redone
    assert search.index_all() == 3
    search.indexer.check_index()
    assert search.unindexed() == 0
