"""One test suite for both search backends: PostgreSQL FTS and Elasticsearch (a real osmem-server process).

A corpus of cards is fed the way production feeds it — contract envelopes of the registry, routing, control,
archive and the directory through the real TrackingConsumer into the real read model — and, for the engine, copied
by the real indexer. Every test runs once per backend and asserts the same answers: the query language, every
filter, sorts, cursors, facets, highlights, totals, and the read rule inside the query (own organization or named
on the document; ДСП only for those admitted: Decree of the Government of the RF No. 1233 of 03.11.1994).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from elasticsearch import Elasticsearch

from edms_contracts import ControlCardOpened, DocumentFiled, DocumentRegistered
from edms_contracts.control import ControlCardClosed, ControlDeadlineMoved
from edms_contracts.directory import PersonRegistered
from edms_contracts.events import AttachmentTextExtracted, PersonRef
from edms_contracts.routing import (
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentTerms,
    ResolutionIssued,
)
from edms_contracts.topics import ARCHIVE_FILING, CONTROL_CARD, REGISTRY_DIRECTORY, REGISTRY_DOCUMENT, ROUTING_ROUTE
from edms_runtime.auth import Principal
from edms_runtime.stack import OsmemProcess
from edms_search import backend as backends
from edms_search.backend import ElasticsearchSearch, Page, PostgresSearch, SearchBackend
from edms_search.elastic import DocumentIndex, make_client
from edms_search.indexer import Indexer
from edms_search.query import Filters, QueryError, SearchRequest, parse
from services.search.tests.records import (
    ORG,
    Record,
    ask,
    published,
    registered,
    running_osmem,
    search_read_model,
)

TODAY = date(2026, 11, 30)
OTHER = "org-b"
SIGNED = "org-signed"


def who(org: str = ORG, *roles: str, sub: str = "user1") -> Principal:
    return Principal(sub=sub, org=org, unit="01", roles=frozenset(roles or ("clerk",)))


@dataclass
class Corpus:
    ids: dict[str, str]  # name -> document id
    backends: dict[str, SearchBackend]

    def names(self, page: Page) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(h.id, h.id) for h in page.hits]


def _build_records() -> tuple[dict[str, str], list[Record]]:
    records: list[Record] = []
    ids: dict[str, str] = {}

    def add(name: str, title: str, **kwargs: Any) -> uuid.UUID:
        document, record = registered(title, **kwargs)
        ids[name] = str(document)
        records.append(record)
        return document

    census = add(
        "census",
        "О предоставлении сведений о численности населения",
        reg_number="01-10/1",
        reg_date=date(2026, 11, 25),
        text="Просим представить сведения до конца месяца.",
    )
    roads = add(
        "roads",
        "О ремонте автомобильных дорог общего пользования",
        reg_number="01-10/2",
        reg_date=date(2026, 11, 24),
        text="Прошу включить в план ремонт дороги до села Ивановка.",
    )
    add(
        "order",
        "Об утверждении положения о сведениях",
        reg_number="01-03/1-п",
        kind="order",
        reg_date=date(2025, 6, 10),
    )
    add("secret", "О мобилизационной готовности", reg_number="01-10/3", access="ДСП", reg_date=date(2026, 11, 20))
    add("theirs", "О численности населения района", reg_number="01-10/1", org=OTHER, reg_date=date(2026, 11, 22))
    add(
        "yard",
        "Жалоба на ремонт дороги во дворе",
        reg_number="01-10/12",
        kind="citizen_appeal",
        reg_date=date(2026, 10, 1),
        text="Дорогу во дворе не ремонтировали пять лет.",
    )
    park = add("park", "Сопроводительное письмо", reg_number="01-10/13", reg_date=date(2026, 9, 15))
    assigned = add(
        "assigned", "О подготовке отопительного сезона", reg_number="02-05/7", org=OTHER, reg_date=date(2026, 11, 1)
    )
    assigned_secret = add(
        "assigned_secret",
        "О запасах топлива",
        reg_number="02-05/8",
        org=OTHER,
        access="ДСП",
        reg_date=date(2026, 11, 2),
    )

    # a card of another organization with its signer, addressee and executor named (no logins)
    signed = uuid.uuid4()
    ids["signed"] = str(signed)
    records.append(
        published(
            DocumentRegistered(
                document_id=signed,
                kind="outgoing_letter",
                journal="ИСХ",
                reg_number="05-01/1",
                reg_date=date(2026, 11, 3),
                title="О направлении отчёта",
                org=SIGNED,
                registered_by="clerk9",
                addressee="Министерство финансов области",
                signer=PersonRef(name="Кузнецов Василий Андреевич", position="Глава района"),
                executor=PersonRef(name="Сидорова Анна", phone="12-34"),
            ),
            signed,
            REGISTRY_DOCUMENT,
        )
    )
    # control of the signed card: opened (due 2026-11-20, overdue by TODAY), moved by an extension, then closed
    card = uuid.uuid4()
    records.append(
        published(
            ControlCardOpened(
                card_id=card, document_id=signed, reg_number="05-01/1", deadline=date(2026, 11, 20), rule="x"
            ),
            card,
            CONTROL_CARD,
        )
    )
    records.append(
        published(
            ControlDeadlineMoved(
                card_id=card,
                document_id=signed,
                cause="extension",
                previous_deadline=date(2026, 11, 20),
                deadline=date(2026, 12, 15),
                counts=True,
                reason="продление",
                on=date(2026, 11, 19),
            ),
            card,
            CONTROL_CARD,
            version=2,
        )
    )
    records.append(
        published(
            ControlCardClosed(
                card_id=card,
                document_id=signed,
                done_on=date(2026, 12, 1),
                deadline=date(2026, 12, 15),
                late=False,
                by="head9",
            ),
            card,
            CONTROL_CARD,
            version=3,
        )
    )
    # routing: a resolution on `roads` with an assignment to ivanov, reported and accepted (done)
    resolution, assignment = uuid.uuid4(), uuid.uuid4()
    terms = AssignmentTerms(assignment_id=assignment, executor="ivanov", controller="head1", deadline=date(2026, 12, 5))
    records.append(
        published(
            ResolutionIssued(
                document_id=roads,
                org=ORG,
                resolution_id=resolution,
                author="head1",
                text="Организовать обследование дорожного покрытия",
                assignments=[terms],
            ),
            resolution,
            ROUTING_ROUTE,
        )
    )
    common: dict[str, Any] = {"document_id": roads, "org": ORG, "assignment_id": assignment}
    records.append(
        published(
            AssignmentCreated(
                **common,
                resolution_id=resolution,
                author="head1",
                executor="ivanov",
                controller="head1",
                deadline=date(2026, 12, 5),
                text="Обследовать покрытие",
                unit="07",
            ),
            assignment,
            ROUTING_ROUTE,
        )
    )
    records.append(
        published(
            AssignmentReported(
                **common,
                report_id=uuid.uuid4(),
                reported_by="ivanov",
                text="Асфальтирование выполнено подрядчиком",
                reported_on=date(2026, 11, 28),
            ),
            assignment,
            ROUTING_ROUTE,
            version=2,
        )
    )
    records.append(
        published(
            AssignmentAccepted(**common, accepted_by="head1", done_on=date(2026, 11, 29)), assignment, ROUTING_ROUTE, 3
        )
    )
    # a ДСП document of the organization that user7 executes: theirs to read by the shared rule, not user1's
    guarded = add("guarded", "О режиме охраны объекта", reg_number="01-10/14", access="ДСП", reg_date=date(2026, 11, 5))
    task = uuid.uuid4()
    records.append(
        published(
            AssignmentCreated(
                document_id=guarded, org=ORG, assignment_id=task, author="head1", executor="user7",
                deadline=date(2026, 12, 10), text="Обеспечить охрану",
            ),
            task,
            ROUTING_ROUTE,
        )
    )  # fmt: skip
    # another organization's documents on which user1 works: the open one is theirs to read, the ДСП one is not
    for document in (assigned, assigned_secret):
        other = uuid.uuid4()
        records.append(
            published(
                AssignmentCreated(
                    document_id=document,
                    org=OTHER,
                    assignment_id=other,
                    author="boss",
                    executor="user1",
                    deadline=date(2026, 11, 10),
                    text="Представить план",
                ),
                other,
                ROUTING_ROUTE,
            )
        )
    # the directory names ivanov (the person event after the assignment: order does not matter)
    person = uuid.uuid4()
    records.append(
        published(
            PersonRegistered(
                org=ORG, by="admin", person_id=person, login="ivanov", full_name="Иванов Пётр Сергеевич", unit="07"
            ),
            person,
            REGISTRY_DIRECTORY,
        )
    )
    # control: census on control until 2026-12-04 (open), yard overdue since 2026-11-01
    for document, deadline in ((census, date(2026, 12, 4)), (uuid.UUID(ids["yard"]), date(2026, 11, 1))):
        card = uuid.uuid4()
        records.append(
            published(
                ControlCardOpened(
                    card_id=card, document_id=document, reg_number="x", deadline=deadline, rule="official-10-days"
                ),
                card,
                CONTROL_CARD,
            )
        )
    # archive: census filed into case 01-10
    filing = uuid.uuid4()
    records.append(
        published(
            DocumentFiled(
                filing_id=filing,
                document_id=census,
                case_id=uuid.uuid4(),
                case_index="01-10",
                case_title="Переписка",
                year=2026,
                retention="5 лет",
            ),
            filing,
            ARCHIVE_FILING,
        )
    )
    # an attachment's extracted text in two chunks, the second first
    for chunk, text in (
        (1, "Подрядчик: общество «Зелёный город»."),
        (0, "Акт приёмки работ по благоустройству парка."),
    ):
        records.append(
            published(
                AttachmentTextExtracted(
                    document_id=park, sha256="b" * 64, filename="акт.pdf", chunk=chunk, chunks=2, text=text
                ),
                park,
                REGISTRY_DOCUMENT,
                version=2 + chunk,
            )
        )
    return ids, records


# -- fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OsmemProcess]:
    yield from running_osmem(tmp_path_factory)


@pytest.fixture(scope="module")
def corpus(postgres_url: str, engine: OsmemProcess) -> Iterator[Corpus]:
    name = f"edms_suite_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(urlsplit(postgres_url)._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
    ids, records = _build_records()
    client: Elasticsearch = make_client(engine.url, timeout=5.0)
    with search_read_model(url, max_size=4) as (pool, consumer):
        result = consumer.apply_batch(records)
        assert (result.applied, result.dead) == (len(records), []), result
        index = DocumentIndex(client, f"edms-suite-{uuid.uuid4().hex[:10]}")
        indexer = Indexer(service="search", pool=pool, index=index, database_url=url)
        while indexer.index_once().read:
            pass
        index.refresh()
        yield Corpus(
            ids=ids,
            backends={"postgres": PostgresSearch(pool), "elasticsearch": ElasticsearchSearch(index, pool)},
        )
    client.close()


BACKENDS = ["postgres", "elasticsearch"]


@pytest.fixture(params=BACKENDS)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def find(corpus: Corpus, engine_name: str, principal: Principal | None = None, q: str | None = None, **kw: Any) -> Page:
    kw.setdefault("today", TODAY)
    return ask(corpus.backends[engine_name], principal or who(), q, **kw)


def names(
    corpus: Corpus, engine_name: str, q: str | None = None, principal: Principal | None = None, **kw: Any
) -> set[str]:
    kw.setdefault("size", 100)
    return set(corpus.names(find(corpus, engine_name, principal, q, **kw)))


# -- the query language ------------------------------------------------------------------------------------------------
def test_words_are_found_in_any_form(corpus: Corpus, engine_name: str) -> None:
    """Russian morphology: "сведениями" finds "сведений" and "сведения", "дорогами" finds "дорог", "дороги"."""
    assert names(corpus, engine_name, "сведениями") == {"census", "order"}
    assert names(corpus, engine_name, "дорогами") == {"roads", "yard"}
    assert names(corpus, engine_name, "села") == {"roads"}  # the card's text
    assert names(corpus, engine_name, "Росстатом") >= {"census", "roads"}  # the correspondent
    assert names(corpus, engine_name, "космодром") == set()
    assert names(corpus, engine_name, "сведениями дорогами") == set()  # every word must match


def test_phrases_prefixes_exclusion_or_and_groups(corpus: Corpus, engine_name: str) -> None:
    assert names(corpus, engine_name, '"численности населения"') == {"census"}
    assert names(corpus, engine_name, '"населения численности"') == set()  # the order matters in a phrase
    assert names(corpus, engine_name, "доро*") == {"roads", "yard"}
    assert names(corpus, engine_name, "ремонт -двор") == {"roads"}
    assert names(corpus, engine_name, 'ремонт -"во дворе"') == {"roads"}
    assert names(corpus, engine_name, "численности OR дворе") == {"census", "yard"}
    assert names(corpus, engine_name, "численности | дворе") == {"census", "yard"}
    assert names(corpus, engine_name, "(численности OR дворе) -месяца") == {"yard"}
    assert names(corpus, engine_name, "и о в") == set()  # stop words only: nothing to look for
    assert names(corpus, engine_name, "о сведениях") == {"census", "order"}  # a stop word constrains nothing
    assert names(corpus, engine_name, 'сведениях "и о"') == {"census", "order"}  # nor a phrase of stop words


def test_what_routing_the_directory_and_attachments_said_is_searchable(corpus: Corpus, engine_name: str) -> None:
    assert names(corpus, engine_name, "обследования покрытия") == {"roads"}  # resolution and assignment text
    assert names(corpus, engine_name, "асфальтирование") == {"roads"}  # the execution report
    assert names(corpus, engine_name, "Иванов") == {"roads"}  # the executor's name, from the directory
    assert names(corpus, engine_name, "благоустройства парков") == {"park"}  # the attachment's extracted text
    assert names(corpus, engine_name, '"зелёный город"') == {"park"}  # its second chunk


def test_the_cards_signer_addressee_and_executor_are_searchable(corpus: Corpus, engine_name: str) -> None:
    theirs = who(SIGNED, sub="clerk9")
    assert names(corpus, engine_name, "Кузнецов", theirs) == {"signed"}
    assert names(corpus, engine_name, "министерства финансов", theirs) == {"signed"}
    assert names(corpus, engine_name, "Сидоровой", theirs) == {"signed"}
    assert names(corpus, engine_name, None, theirs, author=("Кузнецов Василий Андреевич",)) == {"signed"}
    assert names(corpus, engine_name, None, theirs, executor=("Сидорова Анна",)) == {"signed"}
    assert names(corpus, engine_name, "Кузнецов") == set()  # not the caller's organization


def test_controls_extension_and_closing_move_the_deadline_and_the_status(corpus: Corpus, engine_name: str) -> None:
    """ControlDeadlineMoved moves the deadline (DOMAIN.md "Deadlines": an extension moves it); ControlCardClosed
    takes the document off control: done."""
    theirs = who(SIGNED, sub="clerk9")
    assert names(corpus, engine_name, None, theirs, deadline_from=date(2026, 12, 15)) == {"signed"}
    assert names(corpus, engine_name, None, theirs, deadline_to=date(2026, 11, 30)) == set()
    assert names(corpus, engine_name, None, theirs, status=("done",)) == {"signed"}
    assert names(corpus, engine_name, None, theirs, status=("overdue", "on_control")) == set()


def test_a_registration_number_matches_exactly(corpus: Corpus, engine_name: str) -> None:
    assert names(corpus, engine_name, "01-10/1") == {"census"}  # not 01-10/12, nor another organization's 01-10/1
    assert names(corpus, engine_name, "01-10/12") == {"yard"}


# -- filters -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "order"}, {"order"}),
        ({"reg_number": "01-10/1"}, {"census"}),
        ({"reg_number": "01-10/1*"}, {"census", "yard", "park"}),
        ({"reg_date_from": date(2026, 11, 24), "reg_date_to": date(2026, 11, 25)}, {"census", "roads"}),
        ({"deadline_from": date(2026, 12, 1)}, {"census"}),
        ({"deadline_to": date(2026, 11, 30)}, {"yard", "assigned"}),
        ({"correspondent": ("росстата",)}, {"census", "roads", "order", "yard", "park", "assigned"}),
        ({"correspondent": ("налоговой",)}, set()),
        ({"executor": ("ivanov",)}, {"roads"}),
        ({"executor": ("Иванов",)}, {"roads"}),  # a surname, through the directory
        ({"executor": ("Иванов Пётр Сергеевич",)}, {"roads"}),
        ({"author": ("head1",)}, {"roads"}),
        ({"unit": ("07",)}, {"roads"}),
        ({"status": ("on_control",)}, {"census"}),
        ({"status": ("overdue",)}, {"yard", "assigned"}),
        ({"status": ("done",)}, {"roads"}),
        ({"status": ("done", "on_control")}, {"roads", "census"}),
        ({"access": "none", "kind": "order"}, {"order"}),
        ({"case_index": "01-10"}, {"census"}),
    ],
)
def test_each_filter(corpus: Corpus, engine_name: str, filters: dict[str, Any], expected: set[str]) -> None:
    given = dict(filters)
    kind = given.pop("kind", None)
    assert names(corpus, engine_name, None, None, kind=kind, **given) == expected


def test_filters_combine_with_words(corpus: Corpus, engine_name: str) -> None:
    assert names(corpus, engine_name, "дороги", kind="citizen_appeal") == {"yard"}
    assert names(corpus, engine_name, "дороги", status=("done",)) == {"roads"}
    assert names(corpus, engine_name, "сведения", reg_date_from=date(2026, 1, 1)) == {"census"}


# -- access inside the query -------------------------------------------------------------------------------------------
def test_only_what_the_caller_may_read_is_found_counted_and_faceted(corpus: Corpus, engine_name: str) -> None:
    clerk = find(corpus, engine_name, who(), None, size=100, facets=("kind", "year"))
    seen = set(corpus.names(clerk))
    assert "secret" not in seen
    assert "theirs" not in seen
    assert "assigned" in seen  # another organization's document that user1 works on
    assert "assigned_secret" not in seen  # ДСП needs the right, even for its executor
    assert clerk.total == len(seen) == 6
    assert sum(b.count for b in clerk.facets["kind"]) == clerk.total
    admitted = find(corpus, engine_name, who(ORG, "dsp_reader"), None, size=100, facets=("kind",))
    assert set(corpus.names(admitted)) == seen | {"secret", "assigned_secret", "guarded"}
    assert sum(b.count for b in admitted.facets["kind"]) == admitted.total == 9
    executor = find(corpus, engine_name, who(ORG, sub="user7"), None, size=100, facets=("kind",))
    assert set(corpus.names(executor)) == seen - {"assigned"} | {"guarded"}  # by the rule derived from events
    assert sum(b.count for b in executor.facets["kind"]) == executor.total == 6
    stranger = find(corpus, engine_name, who("org-c", "admin", sub="nobody"), None, facets=("kind",))
    assert (stranger.total, stranger.hits, stranger.facets) == (0, [], {"kind": []})
    assert names(corpus, engine_name, "01-10/3") == set()  # not even by its number
    assert names(corpus, engine_name, "01-10/3", who(ORG, "admin")) == {"secret"}
    other = who(OTHER, sub="someone")
    assert names(corpus, engine_name, "численности", other) == {"theirs"}


# -- sort, cursor, totals ----------------------------------------------------------------------------------------------
def test_sorts_by_date_and_by_number(corpus: Corpus, engine_name: str) -> None:
    by_date = corpus.names(find(corpus, engine_name, sort="date", size=100))
    assert by_date[:3] == ["census", "roads", "assigned"]
    assert by_date[-1] == "order"
    by_number = corpus.names(find(corpus, engine_name, sort="number", size=100, reg_number="01-10/*"))
    assert by_number == ["park", "yard", "roads", "census"]  # 13 > 12 > 2 > 1: numbers, not text
    ascending = find(corpus, engine_name, sort="number", order="asc", size=100, reg_number="01-10/*")
    assert corpus.names(ascending) == by_number[::-1]


def test_relevance_puts_title_matches_first(corpus: Corpus, engine_name: str) -> None:
    assert corpus.names(find(corpus, engine_name, q="сведения"))[0] in {"census", "order"}
    hits = find(corpus, engine_name, q="ремонт").hits
    assert hits[0].rank >= hits[-1].rank


@pytest.mark.parametrize(
    ("q", "sort"), [(None, "date"), (None, "number"), ("дороги OR сведения OR населения", "relevance")]
)
def test_the_cursor_walks_every_hit_once(corpus: Corpus, engine_name: str, q: str | None, sort: str) -> None:
    whole = corpus.names(find(corpus, engine_name, q=q, sort=sort, size=100))
    walked: list[str] = []
    cursor = None
    for _ in range(20):
        page = find(corpus, engine_name, q=q, sort=sort, size=2, cursor=cursor)
        walked += corpus.names(page)
        assert page.total == len(whole)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == whole


def test_a_malformed_or_foreign_cursor_is_refused(corpus: Corpus, engine_name: str) -> None:
    page = find(corpus, engine_name, size=1)
    assert page.next_cursor is not None
    for forged in ("x", "!!!", "eyJrIjoxfQ", page.next_cursor[:-3], "e30"):
        with pytest.raises(QueryError) as refused:
            find(corpus, engine_name, size=1, cursor=forged)
        assert refused.value.field == "cursor"
    with pytest.raises(QueryError, match="another query"):
        find(corpus, engine_name, q="дороги", size=1, cursor=page.next_cursor)


def test_totals_are_exact_up_to_the_limit_and_at_least_beyond(
    corpus: Corpus, engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Elasticsearch's track_total_hits: counting stops at the limit unless an exact count is asked for."""
    monkeypatch.setattr(backends, "TOTAL_LIMIT", 3)
    capped = find(corpus, engine_name, size=2)
    assert (capped.total, capped.total_relation) == (3, "gte")
    exact = find(corpus, engine_name, size=2, exact_total=True)
    assert (exact.total, exact.total_relation) == (6, "eq")
    few = find(corpus, engine_name, q="дороги")
    assert (few.total, few.total_relation) == (2, "eq")


# -- facets and highlights ---------------------------------------------------------------------------------------------
def test_facets_count_every_match(corpus: Corpus, engine_name: str) -> None:
    page = find(corpus, engine_name, size=1, facets=("kind", "unit", "status", "year"))
    as_dict = {name: {b.value: b.count for b in buckets} for name, buckets in page.facets.items()}
    assert as_dict["kind"] == {"incoming_letter": 4, "order": 1, "citizen_appeal": 1}
    assert as_dict["status"] == {"on_control": 1, "overdue": 2, "done": 1}  # assigned: overdue since 2026-11-10
    assert as_dict["year"] == {2026: 5, 2025: 1}
    assert as_dict["unit"] == {"01": 6, "07": 1}  # the card's unit and the assignment's
    assert [b.value for b in page.facets["kind"]] == ["incoming_letter", "citizen_appeal", "order"]  # count, value
    words = find(corpus, engine_name, q="дороги", facets=("kind",))
    assert {b.value: b.count for b in words.facets["kind"]} == {"incoming_letter": 1, "citizen_appeal": 1}


def test_hits_carry_highlighted_fragments(corpus: Corpus, engine_name: str) -> None:
    (hit,) = find(corpus, engine_name, q="численности").hits
    assert any("<mark>численности</mark>" in f for f in hit.highlights), hit.highlights
    (park,) = find(corpus, engine_name, q="благоустройству").hits
    assert any("<mark>благоустройству</mark>" in f for f in park.highlights), park.highlights
    assert all("<mark>" in f for f in park.highlights)


# -- the same on both --------------------------------------------------------------------------------------------------
QUERIES: list[tuple[str | None, dict[str, Any]]] = [
    ("сведениями", {}),
    ("дороги -двор", {}),
    ('"во дворе" OR населения', {}),
    ("ремонт*", {}),
    ("ремонт", {"kind": "incoming_letter"}),
    (None, {"status": ("overdue",)}),
    (None, {"reg_number": "01-*"}),
    ("Иванов", {}),
    ("работ", {}),
]


def test_both_backends_give_the_same_hits_totals_and_facets(corpus: Corpus) -> None:
    for principal in (who(), who(ORG, "dsp_reader"), who(OTHER, sub="x"), who(ORG, sub="user7")):
        for q, filters in QUERIES:
            pages = [
                find(corpus, name, principal, q, size=100, facets=("kind", "status", "year", "unit"), **filters)
                for name in BACKENDS
            ]
            postgres, engine = pages
            assert sorted(h.id for h in postgres.hits) == sorted(h.id for h in engine.hits), (q, filters)
            assert postgres.total == engine.total
            assert postgres.facets == engine.facets, (q, filters)


# -- the organization's own words index (PostgreSQL) -------------------------------------------------------------------
def test_a_words_query_is_prefixed_with_the_organization_as_its_documents_words_are() -> None:
    assert backends.org_words_query("'ремонт' & 'дорог':*", "org-a") == "'5:org-a|ремонт' & '5:org-a|дорог':*"
    quoted = "'4:o''k\\\\|a' | '4:o''k\\\\|b'"  # the code's quote and backslash escaped as a tsquery escapes them
    assert backends.org_words_query("'a' | 'b'", "o'k\\") == quoted
    assert backends.org_words_query("'численн' <-> 'населен'", "org-a") is None  # positions: the plain words then
    assert backends.org_words_query("'ремонт' & !'двор'", "org-a") is None  # a negation matches other orgs' too
    assert backends.org_words_query("'a<b!'", "org-a") == "'5:org-a|a<b!'"  # operators inside a word are the word's


def test_a_word_within_the_organization_is_asked_of_its_own_index(corpus: Corpus) -> None:
    """The condition's arm for the caller's organization is the index's expression (a changed function or column
    would silently fall back to the wide scan; at a handful of cards the planner prefers the other index anyway), and
    finds exactly what the plain condition finds (the suite's other tests, on both backends)."""
    postgres = corpus.backends["postgres"]
    assert isinstance(postgres, PostgresSearch)
    request = SearchRequest(q="дорогами", node=parse("дорогами"), filters=Filters(), sort="relevance", today=TODAY)
    condition, params = postgres.where(who(), backends.prepare(postgres.pool, request))
    assert "org_words(org, tsv)" in condition
    with postgres.pool.connection() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            str(r["QUERY PLAN"])
            for r in conn.execute(
                "EXPLAIN SELECT 1 FROM documents WHERE org_words(org, tsv) @@ %(otsq)s::tsquery", params
            )
        )
        conn.execute("RESET enable_seqscan")
        for org in ("o'k\\", "a|b", "с пробелом", ORG):  # what a code may hold: its own documents, no other's
            tsquery = conn.execute("SELECT (plainto_tsquery('russian', 'дорогами') || 'ремо:*')::text AS q").fetchone()
            assert tsquery is not None
            folded = backends.org_words_query(tsquery["q"], org)
            row = conn.execute(
                "SELECT org_words(%(org)s, w) @@ %(q)s::tsquery AS own, org_words(%(org)s || 'x', w) @@ %(q)s::tsquery "
                "AS other FROM to_tsvector('russian', 'дороги ремонтные') w",
                {"org": org, "q": folded},
            ).fetchone()
            assert row is not None
            assert (row["own"], row["other"]) == (True, False), org
    assert "documents_org_words" in plan
    assert names(corpus, "postgres", "дорогами") == {"roads", "yard"}
    assert names(corpus, "postgres", "дорогами", who(OTHER, sub="someone")) == set()


# -- no user text gives a 500 ------------------------------------------------------------------------------------------
_PIECES = ['"', "(", ")", "-", "*", "|", "OR", "AND", " ", " ", "дорог", "и", "01-10/1", "!", ":", "&", "'", "\\", "ё"]


def test_random_queries_are_answered_or_refused_with_a_reason(corpus: Corpus, engine_name: str) -> None:
    """Fuzzing the parser and both compilers: every text is either searched or a QueryError naming q."""
    rng = random.Random(10)
    answered = 0
    refusals: list[tuple[str, str | None, str]] = []
    for _ in range(150):
        q = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))).strip() or "x"
        try:
            find(corpus, engine_name, q=q, size=3)
            answered += 1
        except QueryError as exc:
            refusals.append((q, exc.field, exc.detail))
    assert answered > 20
    assert len(refusals) > 20
    assert {field for _, field, _ in refusals} == {"q"}
    assert all(detail for _, _, detail in refusals)
