"""The search read model against a real PostgreSQL, fed through the real tracking consumer (no broker).

Records are built by hand as aiokafka ConsumerRecords and given to TrackingConsumer.apply_batch, which is what the
consumer loop does with each polled batch. Properties under test (edms_search.projections, edms_runtime.consumer):
order independence, idempotence by event id, dead letters with readable reasons that do not stop the batch, a
rebuild by replay that gives byte-identical rows, and search with Russian stemming and the ACL (own organization;
ДСП only for those admitted: Decree of the Government of the RF No. 1233 of 03.11.1994).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from edms_contracts import ControlCardOpened, DocumentFiled, Envelope, encode
from edms_contracts.events import AttachmentTextExtracted
from edms_contracts.routing import ResolutionIssued
from edms_contracts.topics import ARCHIVE_FILING, REGISTRY_DOCUMENT, ROUTING_ROUTE
from edms_runtime.consumer import BatchResult, TrackingConsumer, read_track, source_of
from edms_search.backend import PostgresSearch
from edms_search.projections import READ_MODEL
from services.search.tests.records import (
    ORG,
    Record,
    ask,
    attachment,
    card_opened,
    consumer_record,
    delivered_again,
    envelope_for,
    principal,
    published,
    registered,
    route_started,
    search_read_model,
)


# -- building records by hand ------------------------------------------------------------------------------------------
@dataclass
class Card:
    """Every event the search model takes for one document, as they would arrive from the four services."""

    document_id: uuid.UUID
    registered: Record
    attachment: Record
    route: Record
    control: Record
    filed: Record

    @property
    def records(self) -> list[Record]:
        return [self.registered, self.attachment, self.route, self.control, self.filed]


def _card(
    title: str = "О предоставлении сведений о численности населения",
    org: str = ORG,
    access: str | None = None,
    reg_number: str = "01-10/1",
    kind: str = "incoming_letter",
    document_id: uuid.UUID | None = None,
    text: str | None = None,
) -> Card:
    document, registration = registered(
        title, reg_number=reg_number, org=org, access=access, kind=kind, text=text, document_id=document_id
    )
    filing_id = uuid.uuid4()
    filed = DocumentFiled(
        filing_id=filing_id,
        document_id=document,
        case_id=uuid.uuid4(),
        case_index="01-10",
        case_title="Входящая переписка по основной деятельности",
        year=2026,
        retention="5 years ЭПК",
    )
    return Card(
        document_id=document,
        registered=registration,
        attachment=attachment(document),
        route=route_started(document),
        control=card_opened(document, reg_number),
        filed=published(filed, filing_id, ARCHIVE_FILING),
    )


# -- fixtures ----------------------------------------------------------------------------------------------------------
@dataclass
class ReadModel:
    url: str
    pool: ConnectionPool[Any]
    consumer: TrackingConsumer

    def apply(self, *records: Record) -> BatchResult:
        return self.consumer.apply_batch(list(records))

    def apply_one_by_one(self, records: list[Record]) -> None:
        for record in records:
            result = self.apply(record)
            assert result.applied == 1, result

    def rows(self) -> list[str]:
        """Every row as PostgreSQL renders it, byte for byte (including the generated tsvector)."""
        with self.pool.connection() as conn:
            found = conn.execute("SELECT row_to_json(d)::text AS j FROM documents d ORDER BY document_id").fetchall()
        return [str(r["j"]) for r in found]

    def row(self, document_id: uuid.UUID) -> dict[str, Any]:
        with self.pool.connection() as conn:
            found = conn.execute("SELECT * FROM documents WHERE document_id = %s", (document_id,)).fetchone()
        assert found is not None, f"no row for {document_id}"
        return dict(found)

    def tracked(self) -> int:
        with self.pool.connection() as conn:
            found = conn.execute("SELECT count(*) AS n FROM tracking WHERE consumer = 'search.read'").fetchone()
        assert found is not None
        return int(found["n"])

    def clear(self) -> None:
        """Start the read model afresh (as `edms replay search` does in its shadow schema): no rows, no tracking."""
        with self.pool.connection() as conn:
            conn.execute("TRUNCATE documents")
            conn.execute("DELETE FROM tracking WHERE consumer = %s", (read_track("search"),))


@pytest.fixture
def model(fresh_database_url: str) -> Iterator[ReadModel]:
    with search_read_model(fresh_database_url, max_size=2) as (pool, consumer):
        yield ReadModel(fresh_database_url, pool, consumer)


# -- order independence ------------------------------------------------------------------------------------------------
def test_all_events_make_one_complete_row(model: ReadModel) -> None:
    card = _card()
    result = model.apply(*card.records)
    assert (result.applied, result.duplicates, result.dead) == (5, 0, [])
    row = model.row(card.document_id)
    assert row["reg_number"] == "01-10/1"
    assert row["org"] == ORG
    assert row["deadline"] == date(2026, 12, 4)
    assert row["route_stage"] == "resolution"
    assert row["case_index"] == "01-10"
    assert row["attachments"] == {"a" * 64: "письмо.pdf"}
    assert row["correspondent_number"] == "12-07/345"


def test_control_card_before_registration_gives_the_same_row(model: ReadModel) -> None:
    """Events of different services arrive in any order; each sets only its own columns."""
    card = _card()
    model.apply_one_by_one(card.records)
    expected = model.rows()

    model.clear()
    model.apply(card.control)
    early = model.row(card.document_id)
    assert early["deadline"] == date(2026, 12, 4)
    assert early["reg_number"] is None  # not searchable until registered
    model.apply_one_by_one([card.registered, card.attachment, card.route, card.filed])
    assert model.rows() == expected


def test_any_order_gives_the_same_row(model: ReadModel) -> None:
    card = _card()
    model.apply(*card.records)
    expected = model.rows()
    shuffler = random.Random(20261125)
    orders = [list(reversed(card.records))]
    orders += [shuffler.sample(card.records, k=len(card.records)) for _ in range(6)]
    for order in orders:
        model.clear()
        model.apply_one_by_one(order)
        assert model.rows() == expected, [r.topic for r in order]


# -- idempotence -------------------------------------------------------------------------------------------------------
def test_the_same_envelope_twice_changes_nothing(model: ReadModel) -> None:
    """Tracking by event id: a redelivered (or republished) event is counted as a duplicate and not applied."""
    card = _card()
    model.apply(*card.records)
    before = model.rows()
    tracked = model.tracked()

    redelivered = [delivered_again(r) for r in card.records]  # new offsets, same events
    result = model.apply(*redelivered)
    assert (result.applied, result.duplicates, result.dead) == (0, 5, [])
    assert model.rows() == before
    assert model.tracked() == tracked == 5


def test_a_duplicate_within_one_batch_is_applied_once(model: ReadModel) -> None:
    card = _card()
    result = model.apply(card.registered, card.control, delivered_again(card.registered), card.control)
    assert (result.applied, result.duplicates) == (2, 2)
    assert model.tracked() == 2


# -- dead letters ------------------------------------------------------------------------------------------------------
def test_bad_records_become_dead_letters_and_the_good_ones_are_applied(model: ReadModel) -> None:
    first, second = _card(reg_number="01-10/1"), _card(reg_number="01-10/2")
    garbage = consumer_record(b"\xff\xfe not an envelope")
    empty = consumer_record(None)
    bad_payload = consumer_record(encode(_without_title(first.registered.value)))
    unknown = consumer_record(encode(_unknown_event(first.document_id)))
    newer = consumer_record(encode(_newer_version(second.document_id)))

    batch = [first.registered, garbage, empty, bad_payload, unknown, newer, second.registered]
    result = model.apply(*batch)

    assert result.applied == 2
    reasons = {_offset(letter.source): letter.reason for letter in result.dead}
    assert set(reasons) == {garbage.offset, empty.offset, bad_payload.offset, unknown.offset, newer.offset}
    assert reasons[garbage.offset].startswith("<root>: Invalid JSON")
    assert reasons[empty.offset] == "empty message value"
    assert reasons[bad_payload.offset] == "payload.title: Field required"
    assert reasons[unknown.offset] == "event_type: unknown event type 'DocumentShredded'"
    assert reasons[newer.offset] == "schema_version: DocumentRegistered v2 is newer than v1 known here"
    # The dead letter keeps the original bytes, for the dead-letter topic.
    assert next(d for d in result.dead if d.source == source_of(garbage)).value == b"\xff\xfe not an envelope"
    assert model.row(first.document_id)["reg_number"] == "01-10/1"
    assert model.row(second.document_id)["reg_number"] == "01-10/2"
    assert model.tracked() == 2  # nothing of the dead letters was tracked


def test_a_handler_failure_is_dead_lettered_without_spoiling_the_batch(model: ReadModel) -> None:
    """A well-formed event the database refuses (NUL in text) runs in its own savepoint; the rest commit."""
    good = _card(reg_number="01-10/1")
    poisoned = _card(title="Заголовок\x00с нулевым байтом", reg_number="01-10/2")
    result = model.apply(good.registered, poisoned.registered, good.control)
    assert result.applied == 2
    (dead,) = result.dead
    assert dead.source == source_of(poisoned.registered)
    assert "NUL" in dead.reason
    assert model.tracked() == 2  # the failed event's tracking row was rolled back with its savepoint
    assert model.row(good.document_id)["deadline"] == date(2026, 12, 4)
    with model.pool.connection() as conn:
        assert (
            conn.execute("SELECT 1 FROM documents WHERE document_id = %s", (poisoned.document_id,)).fetchone() is None
        )


def _offset(source: str) -> int:
    """The offset part of a dead letter's source (topic/partition/offset)."""
    return int(source.rsplit("/", 1)[1])


def _without_title(raw: bytes) -> Envelope:
    """A registration whose payload lacks the required title (a publisher with a bug); a new event id."""
    envelope = Envelope.model_validate_json(raw)
    payload = {k: v for k, v in envelope.payload.items() if k != "title"}
    return envelope.model_copy(update={"payload": payload, "event_id": uuid.uuid4()})


def _unknown_event(document_id: uuid.UUID) -> Envelope:
    envelope = envelope_for(
        ControlCardOpened(
            card_id=uuid.uuid4(), document_id=document_id, reg_number="x", deadline=date(2026, 12, 4), rule="r"
        ),
        uuid.uuid4(),
    )
    return envelope.model_copy(update={"event_type": "DocumentShredded", "payload": {"document_id": str(document_id)}})


def _newer_version(document_id: uuid.UUID) -> Envelope:
    card = _card(document_id=document_id)
    envelope = Envelope.model_validate_json(card.registered.value)
    return envelope.model_copy(update={"schema_version": 2, "event_id": uuid.uuid4()})


# -- replay ------------------------------------------------------------------------------------------------------------
def test_replay_into_an_emptied_table_gives_byte_identical_rows(model: ReadModel) -> None:
    """The row holds only what events say (no processing time), so a rebuild gives the same bytes."""
    cards = [
        _card(title="О предоставлении сведений", reg_number="01-10/1"),
        _card(title="О проведении проверки готовности к отопительному сезону", reg_number="01-10/2", access="ДСП"),
        _card(title="Об утверждении положения", reg_number="01-03/1-п", kind="order"),
    ]
    events = [record for card in cards for record in card.records]
    result = model.apply(*events)
    assert result.applied == len(events)
    before = model.rows()
    assert len(before) == 3

    model.clear()
    assert model.rows() == []
    assert model.tracked() == 0

    shuffled = random.Random(44).sample(events, k=len(events))
    for chunk in (shuffled[:4], shuffled[4:9], shuffled[9:]):  # other batches, other order
        assert model.apply(*chunk).applied == len(chunk)
    assert model.rows() == before


# -- the words ---------------------------------------------------------------------------------------------------------
def _file_text(document_id: uuid.UUID, text: str, version: int = 3) -> Record:
    event = AttachmentTextExtracted(
        document_id=document_id, sha256="a" * 64, filename="письмо.pdf", chunk=0, chunks=1, text=text
    )
    return published(event, document_id, REGISTRY_DOCUMENT, version=version)


def _resolution(document_id: uuid.UUID, text: str) -> Record:
    resolution = uuid.uuid4()
    event = ResolutionIssued(
        document_id=document_id, org=ORG, resolution_id=resolution, author="head1", text=text, assignments=[]
    )
    return published(event, resolution, ROUTING_ROUTE)


def _words(model: ReadModel, document_id: uuid.UUID) -> set[str]:
    """The row's words (lexemes)."""
    with model.pool.connection() as conn:
        found = conn.execute(
            "SELECT tsvector_to_array(tsv) AS words FROM documents WHERE document_id = %s", (document_id,)
        ).fetchone()
    assert found is not None
    return set(found["words"])


def _mark(model: ReadModel, document_id: uuid.UUID) -> None:
    """Put words in the row that no source holds: they stay only as long as nothing makes the words again."""
    with model.pool.connection() as conn:
        conn.execute("UPDATE documents SET tsv = 'метка'::tsvector WHERE document_id = %s", (document_id,))


def test_the_words_are_made_again_only_when_what_they_are_made_of_changes(model: ReadModel) -> None:
    """An attachment's words cost a to_tsvector of its whole text: a route's stage, a deadline, a case index or a
    refresh that finds the card's words as they were leave the row's words alone; the card's text, a resolution
    and a file's text make them again, with every source in them."""
    card = _card(title="О ремонте дорог")
    model.apply(card.registered)
    assert "ремонт" in _words(model, card.document_id)

    _mark(model, card.document_id)
    model.apply(card.attachment, card.route, card.control, card.filed)
    assert _words(model, card.document_id) == {"метка"}
    assert model.row(card.document_id)["deadline"] is not None  # the events were applied, the words left alone

    model.apply(_file_text(card.document_id, "Акт обследования мостового перехода"))
    assert _words(model, card.document_id) >= {"мостов", "ремонт"}
    assert "метка" not in _words(model, card.document_id)

    _mark(model, card.document_id)
    model.apply(_resolution(card.document_id, "Организовать обследование покрытия"))
    assert _words(model, card.document_id) >= {"покрыт", "мостов", "ремонт"}


def test_the_words_are_those_the_sources_make_after_any_order_of_events(model: ReadModel) -> None:
    """Whatever order the file text, the card and the resolution come in, the words are what the final row's
    columns make (as the generated column made them)."""
    card = _card(title="О ремонте дорог")
    events = [*card.records, _file_text(card.document_id, "Акт обследования"), _resolution(card.document_id, "Учесть")]
    expected = None
    for seed in range(4):
        model.clear()
        for record in random.Random(seed).sample(events, k=len(events)):
            model.apply(record)
        with model.pool.connection() as conn:
            found = conn.execute(
                "SELECT tsv::text AS stored, (setweight(to_tsvector('russian', coalesce(title, '')), 'A') || "
                "setweight(to_tsvector('russian', coalesce(correspondent, '')), 'B') || "
                "setweight(to_tsvector('russian', coalesce(body, '') || ' ' || coalesce(notes, '') || ' ' || "
                "coalesce(names, '')), 'C') || setweight(to_tsvector('russian', coalesce(files, '')), 'D'))::text "
                "AS made FROM documents"
            ).fetchone()
        assert found is not None
        assert found["stored"] == found["made"]
        expected = expected or found["stored"]
        assert found["stored"] == expected


@pytest.mark.parametrize("with_files", [True, False], ids=["with the files' words", "before the files' words"])
def test_the_generated_words_of_an_earlier_version_are_kept_by_the_trigger(model: ReadModel, with_files: bool) -> None:
    """A deployment whose `tsv` is still the generated column of earlier versions: the DDL turns it into a plain
    column, keeps its words (or makes them again when they lacked the attachments'), and the trigger keeps them on."""
    card = _card(title="О ремонте дорог")
    model.apply(card.registered, _file_text(card.document_id, "Акт обследования мостового перехода"))
    files = "|| setweight(to_tsvector('russian', coalesce(files, '')), 'D')" if with_files else ""
    with model.pool.connection() as conn:
        conn.execute("ALTER TABLE documents DROP COLUMN tsv")
        conn.execute(
            "ALTER TABLE documents ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('russian', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('russian', coalesce(correspondent, '')), 'B') || "
            "setweight(to_tsvector('russian', coalesce(body, '') || ' ' || coalesce(notes, '') || ' ' || "
            f"coalesce(names, '')), 'C') {files}) STORED"
        )
        conn.execute(READ_MODEL.ddl)
        generated = conn.execute(
            "SELECT is_generated FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'documents' AND column_name = 'tsv'"
        ).fetchone()
    assert generated is not None
    assert generated["is_generated"] == "NEVER"
    assert _words(model, card.document_id) >= {"мостов", "ремонт"}
    model.apply(_resolution(card.document_id, "Организовать обследование покрытия"))
    assert "покрыт" in _words(model, card.document_id)
    assert ask(PostgresSearch(model.pool), principal(), "мостовой", None).total == 1


# -- search ------------------------------------------------------------------------------------------------------------
def test_search_finds_a_title_by_another_word_form(model: ReadModel) -> None:
    """Russian stemming: "сведениями" (instrumental plural) finds "сведений" (genitive plural)."""
    wanted = _card(title="О предоставлении сведений о численности населения", reg_number="01-10/1")
    other = _card(
        title="О ремонте автомобильных дорог общего пользования",
        reg_number="01-10/2",
        text="Прошу включить в план ремонт дороги до села.",
    )
    model.apply(*wanted.records, *other.records)
    search = PostgresSearch(model.pool)

    page = ask(search, principal(), "сведениями", None)
    assert [hit.id for hit in page.hits] == [str(wanted.document_id)]
    assert page.total == 1
    hit = page.hits[0]
    assert (hit.reg_number, hit.deadline, hit.case_index, hit.route_stage) == (
        "01-10/1",
        date(2026, 12, 4),
        "01-10",
        "resolution",
    )
    assert hit.rank > 0
    assert ask(search, principal(), "дорогами", None).hits[0].id == str(other.document_id)
    assert ask(search, principal(), "01-10/2", None).hits[0].id == str(other.document_id)
    assert ask(search, principal(), "село", None).hits[0].id == str(other.document_id)  # body, "села"
    assert ask(search, principal(), "космодром", None).total == 0


def test_search_shows_only_the_callers_organization(model: ReadModel) -> None:
    ours = _card(org="org-a")
    theirs = _card(org="org-b")
    model.apply(*ours.records, *theirs.records)
    search = PostgresSearch(model.pool)
    for org, card in (("org-a", ours), ("org-b", theirs)):
        page = ask(search, principal(org), "сведений", None)
        assert [hit.id for hit in page.hits] == [str(card.document_id)]
        assert ask(search, principal(org), None, None).total == 1
    assert ask(search, principal("org-c", "admin"), None, None).total == 0


def test_restricted_cards_only_for_those_admitted(model: ReadModel) -> None:
    """ДСП (for official use only): Decree of the Government of the RF No. 1233 of 03.11.1994 — only those admitted."""
    open_card = _card(title="О предоставлении сведений о численности", reg_number="01-10/1")
    dsp_card = _card(title="О предоставлении сведений о мобилизационной готовности", reg_number="01-10/2", access="ДСП")
    model.apply(*open_card.records, *dsp_card.records)
    search = PostgresSearch(model.pool)

    clerk = ask(search, principal(ORG, "clerk"), "сведений", None)
    assert [hit.id for hit in clerk.hits] == [str(open_card.document_id)]
    assert clerk.total == 1
    assert ask(search, principal(ORG, "clerk"), "01-10/2", None).total == 0  # not even by number

    for roles in (("dsp_reader",), ("clerk", "dsp_reader"), ("admin",)):
        admitted = ask(search, principal(ORG, *roles), "сведений", None)
        assert {hit.id for hit in admitted.hits} == {str(open_card.document_id), str(dsp_card.document_id)}, roles
        assert admitted.total == 2


def test_search_does_not_show_a_document_before_its_registration_arrived(model: ReadModel) -> None:
    card = _card()
    model.apply(card.control, card.route, card.filed)
    search = PostgresSearch(model.pool)
    assert ask(search, principal(ORG, "admin"), None, None).total == 0
    model.apply(card.registered)
    assert ask(search, principal(ORG, "admin"), None, None).total == 1


def test_search_filters_by_kind_and_pages(model: ReadModel) -> None:
    letters = [_card(reg_number=f"01-10/{n}") for n in range(1, 4)]
    order = _card(title="Об утверждении положения о сведениях", reg_number="01-03/1-п", kind="order")
    model.apply(*(c.registered for c in letters), order.registered)
    search = PostgresSearch(model.pool)
    assert [h.id for h in ask(search, principal(), None, "order").hits] == [str(order.document_id)]
    assert ask(search, principal(), None, "incoming_letter").total == 3
    first = ask(search, principal(), None, None, size=2)
    assert first.next_cursor is not None
    second = ask(search, principal(), None, None, size=2, cursor=first.next_cursor)
    assert first.total == second.total == 4
    assert len(first.hits) == 2
    assert len(second.hits) == 2
    assert second.next_cursor is None  # the last page
    assert {h.id for h in first.hits}.isdisjoint(h.id for h in second.hits)


def test_beyond_the_rank_window_the_newest_are_ranked_first_and_the_cursor_walks_every_hit_once(
    model: ReadModel,
) -> None:
    """Relevance over the newest `rank_window` matches only (the rest newest first), in one pass over the matches:
    the count, the window's edge and the ranking come from one statement, and the edge rides in the cursor."""
    titles = ["О сведениях", "О сведениях о сведениях", "Письмо о сведениях", "О сведениях о сведениях", "О сведениях"]
    cards = [
        registered(title, reg_number=f"01-10/{n}", reg_date=date(2026, 11, 10 + n))
        for n, title in enumerate(titles, start=1)
    ]
    model.apply(*(record for _, record in cards))
    ids = [str(document_id) for document_id, _ in cards]  # oldest first
    search = PostgresSearch(model.pool, rank_window=3)

    whole = ask(search, principal(), "сведения", None, size=10)
    assert whole.total == 5
    # the three newest (3, 4, 5) ranked — the doubled word first —, then 2 and 1 newest first, unranked
    assert [h.id for h in whole.hits] == [ids[3], ids[4], ids[2], ids[1], ids[0]]
    assert [h.rank > 0 for h in whole.hits] == [True, True, True, False, False]
    walked: list[str] = []
    cursor = None
    for _ in range(5):
        page = ask(search, principal(), "сведения", None, size=2, cursor=cursor)
        assert page.total == 5
        walked += [h.id for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == [h.id for h in whole.hits]
    # a cursor past the last match (here: asked by someone who sees none of them) is an empty page, counted apart
    first = ask(search, principal(), "сведения", None, size=2)
    beyond = ask(search, principal("org-c"), "сведения", None, size=2, cursor=first.next_cursor)
    assert (beyond.total, beyond.hits, beyond.next_cursor) == (0, [], None)
    assert (
        ask(
            search, principal(), "сведения", None, reg_date_from=date(2026, 11, 14), reg_date_to=date(2026, 11, 30)
        ).total
        == 2
    )
