"""The main journey through routing's HTTP API on a real PostgreSQL: resolution, execution, acceptance, parts,
extensions, "my work now" — with the role and actor checks and problem details for bad input.

Sources: DOMAIN.md "What the system must do" (2: assignments and resolutions issued electronically and their
execution controlled; "employees see all the documents and assignments they work on right now"), "The 15 processes"
(6 registering an incoming document, 11 execution, 12 deadline extension, 13 assignment), "Deadlines" (official
documents within 10 days unless another deadline is set; an extension granted before the deadline moves it, one
asked after does not).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from edms_contracts import Role, RouteStarted, encode
from edms_contracts.directory import DelegationGranted, PersonDeactivated
from edms_contracts.routing import (
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    ExtensionGranted,
    ResolutionIssued,
    StageCompleted,
)
from edms_contracts.topics import REGISTRY_DIRECTORY
from runtime.tests.records import consumer_record, published
from services.routing.tests.desk import ORG, TODAY, TOPICS, Desk, running_desk

Headers = dict[str, str]


@pytest.fixture
def desk(fresh_database_url: str, tmp_path: Path) -> Iterator[Desk]:
    with running_desk(fresh_database_url, tmp_path) as desk:
        yield desk


@pytest.fixture
def people(desk: Desk) -> dict[str, Headers]:
    desk.unit("01")
    desk.unit("02", parent="01")
    return {
        "head": desk.person("head1", "head", full_name="Иванов И. И."),
        "exec1": desk.person("exec1", "executor", unit="02"),
        "exec2": desk.person("exec2", "executor", unit="02"),
        "exec3": desk.person("exec3", "executor", unit="02"),
        "ctrl": desk.person("ctrl1", "controller"),
        "clerk": desk.person("clerk1", "clerk"),
    }


def _resolve(desk: Desk, head: Headers, document: uuid.UUID, *orders: dict[str, Any]) -> dict[str, Any]:
    response = desk.post(
        f"/documents/{document}/resolutions", head, {"text": "Подготовить ответ", "assignments": list(orders)}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return body


# -- resolution --------------------------------------------------------------------------------------------------------
def test_heads_resolution_makes_assignments_in_progress_with_the_control_deadline(
    desk: Desk, people: dict[str, Headers]
) -> None:
    """Without a deadline of its own an assignment takes the document's control deadline (issue 8, item 1)."""
    document = desk.letter(control_deadline=date(2026, 12, 7))
    body = _resolve(
        desk,
        people["head"],
        document,
        {"executor": "exec1", "co_executors": ["exec3"], "controller": "ctrl1", "deadline": "2026-12-04"},
        {"executor": "exec2"},
    )
    assert [(a["executor"], a["deadline"], a["status"]) for a in body["assignments"]] == [
        ("exec1", "2026-12-04", "in_progress"),
        ("exec2", "2026-12-07", "in_progress"),
    ]
    (issued,) = desk.events(ResolutionIssued)
    assert issued["resolution_id"] == body["id"]
    assert issued["author"] == "head1"
    assert issued["org"] == ORG
    created = desk.events(AssignmentCreated)
    assert {c["assignment_id"] for c in created} == {a["id"] for a in body["assignments"]}
    assert {c["unit"] for c in created} == {"02"}
    route = desk.get(f"/documents/{document}/route", people["head"]).json()
    assert route["current_stage"] == "execution"
    assert route["resolutions"] == [body["id"]]


def test_a_document_without_control_deadline_gives_ten_days(desk: Desk, people: dict[str, Headers]) -> None:
    """DOMAIN.md "Deadlines": official documents are executed within 10 days unless another deadline is set."""
    document = desk.letter()
    body = _resolve(desk, people["head"], document, {"executor": "exec1"})
    assert body["assignments"][0]["deadline"] == (TODAY + timedelta(days=10)).isoformat()


def test_only_a_head_of_the_documents_organization_writes_a_resolution(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    order = {"text": "x", "assignments": [{"executor": "exec1"}]}
    _problem(desk.post(f"/documents/{document}/resolutions", people["clerk"], order), 403)
    other_head = desk.token("head9", "head", org="other-org")
    _problem(desk.post(f"/documents/{document}/resolutions", other_head, order), 404)  # not revealed
    _problem(desk.post(f"/documents/{uuid.uuid4()}/resolutions", people["head"], order), 404)
    assert desk.events(ResolutionIssued) == []


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({"executor": "nobody"}, "assignments[0].executor"),
        ({"executor": "exec1", "controller": "nobody"}, "assignments[0].controller"),
        ({"executor": "exec1", "co_executors": ["exec2", "ghost"]}, "assignments[0].co_executors[1]"),
        ({"executor": "exec1", "deadline": "2026-11-26"}, "assignments[0].deadline"),
        ({"executor": "outsider"}, "assignments[0].executor"),
        ({"executor": "exec1", "deadline": "someday"}, "assignments.0.deadline"),
    ],
    ids=["unknown-executor", "unknown-controller", "unknown-co-executor", "deadline-before-today", "other-org", "bad"],
)
def test_bad_resolution_is_422_naming_the_field_and_writes_nothing(
    desk: Desk, people: dict[str, Headers], order: dict[str, Any], field: str
) -> None:
    """Issue 8 item 1: an executor or controller unknown to the organization's directory, or a deadline before
    today, is 422 naming the field; nothing is written."""
    desk.person("outsider", "executor", org="other-org")
    document = desk.letter()
    before = desk.get(f"/documents/{document}/route", people["head"]).json()["version"]
    response = desk.post(f"/documents/{document}/resolutions", people["head"], {"text": "x", "assignments": [order]})
    _problem(response, 422, field)
    assert desk.get(f"/documents/{document}/route", people["head"]).json()["version"] == before
    assert desk.events(AssignmentCreated) == []


def test_an_appeals_assignment_is_due_within_thirty_days_of_registration(
    desk: Desk, people: dict[str, Headers]
) -> None:
    """59-ФЗ art. 12 part 1: an appeal is answered within 30 days of its registration; no later deadline."""
    document = desk.letter(kind="citizen_appeal", control_deadline=date(2027, 2, 1))
    late = {"text": "x", "assignments": [{"executor": "exec1", "deadline": "2026-12-28"}]}
    body = _problem(
        desk.post(f"/documents/{document}/resolutions", people["head"], late), 422, "assignments[0].deadline"
    )
    assert "2026-12-27" in body["detail"]
    created = _resolve(desk, people["head"], document, {"executor": "exec1"})
    assert created["assignments"][0]["deadline"] == "2026-12-27"


@pytest.mark.parametrize("kind", ["governor_assignment", "plan_item"])
def test_a_governors_assignment_or_a_plan_item_starts_assignments_without_an_incoming_letter(
    desk: Desk, people: dict[str, Headers], kind: str
) -> None:
    """Processes 8 and 10: the document is the assignment itself; its route opens at the resolution stage."""
    document = desk.letter(kind=kind)
    route = desk.get(f"/documents/{document}/route", people["head"]).json()
    assert (route["process"].split("-")[0], route["current_stage"]) == ({"governor_assignment": "8"}.get(kind, "10"),
                                                                        "resolution")  # fmt: skip
    created = _resolve(desk, people["head"], document, {"executor": "exec1", "deadline": "2026-12-15"})
    assert created["assignments"][0]["status"] == "in_progress"


def test_a_clerk_puts_a_document_on_another_route_until_work_begins(desk: Desk, people: dict[str, Headers]) -> None:
    """Issue 8 item 7: an unknown template is 422 naming it; a route with work done on it is not changed (409)."""
    document = desk.letter()
    path = f"/documents/{document}/route"
    _problem(desk.put(path, people["clerk"], {"process": "99-nothing"}), 422, "process")
    _problem(desk.put(path, people["clerk"], {"process": "12-deadline-extension"}), 422, "process")  # no kind
    _problem(desk.put(path, people["exec1"], {"process": "15-citizen-appeal"}), 403)
    route = desk.put(path, people["clerk"], {"process": "15-citizen-appeal"}).json()
    assert (route["process"], route["stages"], route["current_stage"]) == (
        "15-citizen-appeal",
        ["resolution", "execution", "answer"],
        "resolution",
    )
    assert [p["process"] for p in desk.events(RouteStarted)] == ["6-incoming-registration", "15-citizen-appeal"]
    assert [t["task"] for t in desk.inbox(people["head"])] == ["resolve"]  # one task, not one per route
    _resolve(desk, people["head"], document, {"executor": "exec1"})
    _problem(desk.put(path, people["clerk"], {"process": "6-incoming-registration"}), 409)


def test_a_deactivated_person_gets_no_new_work(desk: Desk, people: dict[str, Headers]) -> None:
    person = uuid.uuid5(uuid.NAMESPACE_URL, f"{ORG}/exec2")
    desk.feed(
        published(
            PersonDeactivated(org=ORG, by="admin", person_id=person, login="exec2"), person, REGISTRY_DIRECTORY, 2
        )
    )
    document = desk.letter()
    response = desk.post(
        f"/documents/{document}/resolutions", people["head"], {"text": "x", "assignments": [{"executor": "exec2"}]}
    )
    assert "has left" in _problem(response, 422, "assignments[0].executor")["detail"]


# -- execution ---------------------------------------------------------------------------------------------------------
def test_executor_reports_controller_accepts(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    (assignment,) = _resolve(desk, people["head"], document, {"executor": "exec1", "controller": "ctrl1"})[
        "assignments"
    ]
    path = f"/assignments/{assignment['id']}"
    report = {"text": "Сведения направлены", "attachments": ["a" * 64]}
    _problem(desk.post(f"{path}/report", people["exec2"], report), 403)  # only the executor reports
    response = desk.post(f"{path}/report", people["exec1"], report)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "reported"
    _problem(desk.post(f"{path}/report", people["exec1"], report), 409)  # reported already
    _problem(desk.post(f"{path}/accept", people["head"]), 403)  # a controller was named: only they accept
    _problem(desk.post(f"{path}/accept", people["exec1"]), 403)
    accepted = desk.post(f"{path}/accept", people["ctrl"])
    assert accepted.status_code == 200, accepted.text
    view = desk.get(path, people["exec1"]).json()
    assert (view["status"], view["done_on"], view["controller"]) == ("done", TODAY.isoformat(), "ctrl1")
    assert [r["text"] for r in view["reports"]] == ["Сведения направлены"]
    _problem(desk.post(f"{path}/report", people["exec1"], report), 409)  # a report on a closed assignment
    _problem(desk.post(f"{path}/accept", people["ctrl"]), 409)  # deciding twice
    stranger = desk.token("exec9", "executor", org="other-org")
    assert _problem(desk.get(path, stranger), 404)["detail"] == f"no assignment {assignment['id']}"
    _problem(desk.get(f"/assignments/{uuid.uuid4()}", people["exec1"]), 404)
    (reported,) = desk.events(AssignmentReported)
    assert reported["attachments"] == ["a" * 64]
    assert reported["reported_on"] == TODAY.isoformat()
    (done,) = desk.events(AssignmentAccepted)
    assert done == {**done, "accepted_by": "ctrl1", "done_on": TODAY.isoformat(), "document_id": str(document)}


def test_the_author_accepts_when_there_is_no_controller_and_returns_for_more_work(
    desk: Desk, people: dict[str, Headers]
) -> None:
    document = desk.letter()
    (assignment,) = _resolve(desk, people["head"], document, {"executor": "exec1"})["assignments"]
    path = f"/assignments/{assignment['id']}"
    _problem(desk.post(f"{path}/return", people["head"], {"reason": "рано"}), 409)  # nothing reported yet
    desk.post(f"{path}/report", people["exec1"], {"text": "готово"})
    _problem(desk.post(f"{path}/return", people["head"], {}), 422, "reason")
    returned = desk.post(f"{path}/return", people["head"], {"reason": "Нет данных по району"})
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "in_progress"
    assert returned.json()["returns"] == [{"by": "head1", "reason": "Нет данных по району"}]
    desk.post(f"{path}/report", people["exec1"], {"text": "дополнено"})
    assert desk.post(f"{path}/accept", people["head"]).json()["status"] == "done"
    route = desk.get(f"/documents/{document}/route", people["head"]).json()
    assert (route["current_stage"], route["closed"]) == ("completion", True)
    assert [e["stage"] for e in desk.events(StageCompleted)] == ["resolution", "execution"]


def test_parts_of_an_assignment_and_the_parents_rule(desk: Desk, people: dict[str, Headers]) -> None:
    """Process 13: the executor re-assigns parts; the parent is done only when all parts are (the template's rule)."""
    document = desk.letter()
    (parent,) = _resolve(desk, people["head"], document, {"executor": "exec1", "deadline": "2026-12-10"})["assignments"]
    path = f"/assignments/{parent['id']}"
    parts = {"text": "Собрать по районам", "assignments": [{"executor": "exec2"}, {"executor": "exec3"}]}
    _problem(desk.post(f"{path}/assignments", people["exec2"], parts), 403)
    late = {"text": "x", "assignments": [{"executor": "exec2", "deadline": "2026-12-11"}]}
    _problem(desk.post(f"{path}/assignments", people["exec1"], late), 422, "deadline")
    created = desk.post(f"{path}/assignments", people["exec1"], parts)
    assert created.status_code == 201, created.text
    children = created.json()["assignments"]
    assert [(c["executor"], c["deadline"]) for c in children] == [("exec2", "2026-12-10"), ("exec3", "2026-12-10")]
    child_events = [e for e in desk.events(AssignmentCreated) if e["parent_id"] == parent["id"]]
    assert {e["author"] for e in child_events} == {"exec1"}
    desk.post(f"{path}/report", people["exec1"], {"text": "сводка"})
    _problem(desk.post(f"{path}/accept", people["head"]), 409)  # the parts are not done
    for child, who in zip(children, ("exec2", "exec3"), strict=True):
        desk.post(f"/assignments/{child['id']}/report", people[who], {"text": "часть"})
        # the parent's executor gave the part, so they accept it
        assert desk.post(f"/assignments/{child['id']}/accept", people["exec1"]).json()["status"] == "done"
    assert desk.post(f"{path}/accept", people["head"]).json()["status"] == "done"
    view = desk.get(path, people["head"]).json()
    assert [c["status"] for c in view["children"]] == ["done", "done"]
    tree = desk.get(f"/documents/{document}/assignments", people["clerk"]).json()
    assert sorted((row["executor"], row["parent_id"], row["status"]) for row in tree) == [
        ("exec1", None, "done"),
        ("exec2", parent["id"], "done"),
        ("exec3", parent["id"], "done"),
    ]


# -- extensions --------------------------------------------------------------------------------------------------------
def test_extension_granted_moves_the_deadline_and_the_history_stays(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    (assignment,) = _resolve(desk, people["head"], document, {"executor": "exec1", "deadline": "2026-12-04"})[
        "assignments"
    ]
    path = f"/assignments/{assignment['id']}"
    ask = {"new_deadline": "2026-12-11", "reason": "Ждём сведения из районов"}
    _problem(desk.post(f"{path}/extension-requests", people["exec2"], ask), 403)
    _problem(desk.post(f"{path}/extension-requests", people["exec1"], {**ask, "new_deadline": "2026-12-01"}), 422,
             "new_deadline")  # fmt: skip
    created = desk.post(f"{path}/extension-requests", people["exec1"], ask)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["late"] is False
    _problem(desk.post(f"{path}/extension-requests", people["exec1"], ask), 409)  # one waits already
    assert [t["task"] for t in desk.inbox(people["head"]) if t["request_id"] == request["id"]] == ["extension"]
    _problem(desk.post(f"/extension-requests/{request['id']}/grant", people["exec1"]), 403)
    granted = desk.post(f"/extension-requests/{request['id']}/grant", people["head"])
    assert granted.status_code == 200, granted.text
    view = granted.json()
    assert (view["deadline"], view["initial_deadline"], view["late"]) == ("2026-12-11", "2026-12-04", False)
    _problem(desk.post(f"/extension-requests/{request['id']}/grant", people["head"]), 409)  # deciding twice
    _problem(desk.post(f"/extension-requests/{request['id']}/refuse", people["head"], {"reason": "нет"}), 409)
    (event,) = desk.events(ExtensionGranted)
    assert (event["previous_deadline"], event["new_deadline"]) == ("2026-12-04", "2026-12-11")
    again = desk.post(f"{path}/extension-requests", people["exec1"], {**ask, "new_deadline": "2026-12-18"}).json()
    refused = desk.post(f"/extension-requests/{again['id']}/refuse", people["head"], {"reason": "Срок не продлевать"})
    assert refused.status_code == 200, refused.text
    history = desk.get(f"/extension-requests/{again['id']}", people["exec1"]).json()["extensions"]
    assert [(e["status"], e["new_deadline"]) for e in history] == [
        ("granted", "2026-12-11"),
        ("refused", "2026-12-18"),
    ]
    assert [t for t in desk.inbox(people["head"]) if t["task"] == "extension"] == []
    _problem(desk.post(f"/extension-requests/{uuid.uuid4()}/grant", people["head"]), 404)


def test_an_extension_asked_after_the_deadline_does_not_hide_the_lateness(
    desk: Desk, people: dict[str, Headers]
) -> None:
    """DOMAIN.md "Deadlines": an extension granted before the deadline moves the deadline, one asked after does not."""
    document = desk.letter()
    (assignment,) = _resolve(desk, people["head"], document, {"executor": "exec1", "deadline": TODAY.isoformat()})[
        "assignments"
    ]
    desk.app.clock = lambda: TODAY + timedelta(days=3)
    path = f"/assignments/{assignment['id']}"
    assert desk.get(path, people["exec1"]).json()["overdue"] is True
    request = desk.post(
        f"{path}/extension-requests", people["exec1"], {"new_deadline": "2026-12-10", "reason": "поздно"}
    )
    assert request.json()["late"] is True
    view = desk.post(f"/extension-requests/{request.json()['id']}/grant", people["head"]).json()
    assert (view["deadline"], view["overdue"], view["late"]) == ("2026-12-10", False, True)


# -- my work now -------------------------------------------------------------------------------------------------------
def test_inbox_shows_each_desk_its_tasks_overdue_first(desk: Desk, people: dict[str, Headers]) -> None:
    first, second = desk.letter(), desk.letter()
    resolve = [t for t in desk.inbox(people["head"]) if t["task"] == "resolve"]
    assert {t["document_id"] for t in resolve} == {str(first), str(second)}
    assert {t["deadline"] for t in resolve} == {"2026-11-30"}  # one working day after Friday
    assert desk.inbox(people["exec1"]) == []
    _resolve(desk, people["head"], first, {"executor": "exec1", "controller": "ctrl1", "deadline": "2026-12-10"})
    _resolve(
        desk, people["head"], second, {"executor": "exec1", "co_executors": ["exec2"], "deadline": TODAY.isoformat()}
    )
    assert [t["task"] for t in desk.inbox(people["head"])] == []  # resolved: the heads' task is gone
    desk.app.clock = lambda: TODAY + timedelta(days=1)
    tasks = desk.inbox(people["exec1"])
    assert [(t["task"], t["document_id"], t["overdue"]) for t in tasks] == [
        ("execute", str(second), True),
        ("execute", str(first), False),
    ]
    assert [t["document_id"] for t in desk.inbox(people["exec2"])] == [str(second)]  # a co-executor's desk too
    desk.post(f"/assignments/{tasks[1]['assignment_id']}/report", people["exec1"], {"text": "готово"})
    assert [t["document_id"] for t in desk.inbox(people["exec1"])] == [str(second)]
    (accept,) = desk.inbox(people["ctrl"])
    assert (accept["task"], accept["assignment_id"], accept["deadline"]) == (
        "accept",
        tasks[1]["assignment_id"],
        "2026-12-10",
    )
    desk.post(f"/assignments/{accept['assignment_id']}/accept", people["ctrl"])
    assert desk.inbox(people["ctrl"]) == []


def test_inbox_follows_the_read_rule(desk: Desk, people: dict[str, Headers]) -> None:
    """A ДСП document's tasks are shown only to those admitted (Decree No. 1233 of 03.11.1994)."""
    document = desk.letter(access="ДСП")
    assert desk.inbox(people["head"]) == []
    admitted = desk.person("head2", "head", "dsp_reader")
    assert [t["document_id"] for t in desk.inbox(admitted)] == [str(document)]
    assert desk.inbox(desk.token("head9", "head", org="other-org")) == []


def test_a_deputy_sees_the_desk_of_whom_they_act_for(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    _resolve(desk, people["head"], document, {"executor": "exec1"})
    delegation = DelegationGranted(
        org=ORG, by="admin", delegation_id=uuid.uuid4(), principal="exec1", deputy="exec3", roles=[Role.EXECUTOR],
        starts=TODAY, ends=TODAY + timedelta(days=7),
    )  # fmt: skip
    desk.feed(published(delegation, delegation.delegation_id, REGISTRY_DIRECTORY))
    (task,) = desk.inbox(people["exec3"])
    assert (task["task"], task["for_login"]) == ("execute", "exec1")


def test_heads_overview_covers_their_unit_and_below(desk: Desk, people: dict[str, Headers]) -> None:
    desk.unit("03")
    desk.person("exec4", "executor", unit="03")
    document = desk.letter()
    _resolve(desk, people["head"], document, {"executor": "exec1"}, {"executor": "exec4"})
    view = desk.get("/overview", people["head"]).json()  # head1 is in unit 01; 02 is below it, 03 is not
    assert (view["unit"], view["units"]) == ("01", ["01", "02"])
    assert [r["executor"] for r in view["assignments"]] == ["exec1"]
    assert [(r["document_id"], r["stage"]) for r in view["routes"]] == [(str(document), "execution")]
    head3 = desk.person("head3", "head", unit="03")
    assert [r["executor"] for r in desk.get("/overview", head3).json()["assignments"]] == ["exec4"]
    assert desk.get("/overview", head3).json()["routes"] == []  # the letter is unit 01's
    assert [r["executor"] for r in desk.get("/overview", people["head"], unit="02").json()["assignments"]] == ["exec1"]
    _problem(desk.get("/overview", head3, unit="01"), 403)  # above the caller's unit
    _problem(desk.get("/overview", people["exec1"]), 403)


def test_redelivered_events_change_nothing(desk: Desk, people: dict[str, Headers]) -> None:
    document = desk.letter()
    _resolve(desk, people["head"], document, {"executor": "exec1"})
    before = desk.inbox(people["exec1"])
    envelopes = list(desk.published)

    result = desk.consumer.apply_batch(
        [consumer_record(encode(e), TOPICS["edms.routing.route.v1"], str(e.aggregate_id).encode()) for e in envelopes]
    )
    handled = {event_type for track in desk.consumer.applier.tracks for event_type in track.by_type}
    assert (result.applied, result.duplicates) == (0, len([e for e in envelopes if e.event_type in handled]))
    assert desk.inbox(people["exec1"]) == before


def test_the_desk_stream_pushes_the_tasks_of_whom_a_deputy_acts_for(desk: Desk, people: dict[str, Headers]) -> None:
    """GET /inbox/stream: the inbox at once, and again when a task lands on the desk of the person the caller acts
    for (a delegation: врио)."""
    delegation = DelegationGranted(
        org=ORG, by="admin", delegation_id=uuid.uuid4(), principal="exec1", deputy="exec3", roles=[Role.EXECUTOR],
        starts=TODAY, ends=TODAY + timedelta(days=7),
    )  # fmt: skip
    desk.feed(published(delegation, delegation.delegation_id, REGISTRY_DIRECTORY))
    document = desk.letter()
    events: list[list[dict[str, Any]]] = []
    first = threading.Event()

    def listen() -> None:
        with desk.http.stream("GET", "/inbox/stream", headers=people["exec3"]) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                    first.set()
                    if len(events) == 2:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert first.wait(10)
    assert events == [[]]
    _resolve(desk, people["head"], document, {"executor": "exec1"})
    listener.join(10)
    assert [(t["task"], t["for_login"]) for t in events[1]] == [("execute", "exec1")]
