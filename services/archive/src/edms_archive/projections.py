"""What archive publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from edms_contracts import CaseOpened, DocumentFiled
from edms_contracts.topics import ARCHIVE_FILING
from edms_runtime.relay import Publish, contract_mapper

to_contract = contract_mapper(
    {
        "Case.Opened": Publish(ARCHIVE_FILING, CaseOpened, "case_id"),
        "Filing.Filed": Publish(ARCHIVE_FILING, DocumentFiled, "filing_id"),
    }
)
