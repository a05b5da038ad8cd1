"""Attachments through the running system (issue 7, points 4, 7 and 9): streamed upload into the blob store,
idempotence, limits, safe names and media types, download by readers only, the history of process 7 (DOMAIN.md:
attaching an appendix to an incoming document records who added what and when), and the extracted text published
on the registry's topic for search."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from edms_contracts import Envelope, decode
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from services.registry.tests import samples
from tests.support import Client, eventually, incoming

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _upload(
    client: Client, document_id: str, name: str, content: bytes, media_type: str = "image/png"
) -> httpx.Response:
    """Sent with a media type that is not the file's: the registry finds the type itself."""
    return httpx.post(
        client.url("registry", f"/documents/{document_id}/attachments"),
        headers=client.headers,
        files={"file": (name, content, media_type)},
        timeout=60,
    )


def _attachment_events(stack: Stack, document_id: str, event: str = "AttachmentAdded") -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM registry.registryapplication_events WHERE originator_id = %s AND topic LIKE %s",
            (document_id, f"%.{event}"),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _stored_files(stack: Stack) -> set[str]:
    root = stack.data_dir / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _other_org(stack: Stack) -> Client:
    org = f"other-{uuid.uuid4().hex[:6]}"
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="clerk9", org=org, unit="01", roles=["clerk"])
    return Client(stack, token, org)


def test_an_attached_file_is_stored_by_hash_downloaded_and_in_the_history(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="О ремонте дорог, с приложением")
    content = samples.cyrillic_pdf(["Приложение к письму о ремонте дорог"])

    response = _upload(clerk, document["id"], "Приложение №1.pdf", content)

    assert response.status_code == 201, response.text
    sha = hashlib.sha256(content).hexdigest()
    attached = response.json()
    assert {k: attached[k] for k in ("sha256", "filename", "media_type", "size", "added_by", "text")} == {
        "sha256": sha,
        "filename": "Приложение №1.pdf",
        "media_type": "application/pdf",  # not the image/png the client claimed
        "size": len(content),
        "added_by": "clerk1",
        "text": "pending",
    }
    assert sha in _stored_files(stack)

    download = clerk.get("registry", f"/documents/{document['id']}/attachments/{sha}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-length"] == str(len(content))
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Приложение №1.pdf"

    url = clerk.url("registry", f"/documents/{document['id']}/attachments/{sha}")
    part = httpx.get(url, headers={**clerk.headers, "Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.content == content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(content)}"
    outside = httpx.get(url, headers={**clerk.headers, "Range": f"bytes={len(content)}-"}, timeout=10)
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(content)}"

    listed = clerk.get("registry", f"/documents/{document['id']}/attachments").json()
    assert [(a["sha256"], a["added_by"]) for a in listed] == [(sha, "clerk1")]
    card = clerk.get("registry", f"/documents/{document['id']}").json()
    assert [(a["sha256"], a["filename"], a["added_by"]) for a in card["attachments"]] == [
        (sha, "Приложение №1.pdf", "clerk1")
    ]
    history = clerk.get("registry", f"/documents/{document['id']}/history").json()
    added = [entry for entry in history if entry["event"] == "AttachmentAdded"]
    assert [(e["by"], e["changes"]["filename"], e["changes"]["sha256"]) for e in added] == [
        ("clerk1", "Приложение №1.pdf", sha)
    ]
    assert added[0]["at"]


def test_the_same_file_twice_is_200_with_the_same_attachment_and_no_second_event(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Повторная загрузка")
    content = samples.docx(["Письмо о повторной загрузке"])
    first = _upload(clerk, document["id"], "письмо.docx", content)
    assert first.status_code == 201, first.text

    again = _upload(clerk, document["id"], "письмо (копия).docx", content)

    assert again.status_code == 200, again.text
    # the same attachment; only its text's extraction may have moved on meanwhile (pending -> extracted)
    assert again.json() | {"text": None} == first.json() | {"text": None}
    assert (first.json()["text"], again.json()["text"]) in {("pending", "pending"), ("pending", "extracted"),
                                                             ("extracted", "extracted")}  # fmt: skip
    assert _attachment_events(stack, document["id"]) == 1


def test_a_file_over_100_mb_is_413_and_nothing_is_written(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Слишком большой файл")
    before = _stored_files(stack)
    content = b"\x00" * (100 * 1024 * 1024 + 1)  # the default limit, plus one byte

    response = _upload(clerk, document["id"], "большой.bin", content)

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "file", "reason": "the file is larger than 104857600 bytes"}]
    assert _attachment_events(stack, document["id"]) == 0
    assert _stored_files(stack) == before  # no blob, and nothing left in the spool


def test_an_empty_file_is_422_and_nothing_is_written(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Пустой файл")

    response = _upload(clerk, document["id"], "пусто.txt", b"")

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "file", "reason": "the file is empty"}]
    assert _attachment_events(stack, document["id"]) == 0


def test_a_path_in_the_name_is_dropped_and_a_name_of_nothing_is_422(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Имена файлов")

    response = _upload(clerk, document["id"], "../../etc/passwd\u202e.txt", b"root:x:0:0")
    refused = _upload(clerk, document["id"], "../..", b"content")

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "passwd.txt"
    assert response.json()["media_type"] == "text/plain"
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "file"
    assert _attachment_events(stack, document["id"]) == 1


def test_another_organization_cannot_download_or_list(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Только для своих")
    content = b"%PDF-1.4 internal"
    assert _upload(clerk, document["id"], "скан.pdf", content).status_code == 201
    sha = hashlib.sha256(content).hexdigest()
    outsider = _other_org(stack)

    assert outsider.get("registry", f"/documents/{document['id']}/attachments/{sha}").status_code == 404
    assert outsider.get("registry", f"/documents/{document['id']}/attachments").status_code == 404
    assert _upload(outsider, document["id"], "чужое.pdf", b"%PDF-1.4 x").status_code == 404
    unknown = hashlib.sha256(b"never attached").hexdigest()
    assert clerk.get("registry", f"/documents/{document['id']}/attachments/{unknown}").status_code == 404
    assert clerk.get("registry", f"/documents/{document['id']}/attachments/not-a-hash").status_code == 422


def test_an_executor_attaches_to_a_draft_but_not_to_a_registered_card(stack: Stack, clerk: Client) -> None:
    """A draft's files come with its making (executors draft: DOMAIN.md processes 4 and 5); appendices of a
    registered document go through the records office (process 7)."""
    token = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user="executor1", org=clerk.org, unit="01", roles=["executor"]
    )
    executor = Client(stack, token, clerk.org)
    draft = executor.post(
        "registry",
        "/drafts",
        {"kind": "internal", "title": "Служебная записка", "addressee": "Начальник отдела", "signer": {"name": "П"}},
    )
    assert draft.status_code == 201, draft.text
    letter = clerk.register(title="Входящее письмо")

    to_draft = _upload(executor, draft.json()["id"], "проект.docx", samples.docx(["Проект служебной записки"]))
    to_letter = _upload(executor, letter["id"], "приложение.txt", b"text")

    assert to_draft.status_code == 201, to_draft.text
    assert to_letter.status_code == 403
    assert _attachment_events(stack, letter["id"]) == 0


def test_the_extracted_text_reaches_the_broker_for_search(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="Письмо с текстом во вложении")
    content = samples.docx(["О подготовке к отопительному сезону", "Прошу принять меры"])
    assert _upload(clerk, document["id"], "письмо.docx", content).status_code == 201
    sha = hashlib.sha256(content).hexdigest()

    published = asyncio.run(_text_events(stack, document["id"]))

    assert [(e["sha256"], e["filename"], e["chunk"], e["chunks"]) for e in published] == [(sha, "письмо.docx", 0, 1)]
    assert published[0]["text"] == "О подготовке к отопительному сезону\nПрошу принять меры"
    listed = eventually(lambda: clerk.get("registry", f"/documents/{document['id']}/attachments").json())
    assert listed[0]["text"] == "extracted"
    assert _attachment_events(stack, document["id"], "AttachmentTextExtracted") == 1


def test_a_document_is_found_by_the_text_of_its_attachment(stack: Stack, clerk: Client) -> None:
    """Issue 7 point 4, "published for search": words only the file has, in other forms than the file's (search
    indexes AttachmentTextExtracted with the russian configuration), find the card."""
    document = clerk.register(title="Письмо без этих слов в заголовке")
    content = samples.odt("Справка", ["О состоянии водопроводных сетей микрорайона Заречный"])
    assert _upload(clerk, document["id"], "справка.odt", content).status_code == 201

    def found() -> list[str]:
        response = clerk.get("search", "/search", q="водопроводная сеть Заречного")
        return [hit["id"] for hit in response.json()["hits"]] if response.status_code == 200 else []

    assert eventually(found, timeout=60) == [document["id"]]


def _register_with(
    client: Client,
    card: dict[str, Any] | str | None,
    name: str,
    content: bytes,
    *more: tuple[str, bytes],
    **headers: str,
) -> httpx.Response:
    """POST /documents/with-attachments: the card as the JSON part `card`, each file as a part `file`."""
    parts: list[tuple[str, Any]] = []
    if card is not None:
        parts.append(("card", (None, card if isinstance(card, str) else json.dumps(card), "application/json")))
    parts += [("file", (n, c, "application/octet-stream")) for n, c in ((name, content), *more)]
    return httpx.post(
        client.url("registry", "/documents/with-attachments"),
        headers={**client.headers, **headers},
        files=parts,
        timeout=60,
    )


def _events_of_kind(stack: Stack, event: str) -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM registry.registryapplication_events WHERE topic LIKE %s", (f"%.{event}",)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_scanned_letter_is_registered_with_its_file_in_one_request(stack: Stack, clerk: Client) -> None:
    """Processes 1 and 7 (DOMAIN.md) at once: the card gets its number and the file, who added it and when, in
    one transaction; the file is stored by hash, downloadable, and its text published for search."""
    content = samples.cyrillic_pdf(["Скан письма о капитальном ремонте кровли школы № 5"])
    sha = hashlib.sha256(content).hexdigest()
    card = incoming(title="О капитальном ремонте кровли")

    response = _register_with(clerk, card, "скан письма.pdf", content)

    assert response.status_code == 201, response.text
    document = response.json()
    assert document["reg_number"]
    assert document["status"] == "registered"
    assert document["correspondent_number"] == card["correspondent_number"]
    assert [
        (a["sha256"], a["filename"], a["media_type"], a["size"], a["added_by"]) for a in document["attachments"]
    ] == [(sha, "скан письма.pdf", "application/pdf", len(content), "clerk1")]
    assert sha in _stored_files(stack)
    download = clerk.get("registry", f"/documents/{document['id']}/attachments/{sha}")
    assert (download.status_code, download.content) == (200, content)
    history = clerk.get("registry", f"/documents/{document['id']}/history").json()
    assert [entry["event"] for entry in history][:2] == ["Registered", "AttachmentAdded"]
    assert history[0]["version"] + 1 == history[1]["version"]

    def text() -> str:
        listed = clerk.get("registry", f"/documents/{document['id']}/attachments").json()
        return str(listed[0]["text"])

    assert eventually(lambda: text() if text() != "pending" else None, timeout=30) == "extracted"


def test_a_letter_with_its_appendices_in_one_request_gets_every_file_in_order(stack: Stack, clerk: Client) -> None:
    """DOMAIN.md, the card's appendices: the scan and two appendices (one sent twice) in one request; each file
    once, in the order sent, each findable by its hash; a request of more than 20 files is refused whole."""
    scan = samples.cyrillic_pdf(["Письмо о подготовке к паводку"])
    table = samples.docx(["Перечень населённых пунктов в зоне подтопления"])
    note = "Пояснительная записка к письму".encode()
    response = _register_with(
        clerk,
        incoming(title="О подготовке к паводку", appendices=2),
        "письмо.pdf",
        scan,
        ("перечень.docx", table),
        ("записка.txt", note),
        ("записка (копия).txt", note),
    )

    assert response.status_code == 201, response.text
    document = response.json()
    assert [(a["filename"], a["media_type"], a["sha256"]) for a in document["attachments"]] == [
        ("письмо.pdf", "application/pdf", hashlib.sha256(scan).hexdigest()),
        ("перечень.docx", DOCX, hashlib.sha256(table).hexdigest()),
        ("записка.txt", "text/plain", hashlib.sha256(note).hexdigest()),
    ]
    assert _attachment_events(stack, document["id"]) == 3
    assert {hashlib.sha256(c).hexdigest() for c in (scan, table, note)} <= _stored_files(stack)

    stored = _stored_files(stack)
    many = [(f"{i}.txt", f"Приложение {i}".encode()) for i in range(21)]
    refused = _register_with(clerk, incoming(title="Слишком много файлов"), *many[0], *many[1:])
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [{"field": "file", "reason": "at most 20 files per request"}]
    assert _stored_files(stack) == stored


def test_a_repeat_with_the_same_key_gets_the_same_card_and_another_file_is_refused(stack: Stack, clerk: Client) -> None:
    """A lost answer: the same request again (Idempotency-Key) is the same card with its one file; the same key with
    another file is another request (422), and registers nothing."""
    card = incoming(title="Повтор запроса со сканом")
    key = f"scan-{uuid.uuid4()}"
    first = _register_with(clerk, card, "скан.txt", "Текст скана".encode(), **{"Idempotency-Key": key})
    again = _register_with(clerk, card, "скан.txt", "Текст скана".encode(), **{"Idempotency-Key": key})
    other = _register_with(clerk, card, "скан.txt", "Другой скан".encode(), **{"Idempotency-Key": key})
    more = _register_with(
        clerk, card, "скан.txt", "Текст скана".encode(), ("ещё.txt", b"more"), **{"Idempotency-Key": key}
    )

    assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reg_number"] == first.json()["reg_number"]
    assert _attachment_events(stack, first.json()["id"]) == 1
    for refused in (other, more):
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_bad_card_or_file_with_one_request_registers_nothing(stack: Stack, clerk: Client) -> None:
    """Issue 7 point 9 through the one-request registration: the card's fields are named as sent (`card.<field>`),
    nothing is numbered, no file is stored."""
    registered = _events_of_kind(stack, "Registered")
    stored = _stored_files(stack)
    content = "Файл, который не должен сохраниться".encode()
    no_correspondent = {k: v for k, v in incoming().items() if k != "correspondent"}

    answers = {
        "no card": _register_with(clerk, None, "скан.txt", content),
        "not JSON": _register_with(clerk, "{not json", "скан.txt", content),
        "unknown kind": _register_with(clerk, incoming(kind="memo"), "скан.txt", content),
        "no correspondent": _register_with(clerk, no_correspondent, "скан.txt", content),
        "a mark not configured": _register_with(clerk, incoming(access="секретно"), "скан.txt", content),
        "an empty file": _register_with(clerk, incoming(), "скан.txt", b""),
    }

    fields = {what: [e["field"] for e in answer.json()["errors"]] for what, answer in answers.items()}
    assert {what: answer.status_code for what, answer in answers.items()} == dict.fromkeys(answers, 422), fields
    assert fields == {
        "no card": ["card"],
        "not JSON": ["card"],
        "unknown kind": ["card.kind"],
        "no correspondent": ["card.correspondent"],
        "a mark not configured": ["card.access"],
        "an empty file": ["file"],
    }
    assert _events_of_kind(stack, "Registered") == registered
    assert _stored_files(stack) == stored


def test_the_same_letter_with_a_scan_is_409_unless_confirmed(stack: Stack, clerk: Client) -> None:
    """Issue 7 point 6 through the one-request registration: the earlier card is named; confirmed, the duplicate is
    registered with its file and linked to the earlier one."""
    card = incoming(title="Письмо, пришедшее дважды")
    first = _register_with(clerk, card, "скан-1.txt", "Первый скан".encode())
    assert first.status_code == 201, first.text

    again = _register_with(clerk, card, "скан-2.txt", "Второй скан".encode())
    confirmed = _register_with(clerk, {**card, "confirm_duplicate": True}, "скан-2.txt", "Второй скан".encode())

    assert again.status_code == 409, again.text
    assert again.json()["earlier"] == {"id": first.json()["id"], "reg_number": first.json()["reg_number"]}
    assert confirmed.status_code == 201, confirmed.text
    duplicate = confirmed.json()
    assert [link["document_id"] for link in duplicate["links"] if link["link_type"] == "duplicate_of"] == [
        first.json()["id"]
    ]
    assert [a["filename"] for a in duplicate["attachments"]] == ["скан-2.txt"]


async def _text_events(stack: Stack, document_id: str, seconds: float = 30.0) -> list[dict[str, Any]]:
    """The AttachmentTextExtracted envelopes of a document on the registry's topic, read from the beginning."""
    assert stack.kafka_bootstrap
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        partitions = [TopicPartition(REGISTRY_DOCUMENT.name, p) for p in range(REGISTRY_DOCUMENT.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not found and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    assert record.value is not None
                    envelope: Envelope = decode(record.value)
                    if envelope.event_type == "AttachmentTextExtracted" and str(envelope.aggregate_id) == document_id:
                        found.append(envelope.payload)
    finally:
        await consumer.stop()
    return found


def test_kill_9_of_the_registry_while_scans_are_registered_loses_and_doubles_nothing(
    stack: Stack, clerk: Client
) -> None:
    """Nothing is lost (the guide's non-negotiable) through the one-request registration: eight clients register
    letters with their scans, each retrying with its Idempotency-Key, while the registry is killed (kill -9) and
    started again; every letter ends up registered once, with its one file, whose bytes are in the store."""
    run, count = uuid.uuid4().hex[:8], 60
    progress: list[int] = []

    def one(i: int) -> dict[str, Any]:
        card = incoming(title=f"Скан {run} № {i}")
        content = f"Скан письма {run} № {i}. ".encode() * 40
        for _ in range(600):
            try:
                response = _register_with(clerk, card, f"скан-{i}.txt", content, **{"Idempotency-Key": f"{run}-{i}"})
                if response.status_code == 201:
                    progress.append(i)
                    return {**response.json(), "sha": hashlib.sha256(content).hexdigest(), "content": content}
                assert response.status_code >= 500, response.text  # only "not now" is worth asking again
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"letter {i} could not be registered")

    def crash() -> None:
        eventually(lambda: len(progress) >= 15, timeout=120, interval=0.01)
        stack.processes["registry"].stop(kill=True)
        stack.start_service("registry").wait_ready(60)

    killer = threading.Thread(target=crash)
    killer.start()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(count)))
    killer.join(120)

    assert len(progress) == count
    assert len({a["id"] for a in answers}) == count
    assert len({a["reg_number"] for a in answers}) == count
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM registry.registryapplication_events "
            "WHERE topic LIKE '%%.Registered' AND convert_from(state, 'UTF8') LIKE %s",
            (f"%Скан {run} №%",),
        ).fetchone()
    assert row == (count,)  # none registered twice
    stored = _stored_files(stack)
    for answer in answers:
        card = clerk.get("registry", f"/documents/{answer['id']}").json()
        assert [a["sha256"] for a in card["attachments"]] == [answer["sha"]]
        assert _attachment_events(stack, answer["id"]) == 1
        assert answer["sha"] in stored
    sample = answers[count // 2]
    download = clerk.get("registry", f"/documents/{sample['id']}/attachments/{sample['sha']}")
    assert download.content == sample["content"]


def test_text_extraction_survives_a_kill_9_of_the_registry_and_extracts_nothing_twice(
    stack: Stack, clerk: Client
) -> None:
    """Last in this module: it kills the registry (kill -9, as a crash would) while the worker is half-way through
    the uploaded files, and starts it again; every file gets its text recorded exactly once."""
    uploaded: list[tuple[str, str]] = []
    for n in range(4):
        document = clerk.register(title=f"Перезапуск при извлечении текста {n}")
        files = [
            ("письмо.docx", samples.docx([f"Письмо номер {n} о ремонте"])),
            ("приказ.pdf", samples.handwritten_pdf([f"Order number {n}"])),
            ("обращение.rtf", samples.rtf(f"Обращение номер {n}")),
        ]
        for name, content in files:
            response = _upload(clerk, document["id"], name, content)
            assert response.status_code == 201, response.text
            uploaded.append((document["id"], response.json()["sha256"]))

    # once the worker has recorded some (usually not yet all: spawning its process takes a second)
    eventually(lambda: _pending(stack, uploaded) < len(uploaded), timeout=60, interval=0.02)
    stack.processes["registry"].stop(kill=True)
    stack.start_service("registry").wait_ready(60)

    def all_done() -> bool:
        documents = {document for document, _ in uploaded}
        listed = [clerk.get("registry", f"/documents/{d}/attachments").json() for d in documents]
        return all(a["text"] != "pending" for attachments in listed for a in attachments)

    eventually(all_done, timeout=120)
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT originator_id::text, count(*) FROM registry.registryapplication_events "
            "WHERE topic LIKE %s AND originator_id = ANY(%s) GROUP BY originator_id",
            ("%.AttachmentTextExtracted", [uuid.UUID(d) for d, _ in uploaded]),
        ).fetchall()
    assert dict(rows) == {document_id: 3 for document_id, _ in uploaded}  # one chunk per file, none twice
    for document_id, _ in uploaded:
        statuses = [a["text"] for a in clerk.get("registry", f"/documents/{document_id}/attachments").json()]
        assert statuses == ["extracted"] * 3


def _pending(stack: Stack, uploaded: list[tuple[str, str]]) -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM registry.registryapplication_events WHERE topic LIKE %s AND originator_id = ANY(%s)",
            ("%.AttachmentTextExtracted", [uuid.UUID(d) for d, _ in uploaded]),
        ).fetchone()
    assert row is not None
    return len(uploaded) - int(row[0])
