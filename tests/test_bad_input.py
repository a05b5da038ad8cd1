"""Bad input gets 422 problem details naming the field; nothing is written, no number is consumed (issue 3, item 8)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from edms_runtime.stack import Stack
from tests.support import Client, incoming

BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing kind", {k: v for k, v in incoming().items() if k != "kind"}, "kind"),
    ("unknown kind", {**incoming(), "kind": "postcard"}, "kind"),
    ("missing title", {k: v for k, v in incoming().items() if k != "title"}, "title"),
    ("blank title", {**incoming(), "title": "   "}, "title"),
    ("incoming without correspondent", {k: v for k, v in incoming().items() if k != "correspondent"}, "correspondent"),
    (
        "incoming without outgoing number",
        {k: v for k, v in incoming().items() if k != "correspondent_number"},
        "correspondent_number",
    ),
    (
        "incoming without outgoing date",
        {k: v for k, v in incoming().items() if k != "correspondent_date"},
        "correspondent_date",
    ),
    ("date that is not a date", {**incoming(), "correspondent_date": "32.13.2026"}, "correspondent_date"),
    ("date in the future", {**incoming(), "correspondent_date": "2999-01-01"}, "correspondent_date"),
    ("unknown urgency", {**incoming(), "urgency": "yesterday"}, "urgency"),
    ("unknown field", {**incoming(), "reg_number": "01-10/999"}, "reg_number"),
    (
        "executor unknown to the directory",
        {**incoming(), "executor": {"name": "Никтоев Никто", "login": "nobody"}},
        "executor.login",
    ),
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
        clerk.url("registry", "/documents"), json=incoming(), headers={"Authorization": f"Bearer {reader}"}, timeout=10
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_document_is_404_problem(clerk: Client) -> None:
    response = clerk.get("registry", "/documents/3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert clerk.get("registry", "/documents/not-a-uuid").json()["errors"][0]["field"] == "document_id"


# -- the NUL character (issue 6, item 9) ---------------------------------------------------------------------------
# PostgreSQL documentation, "Character Types": "the character with code zero (sometimes called NUL) cannot be
# stored". Text with it was registered (a number taken) and then dead-lettered by search, never searchable.
NUL_REASON = "must not contain the NUL character"
NUL_FIELDS = ["title", "text", "correspondent", "correspondent_number", "access"]


@pytest.mark.parametrize("field", NUL_FIELDS)
def test_nul_in_a_text_field_is_422_naming_it_and_writes_nothing(stack: Stack, clerk: Client, field: str) -> None:
    before_number = clerk.register(title="до NUL")["reg_number"]
    events_before = _event_count(stack)

    response = clerk.post("registry", "/documents", {**incoming(), field: "Письмо\u0000с нулём"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {"field": field, "reason": NUL_REASON} in response.json()["errors"]
    assert _event_count(stack) == events_before
    after_number = clerk.register(title="после NUL")["reg_number"]
    assert int(after_number.split("/")[1]) == int(before_number.split("/")[1]) + 1


@pytest.mark.parametrize("parameter", ["q", "kind"])
def test_nul_in_a_search_parameter_is_422_naming_it(clerk: Client, parameter: str) -> None:
    response = clerk.get("search", "/search", **{parameter: "сведения\x00"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": parameter, "reason": NUL_REASON}]


#: One route per service, with a NUL in a path parameter and in a query parameter the route does not even declare:
#: the HTTP shell refuses both, so no service can forget to.
NUL_PATHS = [
    ("registry", "/documents/%00", "document_id"),
    ("routing", "/documents/%00/route", "document_id"),
    ("control", "/calendar/2026-11-20%00", "day"),
    ("archive", "/documents/%00", "document_id"),
    ("search", "/search?size=5&sort=%00", "sort"),
    ("archive", "/file-plan?lang=ru%00", "lang"),
]


@pytest.mark.parametrize(("service", "path", "parameter"), NUL_PATHS, ids=[f"{s}{p}" for s, p, _ in NUL_PATHS])
def test_nul_in_a_path_or_query_parameter_is_422_in_every_service(
    clerk: Client, service: str, path: str, parameter: str
) -> None:
    response = httpx.get(clerk.url(service, path), headers=clerk.headers, timeout=10)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": parameter, "reason": NUL_REASON}]


def test_nul_in_an_attachment_file_name_is_422_and_stores_nothing(stack: Stack, clerk: Client) -> None:
    document = clerk.register(title="С вложением")
    events_before = _event_count(stack)

    # written by hand: httpx would percent-encode the NUL in the file name, other clients send it as it is
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="letter\x00.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\ntext\r\n--b--\r\n"
    )
    response = httpx.post(
        clerk.url("registry", f"/documents/{document['id']}/attachments"),
        headers={**clerk.headers, "content-type": "multipart/form-data; boundary=b"},
        content=body,
        timeout=10,
    )

    assert response.status_code == 422, response.text
    assert {"field": "file", "reason": f"file name {NUL_REASON}"} in response.json()["errors"]
    assert _event_count(stack) == events_before


def test_every_request_body_of_every_service_refuses_nul() -> None:
    """A JSON body model that is not a RequestBody could let NUL through to PostgreSQL; none may exist."""
    from fastapi.routing import APIRoute
    from pydantic import BaseModel

    from edms_archive.api import router as archive
    from edms_control.api import router as control
    from edms_registry.api import router as registry
    from edms_routing.api import router as routing
    from edms_runtime.text import RequestBody
    from edms_search.api import router as search

    bodies = [
        param.field_info.annotation
        for router in (registry, routing, control, search, archive)
        for route in router.routes
        if isinstance(route, APIRoute)
        for param in route.dependant.body_params
    ]
    models = [b for b in bodies if isinstance(b, type) and issubclass(b, BaseModel)]
    assert models, "no JSON bodies found: the check looks in the wrong place"
    assert [m.__name__ for m in models if not issubclass(m, RequestBody)] == []


def test_a_card_registered_in_a_unit_unknown_to_the_directory_is_422_naming_the_unit(
    stack: Stack, clerk: Client
) -> None:
    """Issue 7, point 9: the organization's structure is in the directory (unit 01), so unit 99 is unknown."""
    from edms_runtime.auth import issue_token
    from edms_runtime.settings import PlatformSettings

    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="c", org=clerk.org, unit="99", roles=["clerk"])
    events_before = _event_count(stack)
    response = Client(stack, token, clerk.org).post("registry", "/documents", incoming())
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["unit"]
    assert _event_count(stack) == events_before


def test_a_draft_signed_by_someone_unknown_to_the_directory_is_422_naming_the_signer(clerk: Client) -> None:
    draft = {
        "kind": "outgoing_letter",
        "title": "О направлении сведений",
        "addressee": "Росстат",
        "signer": {"name": "Неизвестный Н. Н.", "login": "stranger"},
    }
    response = clerk.post("registry", "/drafts", draft)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["signer.login"]
    known = clerk.post("registry", "/drafts", {**draft, "signer": {"name": "Делопроизводитель", "login": "clerk1"}})
    assert known.status_code == 201, known.text
