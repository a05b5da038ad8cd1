"""Registration journals, cards, drafts and links: pure domain (no I/O).

Rules under test come from DOMAIN.md, "Registration card": registration numbers follow a configurable pattern per
journal (e.g. `<unit code>-<case index>/<sequence>`), the sequence restarts each year, numbers are never reused or
skipped; the card's fields per kind; Federal Law 59-ФЗ art. 7 for appeals; outgoing documents and acts are
registered on the day of signing (DOMAIN.md "Deadlines"), so they are drafts until then.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from edms_contracts import (
    AccessGranted,
    AccessRevoked,
    DocumentDrafted,
    DocumentKind,
    DocumentLinked,
    DocumentRegistered,
    DraftRevised,
    LinkType,
)
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_registry.domain import (
    KIND_RULES,
    Card,
    CorrespondentRequired,
    Document,
    Draft,
    InvalidCard,
    InvalidJournal,
    Journal,
    JournalSpec,
    LinkRefused,
    check_card,
    journal_id,
    link,
    number_draft,
    plan_from_data,
    plan_to_data,
    register,
)
from edms_registry.journals import default_plan, file_plan
from edms_registry.publishes import to_contract

ORG = "demo-region"
TODAY = date(2026, 11, 25)
MARKS = frozenset({"ДСП"})
PERSON = {"name": "Петров П. П.", "position": "заместитель губернатора", "login": "petrov"}
APPLICANT = {"name": "Сидорова Анна Ивановна", "address": "г. Северск, ул. Мира, 1"}

#: A card that satisfies each kind's rule.
VALID: dict[DocumentKind, dict[str, Any]] = {
    DocumentKind.INCOMING_LETTER: {
        "correspondent": "Территориальный орган Росстата",
        "correspondent_number": "12-07/345",
        "correspondent_date": date(2026, 11, 20),
    },
    DocumentKind.OUTGOING_LETTER: {"addressee": "Министерство финансов РФ", "signer": PERSON},
    DocumentKind.INTERNAL: {"addressee": "Отдел кадров", "signer": PERSON},
    DocumentKind.ORDER: {"signer": PERSON},
    DocumentKind.GOVERNOR_ACT: {"signer": PERSON},
    DocumentKind.GOVERNMENT_ACT: {"signer": PERSON},
    DocumentKind.CONTRACT: {"counterparty": "ООО «Дорстрой»", "signer": PERSON},
    DocumentKind.GOVERNOR_ASSIGNMENT: {"executor": PERSON, "deadline": date(2026, 12, 10)},
    DocumentKind.CITIZEN_APPEAL: {"applicant": APPLICANT},
    DocumentKind.CITIZEN_ORAL_APPEAL: {"applicant": APPLICANT, "addressee": "Губернатор"},
    DocumentKind.PLAN_ITEM: {"executor": PERSON, "deadline": date(2026, 12, 31), "plan_period": "2026-IV"},
}
AT_RECEIPT = [kind for kind in DocumentKind if not KIND_RULES[kind].at_signing]
AT_SIGNING = [kind for kind in DocumentKind if KIND_RULES[kind].at_signing]


def _card(kind: DocumentKind = DocumentKind.INCOMING_LETTER, **overrides: Any) -> Card:
    return Card(kind=kind, **{"title": "О предоставлении сведений", **VALID[kind], **overrides})


def _journal(kind: DocumentKind = DocumentKind.INCOMING_LETTER, year: int = 2026, unit: str | None = "01") -> Journal:
    spec = default_plan().journal_for(kind, unit)
    return Journal(ORG, spec.sequence_key(unit), year)


def _register(journal: Journal, card: Card | None = None, reg_date: date = TODAY, **extra: Any) -> Document:
    card = card or _card()
    spec = default_plan().journal_for(card.kind, "01")
    return register(journal, spec, card, reg_date=reg_date, org=ORG, unit="01", registered_by="clerk1", **extra)


def _draft(kind: DocumentKind = DocumentKind.OUTGOING_LETTER, **overrides: Any) -> Draft:
    return Draft(org=ORG, unit="01", created_by="executor1", card=_card(kind, **overrides).stored())


def _sign(draft: Draft) -> None:
    kind = DocumentKind(draft.kind)
    spec = default_plan().journal_for(kind, "01")
    number_draft(_journal(kind), spec, draft, reg_date=TODAY, registered_by="head1", causation_id=uuid.uuid4())


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
        (DocumentKind.GOVERNOR_ASSIGNMENT, "ПГ-1", "ПГ-2"),
        (DocumentKind.CITIZEN_APPEAL, "01-20/ОГ-1", "01-20/ОГ-2"),
        (DocumentKind.CITIZEN_ORAL_APPEAL, "01-21/ЛП-1", "01-21/ЛП-2"),
        (DocumentKind.PLAN_ITEM, "01-07/ПЛ-1", "01-07/ПЛ-2"),
    ],
)
def test_each_journal_numbers_by_its_own_pattern(kind: DocumentKind, first: str, second: str) -> None:
    """DOMAIN.md "Registration card": a configurable pattern per journal, `<case index>/<sequence>` and suffixes."""
    journal = _journal(kind)
    one, two = _register(journal, _card(kind)), _register(journal, _card(kind))
    assert (one.reg_number, two.reg_number) == (first, second)
    spec = default_plan().journal_for(kind, "01")
    assert (one.journal, one.case_index) == (spec.code, spec.case_index)


@pytest.mark.parametrize(
    ("kind", "first"),
    [
        (DocumentKind.OUTGOING_LETTER, "01-12/1-исх"),
        (DocumentKind.INTERNAL, "01-14/1-вн"),
        (DocumentKind.ORDER, "01-03/1-п"),
        (DocumentKind.GOVERNOR_ACT, "1-уг"),
        (DocumentKind.GOVERNMENT_ACT, "1-п"),
        (DocumentKind.CONTRACT, "01-15/1-д"),
    ],
)
def test_a_draft_is_numbered_by_its_journal_when_signed(kind: DocumentKind, first: str) -> None:
    """Outgoing documents and acts are registered on the day of signing (DOMAIN.md "Deadlines")."""
    draft = _draft(kind)
    journal = _journal(kind)
    spec = default_plan().journal_for(kind, "01")
    number_draft(journal, spec, draft, reg_date=TODAY, registered_by="head1", causation_id=uuid.uuid4())
    assert (draft.status, draft.reg_number, draft.reg_date) == ("registered", first, TODAY)
    assert journal.last_seq == 1


@pytest.mark.parametrize("kind", AT_SIGNING)
def test_a_document_made_inside_is_not_registered_before_it_is_signed(kind: DocumentKind) -> None:
    journal = _journal(kind)
    with pytest.raises(InvalidCard) as caught:
        _register(journal, _card(kind))
    assert caught.value.field == "kind"
    assert journal.last_seq == 0


def test_the_default_plan_has_a_journal_for_every_kind_with_its_own_code() -> None:
    plan = default_plan()
    assert {kind for journal in plan.journals for kind in journal.kinds} == set(DocumentKind)
    assert len({j.code for j in plan.journals}) == len(plan.journals)


def test_a_pattern_may_use_year_code_and_unit() -> None:
    spec = JournalSpec("ПР", "Приказы", "{code}-{year}/{unit}-{case}/{seq}", "01-03", (DocumentKind.ORDER,))
    assert spec.format(7, 2026, "12") == "ПР-2026/12-01-03/7"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("{case}/", "has no {seq}"), ("{seq}-{month}", "unknown placeholders ['month']")],
)
def test_a_pattern_without_the_sequence_or_with_unknown_placeholders_is_refused(pattern: str, message: str) -> None:
    with pytest.raises(InvalidJournal, match=message.replace("[", r"\[").replace("]", r"\]")):
        JournalSpec("X", "X", pattern, "01", (DocumentKind.ORDER,))


def test_a_plan_with_doubled_codes_or_a_kind_without_journal_is_refused() -> None:
    data = plan_to_data(default_plan())
    with pytest.raises(InvalidJournal, match="unique"):
        plan_from_data([*data, {**data[0], "kinds": ["order"]}])
    with pytest.raises(InvalidJournal, match="incoming_letter"):
        plan_from_data([j for j in data if "incoming_letter" not in j["kinds"]])
    with pytest.raises(InvalidJournal, match="lacks 'pattern'"):
        plan_from_data([{k: v for k, v in j.items() if k != "pattern"} for j in data])


def test_per_unit_journals_count_each_unit_apart_and_show_its_code() -> None:
    """DOMAIN.md "Registration card": e.g. `<unit code>-<case index>/<sequence>`, per unit."""
    plan = file_plan("mun-severny")
    assert plan is not None
    spec = plan.journal_for(DocumentKind.INCOMING_LETTER, "07")
    assert spec.per_unit
    assert journal_id("mun-severny", spec, "07", 2026) != journal_id("mun-severny", spec, "08", 2026)
    assert spec.format(3, 2026, "07") == "07-01-10/3"


def test_a_journal_made_for_a_unit_comes_before_the_general_one() -> None:
    data = [*plan_to_data(default_plan())]
    data.append({**data[0], "code": "ВХ-12", "units": ["12"], "pattern": "12/{seq}"})
    plan = plan_from_data(data)
    assert plan.journal_for(DocumentKind.INCOMING_LETTER, "12").code == "ВХ-12"
    assert plan.journal_for(DocumentKind.INCOMING_LETTER, "01").code == "ВХ"


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
    assert vars(events[-1])["document_id"] == document.id
    assert vars(events[-1])["seq"] == 1


def test_journal_ids_differ_per_org_code_and_year() -> None:
    """DOMAIN.md "Registration card": the sequence restarts each year — a new year is a new journal."""
    base = Journal.create_id(ORG, "ВХ", 2026)
    assert base == Journal.create_id(ORG, "ВХ", 2026)
    assert base not in {
        Journal.create_id("other-org", "ВХ", 2026),
        Journal.create_id(ORG, "ИСХ", 2026),
        Journal.create_id(ORG, "ВХ", 2027),
    }


# -- cards: the rules of each kind ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(DocumentKind))
def test_each_kinds_valid_card_passes(kind: DocumentKind) -> None:
    check_card(_card(kind), TODAY, MARKS)


@pytest.mark.parametrize(
    ("kind", "field"), [(kind, field) for kind in DocumentKind for field in KIND_RULES[kind].required]
)
def test_each_kind_refuses_a_card_without_its_required_fields(kind: DocumentKind, field: str) -> None:
    """DOMAIN.md "Registration card" (incoming: correspondent, its number and date; outgoing: addressee and
    signer); 59-ФЗ art. 7 (an appeal names the citizen); process 8 and 10 (an assignment names executor and
    deadline)."""
    with pytest.raises(InvalidCard) as caught:
        check_card(_card(kind, **{field: None}), TODAY, MARKS)
    assert caught.value.field == field
    if kind is DocumentKind.INCOMING_LETTER:
        assert isinstance(caught.value, CorrespondentRequired)


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (DocumentKind.OUTGOING_LETTER, "correspondent", "Росстат"),
        (DocumentKind.INCOMING_LETTER, "counterparty", "ООО «Ромашка»"),
        (DocumentKind.ORDER, "applicant", APPLICANT),
        (DocumentKind.INCOMING_LETTER, "plan_period", "2026-IV"),
    ],
)
def test_a_field_of_another_kind_is_refused(kind: DocumentKind, field: str, value: Any) -> None:
    with pytest.raises(InvalidCard) as caught:
        check_card(_card(kind, **{field: value}), TODAY, MARKS)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("correspondent_date", date(2026, 11, 26), "in the future"),
        ("correspondent_date", date(1985, 1, 1), "not a plausible date"),
        ("received_date", date(2026, 11, 26), "in the future"),
        ("received_date", date(2026, 11, 19), "cannot be received before its date"),
        ("deadline", date(2026, 11, 24), "in the past"),
    ],
)
def test_dates_are_checked_against_the_organizations_today(field: str, value: date, reason: str) -> None:
    """One "today" for every check: the organization's date (a letter dated today is not "in the future")."""
    with pytest.raises(InvalidCard, match=reason) as caught:
        check_card(_card(DocumentKind.INCOMING_LETTER, **{field: value}), TODAY, MARKS)
    assert caught.value.field == field
    check_card(_card(correspondent_date=TODAY, received_date=TODAY), TODAY, MARKS)


@pytest.mark.parametrize("mark", ["", "секретно", "дсп"])
def test_a_restriction_mark_outside_the_configured_list_is_refused(mark: str) -> None:
    """Decree No. 1233 of 03.11.1994: the mark is "ДСП", not any string."""
    with pytest.raises(InvalidCard) as caught:
        check_card(_card(access=mark), TODAY, MARKS)
    assert caught.value.field == "access"
    check_card(_card(access="ДСП"), TODAY, MARKS)


def test_an_appeal_without_an_address_for_the_answer_is_refused() -> None:
    """59-ФЗ art. 7 p. 1: the citizen gives a postal or an e-mail address for the answer."""
    with pytest.raises(InvalidCard) as caught:
        check_card(_card(DocumentKind.CITIZEN_APPEAL, applicant={"name": "Сидорова А. И."}), TODAY, MARKS)
    assert caught.value.field == "applicant.address"
    check_card(_card(DocumentKind.CITIZEN_APPEAL, applicant={"name": "Сидорова", "email": "a@b.ru"}), TODAY, MARKS)


def test_the_card_keeps_every_field() -> None:
    card = _card(sheets=3, appendices=1, appendix_sheets=5, delivery_channel="post", received_date=TODAY)
    document = _register(_journal(), card)
    assert (document.kind, document.reg_date, document.correspondent) == ("incoming_letter", TODAY, card.correspondent)
    assert (document.sheets, document.appendices, document.appendix_sheets) == (3, 1, 5)
    assert (document.delivery_channel, document.received_date) == ("post", TODAY)


# -- drafts --------------------------------------------------------------------------------------------------------
def test_a_draft_keeps_its_versions() -> None:
    draft = _draft(title="Проект письма")
    draft.revise("executor1", {"title": "Проект письма, версия 2"}, version=2)
    draft.revise("head1", {"text": "Текст после правки руководителя"}, version=3)
    assert draft.version_no == 3
    assert [v["version"] for v in draft.versions] == [1, 2, 3]
    assert draft.versions[1] == {"version": 2, "by": "executor1", "changes": {"title": "Проект письма, версия 2"}}
    assert draft.title == "Проект письма, версия 2"
    assert draft.versions[0]["changes"]["title"] == "Проект письма"  # the first version stays as it was


def test_a_registered_draft_has_no_new_versions() -> None:
    draft = _draft()
    _sign(draft)
    with pytest.raises(ValueError, match="has no new versions"):
        draft.revise("executor1", {"title": "поздно"}, version=2)


# -- links ---------------------------------------------------------------------------------------------------------
def test_a_link_is_recorded_at_both_ends() -> None:
    journal = _journal()
    letter, reply = _register(journal), _draft()
    link(reply, LinkType.IN_REPLY_TO, letter, "executor1")
    assert reply.links.out == [{"link_type": "in_reply_to", "target_id": letter.id}]
    assert letter.links.inbound == [{"link_type": "in_reply_to", "source_id": reply.id}]
    link(reply, LinkType.IN_REPLY_TO, letter, "executor1")  # again: nothing new
    assert len(reply.links.out) == 1


def test_a_document_is_not_linked_to_itself_or_to_another_organizations() -> None:
    letter = _register(_journal())
    with pytest.raises(LinkRefused):
        link(letter, LinkType.REPEAT_OF, letter, "clerk1")
    other = Draft(org="other-org", unit=None, created_by="x", card=_card(DocumentKind.ORDER).stored())
    with pytest.raises(LinkRefused):
        link(other, LinkType.IN_REPLY_TO, letter, "x")


# -- what the registry publishes -----------------------------------------------------------------------------------
def test_a_registration_is_published_with_the_whole_card() -> None:
    card = _card(sheets=2, urgency="urgent", access="ДСП", delivery_channel="email", received_date=TODAY)
    document = _register(_journal(), card)
    (registered,) = document.collect_events()
    outgoing = to_contract(registered)
    assert outgoing is not None
    assert outgoing.topic == REGISTRY_DOCUMENT
    payload = outgoing.payload
    assert isinstance(payload, DocumentRegistered)
    assert (payload.document_id, payload.reg_number, payload.case_index) == (document.id, "01-10/1", "01-10")
    assert (payload.urgency.value, payload.access, payload.sheets) == ("urgent", "ДСП", 2)
    assert (payload.delivery_channel, payload.received_date) == ("email", TODAY)


def test_a_draft_is_published_as_drafted_revised_and_registered() -> None:
    draft = _draft(title="Ответ Росстату")
    draft.revise("executor1", {"title": "Ответ Росстату (исправлено)"}, version=2)
    _sign(draft)
    created, revised, registered = (to_contract(e) for e in draft.collect_events())
    assert created is not None
    assert isinstance(created.payload, DocumentDrafted)
    assert (created.payload.author, created.payload.kind) == ("executor1", "outgoing_letter")
    assert created.payload.signer is not None
    assert created.payload.signer.login == "petrov"
    assert revised is not None
    assert isinstance(revised.payload, DraftRevised)
    assert (revised.payload.version, revised.payload.changed) == (2, ["title"])
    assert registered is not None
    assert isinstance(registered.payload, DocumentRegistered)
    assert registered.payload.title == "Ответ Росстату (исправлено)"
    assert (registered.payload.reg_number, registered.payload.draft_version) == ("01-12/1-исх", 2)
    assert registered.payload.addressee == "Министерство финансов РФ"


def test_a_link_is_published_once_from_the_end_that_points() -> None:
    letter, reply = _register(_journal()), _draft()
    letter.collect_events()
    reply.collect_events()
    link(reply, LinkType.IN_REPLY_TO, letter, "executor1")
    (linked,) = (to_contract(e) for e in reply.collect_events())
    assert linked is not None
    assert isinstance(linked.payload, DocumentLinked)
    assert (linked.payload.document_id, linked.payload.target_id) == (reply.id, letter.id)
    assert [to_contract(e) for e in letter.collect_events()] == [None]  # LinkedFrom stays inside


def test_a_grant_replaces_an_earlier_one_and_is_published_for_every_services_read_rule() -> None:
    """Decree No. 1233 of 03.11.1994: a ДСП document is read by the head's permission; the grant is an event on the
    card (its history shows it), published for the read rule of every service."""
    for card in (_register(_journal(), _card(access="ДСП")), _draft(access="ДСП")):
        card.collect_events()
        card.grant_access(org=ORG, grantee="auditor", grantee_org=ORG, by="boss", reason="проверка")
        card.grant_access(org=ORG, grantee="auditor", grantee_org=ORG, by="boss", reason="проверка", until=TODAY)
        assert list(card.grants.values()) == [
            {"login": "auditor", "org": ORG, "by": "boss", "reason": "проверка", "until": TODAY, "granted_at": None}
        ]
        card.revoke_access(org=ORG, grantee="auditor", grantee_org=ORG, by="boss", reason="проверка окончена")
        assert card.grants == {}
        granted, regranted, revoked = (to_contract(e) for e in card.collect_events())
        assert granted is not None
        assert regranted is not None
        assert revoked is not None
        assert isinstance(regranted.payload, AccessGranted)
        assert regranted.topic == REGISTRY_DOCUMENT
        assert (regranted.payload.document_id, regranted.payload.org, regranted.payload.grantee) == (
            card.id,
            ORG,
            "auditor",
        )
        assert (regranted.payload.grantee_org, regranted.payload.by, regranted.payload.until) == (ORG, "boss", TODAY)
        assert isinstance(revoked.payload, AccessRevoked)
        assert (revoked.payload.grantee, revoked.payload.reason) == ("auditor", "проверка окончена")


def test_journal_events_stay_inside_the_registry() -> None:
    journal = _journal()
    _register(journal)
    assert [to_contract(e) for e in journal.collect_events()] == [None, None]


# -- who a card names --------------------------------------------------------------------------------------------------
def test_a_card_names_its_clerk_and_people_as_the_shared_read_rule_does_decree_1233() -> None:
    """Those a ДСП document is for (Decree No. 1233 of 03.11.1994) include the clerk who registered it and the
    people on its card: the registry answers them from the card itself, before the rule's facts catch up."""
    document = _register(_journal(DocumentKind.GOVERNOR_ASSIGNMENT), _card(DocumentKind.GOVERNOR_ASSIGNMENT))
    assert document.named_logins() == {"clerk1", "petrov"}

    draft = _draft(DocumentKind.OUTGOING_LETTER)
    assert draft.named_logins() == {"executor1", "Министерство финансов РФ", "petrov"}
    _sign(draft)
    assert "head1" in draft.named_logins()
