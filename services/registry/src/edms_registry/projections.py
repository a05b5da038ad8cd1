"""What registry publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from edms_contracts import AttachmentAdded, DocumentRegistered
from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_runtime.relay import Publish, contract_mapper

# Journal events stay inside the registry.
to_contract = contract_mapper(
    {
        "Document.Registered": Publish(REGISTRY_DOCUMENT, DocumentRegistered, "document_id"),
        "Document.AttachmentAdded": Publish(REGISTRY_DOCUMENT, AttachmentAdded, "document_id"),
    }
)
