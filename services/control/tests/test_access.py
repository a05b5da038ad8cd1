"""What the read rule needs from a control card: its document's organization and access restriction mark (in memory).

The rule (edms_runtime.auth.Principal.may_read): a card of one's own organization, and a card with an access
restriction mark (ДСП) only for those admitted to it — Regulation on handling official information of limited
distribution, Decree of the Government of the RF No. 1233 of 03.11.1994. A control card answers as its document does.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from edms_contracts import Urgency
from edms_control.application import CardNotFound, ControlApplication
from edms_control.domain import ControlCard
from edms_runtime.auth import Principal, readable

ORG = "demo-region"
REG_DATE = date(2026, 11, 25)


def _person(org: str = ORG, *roles: str) -> Principal:
    return Principal(sub="u1", org=org, unit="01", roles=frozenset(roles or ("clerk",)))


@pytest.fixture
def control() -> ControlApplication:
    """The real application on eventsourcing's in-memory store: events go through the same mapper as in production."""
    return ControlApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _open(control: ControlApplication, access: str | None) -> uuid.UUID:
    document = uuid.uuid4()
    control.open_card(
        document_id=document, reg_number="01-10/1", reg_date=REG_DATE, org=ORG, urgency=Urgency.NONE, access=access
    )
    return document


def test_card_remembers_the_documents_org_and_access_mark(control: ControlApplication) -> None:
    card = control.card_of(_open(control, "ДСП"))  # loaded back from the store
    assert (card.org, card.access) == (ORG, "ДСП")
    assert control.card_of(_open(control, None)).access is None


def test_card_stored_before_the_change_still_loads_without_a_mark(control: ControlApplication) -> None:
    """Cards opened before the mark was kept load with none, and their organization still reads them."""
    document = uuid.uuid4()
    card = ControlCard(
        document_id=document, reg_number="01-10/1", reg_date=REG_DATE, org=ORG, deadline=REG_DATE, rule="r"
    )
    (opened,) = card.collect_events()
    stored = control.mapper.to_stored_event(opened)
    state = control.mapper.transcoder.decode(stored.state)
    del state["access"]  # as stored before the change
    control.recorder.insert_events([replace(stored, state=control.mapper.transcoder.encode(state))])
    loaded = control.card_of(document)
    assert (loaded.org, loaded.access, loaded.deadline) == (ORG, None, REG_DATE)
    assert readable(_person(), loaded, or_raise=CardNotFound(document)) is loaded


@pytest.mark.parametrize(
    ("person", "access"),
    [(_person("other-org"), None), (_person(), "ДСП"), (_person("other-org", "dsp_reader"), "ДСП")],
    ids=["other-org", "dsp-without-right", "dsp-reader-of-other-org"],
)
def test_card_hidden_by_the_read_rule_is_not_found(
    control: ControlApplication, person: Principal, access: str | None
) -> None:
    document = _open(control, access)
    with pytest.raises(CardNotFound, match=f"no control card for document {document}"):
        readable(person, control.card_of(document), or_raise=CardNotFound(document))


def test_restricted_card_is_shown_to_the_admitted(control: ControlApplication) -> None:
    document = _open(control, "ДСП")
    for person in (_person(ORG, "dsp_reader"), _person(ORG, "admin")):
        assert readable(person, control.card_of(document), or_raise=CardNotFound(document)).org == ORG
