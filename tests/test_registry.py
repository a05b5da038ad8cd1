"""The registry as a records clerk uses it, through its HTTP API and the running system (issue 7).

Sources: DOMAIN.md "Registration card" (fields per kind, journals and numbers), "Deadlines" (outgoing documents are
registered on the day of signing; repeated appeals are linked), Federal Law 59-ФЗ art. 7 (an appeal names the
citizen and the address for the answer), Decree No. 1233 of 03.11.1994 (ДСП).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from edms_contracts import DocumentSigned, Envelope, encode
from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, eventually, incoming, seed_directory

SIGNER = {"name": "Петров Пётр Петрович", "position": "заместитель губернатора", "login": "petrov"}
OUTGOING = {
    "kind": "outgoing_letter",
    "title": "О направлении сведений о численности населения",
    "addressee": "Территориальный орган Росстата",
    "signer": SIGNER,
}


@pytest.fixture(scope="module", autouse=True)
def signer_in_directory(stack: Stack, clerk: Client) -> None:
    """The drafts below are signed by petrov: a person of the organization's directory (cards name known people)."""
    seed_directory(stack, clerk.org, units={"01": None}, people={"petrov": "01", "executor1": "01"})


def _client(stack: Stack, clerk: Client, user: str, *roles: str) -> Client:
    token = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user=user, org=clerk.org, unit="01", roles=list(roles)
    )
    return Client(stack, token, clerk.org)


async def _signed(stack: Stack, document_id: uuid.UUID, signed_by: str) -> None:
    """Routing's signing stage reports the draft signed (issue 8 builds the stage; the event is the contract)."""
    assert stack.kafka_bootstrap
    event = DocumentSigned(document_id=document_id, signed_by=signed_by, signer_name="Петров П. П.")
    route = uuid.uuid5(uuid.NAMESPACE_URL, f"route/{document_id}")
    envelope = Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type(),
        schema_version=1,
        occurred_at=datetime.now(UTC),
        aggregate_id=route,
        aggregate_version=7,
        producer="routing",
        payload=event.model_dump(mode="json"),
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for _ in range(2):  # delivered twice: numbered once
            await producer.send_and_wait(event.topic.name, value=encode(envelope), key=str(route).encode())
    finally:
        await producer.stop()


def test_an_outgoing_letter_is_a_draft_with_versions_until_signed_then_numbered(stack: Stack, clerk: Client) -> None:
    executor = _client(stack, clerk, "executor1", "executor")
    draft = executor.post("registry", "/drafts", OUTGOING)
    assert draft.status_code == 201, draft.text
    body = draft.json()
    assert (body["status"], body["reg_number"], body["version"]) == ("draft", None, 1)
    revised = executor.patch("registry", f"/drafts/{body['id']}", {"title": "О направлении уточнённых сведений"})
    assert revised.status_code == 200, revised.text
    assert [v["version"] for v in revised.json()["versions"]] == [1, 2]
    assert clerk.post("registry", "/documents", OUTGOING).status_code == 422  # not numbered before signing

    asyncio.run(_signed(stack, uuid.UUID(body["id"]), "petrov"))
    card = eventually(lambda: (c := clerk.get("registry", f"/documents/{body['id']}").json())["reg_number"] and c)
    assert card["status"] == "registered"
    assert card["reg_number"].endswith("-исх")
    assert card["title"] == "О направлении уточнённых сведений"
    eventually(lambda: clerk.get("search", "/search", q=card["reg_number"]).json()["total"] == 1)
    history = clerk.get("registry", f"/documents/{body['id']}/history").json()
    assert [h["event"] for h in history] == ["Created", "Revised", "Registered"]
    assert [h["by"] for h in history] == ["executor1", "executor1", "petrov"]


def test_the_same_letter_twice_is_409_with_the_earlier_card_unless_confirmed(clerk: Client) -> None:
    letter = incoming(title="Письмо, полученное дважды")
    first = clerk.post("registry", "/documents", letter)
    assert first.status_code == 201
    again = clerk.post("registry", "/documents", {**letter, "title": "То же письмо, пришедшее почтой"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["earlier"] == {"id": first.json()["id"], "reg_number": first.json()["reg_number"]}
    confirmed = clerk.post("registry", "/documents", {**letter, "confirm_duplicate": True})
    assert confirmed.status_code == 201
    assert confirmed.json()["links"] == [{"link_type": "duplicate_of", "document_id": first.json()["id"]}]
    earlier = clerk.get("registry", f"/documents/{first.json()['id']}").json()
    assert earlier["linked_from"] == [{"link_type": "duplicate_of", "document_id": confirmed.json()["id"]}]


def test_every_kind_registered_when_received_or_made_gets_its_journals_number(clerk: Client) -> None:
    deadline = (date.today() + timedelta(days=30)).isoformat()
    cards: dict[str, dict[str, Any]] = {
        "governor_assignment": {"executor": SIGNER, "deadline": deadline},
        "citizen_appeal": {"applicant": {"name": "Сидорова Анна", "email": "sidorova@example.ru"}},
        "citizen_oral_appeal": {
            "applicant": {"name": "Иванов Иван", "address": "ул. Мира, 1"},
            "addressee": "Губернатор",
        },
        "plan_item": {"executor": SIGNER, "deadline": deadline, "plan_period": "2026-IV"},
    }
    for kind, fields in cards.items():
        response = clerk.post("registry", "/documents", {"kind": kind, "title": f"Карточка: {kind}", **fields})
        assert response.status_code == 201, (kind, response.text)
        assert response.json()["reg_number"], kind


def test_the_journal_view_lists_cards_with_filters_and_pages(stack: Stack, clerk: Client) -> None:
    registered = [clerk.register(title=f"Письмо для журнала {i}") for i in range(5)]
    wanted = {d["id"] for d in registered}

    def page(**params: Any) -> dict[str, Any]:
        response = clerk.get("registry", "/documents", **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    eventually(lambda: wanted <= {row["document_id"] for row in page(size=200)["items"]})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"size": 2, "journal": "ВХ"} | ({"cursor": cursor} if cursor else {})
        body = page(**params)
        seen.extend(row["document_id"] for row in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert wanted <= set(seen)
    assert len(seen) == len(set(seen))  # no row twice across pages
    assert page(kind="outgoing_letter", status="registered", journal="ВХ")["items"] == []
    bad_cursor = clerk.get("registry", "/documents", cursor="not-a-cursor")
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["field"] == "cursor"


BAD_CARDS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown kind", {"kind": "postcard", "title": "x"}, "kind"),
    ("a restriction mark outside the list", incoming(access="секретно"), "access"),
    ("an empty restriction mark", incoming(access=""), "access"),
    (
        "a correspondent's date before any plausible one",
        incoming(correspondent_date="1900-01-01"),
        "correspondent_date",
    ),
    (
        "received before it was sent",
        incoming(correspondent_date="2026-01-10", received_date="2026-01-09"),
        "received_date",
    ),
    ("an appeal without its applicant", {"kind": "citizen_appeal", "title": "Жалоба"}, "applicant"),
    (
        "an appeal without an address for the answer",
        {"kind": "citizen_appeal", "title": "Жалоба", "applicant": {"name": "Аноним"}},
        "applicant.address",
    ),
    ("a field of another kind", incoming(counterparty="ООО «Ромашка»"), "counterparty"),
    (
        "a link to nothing",
        incoming(links=[{"link_type": "in_reply_to", "target_id": str(uuid.uuid4())}]),
        "links.target_id",
    ),
    ("an unknown delivery channel", incoming(delivery_channel="pigeon"), "delivery_channel"),
    ("zero sheets", incoming(sheets=0), "sheets"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_CARDS, ids=[c for c, _, _ in BAD_CARDS])
def test_a_bad_card_is_422_naming_the_field_and_takes_no_number(
    clerk: Client, case: str, body: dict[str, Any], field: str
) -> None:
    before = clerk.register()["reg_number"]
    response = clerk.post("registry", "/documents", body)
    assert response.status_code == 422, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    after = clerk.register()["reg_number"]
    assert int(after.split("/")[1]) == int(before.split("/")[1]) + 1


def test_journals_are_data_an_administrator_sets(stack: Stack, clerk: Client) -> None:
    admin = _client(stack, clerk, "admin1", "admin")
    plan = clerk.get("registry", f"/journals/{clerk.org}").json()["journals"]
    assert {kind for journal in plan for kind in journal["kinds"]} >= {"incoming_letter", "outgoing_letter"}
    appeals = next(j for j in plan if "citizen_appeal" in j["kinds"])
    appeals["pattern"] = "ОГ-{year}/{seq}"
    assert clerk.put("registry", f"/journals/{clerk.org}", {"journals": plan}).status_code == 403
    assert admin.put("registry", f"/journals/{clerk.org}", {"journals": plan}).status_code == 200
    appeal = {"kind": "citizen_appeal", "title": "О ремонте", "applicant": {"name": "А. Б.", "email": "a@b.ru"}}
    number = clerk.post("registry", "/documents", appeal).json()["reg_number"]
    assert number.startswith(f"ОГ-{date.today().year}/")
    broken = [{**j, "pattern": "{case}"} if "citizen_appeal" in j["kinds"] else j for j in plan]
    response = admin.put("registry", f"/journals/{clerk.org}", {"journals": broken})
    assert response.status_code == 422
    assert "{seq}" in response.json()["detail"]


def test_another_organizations_card_history_and_links_are_hidden(stack: Stack, clerk: Client) -> None:
    mine = clerk.register(title="Письмо своей организации")
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="x", org="org-stranger", roles=["clerk"])
    stranger = Client(stack, token, "org-stranger")
    for path in (f"/documents/{mine['id']}", f"/documents/{mine['id']}/history"):
        assert stranger.get("registry", path).status_code == 404
    theirs = stranger.register(title="Чужое письмо")
    link = clerk.post(
        "registry", f"/documents/{mine['id']}/links", {"link_type": "in_reply_to", "target_id": theirs["id"]}
    )
    assert link.status_code == 422
    listing = stranger.get("registry", "/documents", size=200).json()["items"]
    assert mine["id"] not in {row["document_id"] for row in listing}


def test_requests_a_clerk_may_not_make(stack: Stack, clerk: Client) -> None:
    reader = _client(stack, clerk, "reader1", "reader")
    assert reader.post("registry", "/documents", incoming()).status_code == 403
    assert reader.post("registry", "/drafts", OUTGOING).status_code == 403
    response = httpx.get(clerk.url("registry", "/documents"), timeout=10)
    assert response.status_code == 401
