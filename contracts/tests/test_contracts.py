"""The contract package: committed JSON Schemas, the envelope codec and deterministic event ids."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from edms_contracts import (
    EVENT_TYPES,
    DocumentRegistered,
    Envelope,
    MalformedEnvelope,
    Urgency,
    decode,
    encode,
    event_id_for,
)
from edms_contracts.schemas import render

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
MOSCOW = timezone(timedelta(hours=3))


# -- the committed JSON Schemas ----------------------------------------------------------------------------------------
def test_committed_schemas_equal_the_generated_ones() -> None:
    """Outside publishers build against contracts/schemas/; it must be exactly what the models say."""
    expected = render()
    committed = {path.name: path.read_text(encoding="utf-8") for path in sorted(SCHEMA_DIR.glob("*.json"))}

    missing = sorted(set(expected) - set(committed))
    stale = sorted(set(committed) - set(expected))
    changed = sorted(name for name in set(expected) & set(committed) if expected[name] != committed[name])
    assert (missing, stale, changed) == ([], [], []), (
        f"contracts/schemas/ is out of date (missing: {missing}, not generated any more: {stale}, "
        f"changed: {changed}); run `make schemas` and commit the result"
    )


def test_a_schema_exists_for_the_envelope_and_every_event_type() -> None:
    names = set(render())
    assert names == {"Envelope.v1.json"} | {
        f"{name}.v{model.schema_version}.json" for name, model in EVENT_TYPES.items()
    }
    for name, text in render().items():
        schema = json.loads(text)
        assert schema["$id"] == f"urn:edms:{name.removesuffix('.json').replace('.v', ':v')}"


# -- envelope codec ----------------------------------------------------------------------------------------------------
def _registered() -> DocumentRegistered:
    return DocumentRegistered(
        document_id=uuid.UUID("11111111-1111-4111-8111-111111111111"),
        kind="incoming_letter",
        journal="ВХ",
        reg_number="01-10/1",
        reg_date=date(2026, 11, 25),
        title="О предоставлении сведений о численности населения",
        correspondent="Территориальный орган Росстата",
        correspondent_number="12-07/345",
        correspondent_date=date(2026, 11, 20),
        urgency=Urgency.URGENT,
        case_index="01-10",
        org="demo-region",
        unit="01",
        access="ДСП",
        registered_by="clerk1",
    )


def _envelope(**overrides: Any) -> Envelope:
    payload = _registered()
    aggregate_id = payload.document_id
    fields: dict[str, Any] = {
        "event_id": event_id_for(aggregate_id, 1),
        "event_type": payload.event_type(),
        "schema_version": payload.schema_version,
        "occurred_at": datetime(2026, 11, 25, 10, 30, tzinfo=MOSCOW),
        "aggregate_id": aggregate_id,
        "aggregate_version": 1,
        "correlation_id": uuid.UUID("22222222-2222-4222-8222-222222222222"),
        "causation_id": None,
        "producer": "registry",
        "payload": payload.model_dump(mode="json"),
    }
    fields.update(overrides)
    return Envelope(**fields)


def _raw(**changes: Any) -> bytes:
    """A valid encoded envelope with some JSON fields replaced (or removed, for the value ...)."""
    data = json.loads(encode(_envelope()))
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def test_encode_decode_round_trip() -> None:
    envelope = _envelope()
    raw = encode(envelope)
    decoded = decode(raw)
    assert decoded == envelope
    assert decoded.occurred_at.utcoffset() == timedelta(hours=3)
    assert DocumentRegistered.model_validate(decoded.payload) == _registered()
    assert encode(decoded) == raw


def test_encoding_is_utf8_json_with_cyrillic_kept_readable() -> None:
    raw = encode(_envelope())
    assert "сведений".encode() in raw  # not \\u-escaped
    data = json.loads(raw.decode("utf-8"))
    assert data["event_type"] == "DocumentRegistered"
    assert data["payload"]["reg_number"] == "01-10/1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty message value"),
        (b"\xff\x00 not json at all", "<root>: Invalid JSON"),
        (b"[1, 2, 3]", "<root>: Input should be an object"),
        (b"", "<root>: Invalid JSON"),
    ],
    ids=["none", "garbage-bytes", "json-array", "empty-bytes"],
)
def test_decode_rejects_what_is_not_an_envelope(raw: bytes | None, reason: str) -> None:
    with pytest.raises(MalformedEnvelope) as caught:
        decode(raw)
    assert reason in str(caught.value)


@pytest.mark.parametrize("field", ["event_id", "event_type", "occurred_at", "aggregate_id", "producer", "payload"])
def test_decode_names_a_missing_field(field: str) -> None:
    with pytest.raises(MalformedEnvelope) as caught:
        decode(_raw(**{field: ...}))
    assert f"{field}: Field required" in str(caught.value)


def test_decode_refuses_a_naive_datetime() -> None:
    """occurred_at is an instant: without a time zone it is ambiguous (a municipal node may be in another zone)."""
    with pytest.raises(MalformedEnvelope) as caught:
        decode(_raw(occurred_at="2026-11-25T10:30:00"))
    assert str(caught.value).startswith("occurred_at:")
    assert "timezone" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schema_version": 0}, "schema_version"),
        ({"aggregate_version": 0}, "aggregate_version"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_type": ""}, "event_type"),
        ({"payload": "a string"}, "payload"),
        ({"shard": 3}, "shard"),  # extra fields are forbidden: a typo is not silently dropped
    ],
)
def test_decode_names_an_invalid_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedEnvelope) as caught:
        decode(_raw(**changes))
    assert str(caught.value).startswith(f"{field}:")


def test_decode_lists_every_problem() -> None:
    with pytest.raises(MalformedEnvelope) as caught:
        decode(_raw(producer=..., aggregate_version=-1))
    reason = str(caught.value)
    assert "producer: Field required" in reason
    assert "aggregate_version:" in reason


def test_malformed_envelope_is_a_value_error() -> None:
    assert issubclass(MalformedEnvelope, ValueError)


# -- event ids ---------------------------------------------------------------------------------------------------------
def test_event_id_is_deterministic_per_aggregate_and_version() -> None:
    """A republished event (relay restart, broker change) keeps its id, so consumers can skip it."""
    aggregate = uuid.UUID("33333333-3333-4333-8333-333333333333")
    assert event_id_for(aggregate, 1) == event_id_for(uuid.UUID(str(aggregate)), 1)
    assert event_id_for(aggregate, 1).version == 5


def test_event_id_differs_by_version_and_by_aggregate() -> None:
    first = uuid.UUID("33333333-3333-4333-8333-333333333333")
    second = uuid.UUID("44444444-4444-4444-8444-444444444444")
    ids = {event_id_for(agg, version) for agg in (first, second) for version in range(1, 51)}
    assert len(ids) == 100
    assert event_id_for(first, 1) != event_id_for(first, 2)
    assert event_id_for(first, 1) != event_id_for(second, 1)


def test_event_types_are_keyed_by_class_name() -> None:
    assert {name: model.event_type() for name, model in EVENT_TYPES.items()} == {name: name for name in EVENT_TYPES}
    assert "DocumentRegistered" in EVENT_TYPES


def test_payload_models_forbid_unknown_fields() -> None:
    data = _registered().model_dump(mode="json") | {"reg_nubmer": "typo"}
    with pytest.raises(ValueError, match="reg_nubmer"):
        DocumentRegistered.model_validate(data)


def test_utc_and_moscow_times_of_the_same_instant_are_equal_after_decoding() -> None:
    utc = _envelope(occurred_at=datetime(2026, 11, 25, 7, 30, tzinfo=UTC))
    assert decode(encode(utc)).occurred_at == _envelope().occurred_at
