"""Archive's write side: file plans, filing, cases, transfers to the organization's archive, disposal acts.

Commands load and save aggregates; what a command needs from lists (the documents of a case, which blobs other
documents still use) comes in as arguments, read by the caller from the read model.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from edms_archive.blobs import Blobs
from edms_archive.domain import Case, DisposalAct, FilePlan, Filing, RuleBroken, Transfer
from edms_archive.package import (
    IntegrityFailure,
    OpenedPackage,
    PackageCase,
    PackageFile,
    PackageLine,
    Sealed,
    extract_files,
    read_package,
    write_package,
)
from edms_archive.plan import FILE_PLAN, FilePlanItem, choose_item
from edms_runtime.errors import InvalidField, NotFound
from edms_runtime.eventstore import ServiceApplication

A = TypeVar("A", bound=Aggregate)


class FilingNotFound(NotFound):
    def __init__(self, document_id: uuid.UUID) -> None:
        super().__init__(f"document {document_id} is not filed (yet)")


class CaseNotFound(NotFound):
    def __init__(self, case_id: uuid.UUID) -> None:
        super().__init__(f"case {case_id} does not exist")


class ActNotFound(NotFound):
    def __init__(self, act_id: uuid.UUID) -> None:
        super().__init__(f"disposal act {act_id} does not exist")


class TransferNotFound(NotFound):
    def __init__(self, transfer_id: uuid.UUID) -> None:
        super().__init__(f"transfer {transfer_id} does not exist")


@dataclass(frozen=True)
class Plan:
    """An organization's file plan for a year as it applies: its own (`adopted`) or the model plan."""

    org: str
    year: int
    items: dict[str, FilePlanItem]
    adopted: FilePlan | None


class ArchiveApplication(ServiceApplication):
    #: The archive's idea of today: retention, transfer windows and acts are judged by it. The composition root may
    #: fix it (EDMS_ARCHIVE_TODAY) for training and tests.
    clock: Callable[[], date] = staticmethod(date.today)

    # -- loading -------------------------------------------------------------------------------------------------------
    def _get(self, aggregate_id: uuid.UUID, cls: type[A], missing: NotFound) -> A:
        """A staged aggregate of this fetch, else the stored one; `missing` when there is none of that class."""
        staged = self.staged(aggregate_id)
        if isinstance(staged, cls):
            return staged
        try:
            found: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None
        if not isinstance(found, cls):
            raise missing
        return found

    def case(self, case_id: uuid.UUID, org: str | None = None) -> Case:
        case = self._get(case_id, Case, CaseNotFound(case_id))
        if org is not None and case.org != org:
            raise CaseNotFound(case_id)  # another organization's case is not revealed
        return case

    def filing(self, document_id: uuid.UUID, org: str | None = None) -> Filing:
        filing = self._get(Filing.create_id(document_id), Filing, FilingNotFound(document_id))
        if org is not None and filing.org != org:
            raise FilingNotFound(document_id)
        return filing

    def filing_of(self, document_id: uuid.UUID) -> tuple[Filing, Case]:
        filing = self.filing(document_id)
        return filing, self.case(filing.case_id)

    def act(self, act_id: uuid.UUID, org: str) -> DisposalAct:
        act = self._get(act_id, DisposalAct, ActNotFound(act_id))
        if act.org != org:
            raise ActNotFound(act_id)
        return act

    def transfer_record(self, transfer_id: uuid.UUID, org: str) -> Transfer:
        transfer = self._get(transfer_id, Transfer, TransferNotFound(transfer_id))
        if transfer.org != org:
            raise TransferNotFound(transfer_id)
        return transfer

    # -- file plan -----------------------------------------------------------------------------------------------------
    def plan(self, org: str, year: int) -> Plan:
        try:
            adopted: FilePlan = self.repository.get(FilePlan.create_id(org, year))
        except AggregateNotFoundError:
            return Plan(org, year, dict(FILE_PLAN), None)
        return Plan(org, year, adopted.items, adopted)

    def adopt_plan(self, org: str, year: int, items: Sequence[FilePlanItem], *, by: str, source: str) -> Plan:
        """Adopt (or revise) the year's plan. A case already opened keeps its index, retention and article: an item
        with a case cannot be removed or given another period (its documents were filed under it)."""
        current = self.plan(org, year)
        proposed = {item.index: item for item in items}
        errors = []
        for index, item in current.items.items():
            if not self.exists(Case.create_id(org, index, year)):
                continue
            new = proposed.get(index)
            if new is None:
                errors.append(f"{index} has a case of {year} and cannot be removed")
            elif (new.retention, new.article) != (item.retention, item.article):
                errors.append(
                    f"{index} has a case of {year}; its retention and article stay {item.retention}, {item.article}"
                )
        if errors:
            raise RuleBroken("; ".join(errors), field="items")
        rows = [item.as_dict() for item in items]
        plan = current.adopted
        if plan is None:
            plan = FilePlan(org, year, rows, by, source)
        else:
            plan.revise(rows, by, source)
        self.save(plan)
        return Plan(org, year, dict(proposed), plan)

    def copy_plan(
        self,
        org: str,
        *,
        source_year: int,
        year: int,
        changes: Sequence[FilePlanItem],
        remove: Collection[str],
        by: str,
    ) -> Plan:
        """Next year's plan from this one: the same items, some replaced or added (`changes`), some removed."""
        items = dict(self.plan(org, source_year).items)
        unknown = sorted(set(remove) - set(items))
        if unknown:
            raise InvalidField(f"the plan of {source_year} has no indexes {unknown}", field="remove")
        for index in remove:
            del items[index]
        items.update({item.index: item for item in changes})
        return self.adopt_plan(
            org, year, sorted(items.values(), key=lambda i: i.index), by=by, source=f"copy of {source_year}"
        )

    # -- filing --------------------------------------------------------------------------------------------------------
    def file_document(
        self,
        *,
        document_id: uuid.UUID,
        org: str,
        kind: str,
        case_index: str | None,
        year: int,
        access: str | None,
        unit: str | None = None,
        reg_number: str | None = None,
        reg_date: date | None = None,
        title: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        """File a registered document into its case of its year (the latest volume; a closed one continues in a new
        volume, so a registration is never refused: the archivist can refile it)."""
        if self.exists(Filing.create_id(document_id)):
            return
        item = choose_item(self.plan(org, year).items, case_index=case_index, kind=kind, unit=unit)
        case = self._open_case(org, item, year)
        self.save_once(
            Filing(
                document_id=document_id,
                org=org,
                case_id=case.id,
                case_index=item.index,
                case_title=case.title,
                year=year,
                retention=case.retention,
                access=access,
                correlation_id=correlation_id,
                causation_id=causation_id,
                reg_number=reg_number,
                reg_date=reg_date,
                title=title,
                kind=kind,
            )
        )

    def _volumes(self, org: str, index: str, year: int) -> Iterator[uuid.UUID]:
        """The ids of the volumes of a case opened so far, in order (a case's id derives from its volume)."""
        volume = 1
        while self.exists(case_id := Case.create_id(org, index, year, volume)):
            yield case_id
            volume += 1

    def _latest_volume(self, org: str, index: str, year: int) -> Case | None:
        volumes = list(self._volumes(org, index, year))
        return self.case(volumes[-1]) if volumes else None

    def _open_case(self, org: str, item: FilePlanItem, year: int) -> Case:
        latest = self._latest_volume(org, item.index, year)
        if latest is not None and latest.closed_on is None:
            return latest
        volume = 1 if latest is None else latest.volume + 1
        case = Case(org, item.index, year, item.title, item.retention, item.article, unit=item.unit, volume=volume)
        self.save_once(case)
        return case

    def record_attachment(
        self, document_id: uuid.UUID, *, sha256: str, filename: str, media_type: str, size: int
    ) -> None:
        """The archive keeps each file of a filed document by its SHA-256 (once per content)."""
        filing = self.filing(document_id)
        if any(f["sha256"] == sha256 for f in filing.files):
            return
        filing.record_file(sha256=sha256, filename=filename, media_type=media_type, size=size)
        self.save_once(filing)

    def refile(
        self, document_id: uuid.UUID, org: str, *, case_index: str, year: int | None, by: str, reason: str
    ) -> Filing:
        filing = self.filing(document_id, org)
        year = year or filing.year
        if case_index not in self.plan(org, year).items:
            raise InvalidField(f"the file plan of {year} has no case {case_index}", field="case_index")
        self.case(filing.case_id).must_give_documents()
        target = self._latest_volume(org, case_index, year)
        if target is None:
            item = self.plan(org, year).items[case_index]
            target = Case(org, case_index, year, item.title, item.retention, item.article, unit=item.unit)
        filing.refile(target, by=by, reason=reason)
        self.save(target, filing)
        return filing

    def count_sheets(self, document_id: uuid.UUID, org: str, *, sheets: int, by: str) -> Filing:
        filing = self.filing(document_id, org)
        case = self.case(filing.case_id)
        if case.transfer_id is not None:
            raise RuleBroken(f"{case.label} was transferred; its inventory is final", field="sheets")
        filing.count_sheets(sheets, by=by)
        self.save(filing)
        return filing

    # -- cases ---------------------------------------------------------------------------------------------------------
    def close_case(self, case_id: uuid.UUID, org: str, *, by: str, reason: str) -> Case:
        case = self.case(case_id, org)
        case.close(on=self.clock(), by=by, reason=reason)
        self.save(case)
        return case

    def close_year(self, org: str, year: int, case_ids: Iterable[uuid.UUID], *, by: str) -> list[Case]:
        """Close the year's open cases as of 31 December (the year-end closing of the file plan's cases)."""
        if self.clock() <= date(year, 12, 31):
            raise RuleBroken(f"the year {year} has not ended; close a case by hand instead", field="year")
        candidates = dict.fromkeys(case_ids)  # the read model's open cases, which may lag behind the saves ...
        for index in self.plan(org, year).items:  # ... so also every volume of every index of the plan
            candidates.update(dict.fromkeys(self._volumes(org, index, year)))
        closed = []
        for case_id in candidates:
            case = self.case(case_id, org)
            if case.year == year and case.closed_on is None:
                case.close(on=date(year, 12, 31), by=by, reason="year end")
                closed.append(case)
        if closed:
            self.save(*closed)
        return closed

    def locate(
        self, case_id: uuid.UUID, org: str, *, room: str, shelf: str, box: str, note: str | None, by: str
    ) -> Case:
        case = self.case(case_id, org)
        case.locate(room=room, shelf=shelf, box=box, by=by, at=self.clock(), note=note)
        self.save(case)
        return case

    # -- transfer to the organization's archive ------------------------------------------------------------------------
    def package_cases(self, cases: Sequence[Case], documents: dict[uuid.UUID, list[uuid.UUID]]) -> list[PackageCase]:
        """The package's view of cases; `documents` (case id -> document ids) comes from the read model and is
        checked against each filing, the source of truth."""
        packaged = []
        for case in cases:
            if case.closed_on is None:
                raise RuleBroken(f"{case.label} is still open; only closed cases are transferred", field="case_ids")
            lines = []
            for document_id in documents.get(case.id, []):
                filing = self.filing(document_id)
                if filing.case_id != case.id:
                    continue  # refiled meanwhile; the read model had not caught up
                lines.append(_line(filing))
            packaged.append(
                PackageCase(
                    case_id=case.id,
                    org=case.org,
                    index=case.index,
                    title=case.title,
                    year=case.year,
                    volume=case.volume,
                    unit=case.unit,
                    retention=case.retention,
                    article=case.article,
                    closed_on=case.closed_on,
                    lines=tuple(lines),
                    locations=tuple(case.locations),
                )
            )
        return packaged

    def transfer(
        self,
        org: str,
        case_ids: Sequence[uuid.UUID],
        *,
        documents: dict[uuid.UUID, list[uuid.UUID]],
        by: str,
        blobs: Blobs,
        chain_head: str | None,
    ) -> Transfer:
        """Build and seal the package of these cases, keep it in the blob store, and record the transfer."""
        if len(set(case_ids)) != len(case_ids) or not case_ids:
            raise InvalidField("name each case once, at least one", field="case_ids")
        today = self.clock()
        transfer_id = uuid.uuid4()
        cases = [self.case(case_id, org) for case_id in case_ids]
        for case in cases:  # every rule before any byte is written
            case.transfer(transfer_id=transfer_id, seal="0" * 64, on=today, by=by)
        cases = [self.case(case_id, org) for case_id in case_ids]  # fresh, without the trial events
        packaged = self.package_cases(cases, documents)
        header = {
            "transfer_id": str(transfer_id),
            "org": org,
            "created_on": today.isoformat(),
            "created_by": by,
            "chain_head": chain_head,
            "cases": [str(case.id) for case in cases],
        }
        with tempfile.TemporaryDirectory(prefix="edms-transfer-") as tmp:
            path = Path(tmp) / "package.zip"
            sealed = write_package(path, header=header, cases=packaged, blobs=blobs)
            blobs.put_file(path)
        return self._record_transfer(org, cases, transfer_id, sealed, today=today, by=by, chain_head=chain_head)

    def _record_transfer(
        self,
        org: str,
        cases: list[Case],
        transfer_id: uuid.UUID,
        sealed: Sealed,
        *,
        today: date,
        by: str,
        chain_head: str | None,
    ) -> Transfer:
        for case in cases:
            case.transfer(transfer_id=transfer_id, seal=sealed.seal, on=today, by=by)
        record = Transfer(
            transfer_id,
            org,
            [case.id for case in cases],
            sealed.seal,
            sealed.package_sha256,
            sealed.size,
            sealed.documents,
            sealed.files,
            by,
            today,
            chain_head,
        )
        self.save(record, *cases)
        return record

    def import_package(self, path: Path, *, by: str, blobs: Blobs) -> tuple[OpenedPackage, list[Case]]:
        """Take in a package: verify it (nothing is changed unless it is intact), store its files, and record its
        cases and documents as they were. A case imported before from the same package is left as it is."""
        package = read_package(path)
        transfer_id = uuid.UUID(package.manifest["transfer_id"])
        todo = []
        for packaged in package.cases:
            if self.exists(packaged.case_id):
                existing = self.case(packaged.case_id)
                if existing.transfer_id != transfer_id:
                    raise RuleBroken(
                        f"{existing.label} exists here and did not come from this package", field="package"
                    )
                continue
            todo.append(packaged)
        self._store_files(path, todo, blobs)
        imported = []
        for packaged in todo:
            case, filings = _imported(packaged, transfer_id=transfer_id, seal=package.seal, by=by)
            self.save(case, *filings)
            imported.append(case)
        return package, imported

    @staticmethod
    def _store_files(path: Path, cases: Sequence[PackageCase], blobs: Blobs) -> None:
        shas = sorted({f.sha256 for case in cases for line in case.lines for f in line.files})
        missing = [sha for sha in shas if not blobs.exists(sha)]
        with tempfile.TemporaryDirectory(prefix="edms-import-") as tmp:
            for sha, extracted in extract_files(path, missing, Path(tmp)):
                if blobs.put_file(extracted) != sha:
                    raise IntegrityFailure(f"files/{sha}: changed while it was imported")
                extracted.unlink()

    # -- disposal ------------------------------------------------------------------------------------------------------
    def draft_act(
        self,
        org: str,
        case_ids: Sequence[uuid.UUID],
        *,
        documents: dict[uuid.UUID, int],
        by: str,
        note: str | None,
        commission: Sequence[str] = (),
    ) -> DisposalAct:
        """An act listing expired cases (none permanent, none in another act); `documents`: count per case;
        `commission`: the members the archivist names (none: routing asks everyone with the role)."""
        if len(set(case_ids)) != len(case_ids) or not case_ids:
            raise InvalidField("name each case once, at least one", field="case_ids")
        if by in commission:
            raise InvalidField("the archivist who drafts the act does not judge it", field="expert_commission")
        today = self.clock()
        cases = [self.case(case_id, org) for case_id in case_ids]
        rows = [_act_row(case, documents.get(case.id, 0)) for case in cases]
        act = DisposalAct(org, rows, by, today, note, list(dict.fromkeys(commission)))
        for case in cases:
            case.list_for_disposal(act_id=act.id, today=today)
        self.save(act, *cases)
        return act

    def _routed_act(self, act_id: uuid.UUID) -> DisposalAct | None:
        """The act a routing event concerns (its route's document id is the act's id), or None: another document."""
        if not self.exists(act_id):
            return None
        act = self.load(act_id)  # staged earlier in this fetch, else stored
        return act if isinstance(act, DisposalAct) else None

    def record_commission_decision(
        self, act_id: uuid.UUID, *, approver: str, decision: str, remarks: str | None, on: date, cause: str
    ) -> None:
        """A member's decision at the act's routing stage (routing's ApprovalDecided), kept for the protocol."""
        act = self._routed_act(act_id)
        if act is not None and act.record_decision(
            approver=approver, decision=decision, remarks=remarks, on=on, cause=cause
        ):
            self.save_once(act)

    def commission_completed(
        self, act_id: uuid.UUID, *, route_id: uuid.UUID, outcome: str, on: date, cause: str
    ) -> None:
        """The expert commission's stage completed in routing (StageCompleted): approved approves the act with the
        protocol of the decisions; rejected rejects it and delists its cases. `cause` (the event id) makes a
        redelivery a no-op; another document's route, or an act decided already, changes nothing."""
        act = self._routed_act(act_id)
        if act is None or act.status != "drafted":
            return
        if outcome == "approved":
            act.approve(by=", ".join(act.approvers), protocol=act.protocol(route_id, on), on=on, cause=cause)
            self.save_once(act)
        elif outcome == "rejected":
            remarks = [f"{d['approver']}: {d['remarks']}" for d in act.decisions if d["decision"] == "reject"]
            rejecting = [d["approver"] for d in act.decisions if d["decision"] == "reject"]
            act.reject(by=", ".join(rejecting), reason="; ".join(remarks) or "rejected", cause=cause)
            cases = [self.case(case_id) for case_id in act.case_ids]
            for case in cases:
                case.delist(act.id)
            self.save_once(act, *cases)

    def execute_act(
        self,
        act_id: uuid.UUID,
        org: str,
        *,
        documents: dict[uuid.UUID, list[uuid.UUID]],
        by: str,
        blobs: Blobs,
        used_elsewhere: Callable[[set[str], set[uuid.UUID]], set[str]],
    ) -> tuple[DisposalAct, int]:
        """Destroy the contents of an approved act's cases: record the fact first (act, cases, documents), then
        delete the files no other document uses. Returns the act and how many files were deleted. Running it again
        after a crash deletes what is left."""
        act = self.act(act_id, org)
        today = self.clock()
        filings = [self.filing(d) for case_id in act.case_ids for d in documents.get(case_id, [])]
        if act.status != "executed":
            act.execute(by=by, on=today)
            cases = [self.case(case_id) for case_id in act.case_ids]
            for case in cases:
                case.destroy(act_id=act.id, on=today, by=by)
            for filing in filings:
                if filing.destroyed_on is None:
                    filing.destroy(act_id=act.id, on=today)
            self.save(act, *cases, *filings)
        shas = {f["sha256"] for filing in filings for f in filing.files}
        keep = used_elsewhere(shas, {filing.document_id for filing in filings})
        deleted = sum(blobs.delete(sha) for sha in sorted(shas - keep))
        return act, deleted

    # -- what the audit checks -----------------------------------------------------------------------------------------
    def kept_files(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(document, case, file) for every file of every document not destroyed, from the event store itself."""
        filings: dict[uuid.UUID, dict[str, Any]] = {}
        for notification in _all_notifications(self):
            domain_event = self.mapper.to_domain_event(notification)
            name = type(domain_event).__qualname__
            state = vars(domain_event)
            if name == "Filing.Filed":
                filings[domain_event.originator_id] = {**state, "files": [], "destroyed": False}
            elif name == "Filing.Refiled":
                filings[domain_event.originator_id].update(case_index=state["case_index"], year=state["year"])
            elif name == "Filing.FileRecorded":
                filings[domain_event.originator_id]["files"].append(state)
            elif name == "Filing.Destroyed":
                filings[domain_event.originator_id]["destroyed"] = True
        for record in filings.values():
            if record["destroyed"]:
                continue
            document = f"document {record['document_id']} ({record.get('reg_number') or 'no number'})"
            for item in record["files"]:
                yield document, f"case {record['case_index']}/{record['year']}", item


def _all_notifications(app: ServiceApplication, batch: int = 1000) -> Iterator[Any]:
    start = 1
    while notifications := app.recorder.select_notifications(start, batch):
        yield from notifications
        start = notifications[-1].id + 1


def _line(filing: Filing) -> PackageLine:
    return PackageLine(
        document_id=filing.document_id,
        reg_number=filing.reg_number,
        reg_date=filing.reg_date,
        title=filing.title,
        kind=filing.kind,
        access=filing.access,
        sheets=filing.sheets,
        files=tuple(PackageFile(f["sha256"], f["filename"], f["media_type"], f["size"]) for f in filing.files),
    )


def _act_row(case: Case, documents: int) -> dict[str, Any]:
    """A line of the act as it stays forever: what the case was, without its contents."""
    return {
        "case_id": str(case.id),
        "index": case.index,
        "title": case.title,
        "year": case.year,
        "volume": case.volume,
        "retention": case.retention,
        "article": case.article,
        "closed_on": case.closed_on,
        "retention_end": case.retention_end,
        "documents": documents,
    }


def _imported(packaged: PackageCase, *, transfer_id: uuid.UUID, seal: str, by: str) -> tuple[Case, list[Filing]]:
    case = Case(
        packaged.org,
        packaged.index,
        packaged.year,
        packaged.title,
        packaged.retention,
        packaged.article,
        unit=packaged.unit,
        volume=packaged.volume,
    )
    if case.id != packaged.case_id:
        raise IntegrityFailure(
            f"case {packaged.index}/{packaged.year}: its id does not follow from its organization, "
            "index, year and volume"
        )
    case.record_import(transfer_id, seal, packaged.closed_on, by)
    filings = []
    for line in packaged.lines:
        filing = Filing(
            document_id=line.document_id,
            org=packaged.org,
            case_id=case.id,
            case_index=case.index,
            case_title=case.title,
            year=case.year,
            retention=case.retention,
            access=line.access,
            reg_number=line.reg_number,
            reg_date=line.reg_date,
            title=line.title,
            kind=line.kind,
        )
        for item in line.files:
            filing.record_file(sha256=item.sha256, filename=item.filename, media_type=item.media_type, size=item.size)
        if line.sheets is not None:
            filing.count_sheets(line.sheets, by=by)
        filings.append(filing)
    return case, filings
