"""What control publishes: its domain events mapped to contract events (the outbox relay's mapper)."""

from __future__ import annotations

from typing import Any

from edms_contracts import ControlCardOpened
from edms_contracts.control import (
    CalendarCorrected,
    ControlAssignmentOpened,
    ControlCardClosed,
    ControlCardReported,
    ControlCardReturned,
    ControlDeadlineMoved,
    ControlDueSoon,
    ControlOverdue,
)
from edms_runtime.relay import ContractMapper, Publish


def _assignment(state: dict[str, Any]) -> dict[str, Any]:
    return {"co_executors": state.get("co_executors") or []}


def _moved(state: dict[str, Any]) -> dict[str, Any]:
    return {"previous_deadline": state["previous_deadline"]}


def _corrected(state: dict[str, Any]) -> dict[str, Any]:
    return {"version": state["originator_version"] - 1}  # version 1 is the first correction (after Started)


#: A card's events after opening, the same for a document's card and an assignment's (AssignmentCard subclasses it).
_CARD_EVENTS = {
    "DeadlineMoved": Publish(ControlDeadlineMoved, "card_id", _moved),
    "Reported": Publish(ControlCardReported, "card_id"),
    "Returned": Publish(ControlCardReturned, "card_id"),
    "Closed": Publish(ControlCardClosed, "card_id"),
    "DueSoon": Publish(ControlDueSoon, "card_id"),
    "Overdue": Publish(ControlOverdue, "card_id"),
}
_INTERNAL = (
    "ExtensionNoted",  # kept in the card's history; routing publishes the request itself
    "AssignmentAdded",  # a document's card follows its assignments, to be done with the last one
    "AssignmentDone",
)
_CARDS = ("Card", "ControlCard", "AssignmentCard")

to_contract = ContractMapper(
    {
        "ControlCard.Opened": Publish(ControlCardOpened, "card_id"),
        "AssignmentCard.Opened": Publish(ControlAssignmentOpened, "card_id", _assignment),
        **{f"{card}.{name}": publish for card in _CARDS for name, publish in _CARD_EVENTS.items()},
        "CalendarYear.Corrected": Publish(CalendarCorrected, "calendar_id", _corrected),
    },
    internal=[*(f"{card}.{name}" for card in _CARDS for name in _INTERNAL), "CalendarYear.Started"],
)
