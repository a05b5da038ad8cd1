"""POST /documents honours an Idempotency-Key (issue 6 item 5): a client that resends after a timeout or a lost
answer gets the same card, number and status instead of a second registration of the same letter (the pattern of
the IETF draft "The Idempotency-Key HTTP Header Field").
"""

from __future__ import annotations

from typing import Any

import httpx

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack
from tests.support import Client, incoming


def _post(client: Client, body: dict[str, Any], key: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or client.token}", "Idempotency-Key": key}
    return httpx.post(client.url("registry", "/documents"), json=body, headers=headers, timeout=10)


def test_the_same_key_returns_the_same_card_number_and_status(clerk: Client) -> None:
    body = {**incoming(), "title": "Письмо, отправленное дважды"}
    first = _post(clerk, body, "letter-2026-11-27-001")
    again = _post(clerk, body, "letter-2026-11-27-001")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reg_number"] == first.json()["reg_number"]
    following = clerk.register(title="Следующее письмо")
    assert int(following["reg_number"].split("/")[1]) == int(first.json()["reg_number"].split("/")[1]) + 1


def test_the_same_key_with_another_request_is_refused_and_changes_nothing(clerk: Client) -> None:
    first = _post(clerk, {**incoming(), "title": "Первое письмо с ключом"}, "letter-key-reused")
    other = _post(clerk, {**incoming(), "title": "Совсем другое письмо"}, "letter-key-reused")
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]


def test_a_key_belongs_to_the_user_who_sent_it(stack: Stack, clerk: Client) -> None:
    colleague = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user="clerk2", org=clerk.org, unit="01", roles=["clerk"]
    )
    mine = _post(clerk, incoming(title="Письмо первого делопроизводителя"), "shared-key")
    theirs = _post(clerk, incoming(title="Письмо второго делопроизводителя"), "shared-key", token=colleague)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_malformed_key_is_422(clerk: Client) -> None:
    response = _post(clerk, incoming(), "key with spaces")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["Idempotency-Key"]
