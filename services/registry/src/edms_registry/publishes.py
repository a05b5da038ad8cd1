"""What registry publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from typing import Any

from edms_contracts import (
    AccessGranted,
    AccessRevoked,
    AttachmentAdded,
    AttachmentTextExtracted,
    DocumentDrafted,
    DocumentLinked,
    DocumentRegistered,
    DraftRevised,
)
from edms_contracts.directory import (
    ContactAdded,
    DelegationGranted,
    DelegationRevoked,
    OrganizationChanged,
    OrganizationRegistered,
    OrganizationsMerged,
    PersonChanged,
    PersonDeactivated,
    PersonRegistered,
    PositionDefined,
    UnitChanged,
    UnitClosed,
    UnitCreated,
)
from edms_runtime.relay import ContractMapper, Publish

#: The directory's events (edms_registry.directory) as the contracts of edms.registry.directory.v1.
DIRECTORY = {
    "Organization.Registered": Publish(OrganizationRegistered, "organization_id"),
    "Organization.Changed": Publish(OrganizationChanged, "organization_id"),
    "Organization.MergedInto": Publish(OrganizationsMerged, "organization_id"),
    "Organization.ContactAdded": Publish(ContactAdded, "organization_id"),
    "Unit.Created": Publish(UnitCreated, "unit_id"),
    "Unit.Changed": Publish(UnitChanged, "unit_id"),
    "Unit.Closed": Publish(UnitClosed, "unit_id"),
    "Position.Defined": Publish(PositionDefined, "position_id"),
    "Person.Registered": Publish(PersonRegistered, "person_id"),
    "Person.Changed": Publish(PersonChanged, "person_id"),
    "Person.Deactivated": Publish(PersonDeactivated, "person_id"),
    "Delegation.Granted": Publish(DelegationGranted, "delegation_id"),
    "Delegation.Revoked": Publish(DelegationRevoked, "delegation_id"),
}


def _drafted(state: dict[str, Any]) -> dict[str, Any]:
    card = state["card"]
    return {name: card.get(name) for name in ("kind", "title", "access", "addressee", "signer", "executor")} | {
        "author": state["created_by"]
    }


def _revised(state: dict[str, Any]) -> dict[str, Any]:
    return {"title": state["changes"].get("title"), "changed": sorted(state["changes"])}


def _registered_draft(state: dict[str, Any]) -> dict[str, Any]:
    return dict(state["card"])


to_contract = ContractMapper(
    {
        "Document.Registered": Publish(DocumentRegistered, "document_id"),
        "Document.AttachmentAdded": Publish(AttachmentAdded, "document_id"),
        "Document.AttachmentTextExtracted": Publish(AttachmentTextExtracted, "document_id"),
        "Document.Linked": Publish(DocumentLinked, "document_id"),
        "Draft.Created": Publish(DocumentDrafted, "document_id", derive=_drafted),
        "Draft.Revised": Publish(DraftRevised, "document_id", derive=_revised),
        "Draft.Registered": Publish(DocumentRegistered, "document_id", derive=_registered_draft),
        "Draft.AttachmentAdded": Publish(AttachmentAdded, "document_id"),
        "Draft.AttachmentTextExtracted": Publish(AttachmentTextExtracted, "document_id"),
        "Draft.Linked": Publish(DocumentLinked, "document_id"),
        "Document.AccessGranted": Publish(AccessGranted, "document_id"),
        "Document.AccessRevoked": Publish(AccessRevoked, "document_id"),
        "Draft.AccessGranted": Publish(AccessGranted, "document_id"),
        "Draft.AccessRevoked": Publish(AccessRevoked, "document_id"),
        **DIRECTORY,
    },
    internal={
        # the journal's numbering is the registry's own business: numbers reach others on the cards
        "Journal.Opened",
        "Journal.NumberIssued",
        "JournalBook.Opened",
        "JournalBook.PlanSet",
        # a link is published once, from the document that points (DocumentLinked names both ends)
        "Document.LinkedFrom",
        "Draft.LinkedFrom",
    },
)
