"""Two replicas of a service: one relay publishes, the other stands by and takes over when the first dies.

Numbering stays gapless across replicas (DOMAIN.md "Registration card": numbers are never reused or skipped).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from edms_runtime.stack import ServiceProcess, Stack, free_port
from tests.support import Client, eventually, incoming

pytestmark = pytest.mark.slow


def test_second_registry_replica_numbers_without_gaps_and_takes_over_publishing(stack: Stack, clerk: Client) -> None:
    second = ServiceProcess("registry", free_port(), stack.env(), stack.logs / "registry-2.log")
    second.start()
    try:
        second.wait_ready(60)
        urls = [stack.processes["registry"].url, second.url]

        def register(i: int) -> str:
            response = httpx.post(
                f"{urls[i % 2]}/documents",
                json={**incoming(), "title": f"Реплика {i}"},
                headers=clerk.headers,
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return str(response.json()["reg_number"])

        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(register, range(100)))
        seqs = sorted(int(n.split("/")[1]) for n in numbers)
        assert seqs == list(range(1, 101))  # both replicas, one journal: no gap, no duplicate

        stack.processes["registry"].stop(kill=True)  # the relay leader, most likely
        last = httpx.post(
            f"{second.url}/documents",
            json={**incoming(), "title": "После отказа реплики"},
            headers=clerk.headers,
            timeout=30,
        )
        assert last.status_code == 201
        assert last.json()["reg_number"].endswith("/101")
        eventually(lambda: clerk.get("search", "/search", q="отказа реплики").json()["total"] == 1, timeout=60)
        assert clerk.get("search", "/search", q="Реплика", size=100).json()["total"] == 101  # and the last one
    finally:
        second.stop()
        stack.start_service("registry").wait_ready(60)
