"""File plans, cases, filings, transfers and disposal acts: pure domain, no I/O.

Rules (DOMAIN.md, "Archive"; Rules of organising the storage of archival documents, Order of Rosarchiv No. 77 of
31.07.2023; List of standard archival documents with retention periods, Order of Rosarchiv No. 236 of 20.12.2019):
a case (дело) of the file plan (номенклатура дел) is opened per year; each case carries its index, title, retention
period and the article of the standard list; a document is filed into the case of its plan for its year; a closed
case takes no documents; temporary cases are destroyed only through a disposal act (акт о выделении к уничтожению)
approved by the expert commission (экспертная комиссия), permanent ones never; nothing is deleted otherwise.

Every rule check is in a public method; the `@event` methods only record, so that old events always replay.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from edms_archive.plan import (
    FILE_PLAN,
    KIND_DEFAULTS,
    Category,
    FilePlanItem,
    NoCaseForDocument,
    Retention,
    plan_item_for,
)
from edms_runtime.errors import DomainError, InvalidField

__all__ = ["FILE_PLAN", "KIND_DEFAULTS", "NoCaseForDocument", "plan_item_for"]

NAMESPACE = uuid.UUID("5a1c7e0d-2f44-4c8b-b1e6-9d0a3c2b4f51")


class RuleBroken(DomainError):
    """A command the archive's rules refuse (409): the state of a case or act does not allow it."""


class FilePlan(Aggregate):
    """An organization's file plan (номенклатура дел) for one year; each revision replaces the items."""

    @staticmethod
    def create_id(org: str, year: int, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"file-plan/{org}/{year}")

    @event("Adopted")
    def __init__(self, org: str, year: int, items: list[dict[str, Any]], by: str, source: str) -> None:
        self.org = org
        self.year = year
        self.rows = items
        self.by = by
        self.source = source

    @event("Revised")
    def revise(self, items: list[dict[str, Any]], by: str, source: str) -> None:
        self.rows = items
        self.by = by
        self.source = source

    @property
    def items(self) -> dict[str, FilePlanItem]:
        return {row["index"]: FilePlanItem.from_dict(row) for row in self.rows}


class Case(Aggregate):
    """A case (дело) of one file plan item for one organization and year; a full case continues in a new volume."""

    @staticmethod
    def create_id(org: str, index: str, year: int, volume: int = 1, **_: object) -> uuid.UUID:
        suffix = "" if volume == 1 else f"/{volume}"  # volume 1 keeps the id cases had before volumes
        return uuid.uuid5(NAMESPACE, f"case/{org}/{index}/{year}{suffix}")

    @event("Opened")
    def __init__(
        self,
        org: str,
        index: str,
        year: int,
        title: str,
        retention: str,
        article: str,
        unit: str | None = None,
        volume: int = 1,
    ) -> None:
        self.org = org
        self.index = index
        self.year = year
        self.title = title
        self.retention = retention
        self.article = article
        self.unit = unit
        self.volume = volume
        self.closed_on: date | None = None
        self.locations: list[dict[str, Any]] = []
        self.transfer_id: uuid.UUID | None = None
        self.disposal_act: uuid.UUID | None = None
        self.destroyed_on: date | None = None
        self.imported_from: str | None = None

    # -- reading ---------------------------------------------------------------------------------------------------
    @property
    def period(self) -> Retention:
        return Retention.parse(self.retention)

    @property
    def category(self) -> Category:
        return self.period.category

    @property
    def retention_end(self) -> date | None:
        """From when the case may be destroyed (None while open, and for a permanent case)."""
        return None if self.closed_on is None else self.period.expires(self.closed_on)

    @property
    def status(self) -> str:
        if self.destroyed_on is not None:
            return "destroyed"
        if self.transfer_id is not None:
            return "transferred"
        return "open" if self.closed_on is None else "closed"

    @property
    def label(self) -> str:
        volume = f", vol. {self.volume}" if self.volume > 1 else ""
        return f"case {self.index}/{self.year}{volume}"

    # -- commands --------------------------------------------------------------------------------------------------
    def close(self, *, on: date, by: str, reason: str) -> None:
        """Closed by hand, or at the year's end (on 31 December of its year)."""
        if self.closed_on is not None:
            raise RuleBroken(f"{self.label} is closed already (on {self.closed_on})")
        if on < date(self.year, 1, 1):
            raise InvalidField(f"{self.label} cannot be closed before its year began", field="on")
        self._close(closed_on=on, by=by, reason=reason)

    @event("Closed")
    def _close(self, closed_on: date, by: str, reason: str) -> None:
        self.closed_on = closed_on

    def locate(self, *, room: str, shelf: str, box: str, by: str, at: date, note: str | None) -> None:
        """Where the paper case is now (room, shelf, box); every move stays in the trail."""
        self._refuse_if_destroyed("moved")
        self._locate(room=room, shelf=shelf, box=box, by=by, at=at, note=note)

    @event("Located")
    def _locate(self, room: str, shelf: str, box: str, by: str, at: date, note: str | None) -> None:
        self.locations.append({"room": room, "shelf": shelf, "box": box, "by": by, "at": at, "note": note})

    def must_take_documents(self) -> None:
        if self.closed_on is not None:
            raise RuleBroken(f"{self.label} is closed (on {self.closed_on}); it takes no documents", field="case")

    def must_give_documents(self) -> None:
        if self.closed_on is not None:
            raise RuleBroken(f"{self.label} is closed (on {self.closed_on}); its inventory is final", field="case")

    def transfer(self, *, transfer_id: uuid.UUID, seal: str, on: date, by: str) -> None:
        """To the organization's archive: permanent and long-term cases, closed, within 1–3 years (Order No. 77;
        a late transfer is still allowed — better late than never — and shows as overdue in the lists)."""
        self._refuse_if_destroyed("transferred")
        if self.transfer_id is not None:
            raise RuleBroken(f"{self.label} was transferred already (transfer {self.transfer_id})", field="case_ids")
        if self.closed_on is None:
            raise RuleBroken(f"{self.label} is still open; only closed cases are transferred", field="case_ids")
        window = self.period.transfer_window(self.closed_on)
        if window is None:
            raise RuleBroken(
                f"{self.label} is temporary ({self.retention}): it stays in its unit until destroyed", field="case_ids"
            )
        if on < window[0]:
            raise RuleBroken(
                f"{self.label} may be transferred from {window[0]} (a year after closing)", field="case_ids"
            )
        self._transfer(transfer_id=transfer_id, seal=seal, on=on, by=by)

    @event("Transferred")
    def _transfer(self, transfer_id: uuid.UUID, seal: str, on: date, by: str) -> None:
        self.transfer_id = transfer_id

    def list_for_disposal(self, *, act_id: uuid.UUID, today: date) -> None:
        """Into a disposal act: only a case whose retention has expired, never a permanent one (Order No. 77)."""
        self._refuse_if_destroyed("listed for destruction")
        if self.category is Category.PERMANENT:
            raise RuleBroken(f"{self.label} is kept permanently and is never destroyed", field="case_ids")
        end = self.retention_end
        if end is None:
            raise RuleBroken(f"{self.label} is still open; its retention has not begun", field="case_ids")
        if today < end:
            raise RuleBroken(f"{self.label} is kept until {end} ({self.retention}); not expired", field="case_ids")
        if self.disposal_act is not None:
            raise RuleBroken(f"{self.label} is in disposal act {self.disposal_act} already", field="case_ids")
        self._list(act_id=act_id)

    @event("ListedForDisposal")
    def _list(self, act_id: uuid.UUID) -> None:
        self.disposal_act = act_id

    @event("Delisted")
    def delist(self, act_id: uuid.UUID) -> None:
        self.disposal_act = None

    def destroy(self, *, act_id: uuid.UUID, on: date, by: str) -> None:
        if self.disposal_act != act_id:
            raise RuleBroken(f"{self.label} is not in act {act_id}")
        self._refuse_if_destroyed("destroyed")
        self._destroy(act_id=act_id, destroyed_on=on, by=by)

    @event("Destroyed")
    def _destroy(self, act_id: uuid.UUID, destroyed_on: date, by: str) -> None:
        self.destroyed_on = destroyed_on

    @event("Imported")
    def record_import(self, transfer_id: uuid.UUID, seal: str, closed_on: date, by: str) -> None:
        """Taken in from a transfer package (the organization's archive): closed and transferred as it was."""
        self.closed_on = closed_on
        self.transfer_id = transfer_id
        self.imported_from = seal

    def _refuse_if_destroyed(self, what: str) -> None:
        if self.destroyed_on is not None:
            raise RuleBroken(f"{self.label} was destroyed on {self.destroyed_on}; it cannot be {what}")


class Filing(Aggregate):
    """One document's place in a case, with what the archive keeps of it: the card's number, date and title, its
    files (by SHA-256) and the sheets of its paper original. One per document, so filing is idempotent.

    It keeps the document's organization and access restriction mark (ДСП) for the read rule; filings made before
    the mark (or the card's fields) were kept have none (None).
    """

    @staticmethod
    def create_id(document_id: uuid.UUID, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"filing/{document_id}")

    @event("Filed")
    def __init__(
        self,
        document_id: uuid.UUID,
        org: str,
        case_id: uuid.UUID,
        case_index: str,
        case_title: str,
        year: int,
        retention: str,
        access: str | None = None,
        correlation_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        reg_number: str | None = None,
        reg_date: date | None = None,
        title: str | None = None,
        kind: str | None = None,
    ) -> None:
        self.document_id = document_id
        self.org = org
        self.case_id = case_id
        self.case_index = case_index
        self.case_title = case_title
        self.year = year
        self.retention = retention
        self.access = access
        self.reg_number = reg_number
        self.reg_date = reg_date
        self.title = title
        self.kind = kind
        self.files: list[dict[str, Any]] = []
        self.sheets: int | None = None
        self.destroyed_on: date | None = None

    def refile(self, into: Case, *, by: str, reason: str) -> None:
        """An archivist moves the document to another case, saying why; both cases must still be open."""
        if into.id == self.case_id:
            raise InvalidField(f"the document is in {into.label} already", field="case_index")
        if into.org != self.org:
            raise InvalidField("a document stays in its organization's cases", field="case_index")
        into.must_take_documents()
        self._refile(
            document_id=self.document_id,
            case_id=into.id,
            case_index=into.index,
            case_title=into.title,
            year=into.year,
            retention=into.retention,
            from_case_id=self.case_id,
            by=by,
            reason=reason,
        )

    @event("Refiled")
    def _refile(
        self,
        document_id: uuid.UUID,
        case_id: uuid.UUID,
        case_index: str,
        case_title: str,
        year: int,
        retention: str,
        from_case_id: uuid.UUID,
        by: str,
        reason: str,
    ) -> None:
        self.case_id = case_id
        self.case_index = case_index
        self.case_title = case_title
        self.year = year
        self.retention = retention

    def record_file(self, *, sha256: str, filename: str, media_type: str, size: int) -> None:
        """A file of the document (the bytes stay in the blob store; the archive keeps their SHA-256)."""
        self._record_file(
            document_id=self.document_id, sha256=sha256, filename=filename, media_type=media_type, size=size
        )

    @event("FileRecorded")
    def _record_file(self, document_id: uuid.UUID, sha256: str, filename: str, media_type: str, size: int) -> None:
        self.files.append({"sha256": sha256, "filename": filename, "media_type": media_type, "size": size})

    def count_sheets(self, sheets: int, *, by: str) -> None:
        """Sheets of the paper original, for the inventory (0: electronic only)."""
        if self.destroyed_on is not None:
            raise RuleBroken(f"the document was destroyed on {self.destroyed_on}")
        self._count_sheets(document_id=self.document_id, sheets=sheets, by=by)

    @event("SheetsCounted")
    def _count_sheets(self, document_id: uuid.UUID, sheets: int, by: str) -> None:
        self.sheets = sheets

    def destroy(self, *, act_id: uuid.UUID, on: date) -> None:
        """Its contents are destroyed under an approved act; this record of it stays."""
        self._destroy(document_id=self.document_id, act_id=act_id, destroyed_on=on)

    @event("Destroyed")
    def _destroy(self, document_id: uuid.UUID, act_id: uuid.UUID, destroyed_on: date) -> None:
        self.destroyed_on = destroyed_on

    @property
    def card(self) -> dict[str, Any]:
        return {"reg_number": self.reg_number, "reg_date": self.reg_date, "title": self.title, "kind": self.kind}


class Transfer(Aggregate):
    """A transfer of cases to the organization's archive (передача дел в архив) as a sealed integrity package."""

    @staticmethod
    def create_id(transfer_id: uuid.UUID, **_: object) -> uuid.UUID:
        return transfer_id  # the id the package carries, known before the package is written

    @event("Built")
    def __init__(
        self,
        transfer_id: uuid.UUID,
        org: str,
        case_ids: list[uuid.UUID],
        seal: str,
        package_sha256: str,
        size: int,
        documents: int,
        files: int,
        by: str,
        on: date,
        chain_head: str | None,
    ) -> None:
        self.org = org
        self.case_ids = case_ids
        self.seal = seal
        self.package_sha256 = package_sha256
        self.size = size
        self.documents = documents
        self.files = files
        self.by = by
        self.on = on
        self.chain_head = chain_head


#: The route template (routing's 16-disposal-act) whose approval stage is the expert commission's.
COMMISSION_STAGE = "expert_commission"


class DisposalAct(Aggregate):
    """An act on selecting cases for destruction (акт о выделении к уничтожению дел, не подлежащих хранению).

    Drafted by an archivist with expired cases; approved by the expert commission (экспертная комиссия) — a routing
    stage: the act is published (DisposalActDrafted), routing runs the commission's approval, and its StageCompleted
    approves or rejects the act here (issue 11 item 5; Order of Rosarchiv No. 77 of 31.07.2023: an act is approved
    after the expert commission agreed to it). Only an approved act is executed: the contents are destroyed while the
    act, the inventory and the fact stay. The archivist who drafted the act is not its judge.
    """

    @event("Drafted")
    def __init__(
        self,
        org: str,
        cases: list[dict[str, Any]],
        by: str,
        drafted_on: date,
        note: str | None,
        commission: list[str] | None = None,
    ) -> None:
        self.org = org
        self.cases = cases
        self.drafted_by = by
        self.drafted_on = drafted_on
        self.note = note
        self.commission = list(commission or [])
        self.decisions: list[dict[str, Any]] = []
        self.approval: dict[str, Any] | None = None
        self.rejection: dict[str, Any] | None = None
        self.executed: dict[str, Any] | None = None

    @property
    def case_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(str(case["case_id"])) for case in self.cases]

    @property
    def status(self) -> str:
        if self.executed is not None:
            return "executed"
        if self.rejection is not None:
            return "rejected"
        return "approved" if self.approval is not None else "drafted"

    def record_decision(self, *, approver: str, decision: str, remarks: str | None, on: date, cause: str) -> bool:
        """A commission member's decision at the routing stage, for the protocol; the same cause again: False."""
        if any(d["cause"] == cause for d in self.decisions) or self.status != "drafted":
            return False
        self._decided(approver=approver, decision=decision, remarks=remarks, decided_on=on, cause=cause)
        return True

    @event("Decided")
    def _decided(self, approver: str, decision: str, remarks: str | None, decided_on: date, cause: str) -> None:
        self.decisions.append(
            {"approver": approver, "decision": decision, "remarks": remarks, "on": decided_on, "cause": cause}
        )

    @property
    def approvers(self) -> list[str]:
        return [d["approver"] for d in self.decisions if d["decision"] in ("approve", "approve_with_remarks")]

    def protocol(self, route_id: uuid.UUID, on: date) -> str:
        """The commission's protocol as the route recorded it: who decided what, and when."""
        lines = [f"{d['approver']}: {d['decision']} ({d['on']})" for d in self.decisions]
        return f"expert commission, route {route_id}, completed {on}: " + "; ".join(lines)

    def approve(self, *, by: str, protocol: str, on: date, cause: str) -> bool:
        """Approve once; the same cause again is a no-op (False). The drafter cannot approve their own act."""
        if self.approval is not None and self.approval["cause"] == cause:
            return False
        self._must_be_drafted("approved")
        if self.drafted_by in by.split(", "):
            raise NotAllowed("the archivist who drafted the act cannot approve it")
        self._approve(by=by, protocol=protocol, approved_on=on, cause=cause)
        return True

    @event("Approved")
    def _approve(self, by: str, protocol: str, approved_on: date, cause: str) -> None:
        self.approval = {"by": by, "protocol": protocol, "on": approved_on, "cause": cause}

    def reject(self, *, by: str, reason: str, cause: str | None = None) -> bool:
        """The commission refused the act; the same cause again is a no-op (False). Its cases are delisted."""
        if cause is not None and self.rejection is not None and self.rejection.get("cause") == cause:
            return False
        self._must_be_drafted("rejected")
        self._reject(by=by, reason=reason, cause=cause)
        return True

    @event("Rejected")
    def _reject(self, by: str, reason: str, cause: str | None = None) -> None:
        self.rejection = {"by": by, "reason": reason, "cause": cause}

    def execute(self, *, by: str, on: date) -> None:
        if self.status != "approved":
            raise RuleBroken(f"disposal act {self.id} is {self.status}; only an approved act is executed")
        self._execute(by=by, destroyed_on=on)

    @event("Executed")
    def _execute(self, by: str, destroyed_on: date) -> None:
        self.executed = {"by": by, "on": destroyed_on}

    def _must_be_drafted(self, what: str) -> None:
        if self.status != "drafted":
            raise RuleBroken(f"disposal act {self.id} is {self.status}; it cannot be {what}")


class NotAllowed(DomainError):
    status = 403
    title = "Forbidden"
