"""The operational and long-term archive through the running system (issue 11), with the archive's clock in 2040 so
that this year's cases are long closed: file plan, filing by it, refiling, closing, inventories as JSON, PDF and
ODS, retention lists, a transfer package verified offline and imported elsewhere with the same inventory, and
destruction only through an act approved by the expert commission — every other path tried and refused.

Sources: DOMAIN.md "Archive"; Order of Rosarchiv No. 77 of 31.07.2023; Order of Rosarchiv No. 236 of 20.12.2019.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from edms_archive.api import router as archive_routes
from edms_archive.application import ArchiveApplication
from edms_archive.cli import main as archive_cli
from edms_archive.package import PackageCase, inventory_json
from edms_runtime.auth import issue_token
from edms_runtime.eventstore import build_application
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.conftest import _run_stack, database_url
from tests.infra import containers_requested, kafka_container
from tests.support import Client, admin_of, eventually

TODAY = date(2040, 3, 1)
YEAR = date.today().year  # registrations are dated by the registry's clock
ORDER_TITLE = "Об утверждении положения об архиве"


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system, the archive judging retention as of 1 March 2040 (overrides `stack` here)."""
    data_dir = tmp_path_factory.mktemp("edms")
    with contextlib.ExitStack() as infra:
        kafka = os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None
        if kafka is None and containers_requested():
            kafka = infra.enter_context(kafka_container())
        env = {"archive": {"EDMS_ARCHIVE_TODAY": TODAY.isoformat()}}
        yield from _run_stack(data_dir, postgres_url, kafka, service_env=env)


def _person(stack: Stack, clerk: Client, user: str, *roles: str) -> Client:
    settings = PlatformSettings(data_dir=stack.data_dir)
    return Client(stack, issue_token(settings, user=user, org=clerk.org, unit="01", roles=list(roles)), clerk.org)


@pytest.fixture(scope="module")
def archivist(stack: Stack, clerk: Client) -> Client:
    return _person(stack, clerk, "arch1", "archivist")


@pytest.fixture(scope="module")
def commission(stack: Stack, clerk: Client) -> dict[str, Client]:
    """The expert commission (ek1, ek2) in the registry's directory, and the archivist, who has the role too but
    never judges an act of their own; routing learns them from the directory's events."""
    admin = admin_of(stack, clerk.org)
    for login, roles in (("ek1", ["expert_commission"]), ("ek2", ["expert_commission"]),
                         ("arch1", ["archivist", "expert_commission"])):  # fmt: skip
        body = {"login": login, "full_name": f"Член ЭК {login}", "org": clerk.org, "unit": "01", "roles": roles}
        response = admin.post("registry", "/people", body)
        assert response.status_code in (201, 409), response.text
    assert stack.database_url

    def known() -> bool:
        with psycopg.connect(stack.database_url or "") as conn:
            row = conn.execute(
                "SELECT count(*) FROM routing.people WHERE org = %s AND 'expert_commission' = ANY(roles)",
                (clerk.org,),
            ).fetchone()
        return row is not None and row[0] == 3

    eventually(known)
    return {login: _person(stack, clerk, login, "expert_commission") for login in ("ek1", "ek2")}


def _put(client: Client, path: str, body: Any) -> httpx.Response:
    return httpx.put(client.url("archive", path), headers=client.headers, json=body, timeout=10)


PLAN: list[dict[str, Any]] = [
    {"index": "01-03", "title": "Приказы по основной деятельности", "retention": "permanent", "article": "19а",
     "kinds": ["order"]},
    {"index": "02-10", "title": "Входящие письма отдела 01", "retention": "5 years", "epk": True, "article": "27",
     "unit": "01", "kinds": ["incoming_letter"]},
    {"index": "02-11", "title": "Входящие письма прочие", "retention": "5 лет ЭПК", "article": "27",
     "kinds": ["incoming_letter"]},
]  # fmt: skip


@pytest.fixture(scope="module")
def plan(archivist: Client) -> list[dict[str, Any]]:
    response = _put(archivist, f"/file-plan/{archivist.org}/{YEAR}", {"items": PLAN})
    assert response.status_code == 200, response.text
    return PLAN


def _attach(client: Client, document: str, name: str, content: bytes) -> str:
    response = httpx.post(
        client.url("registry", f"/documents/{document}/attachments"), headers=client.headers, timeout=10,
        files={"file": (name, content, "application/pdf")},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return str(response.json()["sha256"])


@pytest.fixture(scope="module")
def filed(plan: list[dict[str, Any]], clerk: Client, archivist: Client) -> dict[str, Any]:
    letters = [clerk.register(title=f"О проверке отдела {n}") for n in (1, 2)]
    order = clerk.register(title=ORDER_TITLE)  # a letter the archivist files with the permanent orders below
    letter_sha = _attach(clerk, letters[0]["id"], "письмо.pdf", b"%PDF letter scan " * 500)
    order_sha = _attach(clerk, order["id"], "приказ.pdf", b"%PDF signed order " * 500)

    def kept(document: dict[str, Any], files: int) -> bool:
        return len(clerk.get("archive", f"/documents/{document['id']}").json().get("files", [])) == files

    for document, files in ((letters[0], 1), (letters[1], 0), (order, 1)):
        eventually(lambda d=document, f=files: kept(d, f))  # type: ignore[misc]
    moved = archivist.post("archive", f"/documents/{order['id']}/refile", {"case_index": "01-03",
                           "reason": "утверждает положение: хранится с приказами"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    return {"letters": letters, "order": order, "letter_sha": letter_sha, "order_sha": order_sha}


def _case_of(client: Client, document: dict[str, Any]) -> dict[str, Any]:
    case: dict[str, Any] = client.get("archive", f"/documents/{document['id']}").json()["case"]
    return case


# -- 1. the file plan --------------------------------------------------------------------------------------------------
def test_a_plan_with_duplicate_indexes_or_bad_rows_is_refused_and_nothing_changes(
    archivist: Client, clerk: Client
) -> None:
    path = f"/file-plan/{archivist.org}/{YEAR + 1}"
    response = _put(archivist, path, {"items": [PLAN[0], PLAN[0]]})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "items[1].index", "reason": "duplicate index '01-03' (also in "
                                                                               "items[0])"}]  # fmt: skip
    csv = "index;title;retention;article\n01-03;Приказы;постоянно;19а\n01-04;Распоряжения;вечно;19б\n"
    response = httpx.post(archivist.url("archive", f"{path}/import"), headers={**archivist.headers,
                          "Content-Type": "text/csv"}, content=csv.encode(), timeout=10)  # fmt: skip
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["row 3.retention"]
    assert archivist.get("archive", path).json()["adopted"] is False
    assert _put(clerk, path, {"items": PLAN}).status_code == 403
    assert clerk.get("archive", f"/file-plan/other-org/{YEAR}").status_code == 404


def test_a_csv_plan_and_next_years_copy(archivist: Client, plan: list[dict[str, Any]]) -> None:
    csv = "Индекс;Заголовок дела;Срок хранения;ЭПК;Статья\n01-03;Приказы;Постоянно;;19а\n05-01;Договоры;5 лет;да;436\n"
    path = f"/file-plan/{archivist.org}/{YEAR + 2}"
    response = httpx.post(archivist.url("archive", f"{path}/import"), headers={**archivist.headers,
                          "Content-Type": "text/csv"}, content=csv.encode("cp1251"), timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    assert [(i["index"], i["retention"]) for i in response.json()["items"]] == [("01-03", "permanent"),
                                                                               ("05-01", "5 years ЭПК")]  # fmt: skip
    copied = archivist.post("archive", f"/file-plan/{archivist.org}/{YEAR + 3}/copy",
                            {"from_year": YEAR + 2, "remove": ["05-01"]}).json()  # fmt: skip
    assert [i["index"] for i in copied["items"]] == ["01-03"]


# -- 2. filing, cases, inventories, retention lists -------------------------------------------------------------------
def test_documents_are_filed_by_the_plan_refiled_located_and_closed(
    filed: dict[str, Any], archivist: Client, clerk: Client
) -> None:
    first, second = filed["letters"]
    assert _case_of(clerk, first)["index"] == "02-10"  # the card's 01-10 is not in the plan: the unit's case
    assert _case_of(clerk, filed["order"])["index"] == "01-03"
    refile = f"/documents/{second['id']}/refile"
    assert archivist.post("archive", refile, {"case_index": "02-11", "reason": ""}).status_code == 422
    assert clerk.post("archive", refile, {"case_index": "02-11", "reason": "по отделу"}).status_code == 403
    moved = archivist.post("archive", refile, {"case_index": "02-11", "reason": "исполняет другой отдел"})
    assert moved.json()["case"]["index"] == "02-11"
    assert _put(archivist, f"/documents/{first['id']}/sheets", {"sheets": 3}).json()["sheets"] == 3
    case = _case_of(clerk, first)
    for box in ("1", "2"):
        response = _put(archivist, f"/cases/{case['id']}/location", {"room": "101", "shelf": "3", "box": box})
        assert response.status_code == 200, response.text
    closed = archivist.post("archive", "/cases/close-year", {"year": YEAR})
    assert closed.status_code == 200, closed.text
    assert archivist.post("archive", refile, {"case_index": "02-10", "reason": "назад"}).status_code == 409

    def inventory() -> dict[str, Any] | None:
        body: dict[str, Any] = clerk.get("archive", f"/cases/{case['id']}").json()
        return body if body["status"] == "closed" and len(body["locations"]) == 2 else None

    body = eventually(inventory)
    assert (body["closed_on"], body["retention_end"]) == (f"{YEAR}-12-31", f"{YEAR + 6}-01-01")
    assert body["location"] == body["locations"][-1]
    assert [b["box"] for b in body["locations"]] == ["1", "2"]
    assert [(line["reg_number"], line["sheets"], line["files"]) for line in body["inventory"]] == [
        (first["reg_number"], 3, 1)
    ]
    listed = clerk.get("archive", "/cases", org=clerk.org, year=YEAR).json()
    assert {c["case_index"]: c["status"] for c in listed} == {"01-03": "closed", "02-10": "closed",
                                                              "02-11": "closed"}  # fmt: skip


def test_an_inventory_as_pdf_and_as_ods(filed: dict[str, Any], clerk: Client) -> None:
    case = _case_of(clerk, filed["letters"][0])
    pdf = clerk.get("archive", f"/cases/{case['id']}", format="pdf")
    assert (pdf.status_code, pdf.headers["content-type"], pdf.content[:5]) == (200, "application/pdf", b"%PDF-")
    ods = httpx.get(clerk.url("archive", f"/cases/{case['id']}"), timeout=10,
                    headers={**clerk.headers, "Accept": "application/vnd.oasis.opendocument.spreadsheet"})  # fmt: skip
    with zipfile.ZipFile(io.BytesIO(ods.content)) as sheet:
        assert sheet.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        assert filed["letters"][0]["reg_number"].encode() in sheet.read("content.xml")


def test_cases_due_for_transfer_and_for_disposal(filed: dict[str, Any], clerk: Client) -> None:
    eventually(lambda: all(c["closed_on"] for c in clerk.get("archive", "/cases", year=YEAR).json()))
    transfer = clerk.get("archive", "/cases/due-for-transfer").json()
    assert [(c["case_index"], c["overdue"]) for c in transfer] == [("01-03", True)]  # 1-3 years after closing
    soon = clerk.get("archive", "/cases/due-for-transfer", as_of=f"{YEAR + 2}-01-01").json()
    assert [(c["case_index"], c["overdue"]) for c in soon] == [("01-03", False)]
    assert clerk.get("archive", "/cases/due-for-transfer", as_of=f"{YEAR + 1}-12-31").json() == []
    disposal = clerk.get("archive", "/cases/due-for-disposal").json()
    assert sorted(c["case_index"] for c in disposal) == ["02-10", "02-11"]  # never the permanent one


# -- 3. transfer package -----------------------------------------------------------------------------------------------
def test_a_transfer_package_verifies_offline_and_imports_with_the_same_inventory(
    filed: dict[str, Any], archivist: Client, clerk: Client, postgres_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    order_case = _case_of(clerk, filed["order"])
    letters_case = _case_of(clerk, filed["letters"][0])
    refused = archivist.post("archive", "/transfers", {"case_ids": [letters_case["id"]]})
    assert (refused.status_code, "is temporary" in refused.text) == (409, True)
    made = archivist.post("archive", "/transfers", {"case_ids": [order_case["id"]]})
    assert made.status_code == 201, made.text
    record = made.json()
    download = archivist.get("archive", f"/transfers/{record['id']}/package")
    assert download.headers["x-package-seal"] == record["seal"]
    package = tmp_path / "transfer.zip"
    package.write_bytes(download.content)

    assert archive_cli(["verify", str(package), "--seal", record["seal"]]) == 0
    damaged = tmp_path / "damaged.zip"
    data = bytearray(download.content)
    data[data.find(b"%PDF signed order") + 5] ^= 1
    damaged.write_bytes(bytes(data))
    assert archive_cli(["verify", str(damaged), "--seal", record["seal"]]) == 1
    assert f"files/{filed['order_sha']}: content changed" in capsys.readouterr().err

    # the organization's archive elsewhere: another database, another blob store
    elsewhere = database_url(postgres_url, f"edms_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(database_url(postgres_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{elsewhere.rsplit("/", 1)[1]}"')
    monkeypatch.setenv("EDMS_DATABASE_URL", elsewhere)
    monkeypatch.delenv("EDMS_BLOB_URL", raising=False)
    there = tmp_path / "elsewhere"
    assert archive_cli(["--data-dir", str(there), "import", str(damaged)]) == 1  # refused whole
    assert archive_cli(["--data-dir", str(there), "import", str(package), "--by", "state-archive"]) == 0
    with zipfile.ZipFile(package) as archive:
        sent = json.loads(archive.read("inventory.json"))
    app = build_application(ArchiveApplication, elsewhere, "archive")
    try:
        (case,) = [app.case(uuid.UUID(order_case["id"]))]
        documents = {case.id: [uuid.UUID(line["document_id"]) for line in sent["cases"][0]["lines"]]}
        imported: list[PackageCase] = app.package_cases([case], documents)
        assert inventory_json(imported) == sent
        assert case.status == "transferred"
    finally:
        app.close()
    assert (there / "blobs" / filed["order_sha"][:2] / filed["order_sha"][2:4] / filed["order_sha"]).exists()
    mine = clerk.get("archive", f"/cases/{order_case['id']}").json()
    assert [line["reg_number"] for line in mine["inventory"]] == [
        line["reg_number"] for line in sent["cases"][0]["lines"]
    ]
    assert mine["status"] == "transferred"


# -- 4. disposal -------------------------------------------------------------------------------------------------------
def _blob(stack: Stack, sha: str) -> Path:
    return stack.data_dir / "blobs" / sha[:2] / sha[2:4] / sha


def _every_other_path(client: Client, ids: dict[str, str]) -> list[tuple[str, str, int]]:
    """Every route of the archive with every method, path parameters filled with real ids, bodies that ask for
    deletion in every way a client might: nothing but the act's execution may destroy anything."""
    from fastapi.routing import APIRoute

    answers = []
    bodies: list[Any] = [{}, {"case_ids": [ids["case_id"]], "reason": "удалить", "delete": True, "status": "destroyed"}]
    for route in archive_routes.routes:
        assert isinstance(route, APIRoute)
        if route.path.endswith("/execute"):
            continue
        path = route.path.format(**ids)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            for body in bodies:
                response = httpx.request(method, client.url("archive", path), headers=client.headers, json=body,
                                         timeout=30)  # fmt: skip
                answers.append((method, path, response.status_code))
    return answers


def _route_of(client: Client, act: dict[str, Any]) -> dict[str, Any]:
    """The act's route in routing (its document id is the act's), once routing has heard of the act."""

    def found() -> dict[str, Any] | None:
        response = client.get("routing", f"/documents/{act['id']}/route")
        return response.json() if response.status_code == 200 and response.json()["participants"] else None

    return eventually(found)


def _decide(client: Client, act: dict[str, Any], decision: str, remarks: str | None = None) -> httpx.Response:
    body = {"decision": decision, **({"remarks": remarks} if remarks else {})}
    return client.post("routing", f"/documents/{act['id']}/approval/decisions", body)


def _act_status(client: Client, act: dict[str, Any], status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get("archive", f"/disposal-acts/{act['id']}").json()
        return body if body["status"] == status else None

    return eventually(reached)


async def _redeliver(stack: Stack, route_id: str, event_type: str) -> int:
    """Publish again, byte for byte, every `event_type` of the route found on routing's topic: a redelivery."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from edms_contracts.topics import ROUTING_ROUTE

    assert stack.kafka_bootstrap
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(ROUTING_ROUTE.name, p) for p in range(ROUTING_ROUTE.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        again = []
        for _ in range(10):
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for record in records:
                    body = json.loads(record.value or b"{}")
                    if body.get("event_type") == event_type and body.get("aggregate_id") == route_id:
                        again.append(record)
        for record in again:
            await producer.send_and_wait(ROUTING_ROUTE.name, value=record.value, key=record.key)
        return len(again)
    finally:
        await consumer.stop()
        await producer.stop()


def _duplicates(stack: Stack) -> float:
    text = httpx.get(f"{stack.processes['archive'].url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("edms_consumer_duplicates_total{") and 'consumer="archive' in line
    )


def test_destruction_only_through_an_act_the_expert_commission_approved_in_routing_and_no_other_path_deletes(
    stack: Stack, filed: dict[str, Any], archivist: Client, commission: dict[str, Client], clerk: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Issue 11 item 5: the expert commission approves (or rejects) a disposal act at a routing stage; only an
    approved act destroys; the drafter never judges their own act; a redelivered decision changes nothing."""
    first, second = filed["letters"]
    temporary = [_case_of(clerk, first)["id"], _case_of(clerk, second)["id"]]
    permanent = _case_of(clerk, filed["order"])["id"]
    late = clerk.register(title="Письмо после закрытия года")  # its year's case is closed: a second volume opens
    volume = eventually(lambda: clerk.get("archive", f"/documents/{late['id']}").json().get("case"))
    assert (volume["index"], volume["volume"]) == ("02-10", 2)
    assert archivist.post("archive", f"/cases/{volume['id']}/close", {}).status_code == 200

    for cases, reason in (([*temporary, permanent], "is kept permanently"), ([volume["id"]], "not expired")):
        refused = archivist.post("archive", "/disposal-acts", {"case_ids": cases})
        assert (refused.status_code, reason in refused.text) == (409, True), refused.text
    own = archivist.post("archive", "/disposal-acts", {"case_ids": temporary, "expert_commission": ["arch1"]})
    assert (own.status_code, "expert_commission" in own.text) == (422, True), own.text
    ek1, ek2 = commission["ek1"], commission["ek2"]

    # the first act: the commission (everyone with the role but its drafter) rejects it, and its cases are free
    rejected = archivist.post("archive", "/disposal-acts", {"case_ids": temporary}).json()
    route = _route_of(ek1, rejected)
    assert (route["process"], sorted(route["participants"])) == ("16-disposal-act", ["ek1", "ek2"])
    task = eventually(
        lambda: [t for t in ek2.get("routing", "/inbox").json() if t["document_id"] == rejected["id"] and t["title"]]
    )
    assert (task[0]["task"], task[0]["title"].startswith("Акт о выделении к уничтожению")) == ("approve", True)
    assert _decide(archivist, rejected, "approve").status_code == 403  # the drafter is no member of this stage
    assert _decide(ek1, rejected, "reject", "ст. 27: дела ещё нужны для проверки").status_code == 201
    kept = _act_status(archivist, rejected, "rejected")
    assert kept["rejection"]["by"] == "ek1"
    assert "ещё нужны" in kept["rejection"]["reason"]

    # the second act, with the commission the archivist names: approved in routing, then executed
    body = {"case_ids": temporary, "note": "по истечении сроков", "expert_commission": ["ek1", "ek2"]}
    drafted = archivist.post("archive", "/disposal-acts", body)
    assert drafted.status_code == 201, drafted.text
    act = drafted.json()
    assert [c["documents"] for c in act["cases"]] == [1, 1]
    refused = ek1.post("archive", f"/disposal-acts/{act['id']}/approve", {"protocol": "№ 1"})
    assert (refused.status_code, "routing" in refused.text) == (409, True), refused.text
    execute = f"/disposal-acts/{act['id']}/execute"
    assert archivist.post("archive", execute, {}).status_code == 409  # not approved yet
    route = _route_of(ek1, act)
    assert _decide(archivist, act, "approve").status_code == 403
    assert _decide(ek1, act, "approve").status_code == 201
    assert archivist.get("archive", f"/disposal-acts/{act['id']}").json()["status"] == "drafted"  # ek2 is still due
    assert _decide(ek2, act, "approve_with_remarks", "описи сверены").status_code == 201
    approved = _act_status(archivist, act, "approved")
    assert approved["approval"]["by"] == "ek1, ek2"
    assert route["id"] in approved["approval"]["protocol"]
    assert [d["approver"] for d in approved["decisions"]] == ["ek1", "ek2"]

    before = _duplicates(stack)
    assert asyncio.run(_redeliver(stack, route["id"], "StageCompleted")) == 1
    eventually(lambda: _duplicates(stack) > before)
    again = archivist.get("archive", f"/disposal-acts/{act['id']}").json()
    assert (again["status"], again["approval"]) == ("approved", approved["approval"])

    ids = {"document_id": first["id"], "case_id": temporary[0], "org": clerk.org, "year": str(YEAR),
           "transfer_id": str(uuid.uuid4()), "act_id": act["id"]}  # fmt: skip
    for person in (archivist, ek1):
        answers = _every_other_path(person, ids)
        assert [a for a in answers if a[2] >= 500] == []
    assert _blob(stack, filed["letter_sha"]).exists()
    lines = [line for case in temporary for line in clerk.get("archive", f"/cases/{case}").json()["inventory"]]
    assert [line["destroyed_on"] for line in lines] == [None, None]

    done = archivist.post("archive", execute, {})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["files_deleted"]) == ("executed", 1)
    assert not _blob(stack, filed["letter_sha"]).exists()
    assert _blob(stack, filed["order_sha"]).exists()

    def destroyed() -> dict[str, Any] | None:
        body: dict[str, Any] = clerk.get("archive", f"/cases/{temporary[0]}").json()
        return body if body["status"] == "destroyed" and body["inventory"][0]["destroyed_on"] else None

    kept = eventually(destroyed)  # the inventory and the fact stay
    assert kept["inventory"][0]["reg_number"] == first["reg_number"]
    assert archivist.get("archive", f"/disposal-acts/{act['id']}").json()["executed"]["on"] == TODAY.isoformat()

    assert stack.database_url
    monkeypatch.setenv("EDMS_DATABASE_URL", stack.database_url)
    assert archive_cli(["--data-dir", str(stack.data_dir), "audit"]) == 0
