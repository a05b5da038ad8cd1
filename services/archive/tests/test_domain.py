"""File plan, cases and filings (pure).

Sources: DOMAIN.md "Archive" — a file plan (номенклатура дел) of cases with an index, title, retention period and the
article of the standard list; a case is opened per year. Rules of organising the storage of archival documents
(Order of Rosarchiv No. 77 of 31.07.2023); List of standard archival documents with retention periods (Order of
Rosarchiv No. 236 of 20.12.2019).
"""

from __future__ import annotations

import uuid

import pytest

from edms_archive.domain import FILE_PLAN, KIND_DEFAULTS, Case, Filing, NoCaseForDocument, plan_item_for
from edms_archive.publishes import to_contract
from edms_contracts import CaseOpened, DocumentFiled, DocumentKind
from edms_contracts.topics import ARCHIVE_FILING

#: DOMAIN.md "Archive": the retention periods of the standard list.
RETENTION_PERIODS = {
    "permanent",
    "75 years",
    "50 years ЭПК",
    "10 years ЭПК",
    "5 years ЭПК",
    "5 years",
    "3 years",
    "1 year",
    "until no longer needed",
}


def test_file_plan_items_carry_index_title_retention_and_article() -> None:
    """DOMAIN.md "Archive": cases with an index, title, retention period and the article of the standard list."""
    for index, item in FILE_PLAN.items():
        assert item.index == index
        assert item.title
        assert item.retention in RETENTION_PERIODS, f"{index}: {item.retention!r} is not a period of the list"
        assert item.article


def test_orders_on_main_activity_are_kept_permanently() -> None:
    """Order No. 236 of 20.12.2019, art. 19а: orders on the main activity are kept permanently."""
    assert plan_item_for("01-03", "order").retention == "permanent"
    assert plan_item_for("01-03", "order").article == "19а"


# -- which case --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", sorted(FILE_PLAN))
def test_plan_item_by_case_index(index: str) -> None:
    """The card names the case index of its journal; the document is filed there."""
    assert plan_item_for(index, "anything") is FILE_PLAN[index]


def test_the_case_index_wins_over_the_kind() -> None:
    assert plan_item_for("01-20", "incoming_letter").index == "01-20"


@pytest.mark.parametrize(
    ("kind", "index"),
    [
        ("order", "01-03"),
        ("incoming_letter", "01-10"),
        ("outgoing_letter", "01-12"),
        ("internal", "01-14"),
        ("citizen_appeal", "01-20"),
    ],
)
@pytest.mark.parametrize("case_index", [None, "99-99"], ids=["no-index", "index-not-in-plan"])
def test_plan_item_falls_back_to_the_kind(kind: str, index: str, case_index: str | None) -> None:
    """Older producers send no case index (or one the plan no longer has): the kind decides."""
    assert plan_item_for(case_index, kind).index == index


def test_every_kind_default_is_in_the_plan() -> None:
    assert set(KIND_DEFAULTS.values()) <= set(FILE_PLAN)


def test_every_document_kind_of_the_contracts_has_a_default_case() -> None:
    """A kind added to the shared vocabulary without a case of the plan would dead-letter its registrations."""
    assert set(DocumentKind) <= set(KIND_DEFAULTS)


@pytest.mark.parametrize(("case_index", "kind"), [(None, "postcard"), ("99-99", "postcard"), ("", "")])
def test_unknown_index_and_kind_raise_no_case(case_index: str | None, kind: str) -> None:
    with pytest.raises(NoCaseForDocument) as caught:
        plan_item_for(case_index, kind)
    assert repr(case_index) in str(caught.value)
    assert repr(kind) in str(caught.value)


# -- cases and filings -------------------------------------------------------------------------------------------------
def test_case_id_is_one_per_org_index_and_year() -> None:
    """DOMAIN.md "Archive": a case is opened per year (and per organization)."""
    base = Case.create_id("org-a", "01-10", 2026)
    assert Case.create_id("org-a", "01-10", 2026) == base
    assert Case.create_id("org-b", "01-10", 2026) != base
    assert Case.create_id("org-a", "01-12", 2026) != base
    assert Case.create_id("org-a", "01-10", 2027) != base


def test_a_case_gets_its_deterministic_id() -> None:
    """Two consumers opening the year's case at once collide on one aggregate, so the case exists once."""
    item = FILE_PLAN["01-10"]
    case = Case("org-a", item.index, 2026, item.title, item.retention, item.article)
    assert case.id == Case.create_id("org-a", "01-10", 2026)
    assert (case.year, case.retention, case.article) == (2026, "5 years ЭПК", "27")


def test_filing_id_is_one_per_document() -> None:
    document = uuid.uuid4()
    assert Filing.create_id(document) == Filing.create_id(document)
    assert Filing.create_id(document) != Filing.create_id(uuid.uuid4())


def test_case_and_filing_are_published() -> None:
    item = FILE_PLAN["01-10"]
    case = Case("org-a", item.index, 2026, item.title, item.retention, item.article)
    document = uuid.uuid4()
    filing = Filing(
        document_id=document,
        org="org-a",
        case_id=case.id,
        case_index=item.index,
        case_title=item.title,
        year=2026,
        retention=item.retention,
    )
    assert filing.id == Filing.create_id(document)
    (opened,) = case.collect_events()
    (filed,) = filing.collect_events()
    opened_out, filed_out = to_contract(opened), to_contract(filed)
    assert opened_out is not None
    assert filed_out is not None
    assert opened_out.topic == filed_out.topic == ARCHIVE_FILING
    assert opened_out.payload == CaseOpened(
        case_id=case.id, index="01-10", title=item.title, year=2026, retention="5 years ЭПК", org="org-a", article="27"
    )
    assert filed_out.payload == DocumentFiled(
        filing_id=filing.id,
        document_id=document,
        case_id=case.id,
        case_index="01-10",
        case_title=item.title,
        year=2026,
        retention="5 years ЭПК",
        org="org-a",
    )
