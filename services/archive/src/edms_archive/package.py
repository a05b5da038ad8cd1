"""Transfer integrity packages: a zip that carries cases to the organization's archive and proves itself offline.

Layout (format `edms-transfer-package`, version 1):

    files/<sha256>                   every file of every document, once per content, stored uncompressed
    signatures/<sha256>/<n>.p7s      detached CMS signatures of that file, where the document has them
    evidence/<sha256>/<n>.json       the signature's verification evidence (chain, revocation status, time)
    inventory.json                   the inventory (опись) of every case: its documents, sheets, files
    manifest.json                    the package: who, when, which cases, and every member above with its
                                     SHA-256 and size
    seal.json                        {"algorithm": "sha256", "manifest_sha256": ...}: the seal

The manifest names the SHA-256 of every other member, so the seal (the manifest's SHA-256) covers every byte of
the package; the archive records the seal in its event store (hash-chained), and whoever receives the package can
record it too and check it later with `edms archive verify PACKAGE --seal HEX`. Sources: DOMAIN.md "Archive"
(electronic documents keep their signatures and the evidence that they were valid when checked); GOST R 7.0.8-2013
for the words (опись, дело, передача в архив).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO

from edms_archive.blobs import CHUNK, BlobMissing, Blobs, cpu_workers, stream_sha256
from edms_runtime.errors import DomainError

FORMAT = "edms-transfer-package"
VERSION = 1
MANIFEST = "manifest.json"
SEAL = "seal.json"
INVENTORY = "inventory.json"
#: Every member gets this time, so that the same content makes the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


class IntegrityFailure(DomainError):
    """Bytes that are not what the archive recorded (a blob that changed, a package that does not verify)."""

    status = 422
    title = "Integrity check failed"


@dataclass(frozen=True)
class PackageSignature:
    """A detached CMS signature of a file and the evidence that it was valid when checked."""

    cms: bytes
    evidence: dict[str, Any]


@dataclass(frozen=True)
class PackageFile:
    sha256: str
    filename: str
    media_type: str
    size: int
    signatures: tuple[PackageSignature, ...] = ()

    @property
    def path(self) -> str:
        return f"files/{self.sha256}"


@dataclass(frozen=True)
class PackageLine:
    """A line of the inventory: one document of the case."""

    document_id: uuid.UUID
    reg_number: str | None
    reg_date: date | None
    title: str | None
    kind: str | None
    access: str | None
    sheets: int | None
    files: tuple[PackageFile, ...]


@dataclass(frozen=True)
class PackageCase:
    case_id: uuid.UUID
    org: str
    index: str
    title: str
    year: int
    volume: int
    unit: str | None
    retention: str
    article: str
    closed_on: date
    lines: tuple[PackageLine, ...]
    locations: tuple[dict[str, Any], ...] = field(default=())


# -- the inventory, one form for writing and for reading back ----------------------------------------------------------
def _line_json(position: int, line: PackageLine) -> dict[str, Any]:
    return {
        "position": position,
        "document_id": str(line.document_id),
        "reg_number": line.reg_number,
        "reg_date": line.reg_date.isoformat() if line.reg_date else None,
        "title": line.title,
        "kind": line.kind,
        "access": line.access,
        "sheets": line.sheets,
        "files": [
            {
                "path": f.path,
                "sha256": f.sha256,
                "filename": f.filename,
                "media_type": f.media_type,
                "size": f.size,
                "signatures": [
                    {"path": _signature_path(f.sha256, n), "evidence": _evidence_path(f.sha256, n)}
                    for n in range(1, len(f.signatures) + 1)
                ],
            }
            for f in line.files
        ],
    }


def inventory_json(cases: Sequence[PackageCase]) -> dict[str, Any]:
    """The inventory (опись) of cases as the package carries it; importing a package must give it back equal."""
    return {
        "cases": [
            {
                "case_id": str(case.case_id),
                "org": case.org,
                "index": case.index,
                "title": case.title,
                "year": case.year,
                "volume": case.volume,
                "unit": case.unit,
                "retention": case.retention,
                "article": case.article,
                "closed_on": case.closed_on.isoformat(),
                "documents": len(case.lines),
                "sheets": sum(line.sheets or 0 for line in case.lines),
                "lines": [_line_json(n, line) for n, line in enumerate(sorted(case.lines, key=_line_order), 1)],
            }
            for case in sorted(cases, key=lambda c: (c.year, c.index, c.volume))
        ]
    }


def _line_order(line: PackageLine) -> tuple[str, str, str]:
    return (line.reg_date.isoformat() if line.reg_date else "", line.reg_number or "", str(line.document_id))


def cases_from_inventory(inventory: dict[str, Any]) -> list[PackageCase]:
    """The cases an inventory describes (signature bytes are not in it: they are members of their own)."""
    return [
        PackageCase(
            case_id=uuid.UUID(case["case_id"]),
            org=case["org"],
            index=case["index"],
            title=case["title"],
            year=case["year"],
            volume=case["volume"],
            unit=case["unit"],
            retention=case["retention"],
            article=case["article"],
            closed_on=date.fromisoformat(case["closed_on"]),
            lines=tuple(_line_from_json(line) for line in case["lines"]),
        )
        for case in inventory["cases"]
    ]


def _line_from_json(line: dict[str, Any]) -> PackageLine:
    return PackageLine(
        document_id=uuid.UUID(line["document_id"]),
        reg_number=line["reg_number"],
        reg_date=date.fromisoformat(line["reg_date"]) if line["reg_date"] else None,
        title=line["title"],
        kind=line["kind"],
        access=line["access"],
        sheets=line["sheets"],
        files=tuple(PackageFile(f["sha256"], f["filename"], f["media_type"], f["size"]) for f in line["files"]),
    )


def _signature_path(sha256: str, n: int) -> str:
    return f"signatures/{sha256}/{n}.p7s"


def _evidence_path(sha256: str, n: int) -> str:
    return f"evidence/{sha256}/{n}.json"


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


# -- writing ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sealed:
    """What a written package is: its seal (the manifest's SHA-256), the zip's own SHA-256 and size, and counts."""

    seal: str
    package_sha256: str
    size: int
    documents: int
    files: int


class _HashingSink(io.RawIOBase):
    """Writes through to a file and hashes what passes; not seekable, so zipfile writes data descriptors instead of
    seeking back, and the package's SHA-256 is known when the last byte is written (no second pass)."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.target.write(view)
        self.digest.update(view)
        self.written += len(view)
        return len(view)

    def tell(self) -> int:
        return self.written


def write_package(target: Path, *, header: dict[str, Any], cases: Sequence[PackageCase], blobs: Blobs) -> Sealed:
    """Write the package of `cases` to `target`, reading every file from `blobs` and checking it against its SHA-256.

    `header`: transfer_id, org, created_on, created_by, chain_head (the archive's hash chain head when built).
    Raises `IntegrityFailure` naming the document and file when the store's bytes are not the recorded ones.
    """
    entries: list[dict[str, Any]] = []
    with target.open("wb") as out:
        sink = _HashingSink(out)
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            files = _unique_files(cases)
            for document_id, item in files:
                entries.append(_write_blob(archive, item, document_id, blobs))
                entries.extend(_write_signatures(archive, item))
            inventory = _json_bytes(inventory_json(cases))
            entries.append(_write_member(archive, INVENTORY, inventory, role="inventory"))
            manifest = _json_bytes({**header, "format": FORMAT, "version": VERSION, "entries": entries})
            _write_member(archive, MANIFEST, manifest, role="manifest")
            seal = hashlib.sha256(manifest).hexdigest()
            _write_member(archive, SEAL, _json_bytes({"algorithm": "sha256", "manifest_sha256": seal}), role="seal")
    documents = sum(len(case.lines) for case in cases)
    return Sealed(seal, sink.digest.hexdigest(), sink.written, documents, len(files))


def _unique_files(cases: Sequence[PackageCase]) -> list[tuple[uuid.UUID, PackageFile]]:
    seen: dict[str, tuple[uuid.UUID, PackageFile]] = {}
    for case in cases:
        for line in case.lines:
            for item in line.files:
                seen.setdefault(item.sha256, (line.document_id, item))
    return [seen[sha] for sha in sorted(seen)]


def _info(name: str, compress: int = zipfile.ZIP_STORED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes, *, role: str) -> dict[str, Any]:
    archive.writestr(_info(name, zipfile.ZIP_DEFLATED), data)
    return {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "role": role}


def _write_blob(archive: zipfile.ZipFile, item: PackageFile, document_id: uuid.UUID, blobs: Blobs) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    try:
        source = blobs.open(item.sha256)
    except BlobMissing:
        raise IntegrityFailure(f"document {document_id}, file {item.filename!r}: no bytes for {item.sha256}") from None
    with source, archive.open(_info(item.path), "w", force_zip64=True) as member:
        while read := source.readinto(view):  # type: ignore[attr-defined]
            digest.update(view[:read])
            member.write(view[:read])
            size += read
    if digest.hexdigest() != item.sha256 or size != item.size:
        raise IntegrityFailure(
            f"document {document_id}, file {item.filename!r}: the stored bytes ({size} bytes, SHA-256 "
            f"{digest.hexdigest()}) are not the archived ones ({item.size} bytes, {item.sha256})"
        )
    return {"path": item.path, "sha256": item.sha256, "size": size, "role": "file"}


def _write_signatures(archive: zipfile.ZipFile, item: PackageFile) -> list[dict[str, Any]]:
    entries = []
    for n, signature in enumerate(item.signatures, 1):
        entries.append(_write_member(archive, _signature_path(item.sha256, n), signature.cms, role="signature"))
        evidence = _json_bytes({"signs": item.path, **signature.evidence})
        entries.append(_write_member(archive, _evidence_path(item.sha256, n), evidence, role="evidence"))
    return entries


# -- verifying --------------------------------------------------------------------------------------------------------
@dataclass
class Verification:
    """What `verify_package` found: no problems means intact."""

    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    seal: str | None = None
    checked_files: int = 0
    checked_bytes: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_package(path: Path, *, seal: str | None = None, workers: int | None = None) -> Verification:
    """Check a package offline: the seal against the manifest (and against `seal`, the one recorded elsewhere), every
    member against its SHA-256 and size, no member missing or added, the inventory against the files."""
    result = Verification()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"{path}: not a readable zip archive ({exc})")
        return result
    with archive:
        members = _members(archive, result)
        manifest = _sealed_manifest(archive, members, result, seal)
        if manifest is None:
            return result
        result.manifest = manifest
        entries = {entry["path"]: entry for entry in manifest.get("entries", [])}
        for name in sorted(set(members) - set(entries) - {MANIFEST, SEAL}):
            result.problems.append(f"{name}: in the package but not in the manifest (added)")
        for name in sorted(set(entries) - set(members)):
            result.problems.append(f"{name}: in the manifest but not in the package (missing)")
        present = [entries[name] for name in entries if name in members]
        _check_hashes(path, archive, members, present, result, workers or cpu_workers())
        if INVENTORY in members and not any(p.startswith(f"{INVENTORY}:") for p in result.problems):
            _check_inventory(archive.read(INVENTORY), entries, result)
    return result


def _members(archive: zipfile.ZipFile, result: Verification) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.filename in members:
            result.problems.append(f"{info.filename}: twice in the package")
        members[info.filename] = info
    return members


def _sealed_manifest(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], result: Verification, expected: str | None
) -> dict[str, Any] | None:
    for name in (MANIFEST, SEAL):
        if name not in members:
            result.problems.append(f"{name}: missing; the package cannot be checked")
            return None
    raw = archive.read(MANIFEST)
    try:
        stated = json.loads(archive.read(SEAL))["manifest_sha256"]
    except (ValueError, KeyError, TypeError):
        result.problems.append(f"{SEAL}: not a seal")
        return None
    actual = hashlib.sha256(raw).hexdigest()
    result.seal = stated
    if actual != stated:
        result.problems.append(f"{MANIFEST}: changed after sealing (its SHA-256 is {actual}, the seal says {stated})")
    if expected is not None and stated != expected.lower():
        result.problems.append(f"{SEAL}: the package's seal {stated} is not the recorded one {expected}")
    try:
        manifest: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        result.problems.append(f"{MANIFEST}: not JSON ({exc})")
        return None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        result.problems.append(f"{MANIFEST}: not a {FORMAT} of version {VERSION}")
        return None
    return manifest


def _check_hashes(
    path: Path,
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    entries: list[dict[str, Any]],
    result: Verification,
    workers: int,
) -> None:
    """Hash every member the manifest lists, largest first, on `workers` threads (hashlib and reads free the GIL)."""
    ordered = sorted(entries, key=lambda entry: -members[entry["path"]].file_size)

    def check(entry: dict[str, Any]) -> tuple[dict[str, Any], str, int]:
        info = members[entry["path"]]
        if info.compress_type == zipfile.ZIP_STORED:
            with path.open("rb", buffering=0) as raw:
                raw.seek(_data_offset(raw, info))
                digest, size = stream_sha256(raw, info.file_size)
        else:
            with archive.open(info) as member:  # small members (manifest, inventory, evidence): deflated
                digest, size = stream_sha256(member)  # type: ignore[arg-type]
        return entry, digest, size

    with ThreadPoolExecutor(workers) as pool:
        for entry, digest, size in pool.map(check, ordered):
            result.checked_files += 1
            result.checked_bytes += size
            if size != entry.get("size"):
                result.problems.append(f"{entry['path']}: {size} bytes, the manifest says {entry.get('size')}")
            if digest != entry.get("sha256"):
                result.problems.append(
                    f"{entry['path']}: content changed (SHA-256 {digest}, the manifest says {entry.get('sha256')})"
                )


def _data_offset(raw: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local header, whose name and extra field lengths vary."""
    raw.seek(info.header_offset)
    header = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
    name_length, extra_length = int(header[-2]), int(header[-1])
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _check_inventory(raw: bytes, entries: dict[str, dict[str, Any]], result: Verification) -> None:
    """Every file the inventory names is a member with that SHA-256, and every file member belongs to a document."""
    try:
        cases = cases_from_inventory(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"{INVENTORY}: not an inventory ({exc})")
        return
    named: set[str] = set()
    for case in cases:
        for line in case.lines:
            for item in line.files:
                named.add(item.path)
                entry = entries.get(item.path)
                if entry is None or entry.get("sha256") != item.sha256:
                    result.problems.append(
                        f"{INVENTORY}: document {line.document_id} ({line.reg_number}) of case "
                        f"{case.index}/{case.year} names file {item.filename!r} {item.sha256}, "
                        "which the manifest does not hold"
                    )
    for name, entry in sorted(entries.items()):
        if entry.get("role") == "file" and name not in named:
            result.problems.append(f"{name}: a file no document of the inventory names")


# -- reading (import) -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenedPackage:
    manifest: dict[str, Any]
    seal: str
    cases: list[PackageCase]


def read_package(path: Path) -> OpenedPackage:
    """A package that verifies, for import; raises `IntegrityFailure` with every problem otherwise."""
    checked = verify_package(path)
    if not checked.intact or checked.manifest is None or checked.seal is None:
        raise IntegrityFailure("the package does not verify: " + "; ".join(checked.problems))
    with zipfile.ZipFile(path) as archive:
        cases = cases_from_inventory(json.loads(archive.read(INVENTORY)))
    return OpenedPackage(checked.manifest, checked.seal, cases)


def extract_files(path: Path, shas: Sequence[str], into: Path) -> Iterator[tuple[str, Path]]:
    """Each named file of the package, written to `into` (streamed), with its SHA-256."""
    with zipfile.ZipFile(path) as archive:
        for sha in shas:
            target = into / sha
            with archive.open(f"files/{sha}") as member, target.open("wb") as out:
                while chunk := member.read(CHUNK):
                    out.write(chunk)
            yield sha, target
