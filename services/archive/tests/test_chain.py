"""The hash chain over every archive event, against a real PostgreSQL: every save gets its entry in the same
transaction (alone or joined to a consumer's fetch), and `edms archive audit` names each kind of tampering.

DOMAIN.md "Archive" and issue 11 item 6: each entry holds the previous entry's hash; the audit names any changed
byte of a document or any changed, missing or inserted row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from edms_archive.application import ArchiveApplication
from edms_archive.blobs import LocalBlobs
from edms_archive.chain import audit_chain, audit_files, install_chain
from edms_archive.cli import main as archive_cli
from edms_runtime.eventstore import build_application

EVENTS = "archive.archiveapplication_events"


@dataclass
class Archive:
    app: ArchiveApplication
    url: str
    blobs: LocalBlobs
    documents: list[uuid.UUID]
    sha: str


@pytest.fixture
def archive(fresh_database_url: str, tmp_path: Path) -> Iterator[Archive]:
    app = build_application(ArchiveApplication, fresh_database_url, "archive")
    install_chain(fresh_database_url)
    blobs = LocalBlobs(tmp_path / "blobs")
    source = tmp_path / "letter.pdf"
    source.write_bytes(b"%PDF letter " * 100)
    sha = blobs.put_file(source)
    documents = [uuid.uuid4() for _ in range(3)]
    with (
        psycopg.connect(fresh_database_url, row_factory=dict_row) as conn,
        app.unit_of_work(conn),
    ):  # as a consumer's fetch saves
        for n, document in enumerate(documents, 1):
            app.file_document(document_id=document, org="org-a", kind="incoming_letter", case_index="01-10",
                              year=2026, access=None, reg_number=f"01-10/{n}", reg_date=date(2026, 5, n))  # fmt: skip
            app.record_attachment(document, sha256=sha, filename="письмо.pdf", media_type="application/pdf", size=1200)
    case_id = app.filing(documents[0]).case_id
    app.count_sheets(documents[1], "org-a", sheets=2, by="arch")  # a command saved alone
    app.close_case(case_id, "org-a", by="arch", reason="done")
    yield Archive(app, fresh_database_url, blobs, documents, sha)
    app.close()


def _sql(url: str, statement: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def test_every_event_is_chained_and_the_audit_is_clean(archive: Archive) -> None:
    result = audit_chain(archive.url)
    # case opened, 3 filed, 3 files, sheets counted, closed
    assert (result.problems, result.events) == ([], 9)
    assert result.head is not None
    audit_files(archive.app.kept_files(), archive.blobs, result)
    assert (result.problems, result.files) == ([], 3)


def test_changed_deleted_and_inserted_rows_are_each_named(archive: Archive) -> None:
    with psycopg.connect(archive.url, autocommit=True) as conn:
        conn.execute(f"UPDATE {EVENTS} SET state = overlay(state placing 'X'::bytea from 20) WHERE notification_id = 2")
        conn.execute("DELETE FROM archive.chain WHERE notification_id = 3")
        conn.execute(f"DELETE FROM {EVENTS} WHERE notification_id = 5")
        conn.execute("UPDATE archive.chain SET originator_version = 7 WHERE notification_id = 7")
        conn.execute("SET session_replication_role = replica")  # triggers do not fire
        conn.execute(
            f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
            (uuid.uuid4(), "edms_archive.domain:Case.Destroyed", b"{}"),
        )
    problems = audit_chain(archive.url).problems
    expected = [
        ("event 2 (", "its stored bytes were changed"),
        ("event 3 (Filing.", "no chain entry (inserted around the chain)"),
        ("chain entry 4: does not follow the entry before it", "(an entry was removed or inserted)"),
        ("event 5 (", "missing from the event store (deleted)"),
        ("chain entry 7 (", "changed (its hash does not match)"),
        ("event 7: its identity differs from the chain's", ")"),
        ("event 10 (Case.Destroyed of", "no chain entry (inserted around the chain)"),
    ]
    assert len(problems) == len(expected), problems
    for problem, (start, end) in zip(problems, expected, strict=True):
        assert (problem.startswith(start), problem.endswith(end)) == (True, True), problem


def test_a_tail_cut_off_is_found_with_a_head_recorded_elsewhere(archive: Archive) -> None:
    head = audit_chain(archive.url).head
    assert head is not None
    _sql(archive.url, f"DELETE FROM {EVENTS} WHERE notification_id = %s", head.notification_id)
    _sql(archive.url, "DELETE FROM archive.chain WHERE notification_id = %s", head.notification_id)
    assert audit_chain(archive.url).problems == []  # a chain alone cannot tell
    (problem,) = audit_chain(archive.url, expect_head=head.hash).problems
    assert problem.startswith(f"head {head.hash}: not on the chain")


def test_edms_archive_audit_exits_0_only_when_intact(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDMS_DATABASE_URL", archive.url)
    monkeypatch.setenv("EDMS_BLOB_URL", f"file://{archive.blobs.root}")
    assert archive_cli(["--data-dir", str(tmp_path), "audit"]) == 0
    out = capsys.readouterr().out
    assert "9 events, 3 files checked; chain head 9:" in out
    path = archive.blobs.path(archive.sha)
    data = bytearray(path.read_bytes())
    data[500] ^= 0x20  # one changed byte of a document's file
    path.write_bytes(bytes(data))
    assert archive_cli(["--data-dir", str(tmp_path), "audit", "--head", out.split("chain head ")[1].strip()]) == 1
    err = capsys.readouterr().err
    assert f"document {archive.documents[0]} (01-10/1) in case 01-10/2026: file 'письмо.pdf' was changed" in err
    assert "NOT intact: 3 problem(s)" in err  # the same bytes are a file of each of the three documents
