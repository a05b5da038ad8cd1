"""GET :8104/search over HTTP against the running system (issue 10).

Documents are registered through the registry; routing's and the directory's events are published to the broker
as real contract envelopes (their emitters are built in parallel), so what search answers is what it learned from
events only. Bad input of every kind is a 422 problem naming the parameter; no text gives a 500.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from edms_contracts import Envelope, encode
from edms_contracts.directory import PersonRegistered
from edms_contracts.events import Event
from edms_contracts.routing import AssignmentAccepted, AssignmentCreated, ResolutionIssued
from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, eventually


def _envelope(payload: Event, aggregate_id: uuid.UUID, version: int = 1) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=payload.event_type(),
        schema_version=1,
        occurred_at=datetime.now(UTC),
        aggregate_id=aggregate_id,
        aggregate_version=version,
        producer="test",
        payload=payload.model_dump(mode="json"),
    )


async def _publish(stack: Stack, *events: tuple[Event, uuid.UUID, int]) -> None:
    assert stack.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for payload, aggregate, version in events:
            envelope = _envelope(payload, aggregate, version)
            await producer.send_and_wait(payload.topic.name, value=encode(envelope), key=str(aggregate).encode())
    finally:
        await producer.stop()


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


@pytest.fixture(scope="module")
def executor(stack: Stack) -> Client:
    """Someone of another organization who is given an assignment on the clerk's document."""
    login = f"exec-{uuid.uuid4().hex[:6]}"
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user=login, org="org-elsewhere", roles=["clerk"])
    return Client(stack, token, "org-elsewhere")


def test_routing_and_directory_events_make_a_document_findable_by_executor_text_and_status(
    stack: Stack, clerk: Client, executor: Client
) -> None:
    """Resolution (резолюция) and assignment (поручение) events, as routing publishes them (contracts/routing.py)."""
    document = clerk.register(title="О содержании мостов через реку Вычегду")
    document_id = uuid.UUID(document["id"])
    eventually(lambda: _ids(clerk.get("search", "/search", q="мостами")) == [document["id"]])
    resolution, assignment, person = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    login = executor_login(executor)
    asyncio.run(
        _publish(
            stack,
            (
                ResolutionIssued(
                    document_id=document_id,
                    org=clerk.org,
                    resolution_id=resolution,
                    author="head1",
                    text="Провести обследование опор моста до паводка",
                    assignments=[],
                ),
                resolution,
                1,
            ),
            (
                AssignmentCreated(
                    document_id=document_id,
                    org=clerk.org,
                    assignment_id=assignment,
                    author="head1",
                    executor=login,
                    deadline=date.today() + timedelta(days=5),
                    text="Обследовать опоры",
                    unit="05",
                ),
                assignment,
                1,
            ),
            (
                PersonRegistered(
                    org=clerk.org, by="admin", person_id=person, login=login, full_name="Мостовой Андрей Ильич"
                ),
                person,
                1,
            ),
        )
    )
    eventually(lambda: _ids(clerk.get("search", "/search", q="опор паводка")) == [document["id"]])
    assert _ids(clerk.get("search", "/search", executor="Мостовой")) == [document["id"]]
    assert _ids(clerk.get("search", "/search", executor=login, status="on_control")) == [document["id"]]
    assert _ids(clerk.get("search", "/search", unit="05")) == [document["id"]]
    assert _ids(clerk.get("search", "/search", q="Мостового")) == [document["id"]]  # the executor's name
    # the executor, of another organization, reads the document he works on
    assert _ids(executor.get("search", "/search", q="мостов")) == [document["id"]]

    asyncio.run(
        _publish(
            stack,
            (
                AssignmentAccepted(
                    document_id=document_id,
                    org=clerk.org,
                    assignment_id=assignment,
                    accepted_by="head1",
                    done_on=date.today(),
                ),
                assignment,
                2,
            ),
        )
    )
    eventually(lambda: _ids(clerk.get("search", "/search", executor=login, status="done")) == [document["id"]])


def executor_login(client: Client) -> str:
    import jwt

    return str(jwt.decode(client.token, options={"verify_signature": False})["sub"])


def test_the_answer_has_total_hits_facets_highlights_and_a_cursor(clerk: Client) -> None:
    numbers = [clerk.register(title=f"О благоустройстве сквера номер {n}")["reg_number"] for n in range(3)]
    eventually(lambda: clerk.get("search", "/search", q="благоустройство сквера").json()["total"] == 3)

    first = clerk.get("search", "/search", q="благоустройство сквера", size=2, facets="kind,year,status,unit")
    body = first.json()
    assert body["total"] == 3
    assert body["total_relation"] == "eq"
    assert len(body["hits"]) == 2
    hit = body["hits"][0]
    assert {"id", "reg_number", "title", "highlights"} <= set(hit)
    assert any("<mark>" in fragment for fragment in hit["highlights"])
    assert body["facets"]["kind"] == [{"value": "incoming_letter", "count": 3}]
    assert body["facets"]["year"] == [{"value": date.today().year, "count": 3}]
    assert set(body["facets"]) == {"kind", "year", "status", "unit"}
    rest = clerk.get("search", "/search", q="благоустройство сквера", size=2, cursor=body["next_cursor"]).json()
    assert rest["next_cursor"] is None
    walked = [h["reg_number"] for h in body["hits"] + rest["hits"]]
    assert sorted(walked) == sorted(numbers)
    by_number = clerk.get("search", "/search", q="сквера", sort="number", order="asc").json()
    assert [h["reg_number"] for h in by_number["hits"]] == numbers  # registered in this order


BAD = [
    ({"limit": "5"}, "limit"),  # replaced by size and cursor
    ({"offset": "5"}, "offset"),
    ({"size": "101"}, "size"),
    ({"size": "0"}, "size"),
    ({"q": '"не закрыта'}, "q"),
    ({"q": "(скобка"}, "q"),
    ({"q": "скобка)"}, "q"),
    ({"q": "OR"}, "q"),
    ({"q": "а*"}, "q"),
    ({"q": "- слово"}, "q"),
    ({"q": "!!!"}, "q"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"facets": "kind,color"}, "facets"),
    ({"status": "lost"}, "status"),
    ({"sort": "size"}, "sort"),
    ({"reg_date_from": "2026-13-01"}, "reg_date_from"),
    ({"reg_date_from": "2026-02-01", "reg_date_to": "2026-01-01"}, "reg_date_to"),
    ({"reg_number": "*"}, "reg_number"),
    ({"correspondent": "--"}, "correspondent"),
]


@pytest.mark.parametrize(("params", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_a_422_problem_naming_the_parameter(clerk: Client, params: dict[str, str], field: str) -> None:
    response = clerk.get("search", "/search", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_a_cursor_of_another_query_is_refused(clerk: Client) -> None:
    for n in range(3):
        clerk.register(title=f"О вывозе снега {n}")
    page = eventually(lambda: clerk.get("search", "/search", q="снега", size=1).json()["next_cursor"])
    response = clerk.get("search", "/search", q="вывоз", size=1, cursor=page)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "cursor", "reason": "cursor: the cursor belongs to another query, filters or sort"}
    ]


def test_no_query_text_gives_a_500(clerk: Client) -> None:
    """Fuzzing the query parser over HTTP: random text of the language's characters is answered or refused (4xx)."""
    rng = random.Random(6)
    pieces = ['"', "(", ")", "-", "*", "|", " OR ", " ", "снег", "а", "%", "'", "\\", ":", "&", "!", "<", "ё", "1/2"]
    statuses = set()
    for _ in range(60):
        q = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        response = clerk.get("search", "/search", q=q)
        assert response.status_code in (200, 422), (q, response.status_code, response.text)
        statuses.add(response.status_code)
    assert statuses == {200, 422}
