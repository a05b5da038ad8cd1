"""What the read rule needs from a filing: its document's organization and access restriction mark (in memory).

The rule (edms_runtime.auth.Principal.may_read): a card of one's own organization, and a card with an access
restriction mark (ДСП) only for those admitted to it — Regulation on handling official information of limited
distribution, Decree of the Government of the RF No. 1233 of 03.11.1994. A filing answers as its document does.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from edms_archive.application import ArchiveApplication, FilingNotFound
from edms_archive.domain import FILE_PLAN, Case, Filing
from edms_runtime.auth import Principal, readable

ORG = "demo-region"
YEAR = 2026


def _person(org: str = ORG, *roles: str) -> Principal:
    return Principal(sub="u1", org=org, unit="01", roles=frozenset(roles or ("clerk",)))


@pytest.fixture
def archive() -> ArchiveApplication:
    """The real application on eventsourcing's in-memory store: events go through the same mapper as in production."""
    return ArchiveApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _file(archive: ArchiveApplication, access: str | None) -> uuid.UUID:
    document = uuid.uuid4()
    archive.file_document(
        document_id=document, org=ORG, kind="incoming_letter", case_index="01-10", year=YEAR, access=access
    )
    return document


def test_filing_remembers_the_documents_org_and_access_mark(archive: ArchiveApplication) -> None:
    filing, case = archive.filing_of(_file(archive, "ДСП"))  # loaded back from the store
    assert (filing.org, filing.access) == (ORG, "ДСП")
    assert case.index == "01-10"
    assert archive.filing_of(_file(archive, None))[0].access is None


def test_filing_stored_before_the_change_still_loads_without_a_mark(archive: ArchiveApplication) -> None:
    """Filings made before the mark was kept load with none, and their organization still reads them."""
    item = FILE_PLAN["01-10"]
    case = Case(ORG, item.index, YEAR, item.title, item.retention, item.article)
    archive.save(case)
    document = uuid.uuid4()
    filing = Filing(
        document_id=document,
        org=ORG,
        case_id=case.id,
        case_index=item.index,
        case_title=item.title,
        year=YEAR,
        retention=item.retention,
    )
    (filed,) = filing.collect_events()
    stored = archive.mapper.to_stored_event(filed)
    state = archive.mapper.transcoder.decode(stored.state)
    del state["access"]  # as stored before the change
    archive.recorder.insert_events([replace(stored, state=archive.mapper.transcoder.encode(state))])
    loaded, _ = archive.filing_of(document)
    assert (loaded.org, loaded.access, loaded.case_index) == (ORG, None, "01-10")
    assert readable(_person(), loaded, or_raise=FilingNotFound(document)) is loaded


@pytest.mark.parametrize(
    ("person", "access"),
    [(_person("other-org"), None), (_person(), "ДСП"), (_person("other-org", "dsp_reader"), "ДСП")],
    ids=["other-org", "dsp-without-right", "dsp-reader-of-other-org"],
)
def test_filing_hidden_by_the_read_rule_is_not_found(
    archive: ArchiveApplication, person: Principal, access: str | None
) -> None:
    document = _file(archive, access)
    filing, _ = archive.filing_of(document)
    with pytest.raises(FilingNotFound, match=f"document {document} is not filed"):
        readable(person, filing, or_raise=FilingNotFound(document))


def test_restricted_filing_is_shown_to_the_admitted(archive: ArchiveApplication) -> None:
    document = _file(archive, "ДСП")
    filing, _ = archive.filing_of(document)
    for person in (_person(ORG, "dsp_reader"), _person(ORG, "admin")):
        assert readable(person, filing, or_raise=FilingNotFound(document)) is filing
