"""Registry write side against a real PostgreSQL: gapless numbering under concurrency, yearly restart.

DOMAIN.md "Registration card": numbers are never reused or skipped and the sequence restarts each year — also when
several threads and several replicas of the service register at the same time.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from psycopg_pool import ConnectionPool

from edms_contracts import DocumentKind, LinkType, Role
from edms_registry.application import (
    CauseReused,
    DocumentNotFound,
    DuplicateLetter,
    NotADraft,
    Registration,
    RegistryApplication,
)
from edms_registry.directory_app import Directory, PersonIn
from edms_registry.domain import (
    Card,
    Document,
    InvalidCard,
    InvalidJournal,
    Journal,
    LinkRefused,
    event_cause,
    idempotency_cause,
    plan_to_data,
)
from edms_runtime.db import make_pool
from edms_runtime.eventstore import build_application
from runtime.tests.pgproxy import CommitAckLosingProxy

ORG = "demo-region"
REG_DATE = date(2026, 11, 25)
INCOMING_NUMBER = re.compile(r"^01-10/(\d+)$")


_numbers = itertools.count(1)


def _incoming(org: str = ORG, reg_date: date = REG_DATE, title: str = "О предоставлении сведений") -> Registration:
    """An incoming letter with an outgoing number of its own (the same number twice would be the same letter)."""
    card = Card(
        kind=DocumentKind.INCOMING_LETTER,
        title=title,
        text=f"Письмо {uuid.uuid4()}",
        correspondent="Территориальный орган Росстата",
        correspondent_number=f"12-07/{next(_numbers)}",
        correspondent_date=date(2025, 11, 20),
    )
    return Registration(card=card, reg_date=reg_date, org=org, unit="01", registered_by="clerk1")


def _sequence(reg_number: str) -> int:
    match = INCOMING_NUMBER.match(reg_number)
    assert match, f"unexpected incoming number {reg_number!r}"
    return int(match.group(1))


@pytest.fixture
def replicas(fresh_database_url: str) -> Iterator[tuple[RegistryApplication, RegistryApplication]]:
    """Two RegistryApplication instances on one database: two replicas of the service."""
    first = build_application(RegistryApplication, fresh_database_url, "registry")
    second = build_application(RegistryApplication, fresh_database_url, "registry")
    # the signer of the drafts below is a person of the organization's directory (cards name known people)
    Directory(first).register_person(
        PersonIn(login="petrov", full_name="Петров Пётр Петрович", org=ORG, roles=[Role.HEAD]), by="admin"
    )
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_n_registrations_get_numbers_1_to_n(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    registry, _ = replicas
    numbers = [registry.register(_incoming()).reg_number for _ in range(12)]
    assert numbers == [f"01-10/{n}" for n in range(1, 13)]


def test_a_registered_card_reads_back_from_another_replica(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    first, second = replicas
    document = first.register(_incoming(title="О ремонте автомобильных дорог"))
    stored = second.document(document.id)
    assert stored.reg_number == "01-10/1"
    assert stored.reg_date == REG_DATE
    assert stored.correspondent_date == date(2025, 11, 20)
    assert stored.title == "О ремонте автомобильных дорог"
    journal: Journal = second.repository.get(Journal.create_id(ORG, "ВХ", 2026))
    assert journal.last_seq == 1


def test_concurrent_registration_by_threads_and_two_replicas_has_no_gaps(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """8 threads, split across two replicas (each with its own in-process lock), register 200 documents at once."""
    total, workers = 200, 8
    start = threading.Barrier(workers)

    def work(worker: int) -> list[str]:
        registry = replicas[worker % 2]
        start.wait()
        return [registry.register(_incoming()).reg_number for _ in range(total // workers)]

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(work, range(workers)))

    numbers = [number for chunk in results for number in chunk]
    sequences = sorted(_sequence(n) for n in numbers)
    assert len(numbers) == total
    assert len(set(numbers)) == total, "a number was given twice"
    assert sequences == list(range(1, total + 1)), "a number was skipped"
    for registry in replicas:
        journal: Journal = registry.repository.get(Journal.create_id(ORG, "ВХ", REG_DATE.year))
        assert journal.last_seq == total
    # Each replica's own numbers are increasing (a thread never sees an older journal than its last save).
    for chunk in results:
        assert [_sequence(n) for n in chunk] == sorted(_sequence(n) for n in chunk)


def test_replicas_queue_for_the_journal_instead_of_colliding(
    replicas: tuple[RegistryApplication, RegistryApplication], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying a lost race alone starves a replica (the winner's next registration is always ahead of the loser's
    retry, so the loser can run out of retries under load). Numbering waits on the journal's lock instead."""
    conflicts: list[str] = []
    for registry in replicas:
        save = registry.save

        def counting_save(*aggregates: Any, _save: Any = save) -> Any:
            try:
                return _save(*aggregates)
            except IntegrityError as exc:
                conflicts.append(str(exc))
                raise

        monkeypatch.setattr(registry, "save", counting_save)

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(lambda n: replicas[n % 2].register(_incoming()).reg_number, range(60)))
    assert sorted(_sequence(n) for n in numbers) == list(range(1, 61))
    assert conflicts == []


def test_concurrent_registration_in_one_replica_has_no_gaps(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: registry.register(_incoming()).reg_number, range(80)))
    assert sorted(_sequence(n) for n in numbers) == list(range(1, 81))


def test_a_new_year_restarts_at_1(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    """DOMAIN.md "Registration card": the sequence restarts each year."""
    registry, other = replicas
    late = [registry.register(_incoming(reg_date=date(2025, 12, 30))).reg_number for _ in range(3)]
    early = [other.register(_incoming(reg_date=date(2026, 1, 12))).reg_number for _ in range(2)]
    assert late == ["01-10/1", "01-10/2", "01-10/3"]
    assert early == ["01-10/1", "01-10/2"]
    assert registry.register(_incoming(reg_date=date(2025, 12, 31))).reg_number == "01-10/4"


def test_each_organization_has_its_own_journal(replicas: tuple[RegistryApplication, RegistryApplication]) -> None:
    registry, _ = replicas
    assert registry.register(_incoming(org="org-a")).reg_number == "01-10/1"
    assert registry.register(_incoming(org="org-b")).reg_number == "01-10/1"
    assert registry.register(_incoming(org="org-a")).reg_number == "01-10/2"


def test_journals_of_different_kinds_number_independently(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    registry.register(_incoming())
    card = Card(
        kind=DocumentKind.GOVERNOR_ASSIGNMENT,
        title="Обеспечить подготовку к отопительному сезону",
        executor={"name": "Петров П. П."},
        deadline=date(2026, 12, 15),
    )
    assignment = Registration(card=card, reg_date=REG_DATE, org=ORG, unit="01", registered_by="u")
    assert registry.register(assignment).reg_number == "ПГ-1"
    assert registry.register(_incoming()).reg_number == "01-10/2"


def test_attachment_is_recorded_on_the_card_with_who_and_when(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """Process 7 (DOMAIN.md, attaching an appendix to an incoming document): who added which file, and when."""
    first, second = replicas
    document = first.register(_incoming())
    sha = hashlib.sha256(b"scan").hexdigest()
    entry, added = first.add_attachment(
        document.id, sha256=sha, filename="скан.pdf", media_type="application/pdf", size=4, added_by="u"
    )
    assert added
    [stored] = second.document(document.id).attachments
    assert stored == entry
    assert {k: stored[k] for k in ("sha256", "filename", "media_type", "size", "added_by", "text")} == {
        "sha256": sha,
        "filename": "скан.pdf",
        "media_type": "application/pdf",
        "size": 4,
        "added_by": "u",
        "text": "pending",
    }
    assert stored["added_at"] is not None


def test_the_same_file_twice_on_a_card_is_one_attachment_and_one_event(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    first, second = replicas
    document = first.register(_incoming())
    sha = hashlib.sha256(b"appendix").hexdigest()
    kwargs: dict[str, Any] = {"sha256": sha, "media_type": "application/pdf", "size": 8, "added_by": "u"}
    entry, added = first.add_attachment(document.id, filename="приложение.pdf", **kwargs)
    again, added_again = second.add_attachment(document.id, filename="другое имя.pdf", **kwargs)
    assert added
    assert not added_again
    assert again == entry  # the attachment it has, under the name it was first given
    events = [type(first.mapper.to_domain_event(e)).__name__ for e in first.recorder.select_events(document.id)]
    assert events.count("AttachmentAdded") == 1


def test_unknown_document_and_a_journal_id_are_not_found(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    with pytest.raises(DocumentNotFound):
        registry.document(uuid.uuid4())
    registry.register(_incoming())
    with pytest.raises(DocumentNotFound):
        registry.document(Journal.create_id(ORG, "ВХ", 2026))  # an aggregate, but not a registration card


# -- the lock on the connection that saves; idempotency (issue 6 items 5 and 6) --------------------------------------
def test_the_journal_lock_is_held_by_the_transaction_that_saves_the_numbers(
    replicas: tuple[RegistryApplication, RegistryApplication], fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock on an idle pooled connection ends silently after eventsourcing's idle-in-transaction timeout (5 s);
    held by the saving transaction, it lives exactly as long as the numbers are being given and saved."""
    registry, _ = replicas
    holders: list[tuple[set[int], set[int]]] = []
    insert = registry.recorder.insert_events

    def watched_insert(*args: Any, **kwargs: Any) -> Any:
        result = insert(*args, **kwargs)
        with psycopg.connect(fresh_database_url) as side:
            advisory = {r[0] for r in side.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")}
            writer = {
                r[0]
                for r in side.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'relation' AND granted AND mode = 'ExclusiveLock' "
                    "AND relation = 'registry.registryapplication_events'::regclass"
                )
            }
        holders.append((advisory, writer))
        return result

    monkeypatch.setattr(registry.recorder, "insert_events", watched_insert)
    registry.register(_incoming())
    ((advisory, writer),) = holders
    assert len(advisory) == 1
    assert advisory == writer  # one backend holds the journal lock and writes the events, in one transaction


def test_a_lost_commit_acknowledgement_does_not_register_the_letter_twice(fresh_database_url: str) -> None:
    """The COMMIT of numbers and card reached PostgreSQL but its answer did not: the registry must find its own
    card, not number the same letter again."""
    with CommitAckLosingProxy.in_front_of(fresh_database_url) as (proxy, url):
        registry = build_application(RegistryApplication, url, "registry")
        try:
            registry.register(_incoming(title="Первое"))
            proxy.lose_next_commit_answer()
            document = registry.register(_incoming(title="Ответ на коммит потерян"))
            assert proxy.lost == 1
            assert document.reg_number == "01-10/2"
            assert registry.register(_incoming(title="Третье")).reg_number == "01-10/3"
            journal: Journal = registry.repository.get(Journal.create_id(ORG, "ВХ", REG_DATE.year))
            assert journal.last_seq == 3
            with registry.store.datastore.get_connection() as conn:
                row = conn.execute(
                    "SELECT count(*) AS n FROM registry.registryapplication_events "
                    "WHERE topic LIKE '%Document.Registered'"
                ).fetchone()
            assert row is not None
            assert row["n"] == 3
        finally:
            registry.close()


def test_the_same_cause_registers_one_card_across_replicas(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """An Idempotency-Key repeated (or the same event delivered to two replicas) gives one card and one number."""
    cause = idempotency_cause(ORG, "clerk1", "letter-4711")
    request = replace(_incoming(title="Письмо с ключом"), cause=cause, fingerprint="f1")
    with ThreadPoolExecutor(8) as pool:
        documents = list(pool.map(lambda n: replicas[n % 2].register(request), range(16)))
    assert {d.id for d in documents} == {Document.create_id(cause=cause)}
    assert {d.reg_number for d in documents} == {"01-10/1"}
    assert replicas[0].register(_incoming()).reg_number == "01-10/2"  # no number was used up by the repeats


def test_the_same_cause_with_another_request_is_refused(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    cause = idempotency_cause(ORG, "clerk1", "letter-4712")
    registry, other = replicas
    registry.register(replace(_incoming(title="Первый запрос"), cause=cause, fingerprint="f1"))
    with pytest.raises(CauseReused):
        other.register(replace(_incoming(title="Другой запрос"), cause=cause, fingerprint="f2"))


def test_a_registration_caused_by_an_event_is_idempotent_by_the_event(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """A municipal node's package or a signing asks for a registration: the card's id derives from that event."""
    event_id = uuid.uuid4()
    request = replace(_incoming(title="Пакет узла"), cause=event_cause(event_id))
    first = replicas[0].register(request)
    again = replicas[1].register(request)
    assert first.id == again.id == Document.create_id(cause=event_cause(event_id))
    assert again.reg_number == first.reg_number


# -- drafts numbered when signed, duplicates, links, history, journals as data (issue 7) ------------------------------
def _outgoing(title: str = "Ответ на запрос Росстата") -> Card:
    return Card(
        kind=DocumentKind.OUTGOING_LETTER,
        title=title,
        addressee="Территориальный орган Росстата",
        signer={"name": "Петров П. П.", "position": "заместитель губернатора", "login": "petrov"},
    )


def _sign(registry: RegistryApplication, pool: ConnectionPool[Any], *document_ids: uuid.UUID) -> None:
    """What registry's consumer does with DocumentSigned events: numbers in one fetch's transaction."""
    with pool.connection() as conn, conn.transaction(), registry.unit_of_work(conn):
        for document_id in document_ids:
            registry.register_signed(
                conn, document_id, signed_by="petrov", reg_date=REG_DATE, causation_id=uuid.uuid4()
            )


@pytest.fixture
def pool(fresh_database_url: str, replicas: tuple[RegistryApplication, RegistryApplication]) -> Iterator[Any]:
    connections = make_pool(fresh_database_url, "registry", max_size=2)
    try:
        yield connections
    finally:
        connections.close()


def test_a_draft_keeps_its_versions_and_is_numbered_when_signed(
    replicas: tuple[RegistryApplication, RegistryApplication], pool: ConnectionPool[Any]
) -> None:
    """DOMAIN.md "Deadlines": outgoing documents are registered on the day of signing; drafts keep versions."""
    registry, other = replicas
    draft = registry.create_draft(_outgoing(), org=ORG, unit="01", created_by="executor1", today=REG_DATE)
    registry.revise_draft(draft.id, {"title": "Ответ Росстату, уточнённый"}, revised_by="head1", today=REG_DATE)
    second = registry.create_draft(
        _outgoing("Второе письмо"), org=ORG, unit="01", created_by="executor1", today=REG_DATE
    )
    assert other.draft(draft.id).reg_number is None
    _sign(registry, pool, draft.id, second.id)  # two in one fetch: consecutive numbers
    signed = other.draft(draft.id)
    assert (signed.status, signed.reg_number, signed.version_no) == ("registered", "01-12/1-исх", 2)
    assert other.draft(second.id).reg_number == "01-12/2-исх"
    _sign(registry, pool, draft.id)  # delivered again: nothing changes
    assert other.draft(draft.id).reg_number == "01-12/1-исх"
    journal: Journal = other.repository.get(Journal.create_id(ORG, "ИСХ", REG_DATE.year))
    assert journal.last_seq == 2
    with pytest.raises(NotADraft):
        registry.revise_draft(draft.id, {"title": "поздно"}, revised_by="executor1", today=REG_DATE)


def test_a_draft_is_only_for_documents_numbered_when_signed(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    with pytest.raises(InvalidCard) as caught:
        registry.create_draft(_incoming().card, org=ORG, unit="01", created_by="u", today=REG_DATE)
    assert caught.value.field == "kind"
    with pytest.raises(InvalidCard):
        registry.register(replace(_incoming(), card=_outgoing()))


def test_the_same_letter_twice_is_refused_unless_confirmed_then_linked_as_its_duplicate(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """The same correspondent, outgoing number and date: the same letter (registered once, model instruction)."""
    registry, other = replicas
    first = registry.register(_incoming(title="О сведениях"))
    again = replace(_incoming(title="О сведениях (копия по почте)"), card=replace(first_card(registry, first.id)))
    with pytest.raises(DuplicateLetter) as caught:
        other.register(again)
    assert (caught.value.earlier.document_id, caught.value.earlier.reg_number) == (first.id, "01-10/1")
    duplicate = other.register(replace(again, confirm_duplicate=True))
    assert duplicate.reg_number == "01-10/2"  # the refusal took no number
    assert duplicate.links.out == [{"link_type": "duplicate_of", "target_id": first.id}]
    assert registry.document(first.id).links.inbound == [{"link_type": "duplicate_of", "source_id": duplicate.id}]


def first_card(registry: RegistryApplication, document_id: uuid.UUID) -> Card:
    document = registry.document(document_id)
    return Card(
        kind=DocumentKind.INCOMING_LETTER,
        title="Тот же документ",
        correspondent=document.correspondent,
        correspondent_number=document.correspondent_number,
        correspondent_date=document.correspondent_date,
    )


def test_nearly_the_same_text_is_flagged_with_the_earlier_document(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """Near-duplicates: MinHash over word shingles; the earlier document and the similarity are on the card."""
    registry, _ = replicas
    text = (
        "Прошу предоставить сведения о численности постоянного населения муниципального образования по состоянию "
        "на первое января текущего года в разрезе сельских поселений и населённых пунктов района"
    )
    first = registry.register(
        replace(
            _incoming(title="О численности населения"),
            card=replace(_incoming().card, title="О численности населения", text=text),
        )
    )
    near = registry.register(
        replace(_incoming(), card=replace(_incoming().card, title="О численности населения", text=text + "."))
    )
    other = registry.register(_incoming(title="О ремонте дорог"))
    assert [s["document_id"] for s in near.similar] == [first.id]
    assert near.similar[0]["similarity"] >= 0.8
    assert other.similar == []


def test_an_appeal_of_the_same_citizen_on_the_same_matter_is_linked_as_a_repeat(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """59-ФЗ art. 11 p. 5 and DOMAIN.md "Deadlines": repeated appeals are linked to the earlier ones."""
    registry, _ = replicas
    citizen = {"name": "Сидорова Анна Ивановна", "address": "г. Северск, ул. Мира, 1, кв. 5"}
    text = "Прошу отремонтировать крышу многоквартирного дома по улице Мира, дом 1, протекает в третьем подъезде"

    def appeal(body: str, who: dict[str, str]) -> Registration:
        card = Card(kind=DocumentKind.CITIZEN_APPEAL, title="О ремонте крыши", text=body, applicant=who)
        return Registration(card=card, reg_date=REG_DATE, org=ORG, unit="01", registered_by="clerk1")

    first = registry.register(appeal(text, citizen))
    repeat = registry.register(appeal(text + " Ответа до сих пор нет.", citizen))
    neighbour = registry.register(appeal(text, {"name": "Иванов Иван", "address": "г. Северск, ул. Мира, 1, кв. 9"}))
    assert repeat.links.out == [{"link_type": "repeat_of", "target_id": first.id}]
    assert neighbour.links.out == []


def test_links_are_shown_from_both_ends_and_only_within_an_organization(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, other = replicas
    letter = registry.register(_incoming())
    reply = registry.create_draft(_outgoing(), org=ORG, unit="01", created_by="executor1", today=REG_DATE)
    registry.link(reply.id, LinkType.IN_REPLY_TO, letter.id, linked_by="executor1")
    assert other.card(reply.id).links.out == [{"link_type": "in_reply_to", "target_id": letter.id}]
    assert other.card(letter.id).links.inbound == [{"link_type": "in_reply_to", "source_id": reply.id}]
    stranger = registry.register(_incoming(org="org-b"))
    with pytest.raises(LinkRefused):
        registry.link(stranger.id, LinkType.IN_REPLY_TO, letter.id, linked_by="x")


def test_history_lists_every_event_in_order_with_who(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    registry, _ = replicas
    draft = registry.create_draft(_outgoing(), org=ORG, unit="01", created_by="executor1", today=REG_DATE)
    registry.revise_draft(draft.id, {"text": "Исправленный текст"}, revised_by="head1", today=REG_DATE)
    history = registry.history(draft.id)
    assert [(h["version"], h["event"], h["by"]) for h in history] == [
        (1, "Created", "executor1"),
        (2, "Revised", "head1"),
    ]
    assert history[1]["changes"]["changes"] == {"text": "Исправленный текст"}


def test_journals_set_by_an_administrator_number_per_unit_from_then_on(
    replicas: tuple[RegistryApplication, RegistryApplication],
) -> None:
    """Journals as data: per kind and unit, a pattern such as `{unit}-{case}/{seq}`, restarting each year."""
    registry, other = replicas
    assert registry.register(_incoming()).reg_number == "01-10/1"
    plan = plan_to_data(registry.plan(ORG))
    for journal in plan:
        if "incoming_letter" in journal["kinds"]:
            journal.update(code="ВХП", pattern="{unit}-{case}/{seq}", per_unit=True)
    registry.set_plan(ORG, plan, "admin1")
    in_unit_07 = replace(_incoming(), unit="07")
    assert other.register(in_unit_07).reg_number == "07-01-10/1"
    assert other.register(_incoming()).reg_number == "01-01-10/1"
    with pytest.raises(InvalidJournal):
        registry.set_plan(ORG, [j for j in plan if "incoming_letter" not in j["kinds"]], "admin1")
