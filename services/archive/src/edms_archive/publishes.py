"""What archive publishes: its domain events mapped to contract events (the outbox relay's mapper).

Cases and filings are published (other services and the archive's read model follow them); a drafted disposal act
is published for routing, which runs the expert commission's approval of it; file plans, transfers and the rest of
an act's life are the archive's own records, read from their aggregates, and stay inside (they are in the event
store and its hash chain all the same).
"""

from __future__ import annotations

from typing import Any

from edms_contracts import (
    CaseClosed,
    CaseDestroyed,
    CaseImported,
    CaseLocated,
    CaseOpened,
    CaseTransferred,
    DisposalActDrafted,
    DocumentDestroyed,
    DocumentFileArchived,
    DocumentFiled,
    DocumentRefiled,
    DocumentSheetsCounted,
)
from edms_runtime.relay import ContractMapper, Publish


def _act(state: dict[str, Any]) -> dict[str, Any]:
    """The act as routing needs it: a title for the commission's desks, the drafter, the members named."""
    cases = state["cases"]
    indexes = ", ".join(f"{case['index']}/{case['year']}" for case in cases)
    return {
        "drafted_by": state["by"],
        "title": f"Акт о выделении к уничтожению от {state['drafted_on']}: {len(cases)} дел ({indexes})",
        "expert_commission": state.get("commission") or [],
    }


to_contract = ContractMapper(
    {
        "Case.Opened": Publish(CaseOpened, "case_id"),
        "Case.Closed": Publish(CaseClosed, "case_id"),
        "Case.Located": Publish(CaseLocated, "case_id"),
        "Case.Transferred": Publish(CaseTransferred, "case_id"),
        "Case.Imported": Publish(CaseImported, "case_id"),
        "Case.Destroyed": Publish(CaseDestroyed, "case_id"),
        "Filing.Filed": Publish(DocumentFiled, "filing_id"),
        "Filing.Refiled": Publish(DocumentRefiled, "filing_id"),
        "Filing.FileRecorded": Publish(DocumentFileArchived, "filing_id"),
        "Filing.SheetsCounted": Publish(DocumentSheetsCounted, "filing_id"),
        "Filing.Destroyed": Publish(DocumentDestroyed, "filing_id"),
        "DisposalAct.Drafted": Publish(DisposalActDrafted, "act_id", derive=_act),
    },
    internal=[
        "Case.ListedForDisposal",
        "Case.Delisted",
        "FilePlan.Adopted",
        "FilePlan.Revised",
        "Transfer.Built",
        "DisposalAct.Decided",  # routing's ApprovalDecided said it
        "DisposalAct.Approved",
        "DisposalAct.Rejected",
        "DisposalAct.Executed",
    ],
)
