"""Helpers for cross-service tests: an HTTP client per user and waiting on read models (never on offsets)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import psycopg

from edms_runtime.stack import Stack

T = TypeVar("T")

#: An incoming letter; `incoming()` gives one with a number of its own (the same number, correspondent and date
#: twice is the same letter, which the registry answers with 409).
INCOMING = {
    "kind": "incoming_letter",
    "title": "О предоставлении сведений о численности населения",
    "correspondent": "Территориальный орган Росстата",
    "correspondent_number": "12-07/345",
    "correspondent_date": "2026-11-20",
}


_RUN = uuid.uuid4().hex[:6]
_letters = itertools.count(1)


def incoming(**overrides: Any) -> dict[str, Any]:
    """A new incoming letter: its own outgoing number, so that it is not the same letter as any other."""
    return {**INCOMING, "correspondent_number": f"12-07/{_RUN}-{next(_letters)}", **overrides}


@dataclass
class Client:
    stack: Stack
    token: str
    org: str

    def url(self, service: str, path: str) -> str:
        return f"{self.stack.processes[service].url}{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, service: str, path: str, **params: Any) -> httpx.Response:
        """A GET as a polite client makes it: over the identity's rate for an expensive route (429, roles.toml
        [limits]) it waits the `Retry-After` and asks again, so a test that reads often measures the answer, not
        the limiter (runtime/tests/test_hardening.py tests the limiter itself)."""
        for _ in range(5):
            response = httpx.get(self.url(service, path), headers=self.headers, params=params, timeout=10)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def post(self, service: str, path: str, json: Any) -> httpx.Response:
        return httpx.post(self.url(service, path), headers=self.headers, json=json, timeout=10)

    def put(self, service: str, path: str, json: Any) -> httpx.Response:
        return httpx.put(self.url(service, path), headers=self.headers, json=json, timeout=10)

    def patch(self, service: str, path: str, json: Any) -> httpx.Response:
        return httpx.patch(self.url(service, path), headers=self.headers, json=json, timeout=10)

    def register(self, **overrides: Any) -> dict[str, Any]:
        response = self.post("registry", "/documents", incoming(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Wait until `probe` returns something truthy (a read model caught up), or fail with the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout} s; last value: {last!r}")


EVENT_TABLES = {
    "registered": ("registry.registryapplication_events", "%Document.Registered"),
    "cards": ("control.controlapplication_events", "%ControlCard.Opened"),
    "routes": ("routing.routingapplication_events", "%Route.Started"),
    "filings": ("archive.archiveapplication_events", "%Filing.Filed"),
}


def counts(stack: Stack) -> dict[str, int]:
    """Per read model: how many documents it holds, and how many distinct ones (equal means exactly once)."""
    assert stack.database_url
    out: dict[str, int] = {}
    with psycopg.connect(stack.database_url) as conn:
        for name, (table, topic) in EVENT_TABLES.items():
            row = conn.execute(
                f"SELECT count(*), count(DISTINCT originator_id) FROM {table} WHERE topic LIKE %s", (topic,)
            ).fetchone()
            assert row is not None
            out[name], out[f"{name}_distinct"] = int(row[0]), int(row[1])
        row = conn.execute(
            "SELECT count(*), count(DISTINCT reg_number) FROM search.documents WHERE reg_number IS NOT NULL"
        ).fetchone()
        assert row is not None
        out["searchable"], out["searchable_distinct"] = int(row[0]), int(row[1])
        row = conn.execute(
            "SELECT count(*) FROM search.documents WHERE deadline IS NOT NULL AND case_index IS NOT NULL "
            "AND route_stage IS NOT NULL"
        ).fetchone()
        assert row is not None
        out["search_complete"] = int(row[0])
    return out


def register_many(
    client: Client, n: int, workers: int = 8, progress: list[int] | None = None, urls: list[str] | None = None
) -> list[str]:
    """Register n documents concurrently (over `urls`, registry replicas, in turn), retrying while a registry is
    down. Each request carries an Idempotency-Key, so a retry after a lost answer cannot register a letter twice.
    Returns the document ids."""
    targets = urls or [client.stack.processes["registry"].url]
    run = uuid.uuid4().hex[:8]

    def one(i: int) -> str:
        body = incoming(title=f"Письмо о проверке номер {i}", text=f"Текст письма {uuid.uuid4()}")
        headers = {**client.headers, "Idempotency-Key": f"bulk-{run}-{i}"}
        for attempt in range(300):
            try:
                url = targets[(i + attempt) % len(targets)]
                response = httpx.post(f"{url}/documents", json=body, headers=headers, timeout=10)
                if response.status_code == 201:
                    if progress is not None:
                        progress.append(i)
                    return str(response.json()["id"])
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"document {i} could not be registered")

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


# -- the directory: who and which units an organization has ------------------------------------------------------------
def admin_of(stack: Stack, org: str, user: str = "admin") -> Client:
    """A client with the administrator role of `org` (who keeps its directory)."""
    from edms_runtime.auth import issue_token
    from edms_runtime.settings import PlatformSettings

    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user=user, org=org, unit=None, roles=["admin"])
    return Client(stack, token, org)


def seed_directory(
    stack: Stack,
    org: str,
    units: dict[str, str | None] | None = None,
    people: dict[str, str | None] | None = None,
) -> None:
    """Enter an organization's units (code -> parent) and people (login -> unit) in the registry's directory, as
    its administrator does (`POST /units`, `POST /people`), so that cards naming them are accepted. Entries there
    already (409) are fine: a fixture may seed the same organization twice."""
    admin = admin_of(stack, org)
    for code, parent in (units or {"01": None}).items():
        response = admin.post("registry", "/units", {"code": code, "name": f"Подразделение {code}", "parent": parent})
        assert response.status_code in (201, 409), response.text
    for login, unit in (people or {}).items():
        body = {"login": login, "full_name": f"Сотрудник {login}", "org": org, "unit": unit, "roles": ["executor"]}
        response = admin.post("registry", "/people", body)
        assert response.status_code in (201, 409), response.text
