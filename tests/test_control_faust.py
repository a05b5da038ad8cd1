"""Control's consumers as faust agents in a worker process of their own (issue 9, item 7), under the backbone's
failure tests: kill -9 of the worker mid-stream, redelivery, a poison event. Nothing is lost, nothing is applied
twice (shared/ARCHITECTURE.md "The event backbone", items 3 and 5).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from edms_contracts.topics import REGISTRY_DOCUMENT
from edms_runtime.stack import Stack
from tests.conftest import _run_stack
from tests.support import Client, eventually, register_many
from tests.test_failures import _produce

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The system with control consuming through its faust worker, not its HTTP process."""
    kafka = os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None
    yield from _run_stack(
        tmp_path_factory.mktemp("edms"), postgres_url, kafka, {"control": {"EDMS_CONTROL_CONSUMER": "faust"}}
    )


class Worker:
    """`python -m edms_control.worker` against the test stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = stack.logs / "control-worker.log"

    def start(self) -> None:
        env = {**os.environ, **self.stack.env()}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edms_control.worker", "worker", "--without-web"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.stack.data_dir,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean shutdown, no commit
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def worker(stack: Stack) -> Iterator[Worker]:
    running = Worker(stack)
    running.start()
    yield running
    running.stop()
    if os.environ.get("EDMS_TEST_SHOW_LOGS"):
        print(Path(running.log).read_text()[-5000:])


def _cards(stack: Stack) -> tuple[int, int]:
    """Control cards in the store and distinct documents among them (equal means exactly once)."""
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT originator_id) FROM control.controlapplication_events WHERE topic LIKE %s",
            ("%ControlCard.Opened",),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _read_model(stack: Stack) -> int:
    assert stack.database_url
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM control.cards WHERE kind = 'document'").fetchone()
    assert row is not None
    return int(row[0])


def test_the_faust_worker_puts_documents_on_control(stack: Stack, clerk: Client, worker: Worker) -> None:
    checks = httpx.get(f"{stack.processes['control'].url}/ready", timeout=5).json()["checks"]
    assert "consumer" not in checks  # the HTTP process consumes nothing: the worker does
    documents = register_many(clerk, 10)
    eventually(lambda: _cards(stack) == (10, 10), timeout=60)
    eventually(lambda: _read_model(stack) == 10, timeout=30)
    assert clerk.get("control", f"/cards/{documents[0]}").status_code == 200


def test_kill_9_of_the_worker_mid_stream_loses_nothing_and_applies_nothing_twice(
    stack: Stack, clerk: Client, worker: Worker
) -> None:
    before = _cards(stack)[0]
    progress: list[int] = []
    import threading

    registering = threading.Thread(target=lambda: register_many(clerk, 120, progress=progress))
    registering.start()
    eventually(lambda: len(progress) > 40, timeout=60)
    worker.kill()  # kill -9 mid-stream: the batch in flight is neither committed in PostgreSQL nor in the broker
    time.sleep(1)
    worker.start()
    registering.join()
    expected = before + 120
    eventually(lambda: _cards(stack) == (expected, expected), timeout=120, interval=0.5)
    eventually(lambda: _read_model(stack) == expected, timeout=60)


def test_a_poison_event_is_dead_lettered_and_the_worker_goes_on(stack: Stack, clerk: Client, worker: Worker) -> None:
    import asyncio

    assert stack.database_url
    poison = b'{"event_type": "DocumentRegistered", "not": "an envelope"}'
    asyncio.run(_produce(stack, REGISTRY_DOCUMENT.name, [poison], key=b"poison"))
    after = clerk.register()["id"]
    eventually(lambda: clerk.get("control", f"/cards/{after}").status_code == 200, timeout=60)

    def dead() -> int:
        with psycopg.connect(stack.database_url or "") as conn:
            row = conn.execute(
                "SELECT count(*) FROM control.dead_letters WHERE value = %s AND published", (poison,)
            ).fetchone()
        return int(row[0]) if row else 0

    assert eventually(dead, timeout=30) == 1


def test_broker_restart_loses_nothing(stack: Stack, clerk: Client, worker: Worker) -> None:
    """The local broker starts empty with a new cluster id: the relays republish, the worker's group starts again
    from the beginning of the new broker's topics, and tracking makes the republished events change nothing."""
    if stack.broker is None:
        pytest.skip("restarting the broker is done here only with the embedded broker (EDMS_KAFKA_BOOTSTRAP is set)")
    before = _cards(stack)[0]
    stack.restart_broker()
    register_many(clerk, 20)
    expected = before + 20
    eventually(lambda: _cards(stack) == (expected, expected), timeout=300, interval=0.5)
    eventually(lambda: _read_model(stack) == expected, timeout=120)
