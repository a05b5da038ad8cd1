"""Text of attachments for search: extracted in the background, recorded on the card, published in chunks.

`extract_text` reads PDF (pypdf), DOCX (python-docx), ODT (odfpy), RTF (striprtf) and plain text. The
`ExtractionWorker` follows the registry's own event store (like the outbox relay, one replica at a time): for each
`AttachmentAdded` whose text is still pending on the card it extracts the text in a separate process (a malformed
file cannot take the registry down or hold it past a timeout) and saves `AttachmentTextExtracted` events on the
card, chunks of at most `CHUNK_CHARS` characters saved in one transaction. The relay publishes them as the contract
event `AttachmentTextExtracted`. The card records the text as extracted (or failed), so after a restart the worker
goes over what it read before and extracts nothing twice; its position only saves it the reading.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from edms_registry.application import DocumentNotFound, RegistryApplication
from edms_registry.attachments import DOCX, ODT, TEXT_MEDIA_TYPES
from edms_registry.domain import Document, Draft, attachment
from edms_runtime.background import LeaderLoop
from edms_runtime.blobs import BlobMissing, Blobs, local_copy

log = logging.getLogger(__name__)

#: The contract's limit of one chunk (edms_contracts.AttachmentTextExtracted).
CHUNK_CHARS = 65536
#: Files an extracting process reads before a fresh one takes over.
WORKER_TASKS = 1000

POSITION_DDL = """
CREATE TABLE IF NOT EXISTS extraction_position (
    worker text PRIMARY KEY,
    position bigint NOT NULL
);
"""

EXTRACTED = Counter("edms_registry_texts_extracted_total", "Attachments whose text was extracted", ["outcome"])

#: Characters search cannot use: NUL (PostgreSQL cannot store it) and the other controls but tab and line breaks.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Unreadable(ValueError):
    """The file is not what its media type says, or is damaged: no text from it."""


# -- extraction, one format each ---------------------------------------------------------------------------------------
def extract_text(path: Path, media_type: str) -> str:
    """The text of a file of one of `TEXT_MEDIA_TYPES` (else empty), cleaned of control characters."""
    if media_type not in TEXT_MEDIA_TYPES:
        return ""
    reader = _READERS.get(media_type, _plain_text)
    try:
        text = reader(path)
    except Exception as exc:  # the libraries raise many kinds on a damaged file
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None
    return _CONTROLS.sub("", text).strip()


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


def _docx_text(path: Path) -> str:
    import docx

    document = docx.Document(str(path))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _odt_text(path: Path) -> str:
    from odf import teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    document = load(str(path))
    parts: list[str] = []

    def walk(node: Any) -> None:
        for child in node.childNodes:
            if getattr(child, "qname", None) in ((TEXTNS, "p"), (TEXTNS, "h")):
                parts.append(teletype.extractText(child))
            elif getattr(child, "childNodes", None):
                walk(child)

    walk(document.text)
    return "\n".join(parts)


def _rtf_text(path: Path) -> str:
    from striprtf.striprtf import rtf_to_text

    raw = path.read_bytes().decode("latin-1")  # RTF is 7-bit; other characters come as \'xx in its code page
    codepage = re.search(r"\\ansicpg(\d+)", raw[:4096])
    encoding = f"cp{codepage.group(1)}" if codepage else "cp1252"
    try:
        return str(rtf_to_text(raw, encoding=encoding, errors="replace"))  # type: ignore[no-untyped-call]
    except LookupError:
        return str(rtf_to_text(raw, errors="replace"))  # type: ignore[no-untyped-call]


def _plain_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1251"):  # UTF-8, else the Windows Cyrillic code page of older files
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


_READERS = {"application/pdf": _pdf_text, DOCX: _docx_text, ODT: _odt_text, "application/rtf": _rtf_text}


def limit_memory(limit: int) -> None:
    """In the extracting process: a file that would take more memory than `limit` (a decompression bomb in a DOCX or
    an ODT) fails with MemoryError there, recorded as unreadable, instead of exhausting the machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def chunked(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """The text in pieces of at most `size` characters; an empty text is one empty piece (the contract says so)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# -- recording the text on the card --------------------------------------------------------------------------------
def record_text(
    app: RegistryApplication, document_id: uuid.UUID, sha256: str, text: str, error: str | None = None
) -> bool:
    """Save the text's chunks on the card, all in one transaction; False if it was recorded before (or the file is
    not on the card): the text of a file on a card is recorded once."""
    for _ in range(20):
        try:
            card = app.card(document_id)
        except DocumentNotFound:
            return False
        entry = attachment(card, sha256)
        if entry is None or entry.get("text") != "pending":
            return False
        pieces = chunked(text)
        for number, piece in enumerate(pieces):
            card.text_extracted(
                sha256, str(entry["filename"]), number, len(pieces), piece, error if number == len(pieces) - 1 else None
            )
        try:
            app.save(card)
        except IntegrityError:
            continue  # the card changed meanwhile (another file attached): look again
        return True
    raise RuntimeError(f"document {document_id} kept changing while its text was recorded")


def pending(app: RegistryApplication, document_id: uuid.UUID, sha256: str) -> dict[str, Any] | None:
    """The card's attachment if its text is still to be extracted."""
    try:
        entry = attachment(app.card(document_id), sha256)
    except DocumentNotFound:
        return None
    return entry if entry is not None and entry.get("text") == "pending" else None


# -- the worker --------------------------------------------------------------------------------------------------------
class ExtractionWorker(LeaderLoop):
    """Follows `AttachmentAdded` in the registry's event store and records each file's text (one replica leads)."""

    name = "extraction"
    batch_size = 100

    def __init__(
        self,
        *,
        app: RegistryApplication,
        blobs: Blobs,
        pool: ConnectionPool[Any],
        database_url: str,
        max_chars: int,
        timeout_seconds: float,
        memory_bytes: int = 1 << 30,
        idle_seconds: float = 2.0,
    ) -> None:
        super().__init__(role="edms-registry-extraction", database_url=database_url)
        self.app = app
        self.blobs = blobs
        self.pool = pool
        self.max_chars = max_chars
        self.timeout_seconds = timeout_seconds
        self.idle_seconds = idle_seconds
        self.memory_bytes = memory_bytes
        self.topics = [get_topic(vars(aggregate)["AttachmentAdded"]) for aggregate in (Document, Draft)]
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    async def lead(self, leader: psycopg.AsyncConnection[Any]) -> None:
        await asyncio.to_thread(self._ensure_table)
        self.active = True
        try:
            while not self.stopping:
                self.wakeup.clear()
                done = await self._batch(leader)
                await self.keep(leader)
                if not done:
                    await self.idle(self.idle_seconds)
        finally:
            self._shutdown_executor()

    def _ensure_table(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(POSITION_DDL)

    def _position(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT position FROM extraction_position WHERE worker = 'registry'").fetchone()
        return int(row["position"]) if row else 0

    def _advance(self, position: int) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO extraction_position (worker, position) VALUES ('registry', %s) "
                "ON CONFLICT (worker) DO UPDATE SET position = GREATEST(extraction_position.position, %s)",
                (position, position),
            )

    async def _batch(self, leader: psycopg.AsyncConnection[Any]) -> int:
        start = await asyncio.to_thread(self._position)
        # Notification ids are given in commit order (the recorder's table lock), so nothing can appear below the
        # highest committed one: a batch that reaches it moves the position there, and the next poll reads only
        # what came after (not every event since the last attachment).
        top = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
        notifications = await asyncio.to_thread(
            self.app.recorder.select_notifications, start + 1, self.batch_size, top, self.topics
        )
        for notification in notifications:
            if self.stopping:
                return 0
            added = self.app.mapper.to_domain_event(notification)
            await self.extract(added.originator_id, getattr(added, "sha256"))  # noqa: B009 - the event's own field
            await asyncio.to_thread(self._advance, notification.id)
            await self.keep(leader)
        if len(notifications) < self.batch_size and top > start:
            await asyncio.to_thread(self._advance, top)
        return len(notifications)

    async def extract(self, document_id: uuid.UUID, sha256: str) -> None:
        entry = await asyncio.to_thread(pending, self.app, document_id, sha256)
        if entry is None:
            return  # recorded before (a restart goes over what it read), or no longer there
        text, error = "", None
        try:
            if entry["media_type"] in TEXT_MEDIA_TYPES:  # an image or a spreadsheet: one empty chunk, nothing read
                with local_copy(self.blobs, sha256) as path:
                    text = await self._extract(path, str(entry["media_type"]))
        except BlobMissing:
            error = "the file is not in the blob store"
        except Unreadable as exc:
            error = f"the file could not be read: {exc}"
        except TimeoutError:
            error = f"text extraction took longer than {self.timeout_seconds:g} s"
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
        recorded = await asyncio.to_thread(record_text, self.app, document_id, sha256, text, error)
        if recorded:
            EXTRACTED.labels("failed" if error else "extracted").inc()
            if error:
                log.warning("registry: no text from %s on document %s: %s", sha256, document_id, error)

    async def _extract(self, path: Path, media_type: str) -> str:
        loop = asyncio.get_running_loop()
        executor = self._executor_()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(executor, extract_text, path, media_type), self.timeout_seconds
            )
        except (TimeoutError, concurrent.futures.process.BrokenProcessPool) as exc:
            self._shutdown_executor(kill=True)  # a process stuck in a file (or killed by one) is not reused
            if isinstance(exc, TimeoutError):
                raise
            raise Unreadable("the extracting process died") from None

    def _executor_(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: the registry has threads (its writer, connection pools) a fork would copy mid-step
            context = multiprocessing.get_context("spawn")
            # A new worker now and then (what a parsing library leaks goes with it), but seldom: each one starts an
            # interpreter and imports the parsers, ≈ 10% of the registry's CPU under load when it was every 50 files
            # (bench/registry.py with py-spy).
            self._executor = concurrent.futures.ProcessPoolExecutor(
                1,
                mp_context=context,
                max_tasks_per_child=WORKER_TASKS,
                initializer=limit_memory,
                initargs=(self.memory_bytes,),
            )
        return self._executor

    def _shutdown_executor(self, kill: bool = False) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if kill:
            for process in list(getattr(executor, "_processes", {}).values()):
                process.kill()
        executor.shutdown(wait=not kill, cancel_futures=True)


def extracted_chunks(app: RegistryApplication, document_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    """The text chunks recorded on a card (for tests and tools)."""
    for stored in app.recorder.select_events(document_id):
        event = app.mapper.to_domain_event(stored)
        if type(event).__name__ == "AttachmentTextExtracted":
            yield {k: v for k, v in vars(event).items() if not k.startswith("originator_") and k != "timestamp"}
