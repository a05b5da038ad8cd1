"""Cross-service test fixtures: real PostgreSQL (embedded, or EDMS_DATABASE_URL) and a real Tansu broker.

Each test module that needs the running system gets its own database and its own broker, so destructive tests
(kill -9, broker restart) cannot disturb others.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack, free_port
from tests.infra import containers_requested, kafka_container
from tests.support import Client, seed_directory


def database_url(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system: a fresh database, a fresh broker (unless EDMS_KAFKA_BOOTSTRAP), five services."""
    data_dir = tmp_path_factory.mktemp("edms")
    with contextlib.ExitStack() as infra:
        kafka = os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None
        if kafka is None and containers_requested():
            kafka = infra.enter_context(kafka_container())
        yield from _run_stack(data_dir, postgres_url, kafka)


def _run_stack(
    data_dir: Path, postgres_url: str, kafka: str | None, service_env: dict[str, dict[str, str]] | None = None
) -> Iterator[Stack]:
    system = Stack(
        data_dir=data_dir,
        ports={name: free_port() for name in SERVICES},
        kafka_port=free_port(),
        database_url=database_url(postgres_url, f"edms_{uuid.uuid4().hex[:10]}"),
        kafka_bootstrap=kafka,
        service_env=service_env or {},
    )
    with system.running():
        yield system
    _dump_logs_on_failure(system.logs)


def _dump_logs_on_failure(logs: Path) -> None:
    if os.environ.get("EDMS_TEST_SHOW_LOGS"):
        for log in sorted(logs.glob("*.log")):
            print(f"==== {log.name}\n{log.read_text()[-5000:]}")


@pytest.fixture(scope="module")
def clerk(stack: Stack) -> Client:
    """A records clerk of an organization no other test module uses, whose structure (unit 01) and clerk are in the
    registry's directory (cards name known units and people)."""
    org = f"org-{uuid.uuid4().hex[:8]}"
    seed_directory(stack, org, units={"01": None}, people={"clerk1": "01"})
    token = issue_token(PlatformSettings(data_dir=stack.data_dir), user="clerk1", org=org, unit="01", roles=["clerk"])
    return Client(stack, token, org)
