"""Bad input gets 422 problem details naming the field; nothing is written, no number is consumed (issue 3, item 8)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from edms_runtime.stack import Stack
from tests.support import INCOMING, Client

BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing kind", {k: v for k, v in INCOMING.items() if k != "kind"}, "kind"),
    ("unknown kind", {**INCOMING, "kind": "postcard"}, "kind"),
    ("missing title", {k: v for k, v in INCOMING.items() if k != "title"}, "title"),
    ("blank title", {**INCOMING, "title": "   "}, "title"),
    ("incoming without correspondent", {k: v for k, v in INCOMING.items() if k != "correspondent"}, "correspondent"),
    (
        "incoming without outgoing number",
        {k: v for k, v in INCOMING.items() if k != "correspondent_number"},
        "correspondent_number",
    ),
    (
        "incoming without outgoing date",
        {k: v for k, v in INCOMING.items() if k != "correspondent_date"},
        "correspondent_date",
    ),
    ("date that is not a date", {**INCOMING, "correspondent_date": "32.13.2026"}, "correspondent_date"),
    ("date in the future", {**INCOMING, "correspondent_date": "2999-01-01"}, "correspondent_date"),
    ("unknown urgency", {**INCOMING, "urgency": "yesterday"}, "urgency"),
    ("unknown field", {**INCOMING, "reg_number": "01-10/999"}, "reg_number"),
]


def _event_count(stack: Stack) -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM registry.registryapplication_events").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c for c, _, _ in BAD_BODIES])
def test_bad_registration_is_422_naming_the_field_and_writes_nothing(
    stack: Stack, clerk: Client, case: str, body: dict[str, Any], field: str
) -> None:
    before_number = clerk.register(title="до ошибки")["reg_number"]
    events_before = _event_count(stack)

    response = clerk.post("registry", "/documents", body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "detail", "errors"} <= problem.keys()
    assert field in [error["field"] for error in problem["errors"]], problem
    assert _event_count(stack) == events_before
    after_number = clerk.register(title="после ошибки")["reg_number"]
    assert int(after_number.split("/")[1]) == int(before_number.split("/")[1]) + 1  # no number consumed


def test_malformed_json_is_422(clerk: Client) -> None:
    response = httpx.post(
        clerk.url("registry", "/documents"),
        headers={**clerk.headers, "content-type": "application/json"},
        content=b"{not json",
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["errors"]


def test_clerk_role_is_required_to_register(stack: Stack, clerk: Client) -> None:
    from edms_runtime.auth import issue_token
    from edms_runtime.settings import PlatformSettings

    reader = issue_token(PlatformSettings(data_dir=stack.data_dir), user="r", org=clerk.org, roles=["reader"])
    response = httpx.post(
        clerk.url("registry", "/documents"), json=INCOMING, headers={"Authorization": f"Bearer {reader}"}, timeout=10
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_document_is_404_problem(clerk: Client) -> None:
    response = clerk.get("registry", "/documents/3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert clerk.get("registry", "/documents/not-a-uuid").json()["errors"][0]["field"] == "document_id"
