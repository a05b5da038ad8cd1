"""`make run`, stop, `make run` again: every earlier document is still found everywhere (issue 3, item 4).

The whole local stack restarts, PostgreSQL included; the new broker is empty, so this works only because the relays
republish from the event stores and the consumers dedupe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack, free_port
from tests.infra import containers_requested
from tests.support import Client, eventually

pytestmark = pytest.mark.slow


def _stack(data_dir: Path, pg_port: int) -> Stack:
    return Stack(
        data_dir=data_dir,
        ports={name: free_port() for name in SERVICES},
        pg_port=pg_port,
        kafka_port=free_port(),
    )


def test_documents_survive_a_full_stop_and_start_of_the_local_stack(tmp_path: Path) -> None:
    if containers_requested():
        pytest.skip("this test is about the embedded stack")
    pg_port = free_port()
    first = _stack(tmp_path / "edms", pg_port)
    with first.running():
        token = issue_token(PlatformSettings(data_dir=first.data_dir), user="c", org="o", roles=["clerk"])
        client = Client(first, token, "o")
        ids = [client.register(title=f"Письмо об отоплении школ {i}")["id"] for i in range(20)]
        eventually(lambda: client.get("search", "/search", q="отоплением", size=100).json()["total"] == 20)
        cluster_before = first.broker.cluster_id if first.broker else ""

    second = _stack(tmp_path / "edms", pg_port)
    with second.running():
        assert second.broker is not None
        assert second.broker.cluster_id != cluster_before
        client = Client(second, token, "o")  # the issuer key is kept in the data dir, so the old token works
        assert client.get("search", "/search", q="отоплением", size=100).json()["total"] == 20
        for doc in ids:
            assert client.get("registry", f"/documents/{doc}").status_code == 200
            assert client.get("control", f"/cards/{doc}").status_code == 200
            assert client.get("routing", f"/documents/{doc}/route").status_code == 200
            assert client.get("archive", f"/documents/{doc}").status_code == 200
        # and the numbering goes on from where it was
        assert client.register(title="После перезапуска")["reg_number"] == "01-10/21"
        eventually(lambda: client.get("search", "/search", q="перезапуска").json()["total"] == 1)
