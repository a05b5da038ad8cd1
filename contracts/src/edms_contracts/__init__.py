"""EDMS contracts: what crosses a service boundary."""

from edms_contracts.envelope import Envelope, MalformedEnvelope, decode, encode, event_id_for
from edms_contracts.events import (
    EVENT_TYPES,
    AttachmentAdded,
    CaseOpened,
    ControlCardOpened,
    DocumentFiled,
    DocumentRegistered,
    Event,
    RouteStarted,
    Urgency,
)

__all__ = [
    "EVENT_TYPES",
    "AttachmentAdded",
    "CaseOpened",
    "ControlCardOpened",
    "DocumentFiled",
    "DocumentRegistered",
    "Envelope",
    "Event",
    "MalformedEnvelope",
    "RouteStarted",
    "Urgency",
    "decode",
    "encode",
    "event_id_for",
]
