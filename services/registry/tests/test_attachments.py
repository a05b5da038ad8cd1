"""Attachments (issue 7, points 4 and 9): media types from a known list, safe names, text of every format, the
streamed upload's limits, and the extraction worker that records each file's text once, across restarts."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.requests import Request

from edms_contracts import DocumentKind
from edms_registry import extraction
from edms_registry.application import Registration, RegistryApplication
from edms_registry.attachments import (
    DOCX,
    MAX_NAME,
    MEDIA_TYPES,
    OCTET_STREAM,
    ODT,
    BadFileName,
    content_disposition,
    detect_media_type,
    safe_filename,
)
from edms_registry.attachments_api import FIELD_BYTES, TooLarge, Unsatisfiable, byte_range, receive_file
from edms_registry.domain import Card
from edms_registry.extraction import CHUNK_CHARS, ExtractionWorker, Unreadable, chunked, extract_text, record_text
from edms_runtime.blobs import LocalBlobs
from edms_runtime.db import make_pool
from edms_runtime.errors import DomainError, InvalidField
from edms_runtime.eventstore import build_application
from services.registry.tests import samples


# -- names -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Письмо от 20.11.2026.pdf", "Письмо от 20.11.2026.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\clerk\\Desktop\\скан.pdf", "скан.pdf"),
        ("отчёт\r\n\t2026.docx", "отчёт 2026.docx"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override would show it as "invoiceexe.pdf"
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ('a<b>:"c"|?*.txt', "a_b___c____.txt"),
        ("  .hidden. ", "hidden"),
        ("CON.txt", "_CON.txt"),
        ("Пи\u0306сьмо.txt", "Пйсьмо.txt"),  # decomposed й composed (NFC)
    ],
)
def test_file_names_are_stored_safely(sent: str, stored: str) -> None:
    """Issue 7 point 9: no paths, no control characters, length-limited."""
    assert safe_filename(sent) == stored


def test_a_long_name_is_cut_and_keeps_its_extension() -> None:
    name = safe_filename("Приложение " * 50 + ".docx")
    assert len(name) <= MAX_NAME
    assert name.endswith(".docx")
    assert name.startswith("Приложение Приложение")


@pytest.mark.parametrize("sent", ["", "..", "/", "C:\\", "\x01\x02", " . "])
def test_a_name_with_nothing_left_is_refused(sent: str) -> None:
    with pytest.raises(BadFileName):
        safe_filename(sent)


def test_content_disposition_carries_a_cyrillic_name_whole() -> None:
    """RFC 6266 with RFC 5987 `filename*`: the exact UTF-8 name, and an ASCII fallback that cannot break the header."""
    header = content_disposition('Письмо "срочно" 100%.pdf')
    fallback, extended = header.split("; filename*=")
    assert fallback == 'attachment; filename="______ ________ 100_.pdf"'
    charset, _, encoded = extended.partition("''")
    assert charset == "UTF-8"
    assert unquote(encoded, errors="strict") == 'Письмо "срочно" 100%.pdf'
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%-._~")
    assert "\r" not in header
    assert "\n" not in header


# -- media types -------------------------------------------------------------------------------------------------------
def _late_mimetype_zip() -> bytes:
    """An ODF package whose `mimetype` entry is not first (the head alone does not show it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("content.xml", "<office:document-content/>")
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    return out.getvalue()


def _detect(content: bytes, name: str, tmp_path: Path) -> str:
    path = tmp_path / "spooled"
    path.write_bytes(content)
    return detect_media_type(content[:8192], name, path)


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (lambda: samples.handwritten_pdf(["Order"]), "order.pdf", "application/pdf"),
        (lambda: samples.handwritten_pdf(["Order"]), "order.txt", "application/pdf"),  # the content decides
        (lambda: samples.docx(["Письмо"]), "письмо.docx", DOCX),
        (lambda: samples.docx(["Письмо"]), "письмо.zip", DOCX),
        (lambda: samples.odt("Заголовок", ["Текст"]), "a.odt", ODT),
        (lambda: _late_mimetype_zip(), "table.ods", "application/vnd.oasis.opendocument.spreadsheet"),
        (lambda: samples.rtf("Текст"), "a.doc", "application/rtf"),
        (lambda: "Простой текст письма".encode(), "a.txt", "text/plain"),
        (lambda: "Простой текст в cp1251".encode("cp1251"), "a.txt", "text/plain"),
        (lambda: "ФИО;Адрес\nИванов;Москва\n".encode(), "list.csv", "text/csv"),
        (lambda: b'<?xml version="1.0"?><card/>', "card.xml", "application/xml"),
        (lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(100), "scan.jpg", "image/jpeg"),
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(100), "scan.pdf", "image/png"),
        (lambda: b"MZ\x90\x00\x03" + bytes(range(256)), "letter.pdf", OCTET_STREAM),  # an executable named .pdf
    ],
)
def test_the_media_type_comes_from_the_content_and_a_known_list(
    make: Any, name: str, expected: str, tmp_path: Path
) -> None:
    """Issue 7 point 9: media types are taken from a known list, not trusted as sent."""
    detected = _detect(make(), name, tmp_path)
    assert detected == expected
    assert detected in MEDIA_TYPES


# -- text of each format -------------------------------------------------------------------------------------------
def _text(content: bytes, name: str, tmp_path: Path) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return extract_text(path, detect_media_type(content[:8192], name, path))


def test_text_of_a_pdf(tmp_path: Path) -> None:
    text = _text(samples.handwritten_pdf(["Order No. 15", "on road repairs (2026)"]), "order.pdf", tmp_path)
    assert text == "Order No. 15\non road repairs (2026)"


def test_text_of_a_pdf_in_cyrillic(tmp_path: Path) -> None:
    text = _text(samples.cyrillic_pdf(["Приказ о премировании", "сотрудников отдела"]), "приказ.pdf", tmp_path)
    assert text == "Приказ о премировании\nсотрудников отдела"


def test_text_of_a_docx_with_its_tables(tmp_path: Path) -> None:
    content = samples.docx(["О ремонте дорог", "Прошу выделить средства"], [["Участок", "Сумма"], ["М-5", "100"]])
    assert (
        _text(content, "письмо.docx", tmp_path) == "О ремонте дорог\nПрошу выделить средства\nУчасток\tСумма\nМ-5\t100"
    )


def test_text_of_an_odt(tmp_path: Path) -> None:
    content = samples.odt("Распоряжение", ["О подготовке к отопительному сезону", "Контроль оставляю за собой"])
    assert _text(content, "р.odt", tmp_path) == (
        "Распоряжение\nО подготовке к отопительному сезону\nКонтроль оставляю за собой"
    )


def test_text_of_an_rtf_in_its_code_page(tmp_path: Path) -> None:
    assert _text(samples.rtf("Обращение гражданина\nо ремонте крыши"), "о.rtf", tmp_path) == (
        "Обращение гражданина\nо ремонте крыши"
    )


def test_text_of_plain_text_in_utf8_and_cp1251(tmp_path: Path) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes("Жалоба на шум\x00\x07".encode())
    assert extract_text(path, "text/plain") == "Жалоба на шум"  # no NUL: PostgreSQL could not store it
    assert _text("Жалоба на шум".encode(), "a.txt", tmp_path) == "Жалоба на шум"
    assert _text("Старый файл в cp1251".encode("cp1251"), "b.txt", tmp_path) == "Старый файл в cp1251"


def test_an_image_has_no_text_and_a_damaged_pdf_is_unreadable(tmp_path: Path) -> None:
    assert _text(b"\xff\xd8\xff\xe0" + bytes(64), "scan.jpg", tmp_path) == ""
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>")
    with pytest.raises(Unreadable):
        extract_text(path, "application/pdf")


def test_a_decompression_bomb_fails_in_its_own_process_and_the_next_file_is_read(tmp_path: Path) -> None:
    """The extracting process runs with a memory limit: a DOCX of 0.5 MB that inflates to 150 MB of XML is
    recorded as unreadable; the registry's process is untouched and extracts the next file in a new one."""
    bomb, fine = tmp_path / "bomb.docx", tmp_path / "fine.docx"
    bomb.write_bytes(samples.docx_bomb(150))
    fine.write_bytes(samples.docx(["Обычное письмо"]))
    worker = ExtractionWorker(
        app=None,  # type: ignore[arg-type]  # extraction alone: nothing is recorded
        blobs=LocalBlobs(tmp_path),
        pool=None,  # type: ignore[arg-type]
        database_url="",
        max_chars=1000,
        timeout_seconds=60,
        memory_bytes=512 << 20,
    )

    async def extract_both() -> str:
        try:
            with pytest.raises(Unreadable):
                await worker._extract(bomb, DOCX)
            return await worker._extract(fine, DOCX)
        finally:
            worker._shutdown_executor()

    assert asyncio.run(extract_both()) == "Обычное письмо"


def test_a_large_text_comes_in_chunks_of_at_most_65536_characters() -> None:
    text = "абв" * (CHUNK_CHARS // 3 * 2 + 10)
    pieces = chunked(text)
    assert [len(p) for p in pieces] == [CHUNK_CHARS, CHUNK_CHARS, len(text) - 2 * CHUNK_CHARS]
    assert "".join(pieces) == text
    assert chunked("") == [""]  # a file without text is one empty chunk: search knows it is done


# -- the streamed upload ---------------------------------------------------------------------------------------------
def _request(body: bytes, boundary: str = "b", chunk: int = 1000, length: int | None = None) -> Request:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive() -> dict[str, Any]:
        data = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": data, "more_body": bool(pieces)}

    headers = [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def _multipart(content: bytes, filename: str = "письмо.txt", name: str = "file") -> bytes:
    return (
        (
            f'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nприложение\r\n'
            f'--b\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/x-msdownload\r\n\r\n"
        ).encode()
        + content
        + b"\r\n--b--\r\n"
    )


def test_an_upload_is_spooled_and_hashed_as_it_arrives(tmp_path: Path) -> None:
    content = "Текст письма ".encode() * 5000
    upload = asyncio.run(receive_file(_request(_multipart(content)), tmp_path / "spool", 1 << 20))
    assert upload.filename == "письмо.txt"
    assert upload.file.size == len(content)
    assert upload.file.sha256 == hashlib.sha256(content).hexdigest()
    assert (tmp_path / "spool").read_bytes() == content


def _several(*files: tuple[str, bytes], card: bytes | None = None) -> bytes:
    parts = [b'--b\r\nContent-Disposition: form-data; name="card"\r\n\r\n' + card] if card else []
    parts += [
        f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode() + content
        for name, content in files
    ]
    return b"\r\n".join(parts) + b"\r\n--b--\r\n"


def _spools(directory: Path) -> Any:
    numbers = iter(range(100))
    directory.mkdir()
    return lambda: directory / f"{next(numbers)}.part"


def test_several_files_are_spooled_each_to_its_own_file_beside_the_card(tmp_path: Path) -> None:
    """A letter and its appendices in one request (POST /documents/with-attachments): each file hashed apart,
    the card kept as sent."""
    letter, appendix = "Скан письма ".encode() * 300, "Приложение 1 ".encode() * 200
    body = _several(("письмо.pdf", letter), ("../приложение.txt", appendix), card=b'{"kind": "incoming_letter"}')

    upload = asyncio.run(
        receive_file(_request(body), _spools(tmp_path / "spool"), 1 << 20, fields=frozenset({"card"}), max_files=3)
    )

    assert [(name, spooled.size, spooled.sha256) for spooled, name in upload.files] == [
        ("письмо.pdf", len(letter), hashlib.sha256(letter).hexdigest()),
        ("приложение.txt", len(appendix), hashlib.sha256(appendix).hexdigest()),
    ]
    assert [spooled.path.read_bytes() for spooled, _ in upload.files] == [letter, appendix]
    assert upload.fields == {"card": b'{"kind": "incoming_letter"}'}


def test_a_card_over_its_limit_is_413_naming_it_and_no_file_is_kept(tmp_path: Path) -> None:
    body = _several(("письмо.txt", b"text"), card=b"x" * (FIELD_BYTES + 1))
    with pytest.raises(TooLarge) as refused:
        asyncio.run(receive_file(_request(body), _spools(tmp_path / "spool"), 1000, fields=frozenset({"card"})))
    assert refused.value.errors == [("card", f"the field `card` is larger than {FIELD_BYTES} bytes")]
    assert list((tmp_path / "spool").iterdir()) == []


@pytest.mark.parametrize(
    ("files", "refusal", "status"),
    [
        ([("1.txt", b"a"), ("2.txt", b"b"), ("3.txt", b"c")], "at most 2 files per request", 422),
        ([("1.txt", b"a"), ("2.txt", bytes(1001))], "the file is larger than 1000 bytes", 413),
        ([("1.txt", b"a"), ("2.txt", b"")], "the file is empty", 422),
    ],
)
def test_one_bad_file_among_several_refuses_them_all_and_keeps_none(
    files: list[tuple[str, bytes]], refusal: str, status: int, tmp_path: Path
) -> None:
    with pytest.raises(DomainError) as refused:  # InvalidField (422) or TooLarge (413)
        asyncio.run(receive_file(_request(_several(*files)), _spools(tmp_path / "spool"), 1000, max_files=2))
    assert (refused.value.status, refused.value.errors) == (status, [("file", refusal)])
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(tmp_path: Path) -> None:
    with pytest.raises(TooLarge) as refused:
        asyncio.run(receive_file(_request(_multipart(bytes(1001))), tmp_path / "spool", 1000))
    assert refused.value.status == 413
    assert refused.value.errors == [("file", "the file is larger than 1000 bytes")]
    assert list(tmp_path.iterdir()) == []


def test_a_body_announced_far_over_the_limit_is_413_before_it_is_read(tmp_path: Path) -> None:
    read: list[int] = []
    request = _request(_multipart(b"x"), length=1000 + (1 << 20) + 1)
    original = request._receive

    async def receive() -> Any:
        read.append(1)
        return await original()

    request._receive = receive
    with pytest.raises(TooLarge):
        asyncio.run(receive_file(request, tmp_path / "spool", 1000))
    assert read == []
    assert list(tmp_path.iterdir()) == []


def test_a_file_at_the_limit_is_taken(tmp_path: Path) -> None:
    upload = asyncio.run(receive_file(_request(_multipart(bytes(1000))), tmp_path / "spool", 1000))
    assert upload.file.size == 1000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_multipart(b""), "the file is empty"),
        (
            _multipart(b"x", filename="../"),
            "the file name is empty once directories and control characters are removed",
        ),
        (_multipart(b"x", name="document"), "no file: send it in the multipart field `file`, with its name"),
    ],
)
def test_an_empty_file_a_bad_name_or_no_file_is_422(body: bytes, reason: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidField) as refused:
        asyncio.run(receive_file(_request(body), tmp_path / "spool", 1000))
    assert refused.value.errors == [("file", reason)]
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_multipart_body_is_422_and_nothing_is_kept(tmp_path: Path) -> None:
    body = b'garbage\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--b--\r\n'
    with pytest.raises(InvalidField) as refused:
        asyncio.run(receive_file(_request(body), tmp_path / "spool", 1000))
    [(field, reason)] = refused.value.errors
    assert field == "file"
    assert reason.startswith("the multipart body is malformed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=90-", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=95-200", (95, 99)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file (RFC 9110 lets a server ignore Range)
        ("items=0-9", None),
        ("bytes=a-b", None),
        ("bytes=9-1", None),
    ],
)
def test_one_byte_range_of_a_download(header: str | None, expected: tuple[int, int] | None) -> None:
    """RFC 9110 section 14.1.2 (byte ranges) on a file of 100 bytes."""
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_a_range_outside_the_file_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, 100)


# -- recording the text once, across restarts --------------------------------------------------------------------------
@pytest.fixture
def registry(fresh_database_url: str) -> Iterator[RegistryApplication]:
    app = build_application(RegistryApplication, fresh_database_url, "registry")
    try:
        yield app
    finally:
        app.close()


def _document(registry: RegistryApplication) -> uuid.UUID:
    card = Card(
        kind=DocumentKind.INCOMING_LETTER,
        title="О предоставлении сведений",
        correspondent="Росстат",
        correspondent_number=f"12-07/{uuid.uuid4().hex[:6]}",
        correspondent_date=date(2026, 11, 20),
    )
    registration = Registration(card=card, reg_date=date(2026, 11, 25), org="org", unit="01", registered_by="c")
    return registry.register(registration).id


def _attach(registry: RegistryApplication, blobs: LocalBlobs, document_id: uuid.UUID, content: bytes, name: str) -> str:
    path = blobs.spool()
    path.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    media_type = detect_media_type(content[:8192], name, path)
    blobs.adopt(path, sha)
    registry.add_attachment(
        document_id, sha256=sha, filename=name, media_type=media_type, size=len(content), added_by="clerk"
    )
    return sha


def test_text_is_recorded_once(registry: RegistryApplication) -> None:
    document_id = _document(registry)
    sha = hashlib.sha256(b"x").hexdigest()
    registry.add_attachment(document_id, sha256=sha, filename="a.txt", media_type="text/plain", size=1, added_by="c")
    assert record_text(registry, document_id, sha, "x" * (CHUNK_CHARS + 1))
    assert not record_text(registry, document_id, sha, "again")
    chunks = list(extraction.extracted_chunks(registry, document_id))
    assert [(c["chunk"], c["chunks"], len(c["text"])) for c in chunks] == [(0, 2, CHUNK_CHARS), (1, 2, 1)]
    assert registry.card(document_id).attachments[0]["text"] == "extracted"


def test_the_worker_extracts_every_file_once_and_not_again_after_a_restart(
    registry: RegistryApplication, fresh_database_url: str, tmp_path: Path
) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    first = _document(registry)
    second = _document(registry)
    _attach(registry, blobs, first, samples.docx(["Письмо о ремонте дорог"]), "письмо.docx")
    _attach(registry, blobs, first, samples.rtf("Приложение к письму"), "приложение.rtf")
    broken = _attach(registry, blobs, second, b"%PDF-1.4 not really a pdf", "скан.pdf")
    _attach(registry, blobs, second, b"\xff\xd8\xff\xe0" + bytes(64), "фото.jpg")
    pool = make_pool(fresh_database_url, "registry")

    def run_worker() -> None:
        worker = ExtractionWorker(
            app=registry, blobs=blobs, pool=pool, database_url=fresh_database_url, max_chars=1000, timeout_seconds=60
        )

        async def until_done() -> None:
            task = asyncio.create_task(worker.run())
            for _ in range(600):
                await asyncio.sleep(0.1)
                cards = [registry.card(first), registry.card(second)]
                if all(a["text"] != "pending" for card in cards for a in card.attachments) and worker._position():
                    break
            worker.stop()
            await asyncio.wait_for(task, 30)

        asyncio.run(until_done())

    try:
        run_worker()
        texts = {c["filename"]: c for c in extraction.extracted_chunks(registry, first)}
        assert texts["письмо.docx"]["text"] == "Письмо о ремонте дорог"
        assert texts["приложение.rtf"]["text"] == "Приложение к письму"
        failed, photo = extraction.extracted_chunks(registry, second)
        assert (failed["sha256"], failed["text"], failed["chunks"]) == (broken, "", 1)
        assert failed["error"].startswith("the file could not be read")
        assert (photo["filename"], photo["text"], photo["chunks"], photo["error"]) == ("фото.jpg", "", 1, None)
        assert [a["text"] for a in registry.card(second).attachments] == ["failed", "extracted"]
        versions = [len(registry.recorder.select_events(d)) for d in (first, second)]

        # a restart that lost its position reads every AttachmentAdded again, and records nothing twice
        with pool.connection() as conn:
            conn.execute("UPDATE extraction_position SET position = 0")
        run_worker()
        assert [len(registry.recorder.select_events(d)) for d in (first, second)] == versions
    finally:
        pool.close()
