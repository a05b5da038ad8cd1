"""The shared read rule derived from events, tested once as a table (issue 12, item 3): `access_may_read`, the one
implementation every service uses, on facts built by the very handlers every service's consumer runs.

Sources of the rule: DOMAIN.md (who works on a document: addressees, route participants, executors, controllers,
heads up the unit tree), Decree No. 1233 of 03.11.1994 (ДСП: only those it is for and those admitted), the
Instruction on records management (a head answers for the units below; an acting head — врио — for the dates of
the delegation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from edms_contracts import directory as d
from edms_contracts import routing as r
from edms_contracts.envelope import Envelope
from edms_contracts.events import AccessGranted, AccessRevoked, DocumentRegistered, Event
from edms_contracts.vocabulary import Role
from edms_runtime.access import HANDLERS, AccessFacts
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.service import PLUMBING_DDL

ORG = "region"
TODAY = date(2026, 11, 27)
AFTER, BEFORE = date(2026, 12, 1), date(2026, 11, 19)
MUN = "mun-severny"
OPEN, ASSIGNED, DISTRIBUTED, GRANTED = (uuid.uuid5(uuid.NAMESPACE_URL, name) for name in ("d1", "d2", "d3", "d4"))
ENVELOPE = Envelope(
    event_id=uuid.uuid4(),
    event_type="x",
    schema_version=1,
    occurred_at=datetime.now(UTC),
    aggregate_id=uuid.uuid4(),
    aggregate_version=1,
    producer="test",
    payload={},
)


def _directory() -> list[Event]:
    """gov ── 02 ── 02-1;  gov ── 05;  gov ── 07. Heads: boss (02), sub_boss (02-1), other_boss (05), far_boss (07)."""
    by = {"org": ORG, "by": "admin"}
    units = [("gov", None), ("02", "gov"), ("02-1", "02"), ("05", "gov"), ("07", "gov")]
    events: list[Event] = [d.UnitCreated(unit_id=uuid.uuid4(), code=c, name=c, parent=p, **by) for c, p in units]
    positions = [("head-02", "02", True), ("head-021", "02-1", True), ("head-05", "05", True), ("head-07", "07", True)]
    positions += [("spec-021", "02-1", False), ("spec-05", "05", False)]
    events += [
        d.PositionDefined(position_id=uuid.uuid4(), code=c, title=c, unit=u, head=h, **by) for c, u, h in positions
    ]
    people = [
        ("boss", "02", "head-02", ["head"]),
        ("sub_boss", "02-1", "head-021", ["head"]),
        ("other_boss", "05", "head-05", ["head"]),
        ("far_boss", "07", "head-07", ["head"]),
        ("left_boss", "02", "head-02", ["head"]),
        ("executor1", "02-1", "spec-021", ["executor"]),
        ("clerk1", "02-1", "spec-021", ["clerk"]),
        ("clerk5", "05", "spec-05", ["clerk"]),
        ("deputy", "02-1", "spec-021", ["executor"]),
        ("revoked_deputy", "02-1", "spec-021", ["executor"]),
    ]
    events += [
        d.PersonRegistered(
            person_id=uuid.uuid4(),
            login=login,
            full_name=login,
            unit=u,
            position=p,
            roles=[Role(role) for role in roles],
            **by,
        )
        for login, u, p, roles in people
    ]
    events.append(d.PersonDeactivated(person_id=uuid.uuid4(), login="left_boss", **by))
    revoked = uuid.uuid4()
    events += [
        d.DelegationGranted(
            delegation_id=uuid.uuid4(),
            principal="boss",
            deputy="deputy",
            roles=[Role.HEAD],
            starts=date(2026, 11, 20),
            ends=date(2026, 11, 30),
            reason="leave",
            **by,
        ),
        d.DelegationGranted(
            delegation_id=revoked,
            principal="boss",
            deputy="revoked_deputy",
            roles=[Role.HEAD],
            starts=date(2026, 11, 1),
            ends=date(2026, 12, 31),
            **by,
        ),
        d.DelegationRevoked(delegation_id=revoked, **by),
    ]
    return events


def _documents() -> list[Event]:
    card: dict[str, Any] = {
        "kind": "incoming_letter",
        "journal": "in",
        "reg_date": TODAY,
        "title": "t",
        "org": ORG,
        "registered_by": "registrar",
    }
    return [
        DocumentRegistered(document_id=OPEN, reg_number="1", unit="02-1", **card),
        DocumentRegistered(document_id=ASSIGNED, reg_number="2", unit="05", access="ДСП", **card),
        r.AssignmentCreated(
            document_id=ASSIGNED,
            org=ORG,
            resolution_id=uuid.uuid4(),
            assignment_id=uuid.uuid4(),
            author="other_boss",
            executor="executor1",
            controller="controller1",
            deadline=date(2026, 12, 10),
            text="Подготовить ответ",
        ),
        DocumentRegistered(document_id=DISTRIBUTED, reg_number="3", unit="05", access="ДСП", **card),
        r.DocumentDistributed(
            document_id=DISTRIBUTED,
            org=ORG,
            distribution_id=uuid.uuid4(),
            distributed_by="clerk5",
            recipients=["unit:02-1"],
        ),
        DocumentRegistered(document_id=GRANTED, reg_number="4", unit="05", access="ДСП", **card),
        *_grants(),
    ]


def _grants() -> list[Event]:
    """Grants of the ДСП document GRANTED (the head's permission, Decree No. 1233): to `auditor` until revoked, to
    `inspector` of a municipality, to `temp` until 30 November, to `revoked` — then revoked; twice to `twice`."""
    grant: dict[str, Any] = {"document_id": GRANTED, "org": ORG, "by": "boss", "reason": "разрешение руководителя"}
    return [
        AccessGranted(grantee="auditor", grantee_org=ORG, **grant),
        AccessGranted(grantee="inspector", grantee_org=MUN, **grant),
        AccessGranted(grantee="temp", grantee_org=ORG, until=date(2026, 11, 30), **grant),
        AccessGranted(grantee="revoked", grantee_org=ORG, **grant),
        AccessGranted(grantee="twice", grantee_org=ORG, **grant),
        AccessGranted(grantee="twice", grantee_org=ORG, **grant),  # delivered again: one grant
        AccessRevoked(document_id=GRANTED, org=ORG, grantee="revoked", grantee_org=ORG, by="boss"),
        AccessRevoked(document_id=GRANTED, org=ORG, grantee="revoked", grantee_org=ORG, by="boss"),  # again
    ]


@pytest.fixture(scope="module")
def facts(postgres_url: str) -> Iterator[AccessFacts]:
    from urllib.parse import urlsplit

    name = f"edms_access_{uuid.uuid4().hex[:8]}"
    admin = urlsplit(postgres_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
    ensure_schema(url, "svc", PLUMBING_DDL)
    pool = make_pool(url, "svc")
    with pool.connection() as conn:
        for event in [*_directory(), *_documents()]:
            HANDLERS[type(event)](conn, ENVELOPE, event)
    yield AccessFacts(pool, today=lambda: TODAY)
    pool.close()


# (case, document, reader, reader's org, reader's unit, admitted by role, day) -> may read
CASES = [
    ("open document: anyone of the organization", OPEN, "clerk5", ORG, "05", False, TODAY, True),
    ("open document: not another organization", OPEN, "clerk5", MUN, "05", False, TODAY, False),
    ("ДСП: a colleague of the executor who is not on it", ASSIGNED, "clerk1", ORG, "02-1", False, TODAY, False),
    ("ДСП: the executor", ASSIGNED, "executor1", ORG, "02-1", False, TODAY, True),
    ("ДСП: the controller", ASSIGNED, "controller1", ORG, None, False, TODAY, True),
    ("ДСП: the resolution's author", ASSIGNED, "other_boss", ORG, "05", False, TODAY, True),
    ("ДСП: the head of the executor's unit", ASSIGNED, "sub_boss", ORG, "02-1", False, TODAY, True),
    ("ДСП: the head above the executor's unit", ASSIGNED, "boss", ORG, "02", False, TODAY, True),
    ("ДСП: the head of another branch", ASSIGNED, "far_boss", ORG, "07", False, TODAY, False),
    ("ДСП: the acting head within the delegation's dates", ASSIGNED, "deputy", ORG, "02-1", False, TODAY, True),
    (
        "ДСП: the acting head after the delegation ended",
        ASSIGNED,
        "deputy",
        ORG,
        "02-1",
        False,
        date(2026, 12, 1),
        False,
    ),
    (
        "ДСП: the acting head before the delegation began",
        ASSIGNED,
        "deputy",
        ORG,
        "02-1",
        False,
        date(2026, 11, 19),
        False,
    ),
    ("ДСП: a revoked delegation", ASSIGNED, "revoked_deputy", ORG, "02-1", False, TODAY, False),
    ("ДСП: a head who left", ASSIGNED, "left_boss", ORG, "02", False, TODAY, False),
    ("ДСП: admitted by role (Decree 1233 admission list)", ASSIGNED, "clerk1", ORG, "02-1", True, TODAY, True),
    (
        "ДСП: admitted by role, but of another organization",
        ASSIGNED,
        "clerk1",
        "mun-severny",
        "02-1",
        True,
        TODAY,
        False,
    ),
    ("ДСП: a member of the unit it was distributed to", DISTRIBUTED, "clerk1", ORG, "02-1", False, TODAY, True),
    ("ДСП: a member of another unit", DISTRIBUTED, "clerk5", ORG, "05", False, TODAY, False),
    ("ДСП: the clerk who registered it", DISTRIBUTED, "registrar", ORG, "01", False, TODAY, True),
    ("ДСП: the head of the registering unit", DISTRIBUTED, "other_boss", ORG, "05", False, TODAY, True),
    ("ДСП: an explicit grant", GRANTED, "auditor", ORG, None, False, TODAY, True),
    ("ДСП: a grant is for its organization only", GRANTED, "auditor", MUN, None, False, TODAY, False),
    ("ДСП: a grant to a person of another organization", GRANTED, "inspector", MUN, None, False, TODAY, True),
    ("ДСП: not granted", GRANTED, "clerk1", ORG, "02-1", False, TODAY, False),
    ("ДСП: a grant on its last day", GRANTED, "temp", ORG, None, False, date(2026, 11, 30), True),
    ("ДСП: a grant after its last day", GRANTED, "temp", ORG, None, False, AFTER, False),
    ("ДСП: a revoked grant (the revocation delivered twice)", GRANTED, "revoked", ORG, None, False, TODAY, False),
    ("ДСП: a grant delivered twice", GRANTED, "twice", ORG, None, False, TODAY, True),
    ("an unknown document: no one", uuid.uuid4(), "boss", ORG, "02", True, TODAY, False),
]


@pytest.mark.parametrize(
    ("document", "login", "org", "unit", "admitted", "day", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_read_rule(
    facts: AccessFacts,
    document: uuid.UUID,
    login: str,
    org: str,
    unit: str | None,
    admitted: bool,
    day: date,
    expected: bool,
) -> None:
    facts.today = lambda: day
    try:
        assert facts.may_read(document, login, org, unit, admitted) is expected
    finally:
        facts.today = lambda: TODAY


def test_roles_from_the_directory_with_delegations_for_their_dates(facts: AccessFacts) -> None:
    assert facts.directory_roles(ORG, "deputy") == (frozenset({"executor", "head"}), ("boss",))
    assert facts.directory_roles(ORG, "revoked_deputy") == (frozenset({"executor"}), ())
    assert facts.directory_roles(ORG, "left_boss") == (frozenset(), ())
    assert facts.directory_roles("mun-severny", "boss") == (frozenset(), ())
    later = AccessFacts(facts.pool, today=lambda: date(2026, 12, 1))
    assert later.directory_roles(ORG, "deputy") == (frozenset({"executor"}), ())
