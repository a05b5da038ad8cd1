"""Transfer integrity packages: written from the blob store, verified offline, every kind of damage named.

DOMAIN.md "Archive": it must be provable decades later that an electronic document is the one that was filed; the
package carries every file with its SHA-256, the inventory, and a place for detached signatures and the evidence
that they were valid when checked; `edms archive verify` exits 0 only when the package is intact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
import zipfile
from datetime import date
from pathlib import Path

import pytest

from edms_archive.blobs import LocalBlobs
from edms_archive.cli import main as archive_cli
from edms_archive.package import (
    IntegrityFailure,
    PackageCase,
    PackageFile,
    PackageLine,
    PackageSignature,
    cases_from_inventory,
    inventory_json,
    verify_package,
    write_package,
)

CONTENTS = [b"%PDF-1.7 letter one", b"scan of the paper original " * 1000, b""]


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobs:
    store = LocalBlobs(tmp_path / "blobs")
    for content in CONTENTS:
        source = tmp_path / "in"
        source.write_bytes(content)
        store.put_file(source)
    return store


def _file(content: bytes, name: str, *signatures: PackageSignature) -> PackageFile:
    return PackageFile(hashlib.sha256(content).hexdigest(), name, "application/pdf", len(content), signatures)


def _case(*lines: PackageLine) -> PackageCase:
    return PackageCase(
        case_id=uuid.uuid4(), org="org-a", index="01-03", title="Приказы по основной деятельности", year=2024,
        volume=1, unit=None, retention="permanent", article="19а", closed_on=date(2024, 12, 31), lines=lines,
    )  # fmt: skip


def _line(number: str, *files: PackageFile, sheets: int | None = 2) -> PackageLine:
    return PackageLine(uuid.uuid4(), number, date(2024, 3, 1), f"Приказ {number}", "order", None, sheets, files)


SIGNATURE = PackageSignature(b"0\x82 CMS bytes", {"checked_at": "2024-03-01T10:00:00Z", "valid": True,
                                                   "chain": ["CN=УЦ"], "revocation": "good"})  # fmt: skip


@pytest.fixture
def cases() -> list[PackageCase]:
    shared = _file(CONTENTS[1], "скан.pdf")
    return [
        _case(_line("01-03/1-п", _file(CONTENTS[0], "приказ.pdf", SIGNATURE), shared), _line("01-03/2-п", shared)),
        _case(_line("01-03/3-п", _file(CONTENTS[2], "пустой.txt"), sheets=None)),
    ]


@pytest.fixture
def package(tmp_path: Path, cases: list[PackageCase], blobs: LocalBlobs) -> Path:
    path = tmp_path / "package.zip"
    header = {"transfer_id": str(uuid.uuid4()), "org": "org-a", "created_on": "2026-01-10", "created_by": "arch"}
    write_package(path, header=header, cases=cases, blobs=blobs)
    return path


def test_a_package_written_from_the_store_verifies(package: Path, cases: list[PackageCase]) -> None:
    result = verify_package(package)
    assert result.problems == []
    # each content once, a signature and its evidence, the inventory: every member checked
    assert result.checked_files == 3 + 2 + 1
    with zipfile.ZipFile(package) as archive:
        inventory = json.loads(archive.read("inventory.json"))
        evidence = json.loads(archive.read(f"evidence/{cases[0].lines[0].files[0].sha256}/1.json"))
    assert inventory == inventory_json(cases)
    assert cases_from_inventory(inventory)[0].lines[0].files[0].sha256 == hashlib.sha256(CONTENTS[0]).hexdigest()
    assert evidence["revocation"] == "good"
    assert evidence["signs"] == f"files/{cases[0].lines[0].files[0].sha256}"


def test_the_same_content_makes_the_same_bytes(tmp_path: Path, cases: list[PackageCase], blobs: LocalBlobs) -> None:
    header = {"transfer_id": "t", "org": "org-a", "created_on": "2026-01-10", "created_by": "arch"}
    first = write_package(tmp_path / "1.zip", header=header, cases=cases, blobs=blobs)
    second = write_package(tmp_path / "2.zip", header=header, cases=cases, blobs=blobs)
    assert first == second
    assert first.package_sha256 == hashlib.sha256((tmp_path / "1.zip").read_bytes()).hexdigest()
    assert first.size == (tmp_path / "1.zip").stat().st_size


def _rewrite(source: Path, target: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> None:
    """A copy of a package with members replaced (bytes) or dropped (None), and others added."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change.get(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)


def test_one_changed_byte_of_a_file_is_named(tmp_path: Path, package: Path) -> None:
    """Flip one byte inside the stored bytes themselves, as bit rot would."""
    sha = hashlib.sha256(CONTENTS[1]).hexdigest()
    damaged = tmp_path / "damaged.zip"
    shutil.copy(package, damaged)
    data = bytearray(damaged.read_bytes())
    offset = data.find(CONTENTS[1][:40]) + 17
    data[offset] ^= 0x01
    damaged.write_bytes(bytes(data))
    assert verify_package(damaged).problems == [
        f"files/{sha}: content changed (SHA-256 {hashlib.sha256(_flipped(CONTENTS[1], 17)).hexdigest()}, "
        f"the manifest says {sha})"
    ]


def _flipped(content: bytes, offset: int) -> bytes:
    data = bytearray(content)
    data[offset] ^= 0x01
    return bytes(data)


def test_a_changed_manifest_breaks_the_seal(tmp_path: Path, package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["org"] = "someone-else"
    damaged = tmp_path / "damaged.zip"
    _rewrite(package, damaged, {"manifest.json": json.dumps(manifest).encode()})
    problems = verify_package(damaged).problems
    assert len(problems) == 1
    assert problems[0].startswith("manifest.json: changed after sealing")


def test_a_resealed_package_is_caught_by_the_recorded_seal(tmp_path: Path, package: Path) -> None:
    """Whoever changes a file can recompute the manifest and the seal; the seal recorded outside still differs."""
    recorded = verify_package(package).seal
    assert recorded is not None
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    forged = b"%PDF-1.7 another letter"
    old = hashlib.sha256(CONTENTS[0]).hexdigest()
    for entry in manifest["entries"]:
        if entry["path"] == f"files/{old}":
            entry.update(sha256=hashlib.sha256(forged).hexdigest(), size=len(forged))
    raw = json.dumps(manifest).encode()
    seal = json.dumps({"algorithm": "sha256", "manifest_sha256": hashlib.sha256(raw).hexdigest()}).encode()
    damaged = tmp_path / "resealed.zip"
    _rewrite(package, damaged, {f"files/{old}": forged, "manifest.json": raw, "seal.json": seal})
    problems = verify_package(damaged, seal=recorded).problems
    assert any(p.startswith(f"seal.json: the package's seal {hashlib.sha256(raw).hexdigest()} is not the recorded")
               for p in problems)  # fmt: skip
    assert any("inventory.json: document" in p and "приказ.pdf" in p for p in problems)  # files no longer match


def test_a_missing_and_an_added_member_are_named(tmp_path: Path, package: Path) -> None:
    sha = hashlib.sha256(CONTENTS[2]).hexdigest()
    damaged = tmp_path / "damaged.zip"
    _rewrite(package, damaged, {f"files/{sha}": None}, add={"files/extra": b"smuggled"})
    assert verify_package(damaged).problems == [
        "files/extra: in the package but not in the manifest (added)",
        f"files/{sha}: in the manifest but not in the package (missing)",
    ]


def test_not_a_package(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert verify_package(junk).problems[0].startswith(f"{junk}: not a readable zip archive")


def test_a_blob_that_changed_in_the_store_stops_the_build(
    tmp_path: Path, cases: list[PackageCase], blobs: LocalBlobs
) -> None:
    path = blobs.path(hashlib.sha256(CONTENTS[0]).hexdigest())
    path.write_bytes(CONTENTS[0].replace(b"one", b"two"))
    with pytest.raises(IntegrityFailure, match=f"document {cases[0].lines[0].document_id}, file 'приказ.pdf'"):
        write_package(tmp_path / "p.zip", header={}, cases=cases, blobs=blobs)


def test_edms_archive_verify_exits_0_only_when_intact(
    tmp_path: Path, package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seal = verify_package(package).seal
    assert archive_cli(["verify", str(package), "--seal", str(seal)]) == 0
    assert "intact: 6 members" in capsys.readouterr().out
    assert archive_cli(["verify", str(package), "--seal", "0" * 64]) == 1
    assert "is not the recorded one" in capsys.readouterr().err
    damaged = tmp_path / "damaged.zip"
    _rewrite(package, damaged, {"inventory.json": b"{}"})
    assert archive_cli(["verify", str(damaged)]) == 1
    assert "inventory.json: content changed" in capsys.readouterr().err
