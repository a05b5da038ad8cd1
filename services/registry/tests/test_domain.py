"""Registration journals and cards, pure domain (no I/O).

Rules under test come from DOMAIN.md, "Registration card": registration numbers follow a configurable pattern per
journal (e.g. `<unit code>-<case index>/<sequence>`), the sequence restarts each year, numbers are never reused or
skipped; an incoming document also carries the correspondent and the correspondent's outgoing number and date.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from edms_contracts import DocumentRegistered, Urgency
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_registry.domain import (
    JOURNALS,
    CorrespondentRequired,
    Document,
    DocumentKind,
    Journal,
    JournalSpec,
    register,
)
from edms_registry.projections import to_contract

ORG = "demo-region"
REG_DATE = date(2026, 11, 25)
INCOMING = {
    "correspondent": "Территориальный орган Росстата",
    "correspondent_number": "12-07/345",
    "correspondent_date": date(2026, 11, 20),
}


def _journal(kind: DocumentKind = DocumentKind.INCOMING_LETTER, org: str = ORG, year: int = 2026) -> Journal:
    return Journal(org, JOURNALS[kind].code, year)


def _register(journal: Journal, kind: DocumentKind = DocumentKind.INCOMING_LETTER, **overrides: Any) -> Document:
    fields: dict[str, Any] = {
        "kind": kind,
        "reg_date": REG_DATE,
        "title": "О предоставлении сведений",
        "org": ORG,
        "unit": "01",
        "registered_by": "clerk1",
    }
    if kind is DocumentKind.INCOMING_LETTER:
        fields.update(INCOMING)
    fields.update(overrides)
    return register(journal, JOURNALS[kind], **fields)


# -- numbering ---------------------------------------------------------------------------------------------------------
def test_sequence_starts_at_1_and_increments_by_1() -> None:
    """DOMAIN.md "Registration card": numbers are never skipped — 1, 2, 3, ... in the journal."""
    journal = _journal()
    numbers = [_register(journal).reg_number for _ in range(5)]
    assert numbers == ["01-10/1", "01-10/2", "01-10/3", "01-10/4", "01-10/5"]
    assert journal.last_seq == 5


@pytest.mark.parametrize(
    ("kind", "first", "second"),
    [
        (DocumentKind.INCOMING_LETTER, "01-10/1", "01-10/2"),
        (DocumentKind.OUTGOING_LETTER, "01-12/1-исх", "01-12/2-исх"),
        (DocumentKind.INTERNAL, "01-14/1-вн", "01-14/2-вн"),
        (DocumentKind.ORDER, "01-03/1-п", "01-03/2-п"),
        (DocumentKind.CITIZEN_APPEAL, "01-20/ОГ-1", "01-20/ОГ-2"),
    ],
)
def test_each_journal_numbers_by_its_own_pattern(kind: DocumentKind, first: str, second: str) -> None:
    """DOMAIN.md "Registration card": a configurable pattern per journal, `<case index>/<sequence>` and suffixes."""
    journal = _journal(kind)
    one, two = _register(journal, kind), _register(journal, kind)
    assert (one.reg_number, two.reg_number) == (first, second)
    assert one.journal == JOURNALS[kind].code
    assert one.case_index == JOURNALS[kind].case_index


def test_every_document_kind_has_a_journal_with_its_own_code_and_case() -> None:
    assert set(JOURNALS) == set(DocumentKind)
    assert len({spec.code for spec in JOURNALS.values()}) == len(JOURNALS)
    assert len({spec.case_index for spec in JOURNALS.values()}) == len(JOURNALS)


def test_journal_pattern_may_use_year_and_code() -> None:
    spec = JOURNALS[DocumentKind.ORDER]
    custom = JournalSpec(spec.code, spec.title, "{code}-{year}/{case}/{seq}", spec.case_index)
    assert custom.format(7, 2026) == "ПР-2026/01-03/7"


def test_a_skipped_number_is_refused() -> None:
    """DOMAIN.md "Registration card": numbers are never skipped."""
    journal = _journal()
    _register(journal)
    with pytest.raises(ValueError, match="expected number 2, got 3"):
        journal.issue_number(uuid.uuid4(), 3)
    assert journal.last_seq == 1
    assert journal.version == 2  # Opened + one NumberIssued; the refused number left no event


def test_a_reused_number_is_refused() -> None:
    """DOMAIN.md "Registration card": numbers are never reused."""
    journal = _journal()
    _register(journal)
    _register(journal)
    for seq in (1, 2):
        with pytest.raises(ValueError, match=f"expected number 3, got {seq}"):
            journal.issue_number(uuid.uuid4(), seq)
    assert journal.last_seq == 2


def test_a_number_exists_only_with_its_document() -> None:
    """The journal's NumberIssued event names the document it numbered (saved atomically with it)."""
    journal = _journal()
    document = _register(journal)
    events = journal.collect_events()
    assert [type(e).__qualname__ for e in events] == ["Journal.Opened", "Journal.NumberIssued"]
    issued = events[-1]
    assert vars(issued)["document_id"] == document.id
    assert vars(issued)["seq"] == 1


# -- incoming documents: correspondent ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["correspondent", "correspondent_number", "correspondent_date"])
@pytest.mark.parametrize("missing", [None, ""])
def test_incoming_letter_requires_correspondent_details(field: str, missing: str | None) -> None:
    """DOMAIN.md "Registration card": incoming also — correspondent, the correspondent's outgoing number and date."""
    journal = _journal()
    overrides: dict[str, Any] = {field: missing}
    with pytest.raises(CorrespondentRequired) as caught:
        _register(journal, **overrides)
    assert caught.value.field == field
    assert str(caught.value) == f"{field} is required for an incoming document"
    assert journal.last_seq == 0  # a refused card takes no number


def test_a_refused_incoming_letter_does_not_consume_a_number() -> None:
    """DOMAIN.md "Registration card": numbers are never skipped, so a refusal must not burn one."""
    journal = _journal()
    _register(journal)
    with pytest.raises(CorrespondentRequired):
        _register(journal, correspondent=None)
    assert _register(journal).reg_number == "01-10/2"


@pytest.mark.parametrize("kind", [k for k in DocumentKind if k is not DocumentKind.INCOMING_LETTER])
def test_other_kinds_need_no_correspondent(kind: DocumentKind) -> None:
    document = _register(_journal(kind), kind)
    assert document.correspondent is None
    assert document.reg_number.startswith(JOURNALS[kind].case_index + "/")


def test_the_card_keeps_every_registered_attribute() -> None:
    document = _register(_journal(), urgency=Urgency.VERY_URGENT, access="ДСП", text="Просим представить")
    assert document.kind == "incoming_letter"
    assert document.reg_date == REG_DATE
    assert document.correspondent == INCOMING["correspondent"]
    assert document.correspondent_number == INCOMING["correspondent_number"]
    assert document.correspondent_date == INCOMING["correspondent_date"]
    assert document.urgency == "very_urgent"
    assert document.access == "ДСП"
    assert document.attachments == []


# -- journal identity: one journal per organization, code and year -----------------------------------------------------
def test_journal_id_is_deterministic() -> None:
    """Two replicas opening the same journal must collide on one aggregate (so one of them retries)."""
    assert Journal.create_id(ORG, "ВХ", 2026) == Journal.create_id(ORG, "ВХ", 2026)
    assert _journal().id == Journal.create_id(ORG, "ВХ", 2026)


@pytest.mark.parametrize(
    "other",
    [("other-org", "ВХ", 2026), (ORG, "ИСХ", 2026), (ORG, "ВХ", 2027)],
    ids=["org", "code", "year"],
)
def test_journal_id_differs_per_org_code_and_year(other: tuple[str, str, int]) -> None:
    """DOMAIN.md "Registration card": the sequence restarts each year — a new year is a new journal."""
    assert Journal.create_id(*other) != Journal.create_id(ORG, "ВХ", 2026)


def test_a_new_years_journal_starts_again_at_1() -> None:
    """DOMAIN.md "Registration card": the sequence restarts each year."""
    old = _journal(year=2025)
    for _ in range(3):
        _register(old, reg_date=date(2025, 12, 30))
    new = _journal(year=2026)
    assert _register(new, reg_date=date(2026, 1, 12)).reg_number == "01-10/1"
    assert old.last_seq == 3


# -- what the registry publishes ---------------------------------------------------------------------------------------
def test_registration_is_published_as_document_registered() -> None:
    journal = _journal()
    document = _register(journal, urgency=Urgency.URGENT, access="ДСП")
    (registered,) = document.collect_events()
    outgoing = to_contract(registered)
    assert outgoing is not None
    assert outgoing.topic == REGISTRY_DOCUMENT
    assert isinstance(outgoing.payload, DocumentRegistered)
    assert outgoing.payload.document_id == document.id
    assert outgoing.payload.reg_number == "01-10/1"
    assert outgoing.payload.case_index == "01-10"
    assert outgoing.payload.urgency is Urgency.URGENT
    assert outgoing.payload.access == "ДСП"
    assert outgoing.payload.correspondent_date == INCOMING["correspondent_date"]


def test_journal_events_stay_inside_the_registry() -> None:
    journal = _journal()
    _register(journal)
    assert [to_contract(e) for e in journal.collect_events()] == [None, None]
