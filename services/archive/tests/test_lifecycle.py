"""A case's life in the archive application, on eventsourcing's in-memory store: filing by the plan, closing,
volumes, refiling, transfer and import, disposal through an approved act only.

Sources: DOMAIN.md "Archive"; Order of Rosarchiv No. 77 of 31.07.2023 (cases per year, closing, transfer to the
organization's archive 1–3 years after closing, destruction by an act approved by the expert commission); Order of
Rosarchiv No. 236 of 20.12.2019 (retention periods).
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from edms_archive.application import ArchiveApplication
from edms_archive.blobs import LocalBlobs
from edms_archive.domain import NotAllowed, RuleBroken
from edms_archive.package import inventory_json, read_package
from edms_archive.plan import FilePlanItem
from edms_runtime.errors import InvalidField

ORG = "org-a"
PLAN = [
    FilePlanItem("01-03", "Приказы", "permanent", "19а", None, ("order",)),
    FilePlanItem("02-10", "Входящие отдела 02", "5 years ЭПК", "27", "02", ("incoming_letter",)),
    FilePlanItem("03-10", "Входящие отдела 03", "5 years ЭПК", "27", "03", ("incoming_letter",)),
]


def _app(today: date) -> ArchiveApplication:
    app = ArchiveApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.clock = lambda: today
    return app


@pytest.fixture
def archive() -> ArchiveApplication:
    app = _app(date(2026, 6, 1))
    app.adopt_plan(ORG, 2026, PLAN, by="arch", source="test")
    return app


def _register(app: ArchiveApplication, kind: str, unit: str, number: str) -> uuid.UUID:
    document = uuid.uuid4()
    app.file_document(
        document_id=document, org=ORG, kind=kind, case_index="01-10", year=2026, access=None, unit=unit,
        reg_number=number, reg_date=date(2026, 5, 4), title=f"Документ {number}",
    )  # fmt: skip
    return document


def test_documents_are_filed_by_the_organizations_plan(archive: ArchiveApplication) -> None:
    """The card's index 01-10 is not in this plan: the unit's case for the kind takes the letter."""
    filing, case = archive.filing_of(_register(archive, "incoming_letter", "03", "1"))
    assert (case.index, case.org, case.year, case.volume) == ("03-10", ORG, 2026, 1)
    assert (filing.reg_number, filing.title) == ("1", "Документ 1")


def test_filing_again_changes_nothing(archive: ArchiveApplication) -> None:
    document = _register(archive, "order", "02", "1")
    version = archive.filing(document).version
    archive.file_document(document_id=document, org=ORG, kind="order", case_index=None, year=2026, access=None)
    assert archive.filing(document).version == version


def test_a_closed_case_takes_no_documents_a_new_volume_does(archive: ArchiveApplication) -> None:
    first = archive.filing_of(_register(archive, "incoming_letter", "02", "1"))[1]
    archive.close_case(first.id, ORG, by="arch", reason="full: 250 sheets")
    later = archive.filing_of(_register(archive, "incoming_letter", "02", "2"))[1]
    assert (later.index, later.volume) == ("02-10", 2)
    with pytest.raises(RuleBroken, match="is closed already"):
        archive.close_case(first.id, ORG, by="arch", reason="again")


def test_refiling_needs_open_cases_and_says_why(archive: ArchiveApplication) -> None:
    document = _register(archive, "incoming_letter", "02", "1")
    filing = archive.refile(document, ORG, case_index="03-10", year=None, by="arch", reason="отдел 03 исполняет")
    assert archive.case(filing.case_id).index == "03-10"
    with pytest.raises(InvalidField, match="no case 99-99"):
        archive.refile(document, ORG, case_index="99-99", year=None, by="arch", reason="x")
    archive.close_case(filing.case_id, ORG, by="arch", reason="done")
    with pytest.raises(RuleBroken, match="its inventory is final"):
        archive.refile(document, ORG, case_index="02-10", year=None, by="arch", reason="x")
    other = _register(archive, "incoming_letter", "02", "2")
    with pytest.raises(RuleBroken, match="it takes no documents"):
        archive.refile(other, ORG, case_index="03-10", year=None, by="arch", reason="x")


def test_a_plan_keeps_the_retention_of_an_opened_case(archive: ArchiveApplication) -> None:
    _register(archive, "order", "02", "1")
    changed = [FilePlanItem("01-03", "Приказы", "75 years", "19а", None, ("order",)), *PLAN[1:]]
    with pytest.raises(RuleBroken, match="01-03 has a case of 2026; its retention and article stay permanent"):
        archive.adopt_plan(ORG, 2026, changed, by="arch", source="test")
    with pytest.raises(RuleBroken, match="01-03 has a case of 2026 and cannot be removed"):
        archive.adopt_plan(ORG, 2026, PLAN[1:], by="arch", source="test")
    assert archive.plan(ORG, 2026).adopted is not None
    assert archive.plan(ORG, 2026).adopted.version == 1  # type: ignore[union-attr]


def test_next_years_plan_is_copied_with_changes(archive: ArchiveApplication) -> None:
    added = FilePlanItem("04-01", "Договоры", "5 years ЭПК", "436")
    plan = archive.copy_plan(ORG, source_year=2026, year=2027, changes=[added], remove=["03-10"], by="arch")
    assert sorted(plan.items) == ["01-03", "02-10", "04-01"]
    assert archive.plan(ORG, 2027).items["04-01"] == added
    with pytest.raises(InvalidField, match="has no indexes"):
        archive.copy_plan(ORG, source_year=2026, year=2028, changes=[], remove=["77-77"], by="arch")


def test_the_year_is_closed_only_after_it_ended(archive: ArchiveApplication) -> None:
    case = archive.filing_of(_register(archive, "order", "02", "1"))[1]
    with pytest.raises(RuleBroken, match="has not ended"):
        archive.close_year(ORG, 2026, [case.id], by="arch")
    archive.clock = lambda: date(2027, 1, 9)
    (closed,) = archive.close_year(ORG, 2026, [case.id], by="arch")
    assert (closed.closed_on, closed.retention_end) == (date(2026, 12, 31), None)


def test_the_year_end_closes_a_case_the_read_model_has_not_seen_yet(archive: ArchiveApplication) -> None:
    """Order of Rosarchiv No. 77: every case of the year is closed at its end. The API passes the open cases of the
    read model, which lags behind a case opened a moment ago by a refiling (CI saw 02-11 stay open)."""
    seen = archive.filing_of(_register(archive, "order", "02", "1"))[1]
    letter = _register(archive, "incoming_letter", "02", "2")
    archive.refile(letter, ORG, case_index="03-10", year=None, by="arch", reason="исполняет отдел 03")
    archive.clock = lambda: date(2027, 1, 9)
    closed = archive.close_year(ORG, 2026, [seen.id], by="arch")
    assert sorted(case.index for case in closed) == ["01-03", "02-10", "03-10"]
    assert archive.close_year(ORG, 2026, [seen.id], by="arch") == []


# -- transfer and import ---------------------------------------------------------------------------------------------
def _store(tmp_path: Path, content: bytes) -> tuple[LocalBlobs, str]:
    blobs = LocalBlobs(tmp_path / "blobs")
    source = tmp_path / "file"
    source.write_bytes(content)
    return blobs, blobs.put_file(source)


def test_transfer_and_import_give_the_same_inventory(archive: ArchiveApplication, tmp_path: Path) -> None:
    blobs, sha = _store(tmp_path, b"%PDF order text")
    documents = [_register(archive, "order", "02", n) for n in ("3", "1", "2")]
    archive.record_attachment(documents[0], sha256=sha, filename="приказ.pdf", media_type="application/pdf", size=15)
    archive.count_sheets(documents[1], ORG, sheets=3, by="arch")
    case = archive.filing_of(documents[0])[1]
    archive.clock = lambda: date(2027, 1, 9)
    archive.close_year(ORG, 2026, [case.id], by="arch")
    with pytest.raises(RuleBroken, match="may be transferred from 2028-01-01"):
        archive.transfer(ORG, [case.id], documents={case.id: documents}, by="arch", blobs=blobs, chain_head=None)
    archive.clock = lambda: date(2028, 2, 1)
    record = archive.transfer(ORG, [case.id], documents={case.id: documents}, by="arch", blobs=blobs,
                              chain_head="7:abc")  # fmt: skip
    assert archive.case(case.id).status == "transferred"
    package = tmp_path / "package.zip"
    with blobs.open(record.package_sha256) as stored:
        package.write_bytes(stored.read())
    opened = read_package(package)
    assert opened.seal == record.seal
    assert [line.reg_number for line in opened.cases[0].lines] == ["1", "2", "3"]

    elsewhere = _app(date(2030, 1, 1))
    other_blobs = LocalBlobs(tmp_path / "elsewhere")
    _, imported = elsewhere.import_package(package, by="state-archive", blobs=other_blobs)
    assert [c.id for c in imported] == [case.id]
    again = elsewhere.package_cases(imported, {case.id: documents})
    assert inventory_json(again) == inventory_json(opened.cases)
    assert other_blobs.exists(sha)
    assert elsewhere.import_package(package, by="state-archive", blobs=other_blobs)[1] == []  # once


def test_temporary_cases_are_not_transferred(archive: ArchiveApplication, tmp_path: Path) -> None:
    case = archive.filing_of(_register(archive, "incoming_letter", "02", "1"))[1]
    archive.clock = lambda: date(2029, 1, 9)
    archive.close_year(ORG, 2026, [case.id], by="arch")
    with pytest.raises(RuleBroken, match="is temporary"):
        archive.transfer(ORG, [case.id], documents={}, by="arch", blobs=LocalBlobs(tmp_path), chain_head=None)


# -- disposal ----------------------------------------------------------------------------------------------------------
def _expired(archive: ArchiveApplication) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    letters = [_register(archive, "incoming_letter", "02", n) for n in ("1", "2")]
    order = _register(archive, "order", "02", "3")
    temporary, permanent = archive.filing_of(letters[0])[1], archive.filing_of(order)[1]
    archive.clock = lambda: date(2027, 1, 9)
    archive.close_year(ORG, 2026, [temporary.id, permanent.id], by="arch")
    archive.clock = lambda: date(2032, 1, 1)  # 5 years from 1 January 2027
    return temporary.id, permanent.id, letters


def test_only_expired_temporary_cases_go_into_an_act(archive: ArchiveApplication) -> None:
    temporary, permanent, _ = _expired(archive)
    with pytest.raises(RuleBroken, match="is kept permanently and is never destroyed"):
        archive.draft_act(ORG, [temporary, permanent], documents={}, by="arch", note=None)
    archive.clock = lambda: date(2031, 12, 31)
    with pytest.raises(RuleBroken, match="is kept until 2032-01-01"):
        archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None)
    archive.clock = lambda: date(2032, 1, 1)
    act = archive.draft_act(ORG, [temporary], documents={temporary: 2}, by="arch", note=None)
    assert act.cases[0]["documents"] == 2
    with pytest.raises(RuleBroken, match="is in disposal act"):
        archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None)


ROUTE = uuid.uuid4()


def _decide(archive: ArchiveApplication, act: uuid.UUID, approver: str, decision: str, cause: str) -> None:
    """Routing's ApprovalDecided at the act's commission stage, as archive's policy hands it on."""
    remarks = "срок не истёк по ст. 27" if decision == "reject" else None
    archive.record_commission_decision(
        act, approver=approver, decision=decision, remarks=remarks, on=date(2032, 1, 1), cause=cause
    )


def test_the_expert_commissions_routing_stage_approves_the_act_with_its_protocol_once(
    archive: ArchiveApplication,
) -> None:
    """Issue 11 item 5: the expert commission approves the act as a routing stage; the stage's StageCompleted
    approves it here, with the decisions as its protocol; a redelivery (the same event id) changes nothing."""
    temporary, _, _ = _expired(archive)
    act = archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None, commission=["ek1", "ek2"])
    assert act.commission == ["ek1", "ek2"]
    _decide(archive, act.id, "ek1", "approve", "event-1")
    _decide(archive, act.id, "ek2", "approve_with_remarks", "event-2")
    _decide(archive, act.id, "ek2", "approve_with_remarks", "event-2")  # redelivered
    archive.commission_completed(act.id, route_id=ROUTE, outcome="approved", on=date(2032, 1, 2), cause="event-3")
    approved = archive.act(act.id, ORG)
    assert approved.status == "approved"
    assert approved.approval is not None
    assert approved.approval["by"] == "ek1, ek2"
    assert "ek1: approve" in approved.approval["protocol"]
    assert str(ROUTE) in approved.approval["protocol"]
    archive.commission_completed(act.id, route_id=ROUTE, outcome="approved", on=date(2032, 1, 2), cause="event-3")
    assert archive.act(act.id, ORG).version == approved.version  # a redelivered completion changes nothing


def test_a_rejection_at_the_stage_rejects_the_act_and_frees_its_cases(archive: ArchiveApplication) -> None:
    temporary, _, _ = _expired(archive)
    act = archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None)
    _decide(archive, act.id, "ek1", "reject", "event-1")
    archive.commission_completed(act.id, route_id=ROUTE, outcome="rejected", on=date(2032, 1, 2), cause="event-2")
    rejected = archive.act(act.id, ORG)
    assert (rejected.status, rejected.rejection and rejected.rejection["by"]) == ("rejected", "ek1")
    assert archive.case(temporary).disposal_act is None
    again = archive.draft_act(ORG, [temporary], documents={}, by="arch", note="повторно")  # the case is free again
    assert again.status == "drafted"


def test_the_drafter_neither_sits_on_the_commission_nor_approves_and_other_routes_change_nothing(
    archive: ArchiveApplication,
) -> None:
    temporary, _, _ = _expired(archive)
    with pytest.raises(InvalidField, match="does not judge it"):
        archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None, commission=["arch"])
    act = archive.draft_act(ORG, [temporary], documents={}, by="arch", note=None)
    _decide(archive, act.id, "arch", "approve", "event-1")
    with pytest.raises(NotAllowed, match="cannot approve it"):
        archive.commission_completed(act.id, route_id=ROUTE, outcome="approved", on=date(2032, 1, 2), cause="e")
    other = uuid.uuid4()  # a draft's route in routing: not an act of the archive
    _decide(archive, other, "ek1", "approve", "event-2")
    archive.commission_completed(other, route_id=ROUTE, outcome="approved", on=date(2032, 1, 2), cause="event-3")
    assert archive.act(act.id, ORG).status == "drafted"


def test_contents_are_destroyed_only_by_an_approved_act_and_the_record_stays(
    archive: ArchiveApplication, tmp_path: Path
) -> None:
    blobs, sha = _store(tmp_path, b"letter scan")
    _, shared = _store(tmp_path, b"shared appendix")
    temporary, _, letters = _expired(archive)
    for document in letters:
        archive.record_attachment(document, sha256=sha, filename="скан.pdf", media_type="application/pdf", size=11)
        archive.record_attachment(document, sha256=shared, filename="прил.pdf", media_type="application/pdf", size=15)
    act = archive.draft_act(ORG, [temporary], documents={temporary: 2}, by="arch", note=None)
    documents = {temporary: letters}
    with pytest.raises(RuleBroken, match="only an approved act is executed"):
        archive.execute_act(act.id, ORG, documents=documents, by="arch", blobs=blobs, used_elsewhere=lambda *_: set())
    assert blobs.exists(sha)
    archive.commission_completed(act.id, route_id=ROUTE, outcome="approved", on=date(2032, 1, 1), cause="c")
    done, deleted = archive.execute_act(
        act.id, ORG, documents=documents, by="arch", blobs=blobs, used_elsewhere=lambda shas, _: {shared} & shas
    )
    assert (done.status, deleted) == ("executed", 1)
    assert not blobs.exists(sha)
    assert blobs.exists(shared)  # another document still has it
    assert archive.case(temporary).status == "destroyed"
    filing = archive.filing(letters[0])
    assert (filing.destroyed_on, filing.reg_number, filing.files[0]["sha256"]) == (date(2032, 1, 1), "1", sha)
    assert [kept for kept in archive.kept_files() if kept[2]["sha256"] == sha] == []
    with pytest.raises(RuleBroken, match="was destroyed"):
        archive.count_sheets(letters[0], ORG, sheets=1, by="arch")
