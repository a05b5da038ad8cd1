"""Attachments of a card: what a file is (its media type, from a known list), what it is called (a safe name), and
how an upload is taken in (streamed into the blob store, hashed while it is written, never held whole in memory).

Pure functions here, no web and no database: the HTTP side is edms_registry.files.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

#: Media types the registry stores files as, with the file name extensions that go with them. Anything it cannot
#: recognize is `application/octet-stream`: the type a client sends is never taken as it is (issue 7, point 9).
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
OCTET_STREAM = "application/octet-stream"
MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
    ODT: (".odt",),
    ODS: (".ods",),
    ODP: (".odp",),
    "application/msword": (".doc",),
    "application/vnd.ms-excel": (".xls",),
    "application/rtf": (".rtf",),
    "text/plain": (".txt", ".text", ".log"),
    "text/csv": (".csv",),
    "application/xml": (".xml",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
    "image/gif": (".gif",),
    # detached electronic signatures (CMS, GOST R 34.10-2012) sent with a document
    "application/pkcs7-signature": (".sig", ".p7s"),
    "application/zip": (".zip",),
    OCTET_STREAM: (),
}
#: Media types whose text is extracted for search (edms_registry.extraction).
TEXT_MEDIA_TYPES = frozenset({"application/pdf", DOCX, ODT, "application/rtf", "text/plain", "text/csv"})

#: How many bytes of the head of a file the detection looks at.
HEAD = 8192
#: The longest file name kept (characters, the extension included).
MAX_NAME = 200
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_UNSAFE = re.compile(r'[<>:"|?*]')


class BadFileName(ValueError):
    pass


def safe_filename(raw: str) -> str:
    """The file name as stored and shown: no directories, no control or invisible formatting characters (bidi
    overrides that disguise an extension, zero-width characters), none of `<>:"|?*`, no leading or trailing dots and
    blanks, at most `MAX_NAME` characters with the extension kept. Raises `BadFileName` when nothing is left."""
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[\\/]", name)[-1]  # a path (C:\Users\...\file.doc, ../../etc/passwd): its last part
    name = "".join(" " if ch.isspace() else ch for ch in name)  # tabs and line breaks: a blank
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        raise BadFileName("the file name is empty once directories and control characters are removed")
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = f"{stem[: MAX_NAME - len(ext) - 1].rstrip(' .')}.{ext}"
        else:
            name = name[:MAX_NAME].rstrip(" .")
    return name


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` for old clients and the exact name in `filename*` (RFC 6266, RFC 5987:
    UTF-8, percent-encoded), so a Cyrillic name arrives whole and no name can break out of the header."""
    ascii_name = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\%' else "_" for ch in filename) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def extension(filename: str) -> str:
    return Path(filename).suffix.lower()


def detect_media_type(head: bytes, filename: str, path: Path | None = None) -> str:
    """The media type of a file, from its content first (magic numbers, the parts of a ZIP container) and its name
    only where the content leaves a choice (a CSV or a plain text, a .doc or an .xls). Always one of
    `MEDIA_TYPES`."""
    ext = extension(filename)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"{\\rtf"):
        return "application/rtf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2 compound file: the old Office formats
        return "application/vnd.ms-excel" if ext == ".xls" else "application/msword"
    if head.startswith(b"PK\x03\x04"):
        return _zip_media_type(head, path)
    if ext in (".sig", ".p7s") and head[:1] == b"\x30":  # DER: a SEQUENCE
        return "application/pkcs7-signature"
    if _looks_like_text(head):
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml") or ext == ".xml":
            return "application/xml"
        return "text/csv" if ext == ".csv" else "text/plain"
    return OCTET_STREAM


def _zip_media_type(head: bytes, path: Path | None) -> str:
    # ODF: the first entry is `mimetype`, stored uncompressed (OpenDocument 1.2 part 3, 3.3)
    if head[30:38] == b"mimetype":
        declared = head[38:120].split(b"PK", 1)[0].decode("ascii", "replace").strip()
        if declared in MEDIA_TYPES:
            return declared
    if path is not None:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                declared = ""
                if "mimetype" in names:
                    with archive.open("mimetype") as entry:  # 100 bytes at most: never inflate a bomb here
                        declared = entry.read(100).decode("ascii", "replace")
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError):
            return OCTET_STREAM
        if declared.strip() in MEDIA_TYPES:
            return declared.strip()
        if "[Content_Types].xml" in names:  # Office Open XML (ECMA-376 part 2): the main part's folder tells
            for folder, media_type in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
                if any(name.startswith(folder) for name in names):
                    return media_type
    return "application/zip"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            try:
                head.decode("cp1251")  # an old Russian text file
            except UnicodeDecodeError:
                return False
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\t\n\r\f")
    return controls * 100 < len(head)


@dataclass
class Spooled:
    """A file being written to the blob store's spool: hashed and counted as it is written, its head kept."""

    path: Path
    limit: int
    size: int = 0
    head: bytes = b""
    too_large: bool = False
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _file: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self.too_large or not data:
            return
        if self.size + len(data) > self.limit:
            self.too_large = True
            self.discard()
            return
        if self._file is None:
            self._file = self.path.open("wb")
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self._digest.update(data)
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
