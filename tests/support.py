"""Helpers for cross-service tests: an HTTP client per user and waiting on read models (never on offsets)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from edms_runtime.stack import Stack

T = TypeVar("T")

INCOMING = {
    "kind": "incoming_letter",
    "title": "О предоставлении сведений о численности населения",
    "correspondent": "Территориальный орган Росстата",
    "correspondent_number": "12-07/345",
    "correspondent_date": "2026-11-20",
}


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
        return httpx.get(self.url(service, path), headers=self.headers, params=params, timeout=10)

    def post(self, service: str, path: str, json: Any) -> httpx.Response:
        return httpx.post(self.url(service, path), headers=self.headers, json=json, timeout=10)

    def register(self, **overrides: Any) -> dict[str, Any]:
        response = self.post("registry", "/documents", {**INCOMING, **overrides})
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
