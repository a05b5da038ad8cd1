"""Routing in the running system: a letter registered in the registry reaches the head's desk, the resolution's
assignments reach the executors' desks (live, by Server-Sent Events too), a draft approved and signed in routing is
numbered by the registry — every step by events over the broker, never by a call between services.

Sources: DOMAIN.md "What the system must do" (1 approval in parallel, 2 assignments and resolutions controlled
electronically; employees see what they work on right now), "The 15 processes" (4, 6, 11, 12), "Deadlines"
(outgoing documents are registered on the day of signing).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from typing import Any

import httpx
import psycopg
import pytest

from edms_runtime.auth import issue_token
from edms_runtime.cli import main as edms
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, admin_of, eventually, incoming

PEOPLE = {
    "head1": ("Иванов И. И.", "01", ["head"]),
    "exec1": ("Петрова А. А.", "02", ["executor"]),
    "exec2": ("Сидоров С. С.", "02", ["executor"]),
    "ctrl1": ("Контролёва К. К.", "01", ["controller"]),
    "author1": ("Автор А. А.", "02", ["executor"]),
    "appr1": ("Согласов С. С.", "01", ["executor"]),
    "appr2": ("Юристов Ю. Ю.", "01", ["executor"]),
    "petrov": ("Петров П. П.", "01", ["head"]),
}


def _enter_people(stack: Stack, org: str) -> None:
    """The organization's units and people, entered by its administrator in the registry's directory
    (`POST :8101/units`, `POST :8101/people`); routing learns them from the directory's events."""
    admin = admin_of(stack, org)
    for code, parent in (("01", None), ("02", "01")):
        response = admin.post("registry", "/units", {"code": code, "name": f"Отдел {code}", "parent": parent})
        assert response.status_code in (201, 409), response.text
    for login, (name, unit, roles) in PEOPLE.items():
        position = "заместитель губернатора" if login == "petrov" else "специалист"
        body = {"login": login, "full_name": name, "org": org, "unit": unit, "position": position, "roles": roles}
        response = admin.post("registry", "/people", body)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def desks(stack: Stack, clerk: Client) -> dict[str, Client]:
    _enter_people(stack, clerk.org)
    settings = PlatformSettings(data_dir=stack.data_dir)
    clients = {
        login: Client(stack, issue_token(settings, user=login, org=clerk.org, unit=unit, roles=roles), clerk.org)
        for login, (_, unit, roles) in PEOPLE.items()
    }
    clients["clerk1"] = clerk
    return clients


def _tasks(client: Client, task: str | None = None) -> list[dict[str, Any]]:
    response = client.get("routing", "/inbox")
    assert response.status_code == 200, response.text
    return [t for t in response.json() if task is None or t["task"] == task]


def _resolution(head: Client, document: str, body: dict[str, Any]) -> httpx.Response:
    """The head's resolution, once routing has heard of the document and of the people it names."""

    def attempt() -> httpx.Response | None:
        response = head.post("routing", f"/documents/{document}/resolutions", body)
        return None if response.status_code in (404, 422) else response

    return eventually(attempt)


def test_incoming_letter_resolution_report_acceptance_extension(desks: dict[str, Client]) -> None:
    head, exec1, exec2, ctrl = desks["head1"], desks["exec1"], desks["exec2"], desks["ctrl1"]
    document = desks["clerk1"].register(title="О численности населения районов")["id"]
    eventually(lambda: [t for t in _tasks(head, "resolve") if t["document_id"] == document])
    created = _resolution(
        head,
        document,
        {
            "text": "Подготовить сведения",
            "assignments": [
                {"executor": "exec1", "controller": "ctrl1", "deadline": "2099-12-01"},
                {"executor": "exec2"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    first, second = created.json()["assignments"]
    # without a deadline: the control card's (registration + 10 days, moved to a working day by control)
    card = head.get("control", f"/cards/{document}").json()
    assert second["deadline"] == card["deadline"]
    eventually(lambda: [t for t in _tasks(exec1, "execute") if t["assignment_id"] == first["id"]])
    assert [t for t in _tasks(head, "resolve") if t["document_id"] == document] == []

    assert exec1.post("routing", f"/assignments/{first['id']}/report", {"text": "Направлено"}).status_code == 201
    eventually(lambda: [t for t in _tasks(ctrl, "accept") if t["assignment_id"] == first["id"]])
    assert exec1.post("routing", f"/assignments/{first['id']}/accept", {}).status_code == 403
    accepted = ctrl.post("routing", f"/assignments/{first['id']}/accept", {})
    assert (accepted.status_code, accepted.json()["status"]) == (200, "done")

    asked = exec2.post(
        "routing",
        f"/assignments/{second['id']}/extension-requests",
        {"new_deadline": "2099-12-31", "reason": "Ждём данные"},
    )
    assert asked.status_code == 201, asked.text
    eventually(lambda: [t for t in _tasks(head, "extension") if t["request_id"] == asked.json()["id"]])
    granted = head.post("routing", f"/extension-requests/{asked.json()['id']}/grant", {})
    assert granted.json()["deadline"] == "2099-12-31"
    assignment = exec2.get("routing", f"/assignments/{second['id']}").json()
    assert [e["status"] for e in assignment["extensions"]] == ["granted"]
    eventually(lambda: [t for t in _tasks(exec2, "execute") if t["deadline"] == "2099-12-31"])

    # control follows the assignments from routing's events: done on time, and the extended deadline
    def control_cards() -> dict[str, dict[str, Any]] | None:
        cards = head.get("control", "/cards", kind="assignment", limit=500).json()
        found = {c["assignment_id"]: c for c in cards if c["document_id"] == document}
        done = found.get(first["id"], {}).get("done_on") and found.get(second["id"], {}).get("deadline") == "2099-12-31"
        return found if done else None

    cards = eventually(control_cards)
    assert cards[first["id"]]["executor"] == "exec1"


def test_the_desk_is_pushed_live(desks: dict[str, Client]) -> None:
    """GET /inbox/stream: the inbox now, and again when a task lands on the desk."""
    exec2 = desks["exec2"]
    events: list[list[dict[str, Any]]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", exec2.url("routing", "/inbox/stream"), headers=exec2.headers, timeout=30) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                    ready.set()
                    if len(events) == 2:
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(15)
    document = desks["clerk1"].register(**incoming(title="Письмо для живого стола"))["id"]
    created = _resolution(desks["head1"], document, {"text": "Ответить", "assignments": [{"executor": "exec2"}]})
    assert created.status_code == 201, created.text
    listener.join(20)
    assert len(events) == 2
    assert created.json()["assignments"][0]["id"] in {t["assignment_id"] for t in events[1]}


def test_a_draft_approved_and_signed_in_routing_is_numbered_by_the_registry(desks: dict[str, Client]) -> None:
    author, petrov = desks["author1"], desks["petrov"]
    draft = author.post(
        "registry",
        "/drafts",
        {
            "kind": "outgoing_letter",
            "title": "О направлении сведений",
            "addressee": "Росстат",
            "signer": {"name": "Петров П. П.", "position": "заместитель губернатора", "login": "petrov"},
        },
    )
    assert draft.status_code == 201, draft.text
    document = draft.json()["id"]

    def send() -> httpx.Response | None:
        response = author.post("routing", f"/documents/{document}/approval", {"approvers": ["appr1", "appr2"]})
        return response if response.status_code == 201 else None

    sent = eventually(send)
    assert sent.json()["waiting_for"] == ["appr1", "appr2"]
    reject = {"decision": "reject", "remarks": "Уточнить адресата"}
    assert desks["appr1"].post("routing", f"/documents/{document}/approval/decisions", reject).status_code == 201
    # a new version in the registry restarts approval in routing
    assert author.patch("registry", f"/drafts/{document}", {"addressee": "Росстат (Москва)"}).status_code == 200
    eventually(
        lambda: author.get("routing", f"/documents/{document}/route").json()["waiting_for"] == ["appr1", "appr2"]
    )
    for login in ("appr1", "appr2"):
        decided = desks[login].post("routing", f"/documents/{document}/approval/decisions", {"decision": "approve"})
        assert decided.status_code == 201, decided.text
    assert eventually(lambda: [t for t in _tasks(petrov, "sign") if t["document_id"] == document])
    signed = petrov.post("routing", f"/documents/{document}/sign", {})
    assert signed.status_code == 200, signed.text
    card = eventually(lambda: (c := author.get("registry", f"/drafts/{document}").json())["reg_number"] and c)
    assert card["status"] == "registered"
    route = author.get("routing", f"/documents/{document}/route").json()
    assert (route["current_stage"], route["signed_by"], route["draft_version"]) == ("dispatch", "petrov", 2)


def _table(stack: Stack, table: str) -> list[tuple[str]]:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows: list[tuple[str]] = conn.execute(f"SELECT row_to_json(t)::text FROM {table} t ORDER BY 1").fetchall()
    return rows


def _settled(stack: Stack, tables: list[str]) -> list[list[tuple[str]]]:
    """The tables once two reads a second apart agree: what the live consumers still had in flight has landed."""
    last: list[list[tuple[str]]] | None = None
    for _ in range(30):
        now = [_table(stack, table) for table in tables]
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    raise AssertionError("routing's read model did not settle within 30 s")


def _control_deadline(stack: Stack, document: str) -> Any:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT control_deadline FROM routing.documents WHERE document_id = %s", (document,)
        ).fetchone()
    return row[0] if row else None


def test_edms_replay_rebuilds_routings_read_model_identically(
    stack: Stack, desks: dict[str, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desks, assignments and directory rebuilt from the topics are the same, byte for byte."""
    head = desks["head1"]
    document = desks["clerk1"].register(**incoming(title="Письмо перед пересборкой"))["id"]
    created = _resolution(head, document, {"text": "Ответить", "assignments": [{"executor": "exec1"}]})
    assignment = created.json()["assignments"][0]["id"]
    eventually(lambda: [t for t in _tasks(desks["exec1"], "execute") if t["assignment_id"] == assignment])
    tables = ["routing.people", "routing.documents", "routing.routes", "routing.assignments", "routing.tasks"]
    tables.append("routing.stages")
    # routing learns the control deadline from control's card, which may come after the task (a race a loaded CI
    # machine lost: the rebuilt table had the deadline, the copy taken before the replay not yet)
    eventually(lambda: _control_deadline(stack, document))
    before = _settled(stack, tables)
    assert all(before)
    assert stack.database_url
    assert stack.kafka_bootstrap
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert edms(["replay", "routing"]) == 0
    assert "swapped in" in out.getvalue()
    assert [_table(stack, table) for table in tables] == before
    assert [t["assignment_id"] for t in _tasks(desks["exec1"], "execute") if t["document_id"] == document] == [
        assignment
    ]
