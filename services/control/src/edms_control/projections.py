"""What control publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from edms_contracts import ControlCardOpened
from edms_contracts.topics import CONTROL_CARD
from edms_runtime.relay import Publish, contract_mapper

to_contract = contract_mapper({"ControlCard.Opened": Publish(CONTROL_CARD, ControlCardOpened, "card_id")})
