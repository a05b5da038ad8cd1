"""Approval and signing of drafts, distribution and the paper original, through routing's HTTP API on a real
PostgreSQL.

Sources: DOMAIN.md "What the system must do" (1: documents approved at every stage, approval can run in parallel;
3: distribute documents electronically and always know where a document and its paper original are), "The 15
processes" (1-5, 14: drafts approved and signed), "Deadlines" (approving the draft 3 days, signing 1 day; outgoing
documents are registered on the day of signing: the registry numbers a draft when it hears DocumentSigned).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edms_contracts import DocumentSigned
from edms_contracts.control import CalendarCorrected
from edms_contracts.routing import (
    ApprovalDecided,
    DistributionAcknowledged,
    DocumentDistributed,
    OriginalMoved,
    StageCompleted,
    StageStarted,
)
from edms_contracts.topics import CONTROL_CARD
from edms_runtime.calendar import ProductionCalendar
from runtime.tests.records import published
from services.routing.tests.desk import TODAY, Desk, running_desk

Headers = dict[str, str]


@pytest.fixture
def desk(fresh_database_url: str, tmp_path: Path) -> Iterator[Desk]:
    with running_desk(fresh_database_url, tmp_path) as desk:
        yield desk


@pytest.fixture
def people(desk: Desk) -> dict[str, Headers]:
    desk.unit("01")
    return {
        login: desk.person(login, *roles, full_name=name)
        for login, roles, name in [
            ("author", ("executor",), "Сидоров С. С."),
            ("petrov", ("head",), "Петров П. П."),
            ("a1", ("executor",), "Первый"),
            ("a2", ("executor",), "Второй"),
            ("a3", ("executor",), "Третий"),
            ("lawyer", ("executor",), "Юрист"),
            ("clerk1", ("clerk",), "Делопроизводитель"),
        ]
    }


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return body


def _decide(desk: Desk, who: Headers, document: uuid.UUID, decision: str, **more: Any) -> Any:
    return desk.post(f"/documents/{document}/approval/decisions", who, {"decision": decision, **more})


def _tasks(desk: Desk, who: Headers) -> list[tuple[str, str | None]]:
    return [(t["task"], t["stage"]) for t in desk.inbox(who)]


def test_parallel_approval_then_signing_makes_the_registry_number_it(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.draft("author", signer="petrov")
    route = desk.get(f"/documents/{document}/route", people["author"]).json()
    assert (route["current_stage"], route["participants"]) == ("approval", [])  # waits for its author
    _problem(desk.post(f"/documents/{document}/approval", people["a1"], {"approvers": ["a1", "a2"]}), 403)
    _problem(desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1", "ghost"]}), 422,
             "approvers[1]")  # fmt: skip
    sent = desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1", "a2"]})
    assert sent.status_code == 201, sent.text
    assert sent.json()["waiting_for"] == ["a1", "a2"]
    (started,) = desk.events(StageStarted)
    assert (started["stage"], started["mode"], started["participants"]) == ("approval", "parallel", ["a1", "a2"])
    assert started["deadline"] == "2026-12-02"  # 3 working days from Friday (DOMAIN.md stage norm)
    assert _tasks(desk, people["a1"]) == [("approve", "approval")] == _tasks(desk, people["a2"])
    _problem(_decide(desk, people["a3"], document, "approve"), 403)  # not an approver
    assert _decide(desk, people["a1"], document, "approve_with_remarks", remarks="Уточнить цифры").status_code == 201
    _problem(_decide(desk, people["a1"], document, "approve"), 409)  # deciding twice
    assert _tasks(desk, people["a1"]) == []
    route = _decide(desk, people["a2"], document, "approve").json()
    assert (route["current_stage"], route["participants"]) == ("signing", ["petrov"])
    assert _tasks(desk, people["petrov"]) == [("sign", "signing")]
    _problem(desk.post(f"/documents/{document}/sign", people["author"]), 403)
    signed = desk.post(f"/documents/{document}/sign", people["petrov"])
    assert signed.status_code == 200, signed.text
    assert (signed.json()["current_stage"], signed.json()["signed_by"]) == ("dispatch", "petrov")
    (event,) = desk.events(DocumentSigned)
    assert event == {
        "document_id": str(document),
        "signed_by": "petrov",
        "signer_name": "Петров П. П.",
        "signer_position": "специалист",
    }
    assert [e["outcome"] for e in desk.events(StageCompleted)] == ["approved", "signed"]
    _problem(desk.post(f"/documents/{document}/sign", people["petrov"]), 409)


def test_a_rejection_returns_the_draft_and_a_new_version_restarts_approval(
    desk: Desk, people: dict[str, Headers]
) -> None:
    """Reject: back to the author with reasons; the new version is approved again, earlier decisions kept."""
    document = desk.draft("author", signer="petrov")
    desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1", "a2"]})
    _problem(_decide(desk, people["a1"], document, "reject"), 422, "remarks")
    route = _decide(desk, people["a1"], document, "reject", remarks="Нет ссылки на закон").json()
    assert (route["current_stage"], route["participants"], route["waiting_for"]) == ("approval", [], [])
    assert _tasks(desk, people["a2"]) == []  # one rejection completes the stage
    _problem(_decide(desk, people["a2"], document, "approve"), 409)
    desk.revise(document, 2)
    route = desk.get(f"/documents/{document}/route", people["author"]).json()
    assert (route["draft_version"], route["waiting_for"]) == (2, ["a1", "a2"])
    assert [(d["approver"], d["decision"], d["draft_version"]) for d in route["decisions"]] == [("a1", "reject", 1)]
    desk.revise(document, 2)  # a redelivered revision restarts nothing
    assert desk.get(f"/documents/{document}/route", people["author"]).json()["version"] == route["version"]
    assert [e["draft_version"] for e in desk.events(StageStarted)] == [1, 2]
    for who in ("a1", "a2"):
        _decide(desk, people[who], document, "approve")
    assert desk.get(f"/documents/{document}/route", people["author"]).json()["current_stage"] == "signing"


def test_stage_norms_count_the_regions_working_days_as_control_corrects_the_calendar(
    desk: Desk, people: dict[str, Headers]
) -> None:
    """DOMAIN.md "Deadlines": approving a draft takes 3 working days, counted on the business calendar (the federal
    production calendar with the region's corrections, which control owns and publishes as CalendarCorrected)."""
    plan = {"approvers": ["a1"], "mode": "parallel"}
    first = desk.draft("author", signer="petrov")
    assert TODAY.isoformat() == "2026-11-27"  # a Friday: Monday 30, Tuesday 1, Wednesday 2 December
    assert desk.post(f"/documents/{first}/approval", people["author"], plan).json()["deadline"] == "2026-12-02"
    correction = CalendarCorrected(
        calendar_id=uuid.uuid4(), year=2026, version=1, days_off=[datetime(2026, 12, 1).date()], working_days=[],
        reason="региональный выходной", by="admin",
    )  # fmt: skip
    desk.feed(published(correction, correction.calendar_id, CONTROL_CARD))
    older = correction.model_copy(update={"version": 0, "days_off": []})  # an older version redelivered: no effect
    desk.feed(published(older, older.calendar_id, CONTROL_CARD, version=2))
    second = desk.draft("author", signer="petrov")
    assert desk.post(f"/documents/{second}/approval", people["author"], plan).json()["deadline"] == "2026-12-03"
    (started,) = [e for e in desk.events(StageStarted) if e["document_id"] == str(second)]
    assert started["deadline"] == "2026-12-03"


def test_sequential_approval_asks_in_order_delegation_and_an_approver_added(
    desk: Desk, people: dict[str, Headers]
) -> None:
    document = desk.draft("author", signer="petrov")
    body = {"approvers": ["a1", "a2"], "mode": "sequential"}
    assert desk.post(f"/documents/{document}/approval", people["author"], body).json()["waiting_for"] == ["a1"]
    assert _tasks(desk, people["a2"]) == []
    _problem(_decide(desk, people["a2"], document, "approve"), 409)  # not a2's turn yet
    _problem(_decide(desk, people["a1"], document, "delegate"), 422, "delegate_to")
    _problem(_decide(desk, people["a1"], document, "delegate", delegate_to="ghost"), 422, "delegate_to")
    route = _decide(desk, people["a1"], document, "delegate", delegate_to="a3").json()
    assert route["waiting_for"] == ["a3"]
    assert (_tasks(desk, people["a1"]), _tasks(desk, people["a3"])) == ([], [("approve", "approval")])
    _problem(desk.post(f"/documents/{document}/approval/approvers", people["a3"], {"login": "lawyer"}), 403)
    added = desk.post(f"/documents/{document}/approval/approvers", people["author"], {"login": "lawyer"})
    assert added.json()["participants"] == ["a3", "a2", "lawyer"]
    assert _tasks(desk, people["lawyer"]) == []  # a sequential stage: after the others
    _decide(desk, people["a3"], document, "approve")
    assert _tasks(desk, people["a2"]) == [("approve", "approval")]
    # each approver's own deadline: 3 working days from when their turn came (the stage's is 3 per approver)
    (task,) = desk.inbox(people["a2"])
    assert task["deadline"] == ProductionCalendar().add_working_days(datetime.now(UTC).date(), 3).isoformat()
    assert added.json()["deadline"] == ProductionCalendar().add_working_days(TODAY, 6).isoformat()
    _decide(desk, people["a2"], document, "approve")
    assert _tasks(desk, people["lawyer"]) == [("approve", "approval")]
    assert _decide(desk, people["lawyer"], document, "approve").json()["current_stage"] == "signing"
    decisions = [(e["approver"], e["decision"], e["delegate_to"]) for e in desk.events(ApprovalDecided)]
    assert decisions == [
        ("a1", "delegate", "a3"),
        ("a3", "approve", None),
        ("a2", "approve", None),
        ("lawyer", "approve", None),
    ]


def test_a_draft_without_a_signer_cannot_be_sent(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.draft("author", signer=None)
    _problem(desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1"]}), 422, "signer")
    assert desk.events(StageStarted) == []


def test_a_quorum_completes_a_parallel_stage(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.draft("author", signer="petrov")
    _problem(desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1"], "quorum": 2}), 422,
             "quorum")  # fmt: skip
    desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1", "a2", "a3"], "quorum": 2})
    _decide(desk, people["a1"], document, "approve")
    assert _decide(desk, people["a3"], document, "approve").json()["current_stage"] == "signing"
    assert _tasks(desk, people["a2"]) == []


def _decide_at_once(desk: Desk, people: dict[str, Headers], document: uuid.UUID) -> dict[str, int]:
    """a1 approves and a2 rejects at the same moment (HTTP requests on two threads)."""
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def decide(who: str, decision: str) -> None:
        barrier.wait()
        body = {"decision": decision, "remarks": "нет"}
        path = f"/documents/{document}/approval/decisions"
        answers[who] = desk.http.post(path, headers=people[who], json=body).status_code

    threads = [
        threading.Thread(target=decide, args=("a1", "approve")),
        threading.Thread(target=decide, args=("a2", "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    desk.pump()
    return answers


def test_concurrent_decisions_on_one_stage_end_in_one_outcome(desk: Desk, people: dict[str, Headers]) -> None:
    """Two approvers decide at the same moment, one approving and one rejecting: every decision is judged on the
    stage as the other left it, so the stage completes once, rejected (approve-then-reject, or reject-then-409)."""
    for attempt in range(3):
        document = desk.draft("author", signer="petrov")
        desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1", "a2"]})
        answers = _decide_at_once(desk, people, document)
        assert answers in ({"a1": 201, "a2": 201}, {"a1": 409, "a2": 201}), (attempt, answers)
        completed = [e for e in desk.events(StageCompleted) if e["document_id"] == str(document)]
        assert [e["outcome"] for e in completed] == ["rejected"], attempt


def test_distribution_who_received_opened_acknowledged(desk: Desk, people: dict[str, Headers]) -> None:
    desk.unit("02")
    desk.person("u2", "executor", unit="02")
    document = desk.letter()
    recipients = ["unit:02", "person:a1", "external:Росстат"]
    _problem(desk.post(f"/documents/{document}/distributions", people["clerk1"], {"recipients": ["unit:99"]}), 422,
             "recipients[0]")  # fmt: skip
    _problem(desk.post(f"/documents/{document}/distributions", people["clerk1"], {"recipients": ["a1"]}), 422,
             "recipients.0")  # fmt: skip
    created = desk.post(f"/documents/{document}/distributions", people["clerk1"], {"recipients": recipients})
    assert created.status_code == 201, created.text
    path = f"/distributions/{created.json()['id']}/acknowledgements"
    assert desk.post(path, people["a1"], {"step": "received"}).status_code == 201
    assert desk.post(path, people["a1"], {"step": "opened"}).status_code == 201
    _problem(desk.post(path, people["a1"], {"step": "opened"}), 409)
    _problem(desk.post(path, people["a2"], {"step": "received"}), 403)  # not a recipient
    _problem(desk.post(path, people["a1"], {"step": "received", "recipient": "unit:02"}), 403)  # not of unit 02
    u2 = desk.token("u2", "executor", unit="02")
    assert desk.post(path, u2, {"step": "acknowledged", "recipient": "unit:02"}).status_code == 201
    view = desk.post(path, people["clerk1"], {"step": "received", "recipient": "external:Росстат"}).json()
    assert view["recipients"] == [
        {"recipient": "unit:02", "acknowledged": TODAY.isoformat()},
        {"recipient": "person:a1", "received": TODAY.isoformat(), "opened": TODAY.isoformat()},
        {"recipient": "external:Росстат", "received": TODAY.isoformat()},
    ]
    (distributed,) = desk.events(DocumentDistributed)
    assert distributed["recipients"] == recipients
    assert [(e["recipient"], e["step"]) for e in desk.events(DistributionAcknowledged)] == [
        ("person:a1", "received"),
        ("person:a1", "opened"),
        ("unit:02", "acknowledged"),
        ("external:Росстат", "received"),
    ]


def test_the_signed_drafts_distribution_completes_its_route(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.draft("author", signer="petrov", kind="internal")
    desk.post(f"/documents/{document}/approval", people["author"], {"approvers": ["a1"]})
    _decide(desk, people["a1"], document, "approve")
    desk.post(f"/documents/{document}/sign", people["petrov"])
    desk.post(f"/documents/{document}/distributions", people["author"], {"recipients": ["unit:01"]})
    route = desk.get(f"/documents/{document}/route", people["author"]).json()
    assert (route["current_stage"], route["closed"]) == ("distribution", True)


def test_the_paper_original_has_a_full_trail(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    assert desk.get(f"/documents/{document}/original", people["clerk1"]).json()["holder"] is None
    _problem(desk.put(f"/documents/{document}/original", people["clerk1"], {"holder": "ghost"}), 422, "holder")
    desk.put(f"/documents/{document}/original", people["clerk1"], {"holder": "a1", "note": "на исполнение"})
    _problem(desk.put(f"/documents/{document}/original", people["a1"], {"holder": "a1"}), 409)
    view = desk.put(f"/documents/{document}/original", people["a1"], {"holder": "archive"}).json()
    assert view["holder"] == "archive"
    assert [(e["holder"], e["handed_by"], e["since"]) for e in view["trail"]] == [
        ("a1", "clerk1", TODAY.isoformat()),
        ("archive", "a1", TODAY.isoformat()),
    ]
    assert [e["holder"] for e in desk.events(OriginalMoved)] == ["a1", "archive"]
    assert {e["document_id"] for e in desk.events(OriginalMoved)} == {str(document)}
