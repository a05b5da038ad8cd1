"""Registry HTTP API of attachments: upload (streamed into the blob store), list, download.

`POST /documents/{id}/attachments` (multipart field `file`) reads the request body as it arrives, writes the file to
the blob store's spool while hashing it, and stops at the size limit (413, nothing kept). The event carries hash,
size, media type and name, never the bytes (claim check). The same file again on the same card is answered 200 with
the attachment it has; no second event.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from python_multipart.exceptions import ParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from edms_registry.api import (
    DRAFTER_ROLES,
    REGISTRAR_ROLES,
    AttachmentView,
    CorrelationId,
    DocumentView,
    IdempotencyKey,
    RegisterRequest,
    Registry,
    Settings,
    register,
    registration,
)
from edms_registry.application import DocumentNotFound, NewAttachment
from edms_registry.attachments import BadFileName, Spooled, content_disposition, detect_media_type, safe_filename
from edms_registry.domain import CardHolder, Draft, attachment
from edms_runtime.apidocs import problem_answer
from edms_runtime.auth import CurrentPrincipal, Principal, readable, require_role
from edms_runtime.blobs import CHUNK, BlobMissing, Blobs
from edms_runtime.errors import DomainError, InvalidField, NotFound
from edms_runtime.http import problem
from edms_runtime.text import refuse_nul

router = APIRouter(tags=["attachments"])

#: Bytes of a request beyond the file itself (multipart boundaries and part headers) read before 413 is answered.
SLACK = 1 << 20
#: The most a form field sent beside the file may hold (the card of a registration: a JSON body's limit).
FIELD_BYTES = 1 << 20
#: Files registered with a card in one request (a letter and its appendices).
MAX_FILES = 20


class TooLarge(DomainError):
    status = 413
    title = "Content too large"


async def blob_store(request: Request) -> Blobs:
    value: Blobs = request.app.state.blobs
    return value


BlobStore = Annotated[Blobs, Depends(blob_store)]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex")]


def _visible(principal: Principal, card: CardHolder) -> CardHolder:
    """The read rule (edms_runtime.auth.readable): a card the caller may not read is not there for them (404)."""
    return readable(principal, card, or_raise=DocumentNotFound(card.id))


@router.post(
    "/documents/{document_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentView,
    responses={200: {"model": AttachmentView, "description": "This file is attached to the card already"}},
)
async def add_attachment(
    document_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    registry: Registry,
    blobs: BlobStore,
    config: Settings,
    correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Attach a file (multipart field `file`): process 7, an appendix to a document; the history shows who and when.

    The media type is found from the content (a known list), not taken as sent; the name is kept without
    directories or control characters. Larger than the limit (`EDMS_REGISTRY_MAX_ATTACHMENT_BYTES`, 100 MB): 413;
    empty: 422. Its text is extracted in the background and published for search.
    """
    require_role(principal, *DRAFTER_ROLES)
    card = _visible(principal, await asyncio.to_thread(registry.card, document_id))
    # a draft's files come with its making (executors); a registered card's appendices go through the records office
    require_role(principal, *(DRAFTER_ROLES if isinstance(card, Draft) and card.status == "draft" else REGISTRAR_ROLES))
    upload = await receive_file(request, blobs.spool(), config.max_attachment_bytes)
    try:
        media_type = await asyncio.to_thread(detect_media_type, upload.file.head, upload.filename, upload.file.path)
        await asyncio.to_thread(blobs.adopt, upload.file.path, upload.file.sha256)
    finally:
        upload.file.discard()  # adopted: gone already; refused: not kept
    entry, added = await asyncio.to_thread(
        registry.add_attachment,
        document_id,
        sha256=upload.file.sha256,
        filename=upload.filename,
        media_type=media_type,
        size=upload.file.size,
        added_by=principal.sub,
        correlation_id=correlation_id,
    )
    if added:
        _extract_soon(request)
    body = AttachmentView.model_validate(entry).model_dump(mode="json")
    return JSONResponse(body, status_code=status.HTTP_201_CREATED if added else status.HTTP_200_OK)


@router.post(
    "/documents/with-attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentView,
    tags=["documents"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["card", "file"],
                        "properties": {
                            "card": {"type": "string", "description": "The card, as the JSON of POST /documents"},
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "maxItems": MAX_FILES,
                                "description": "The scan and its appendices: the part `file` once for each",
                            },
                        },
                    },
                    "encoding": {"card": {"contentType": "application/json"}},
                }
            },
        }
    },
    responses={
        409: problem_answer("The same letter was registered before (`earlier` names it)"),
        413: problem_answer("A file over the size limit, or the card over 1 MiB"),
    },
)
async def register_with_attachments(
    request: Request,
    principal: CurrentPrincipal,
    registry: Registry,
    blobs: BlobStore,
    config: Settings,
    correlation_id: CorrelationId = None,
    idempotency_key: IdempotencyKey = None,
) -> DocumentView | JSONResponse:
    """Register a document with its files in one request, as a records office registers a scanned letter with its
    appendices (multipart: the part `card`, the JSON of POST /documents; the part `file` for each file, at most
    20, each within the size limit).

    The same as POST /documents then POST /documents/{id}/attachments for each file, in one transaction: the card
    gets its number and its files (process 7: who added them, and when) together, or none of it happens. A card
    refused (422 naming `card.<field>`), the same letter registered before (409), a file refused (413, 422):
    nothing is registered. The files are stored by their hashes once the card passes its own checks, before it is
    numbered; should numbering refuse it (an unknown journal or person, the same letter before), they stay in the
    store unreferenced, as any file whose upload a client gives up on. The same file twice is attached once.
    """
    require_role(principal, *REGISTRAR_ROLES)
    upload = await receive_file(
        request, blobs.spool, config.max_attachment_bytes, fields=frozenset({"card"}), max_files=MAX_FILES
    )
    try:
        body = _card(upload.fields.get("card"))
        files: dict[str, NewAttachment] = {}  # the same file twice in the request is attached once
        for spooled, filename in upload.files:
            media_type = await asyncio.to_thread(detect_media_type, spooled.head, filename, spooled.path)
            files.setdefault(spooled.sha256, NewAttachment(spooled.sha256, filename, media_type, spooled.size))
        try:
            cmd = registration(
                body, principal, registry, correlation_id, idempotency_key, attachments=tuple(files.values())
            )
        except InvalidField as exc:
            raise _in_card(exc) from None
        for spooled, _ in upload.files:
            await asyncio.to_thread(blobs.adopt, spooled.path, spooled.sha256)
    finally:
        upload.discard()  # adopted: gone already; refused: not kept
    try:
        answer = await register(registry, cmd)
    except InvalidField as exc:
        raise _in_card(exc) from None
    if not isinstance(answer, JSONResponse):
        _extract_soon(request)
    return answer


def _extract_soon(request: Request) -> None:
    """Wake the text extraction: a file was attached (it would find it at its next look anyway)."""
    worker = getattr(request.app.state, "extraction", None)
    if worker is not None:
        worker.wakeup.set()


def _in_card(exc: InvalidField) -> InvalidField:
    """A refusal of the card's fields, naming them as sent: within the part `card`."""
    errors = [(field if field == "Idempotency-Key" else f"card.{field}", reason) for field, reason in exc.errors]
    return InvalidField(exc.detail, field=errors[0][0] if errors else "card", errors=errors)


def _card(sent: bytes | None) -> RegisterRequest:
    """The `card` part as the body of POST /documents; refused as it would be, its fields named `card.<field>`."""
    if sent is None:
        raise InvalidField("no card: send the JSON of POST /documents in the multipart field `card`", field="card")
    try:
        return RegisterRequest.model_validate_json(sent)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", "card", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


@router.get("/documents/{document_id}/attachments", response_model=list[AttachmentView])
def list_attachments(document_id: uuid.UUID, principal: CurrentPrincipal, registry: Registry) -> list[dict[str, Any]]:
    """The card's files in the order they were attached: name, media type, size, who added each and when."""
    return list(_visible(principal, registry.card(document_id)).attachments)


@router.get(
    "/documents/{document_id}/attachments/{sha256}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"*/*": {}}, "description": "The file's bytes, as the media type it was attached with"},
        206: {"content": {"*/*": {}}, "description": "The part of the file a `Range: bytes=…` header asked for"},
        416: problem_answer("The range lies outside the file"),
    },
)
def download_attachment(
    document_id: uuid.UUID,
    sha256: Sha256,
    principal: CurrentPrincipal,
    registry: Registry,
    blobs: BlobStore,
    range_: Annotated[str | None, Header(alias="Range", max_length=200)] = None,
) -> Response:
    """The file, streamed, to whoever may read the card (404 to anyone else, as for a card that is not there).

    One byte range (`Range: bytes=0-1023`, `bytes=1024-`, `bytes=-500`) is answered 206 with that part (RFC 9110
    §14), so a browser can resume a download and a PDF viewer can read pages; several ranges get the whole file.
    """
    entry = attachment(_visible(principal, registry.card(document_id)), sha256)
    if entry is None:
        raise NotFound(f"document {document_id} has no file {sha256}")
    size = int(entry["size"])
    headers = {
        "Content-Type": str(entry["media_type"]),
        "Content-Disposition": content_disposition(str(entry["filename"])),
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{sha256}"',
        "Accept-Ranges": "bytes",
    }
    try:
        wanted = byte_range(range_, size)
    except Unsatisfiable:
        reason = f"the range lies outside the file of {size} bytes"
        errors = [{"field": "Range", "reason": reason}]
        return problem(416, "Range not satisfiable", reason, errors, {"Content-Range": f"bytes */{size}"})
    first, last = wanted if wanted is not None else (0, size - 1)
    try:
        source = blobs.open(sha256, start=first)
    except BlobMissing:
        raise NotFound(f"the file {sha256} is no longer in the store") from None

    def chunks() -> Iterator[bytes]:
        remaining = last - first + 1
        with source:
            while remaining > 0 and (data := source.read(min(CHUNK, remaining))):
                remaining -= len(data)
                yield data

    headers["Content-Length"] = str(last - first + 1)
    if wanted is None:
        return StreamingResponse(chunks(), headers=headers)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(chunks(), status_code=status.HTTP_206_PARTIAL_CONTENT, headers=headers)


class Unsatisfiable(ValueError):
    """The range asked for lies wholly outside the file."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range a `Range` header asks for, as (first, last) inclusive; None for the whole file (no header,
    another unit, several ranges, a malformed one: RFC 9110 lets a server ignore those); raises `Unsatisfiable` when
    it lies wholly outside the file."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    start, dash, end = spec.strip().partition("-")
    if not dash or not (start.isdigit() or end.isdigit()) or (start and not start.isdigit()):
        return None
    if end and not end.isdigit():
        return None
    if not start:  # the last `end` bytes
        suffix = int(end)
        if not suffix or not size:
            raise Unsatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size:
        raise Unsatisfiable(header)
    return None if last < first else (first, last)


# -- streaming multipart ---------------------------------------------------------------------------------------------
class Upload:
    def __init__(self, files: list[tuple[Spooled, str]], fields: dict[str, bytes] | None = None) -> None:
        #: The files in the order sent, each with its safe name.
        self.files = files
        #: The form fields asked for, as sent.
        self.fields = fields or {}

    @property
    def file(self) -> Spooled:
        return self.files[0][0]

    @property
    def filename(self) -> str:
        return self.files[0][1]

    def discard(self) -> None:
        for spooled, _ in self.files:
            spooled.discard()


async def receive_file(
    request: Request,
    spool: pathlib.Path | Callable[[], pathlib.Path],
    limit: int,
    fields: frozenset[str] = frozenset(),
    max_files: int = 1,
) -> Upload:
    """Read the multipart body as it arrives; each part named `file` goes to a spool file (`spool`, or a new one
    from `spool()` for each), hashed while it is written, and the parts named in `fields` are kept
    (`Upload.fields`, at most FIELD_BYTES each).

    Refuses (nothing kept): no multipart body or no `file` part, a name that is not safe to keep, more than
    `max_files` files, an empty file (422), a file over `limit` bytes (413), a field over FIELD_BYTES (413).
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidField("send the file as multipart/form-data, in the field `file`", field="file")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit * max_files + SLACK:
        raise TooLarge(f"the file is larger than {limit} bytes", field="file")
    paths = spool if callable(spool) else iter([spool]).__next__
    reader = _PartReader(lambda: Spooled(paths(), limit), fields, max_files)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        read_after_limit = 0
        async for chunk in request.stream():
            if reader.too_large:
                read_after_limit += len(chunk)  # read a little more so the client hears the answer; then stop
                if read_after_limit > SLACK:
                    break
                continue
            parser.write(chunk)
            if reader.error is not None:
                raise reader.error
        if not reader.too_large:
            parser.finalize()
        if reader.error is not None:
            raise reader.error
    except ParseError as exc:
        reader.upload.discard()
        raise InvalidField(f"the multipart body is malformed: {exc}", field="file") from None
    except Exception:
        reader.upload.discard()
        raise
    finally:
        for spooled, _ in reader.upload.files:
            spooled.close()
    upload = reader.upload
    if reader.too_large:
        upload.discard()
        raise TooLarge(f"the file is larger than {limit} bytes", field="file")
    if not upload.files:
        raise InvalidField("no file: send it in the multipart field `file`, with its name", field="file")
    if any(spooled.size == 0 for spooled, _ in upload.files):
        upload.discard()
        raise InvalidField("the file is empty", field="file")
    upload.fields = {name: bytes(value) for name, value in reader.fields.items()}
    return upload


class _PartReader:
    """python-multipart callbacks: each part named `file` is written to a spool file of its own (at most
    `max_files`), those named in `wanted` are kept; any other part is skipped."""

    def __init__(
        self, new_spooled: Callable[[], Spooled], wanted: frozenset[str] = frozenset(), max_files: int = 1
    ) -> None:
        self.new_spooled = new_spooled
        self.wanted = wanted
        self.max_files = max_files
        self.upload = Upload([])
        self.fields: dict[str, bytearray] = {}
        self.error: Exception | None = None
        #: The name of the kept field whose part is being read.
        self._in_field: str | None = None
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file: Spooled | None = None

    @property
    def too_large(self) -> bool:
        return any(spooled.too_large for spooled, _ in self.upload.files)

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._in_file, self._in_field = {}, None, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name in self.wanted and self.error is None:
            if name in self.fields:
                self.error = InvalidField(f"one `{name}` per request", field=name)
            else:
                self.fields[name], self._in_field = bytearray(), name
            return
        if name != "file" or self.error is not None:
            return
        if len(self.upload.files) >= self.max_files:
            many = "one file" if self.max_files == 1 else f"at most {self.max_files} files"
            self.error = InvalidField(f"{many} per request", field="file")
            return
        raw = _filename(options)
        try:
            if raw is None:
                raise InvalidField("the file has no name: send it with its file name", field="file")
            refuse_nul(raw, field="file", what="file name")
            filename = safe_filename(raw)
        except BadFileName as exc:
            self.error = InvalidField(str(exc), field="file")
            return
        except InvalidField as exc:
            self.error = exc
            return
        self._in_file = self.new_spooled()
        self.upload.files.append((self._in_file, filename))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file is not None:
            self._in_file.write(data[start:end])
        elif self._in_field is not None:
            value = self.fields[self._in_field]
            value += data[start:end]
            if len(value) > FIELD_BYTES and self.error is None:
                name = self._in_field
                self.error = TooLarge(f"the field `{name}` is larger than {FIELD_BYTES} bytes", field=name)
                self._in_field = None

    def _part_end(self) -> None:
        if self._in_file is not None:
            self._in_file.close()  # a spool file open per file part, not one for each file of the request at once
        self._in_file, self._in_field = None, None


def _filename(options: dict[bytes, bytes]) -> str | None:
    """The part's file name: RFC 5987 `filename*` if sent, else `filename` (browsers send it as raw UTF-8)."""
    extended = options.get(b"filename*")
    if extended is not None and b"''" in extended:
        charset, _, encoded = extended.decode("latin-1").partition("''")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    plain = options.get(b"filename")
    return None if plain is None else plain.decode("utf-8", "replace")
