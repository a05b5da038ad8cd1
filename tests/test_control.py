"""Control end to end (issue 9): deadline rules, the business calendar edited by an administrator, cards of routing's
assignments, reminders exactly once across a kill -9, executive-discipline reports as of a day, rebuilt by replay
byte for byte.

Routing's and the directory's events are published to the broker as their producers publish them (contract
envelopes on edms.routing.route.v1 and edms.registry.directory.v1); control learns everything from them. The control
clock is moved through the API (EDMS_CONTROL_CLOCK_SETTABLE), so lateness is tested without waiting for days.
Sources of the rules: DOMAIN.md "Deadlines"; Federal Law No. 59-ФЗ art. 12; Order of Rosarchiv No. 44 of 22.05.2019.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from edms_contracts import Envelope, Event, encode
from edms_contracts.directory import PersonRegistered, PositionDefined, UnitCreated
from edms_contracts.routing import (
    AssignmentAccepted,
    AssignmentCreated,
    AssignmentReported,
    AssignmentTerms,
    ExtensionGranted,
    ExtensionRequested,
    ResolutionIssued,
    StageCompleted,
    StageStarted,
)
from edms_runtime.auth import issue_token
from edms_runtime.cli import main as edms
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.conftest import _run_stack
from tests.support import Client, eventually

pytestmark = pytest.mark.slow

CONTROL_ENV = {"EDMS_CONTROL_CLOCK_SETTABLE": "true", "EDMS_CONTROL_REMINDER_SECONDS": "0.3"}


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system, with control's clock settable and reminders looked for every 0.3 s."""
    kafka = os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None
    yield from _run_stack(tmp_path_factory.mktemp("edms"), postgres_url, kafka, {"control": CONTROL_ENV})


@pytest.fixture(scope="module")
def admin(stack: Stack, clerk: Client) -> Client:
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="admin1", org=clerk.org, roles=["admin"])
    return Client(stack, token, clerk.org)


def _publish(stack: Stack, *events: tuple[Event, uuid.UUID, date]) -> None:
    """Publish contract events as their producer would: an envelope each, keyed by its aggregate."""

    async def send() -> None:
        assert stack.kafka_bootstrap
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        try:
            for event, aggregate_id, day in events:
                envelope = Envelope(
                    event_id=uuid.uuid4(),
                    event_type=event.event_type(),
                    schema_version=event.schema_version,
                    occurred_at=datetime.combine(day, clock_time(9, 0), tzinfo=UTC),
                    aggregate_id=aggregate_id,
                    aggregate_version=1,
                    producer=event.topic.name.split(".")[1],
                    payload=event.model_dump(mode="json"),
                )
                await producer.send_and_wait(event.topic.name, value=encode(envelope), key=str(aggregate_id).encode())
        finally:
            await producer.stop()

    asyncio.run(send())


def _people(stack: Stack, org: str) -> list[str]:
    """Who control's read model knows in the organization (from the directory's events)."""
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT login FROM control.people WHERE org = %s ORDER BY login", (org,)).fetchall()
    return [str(row[0]) for row in rows]


def _ok(response: httpx.Response) -> Any:
    return response.json() if response.status_code == 200 else None


# -- deadline rules ------------------------------------------------------------------------------------------------
def test_anyone_can_check_a_rule(clerk: Client) -> None:
    """DOMAIN.md "Deadlines": 25.11.2026 + 10 days = Saturday 05.12 -> Friday 04.12; 59-ФЗ: 30 days for an appeal."""
    body = clerk.get("control", "/calendar/deadline", start="2026-11-25", rule="default").json()
    assert (body["deadline"], body["rule"]) == ("2026-12-04", "default")
    assert "10 days" in body["source"]
    appeal = clerk.get("control", "/calendar/deadline", start="2026-11-06", rule="appeal").json()
    assert appeal["deadline"] == "2026-12-04"
    assert "59-ФЗ" in appeal["source"]
    very = clerk.get("control", "/calendar/deadline", start="2026-12-30", rule="very_urgent").json()
    assert very["deadline"] == "2027-01-11"  # over 31.12 and the New Year holidays


@pytest.mark.parametrize(
    ("params", "field"),
    [({"start": "2026-02-30", "rule": "default"}, "start"), ({"start": "2026-11-25", "rule": "fast"}, "rule")],
    ids=["impossible-date", "unknown-rule"],
)
def test_an_impossible_date_or_an_unknown_rule_is_422(clerk: Client, params: dict[str, str], field: str) -> None:
    response = clerk.get("control", "/calendar/deadline", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


# -- the calendar as data ------------------------------------------------------------------------------------------
def test_an_administrator_corrects_a_year_and_open_deadlines_move(clerk: Client, admin: Client) -> None:
    """DOMAIN.md "Deadlines": the calendar is data per year, editable; a regional day off on the deadline day moves
    the deadline to the preceding working day, and the change says which deadlines moved and why."""
    document = clerk.register()["id"]
    card = eventually(lambda: _ok(clerk.get("control", f"/cards/{document}")))
    # the open cards a correction looks at come from the read model (`cards`): wait until it has this one
    eventually(lambda: document in {c["document_id"] for c in clerk.get("control", "/cards", limit=500).json()})
    deadline = date.fromisoformat(card["deadline"])
    year = deadline.year
    path = f"/calendar/years/{year}"

    assert clerk.put("control", path, {"days_off": [deadline.isoformat()], "reason": "x"}).status_code == 403
    both = {"days_off": [deadline.isoformat()], "working_days": [deadline.isoformat()], "reason": "ошибка"}
    refused = admin.put("control", path, both)
    assert refused.status_code == 422, refused.text
    assert {"field": "working_days", "reason": f"{deadline.isoformat()} is also a day off"} in refused.json()["errors"]
    assert admin.get("control", path).json()["version"] == 0  # nothing changed

    changed = admin.put("control", path, {"days_off": [deadline.isoformat()], "reason": "Закон области о дне края"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["version"] == 1
    mine = [m for m in body["moved"] if m["subject_id"] == document]
    assert len(mine) == 1
    assert mine[0]["previous"] == deadline.isoformat()
    assert date.fromisoformat(mine[0]["deadline"]) < deadline
    assert f"calendar {year} version 1: Закон области о дне края" in mine[0]["reason"]
    assert clerk.get("control", f"/calendar/{deadline.isoformat()}").json()["working"] is False
    moved = clerk.get("control", f"/cards/{document}").json()
    assert moved["deadline"] == mine[0]["deadline"]
    assert moved["history"][-1]["what"] == "deadline_moved"
    assert "Закон области" in moved["history"][-1]["reason"]

    undone = admin.put("control", path, {"days_off": [], "reason": "отменён"}).json()
    assert undone["version"] == 2
    assert [m["deadline"] for m in undone["moved"] if m["subject_id"] == document] == [deadline.isoformat()]
    assert [c["version"] for c in admin.get("control", path).json()["changes"]] == [1, 2]


# -- assignments, reminders, reports, replay -----------------------------------------------------------------------
MARCH = date(2027, 3, 1)


@pytest.fixture(scope="module")
def assignments(stack: Stack, clerk: Client, admin: Client) -> dict[str, str]:
    """A document with three assignments, the directory above their executors, and the clock on 20.03.2027.

    a1 (exec1, due 10.03) reported on 11.03 and accepted on 12.03: late. a2 (exec2, due 12.03) extended to 19.03 on a
    request of 11.03 (before the deadline) and done on 18.03: on time. a3 (exec1, due 15.03): open and overdue.
    """
    org = clerk.org
    document = uuid.uuid4()
    a1, a2, a3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    route = uuid.uuid4()
    _publish(
        stack,
        (UnitCreated(org=org, by="admin1", unit_id=(top := uuid.uuid4()), code="top", name="Аппарат"), top, MARCH),
        (UnitCreated(org=org, by="admin1", unit_id=(u1 := uuid.uuid4()), code="u1", name="Отдел", parent="top"), u1,
         MARCH),
        (PositionDefined(org=org, by="admin1", position_id=(p := uuid.uuid4()), code="head-top", title="Руководитель",
                         unit="top", head=True), p, MARCH),
        (PersonRegistered(org=org, by="admin1", person_id=(b := uuid.uuid4()), login="boss", full_name="Начальник",
                          unit="top", position="head-top"), b, MARCH),
        (PersonRegistered(org=org, by="admin1", person_id=(e := uuid.uuid4()), login="exec1", full_name="Иванов",
                          unit="u1"), e, MARCH),
    )  # fmt: skip

    def created(assignment: uuid.UUID, executor: str, deadline: date) -> tuple[Event, uuid.UUID, date]:
        event = AssignmentCreated(
            document_id=document, org=org, assignment_id=assignment, author="boss", executor=executor,
            controller="ctl1", deadline=deadline, text="Подготовить ответ", unit="u1" if executor == "exec2" else None,
        )  # fmt: skip
        return event, assignment, MARCH

    eventually(lambda: {"boss", "exec1"} <= set(_people(stack, org)))  # control knows the directory
    _publish(
        stack,
        created(a1, "exec1", date(2027, 3, 10)),
        created(a2, "exec2", date(2027, 3, 12)),
        created(a3, "exec1", date(2027, 3, 15)),
    )
    # wait until the cards exist, so that their later events find them
    eventually(lambda: all(_ok(clerk.get("control", f"/cards/{a}")) for a in (a1, a2, a3)))
    _publish(
        stack,
        (AssignmentReported(document_id=document, org=org, assignment_id=a1, report_id=uuid.uuid4(),
                            reported_by="exec1", text="Ответ подготовлен", reported_on=date(2027, 3, 11)), a1,
         date(2027, 3, 11)),
        (AssignmentAccepted(document_id=document, org=org, assignment_id=a1, accepted_by="ctl1",
                            done_on=date(2027, 3, 12)), a1, date(2027, 3, 12)),
        (ExtensionRequested(document_id=document, org=org, request_id=(r := uuid.uuid4()), assignment_id=a2,
                            requested_by="exec2", new_deadline=date(2027, 3, 19), reason="нужны сведения",
                            requested_on=date(2027, 3, 11)), a2, date(2027, 3, 11)),
        (ExtensionGranted(document_id=document, org=org, request_id=r, assignment_id=a2, decided_by="boss",
                          previous_deadline=date(2027, 3, 12), new_deadline=date(2027, 3, 19),
                          requested_on=date(2027, 3, 11)), a2, date(2027, 3, 11)),
        (AssignmentAccepted(document_id=document, org=org, assignment_id=a2, accepted_by="ctl1",
                            done_on=date(2027, 3, 18)), a2, date(2027, 3, 18)),
        (StageStarted(document_id=document, org=org, route_id=route, stage="approval", participants=["boss"]), route,
         date(2027, 3, 1)),
        (StageCompleted(document_id=document, org=org, route_id=route, stage="approval", outcome="approved"), route,
         date(2027, 3, 5)),
    )  # fmt: skip
    eventually(lambda: (_ok(clerk.get("control", f"/cards/{a2}")) or {}).get("done_on") == "2027-03-18")
    eventually(lambda: (_ok(clerk.get("control", f"/cards/{a1}")) or {}).get("done_on") == "2027-03-12")
    # and the reports' read model has both closings (a card's page reads the card itself, a step ahead of it)
    eventually(lambda: _closed_in_reports(clerk) == (1, 1))
    clock = admin.put("control", "/clock", {"today": "2027-03-20"})
    assert clock.status_code == 200, clock.text
    return {"document": str(document), "a1": str(a1), "a2": str(a2), "a3": str(a3)}


def test_assignment_cards_show_status_and_history(clerk: Client, assignments: dict[str, str]) -> None:
    """DOMAIN.md: an extension granted before the deadline moves it; done after the deadline is late."""
    a1 = clerk.get("control", f"/cards/{assignments['a1']}").json()
    assert (a1["kind"], a1["executor"], a1["controller"], a1["status"]) == ("assignment", "exec1", "ctl1", "done_late")
    assert [h["what"] for h in a1["history"]][:3] == ["opened", "reported", "closed"]
    a2 = clerk.get("control", f"/cards/{assignments['a2']}").json()
    assert (a2["deadline"], a2["status"]) == ("2027-03-19", "done_on_time")
    assert "deadline_moved" in [h["what"] for h in a2["history"]]
    a3 = clerk.get("control", f"/cards/{assignments['a3']}").json()
    assert a3["status"] == "overdue"
    assert a3["unit"] is None or a3["unit"] == "u1"


def _overdue(clerk: Client, card_id: str) -> list[dict[str, Any]]:
    return [r for r in clerk.get("control", "/reminders", card_id=card_id).json() if r["kind"] == "overdue"]


def test_overdue_is_escalated_to_the_head_once_even_after_kill_9(
    stack: Stack, clerk: Client, assignments: dict[str, str]
) -> None:
    card_id = clerk.get("control", f"/cards/{assignments['a3']}").json()["id"]
    reminders = eventually(lambda: _overdue(clerk, card_id))
    assert len(reminders) == 1
    assert reminders[0]["deadline"] == "2027-03-15"
    assert reminders[0]["on_day"] == "2027-03-20"
    assert sorted((r["login"], r["role"]) for r in reminders[0]["recipients"]) == [
        ("boss", "head"),  # exec1's unit u1 has no head: the head of the unit above (top)
        ("ctl1", "controller"),
        ("exec1", "executor"),
    ]
    stack.processes["control"].stop(kill=True)
    stack.start_service("control", CONTROL_ENV).wait_ready()
    # several rounds of the reminder loop later, still one
    eventually(lambda: _ok(clerk.get("control", f"/cards/{assignments['a3']}")))
    time.sleep(2)
    assert len(_overdue(clerk, card_id)) == 1
    history = clerk.get("control", f"/cards/{assignments['a3']}").json()["history"]
    assert [h["what"] for h in history].count("overdue") == 1


def _closed_in_reports(client: Client) -> tuple[int, int]:
    total = _report(client, as_of="2027-03-20").json()["total"]
    return total["done_on_time"], total["done_late"]


def _report(client: Client, **params: str) -> httpx.Response:
    query = {"from": "2027-03-01", "to": "2027-03-31", "group_by": "executor", "kind": "assignment", **params}
    return client.get("control", "/reports/discipline", **query)


def test_discipline_report_now_and_as_of_a_past_day(clerk: Client, assignments: dict[str, str]) -> None:
    """DOMAIN.md: executive discipline = share done late plus open and overdue, per executor and period."""
    rows = {r["key"]: r for r in _report(clerk, as_of="2027-03-20").json()["rows"]}
    assert {k: (r["due"], r["done_on_time"], r["done_late"], r["open_overdue"], r["share_late"]) for k, r in
            rows.items()} == {"exec1": (2, 0, 1, 1, 1.0), "exec2": (1, 1, 0, 0, 0.0)}  # fmt: skip
    # as it stood at the end of 11.03: a1 open and overdue, a3 open in time, a2 extended to 19.03 and open
    past = {r["key"]: r for r in _report(clerk, as_of="2027-03-11").json()["rows"]}
    assert {k: (r["due"], r["open"], r["open_overdue"]) for k, r in past.items()} == {
        "exec1": (2, 2, 1),
        "exec2": (1, 1, 0),
    }
    by_unit = {r["key"]: r for r in _report(clerk, as_of="2027-03-20", group_by="unit").json()["rows"]}
    assert by_unit["u1"]["due"] == 3


def test_report_as_csv_xlsx_and_a_chart(clerk: Client, assignments: dict[str, str]) -> None:
    csv = httpx.get(
        clerk.url("control", "/reports/discipline"),
        params={"from": "2027-03-01", "to": "2027-03-31", "group_by": "executor", "as_of": "2027-03-20",
                "kind": "assignment"},
        headers={**clerk.headers, "Accept": "text/csv"},
    )  # fmt: skip
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "key,due,done_on_time,done_late,open,open_overdue,share_late",
        "exec1,2,0,1,1,1,1.0",
        "exec2,1,1,0,0,0,0.0",
    ]
    xlsx = _report(clerk, as_of="2027-03-20", format="xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert values[0] == ["key", "due", "done_on_time", "done_late", "open", "open_overdue", "share_late"]
    assert values[1] == ["exec1", 2, 0, 1, 1, 1, 1]
    chart = clerk.get("control", "/reports/discipline/chart", **{"from": "2027-03-01", "to": "2027-03-31",
                                                               "as_of": "2027-03-20"})  # fmt: skip
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in chart.text
    assert "2027-W10" in chart.text  # the trend by week: a1's deadline week
    stages = clerk.get("control", "/reports/stages", **{"from": "2027-03-01", "to": "2027-03-31"}).json()["rows"]
    assert stages == [
        {"stage": "approval", "norm_working_days": 3, "completed": 1, "mean_working_days": 4.0,
         "max_working_days": 4, "over_norm": 1}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2027-03-31", "to": "2027-03-01"}, "to"),
        ({"group_by": "planet"}, "group_by"),
        ({"format": "pdf"}, "format"),
    ],
    ids=["reversed-period", "unknown-group", "unknown-format"],
)
def test_bad_report_requests_are_422(clerk: Client, params: dict[str, str], field: str) -> None:
    response = _report(clerk, **params)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_replay_rebuilds_reports_byte_for_byte(
    stack: Stack, clerk: Client, assignments: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """shared/ARCHITECTURE.md "Replay": the rebuilt read models give the same reports, as_of ones included."""
    assert stack.database_url
    assert stack.kafka_bootstrap
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("EDMS_KAFKA_BOOTSTRAP", stack.kafka_bootstrap)
    asks = [{"as_of": "2027-03-20"}, {"as_of": "2027-03-11"}, {"as_of": "2027-03-20", "group_by": "unit"},
            {"as_of": "2027-03-20", "format": "csv"}]  # fmt: skip
    before = [_report(clerk, **ask).content for ask in asks]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert edms(["--data-dir", str(stack.data_dir), "replay", "control", "--lanes", "2"]) == 0, output.getvalue()
    assert "applying in 2 processes at once" in output.getvalue()  # control's partitions in two lanes
    assert "made the deferred indexes and keys (5)" in output.getvalue()  # tracking's key, control's four
    assert "swapped in" in output.getvalue()
    assert "/s" in output.getvalue()  # events per second
    assert [_report(clerk, **ask).content for ask in asks] == before
    # the same with more events than the replay remembers: repeats told by the tracking key, kept in place
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert edms(["--data-dir", str(stack.data_dir), "replay", "control", "--lanes", "2", "--remember", "0"]) == 0
    assert "it asks the tracking table's key as it goes" in output.getvalue()
    assert "made the deferred indexes and keys (4)" in output.getvalue()
    assert [_report(clerk, **ask).content for ask in asks] == before
    assert len(_overdue(clerk, clerk.get("control", f"/cards/{assignments['a3']}").json()["id"])) == 1


def test_a_resolution_puts_its_assignments_on_control(stack: Stack, clerk: Client) -> None:
    """Routing's ResolutionIssued carries the assignments it makes: each gets a card, its controller the author
    when routing names none; the executor's unit comes from the directory (PersonRegistered exec1 in u1)."""
    document, resolution, assignment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    terms = AssignmentTerms(assignment_id=assignment, executor="exec1", deadline=date(2027, 4, 9))
    issued = ResolutionIssued(document_id=document, org=clerk.org, resolution_id=resolution, author="boss",
                              text="Рассмотреть и доложить", assignments=[terms])  # fmt: skip
    _publish(stack, (issued, document, date(2027, 4, 1)))
    card = eventually(lambda: _ok(clerk.get("control", f"/cards/{assignment}")))
    assert (card["kind"], card["executor"], card["controller"], card["deadline"]) == (
        "assignment",
        "exec1",
        "boss",
        "2027-04-09",
    )
    assert card["opened_on"] == "2027-04-01"
