"""A second `edms stack up` beside a running stack is refused and touches nothing (issue 6, item 9).

It used to stop the running stack's PostgreSQL: the embedded server's clean-up of a stale server stopped whatever
ran on the data dir. A server left behind by a crashed run, with no live stack, is still stopped and started anew.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from edms_runtime.stack import SERVICES, EmbeddedPostgres, Stack, free_port
from tests.infra import containers_requested

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _embedded_only() -> None:
    if containers_requested() or os.environ.get("EDMS_DATABASE_URL") or os.environ.get("EDMS_KAFKA_BOOTSTRAP"):
        pytest.skip("this test is about the embedded stack")


def _stack(data_dir: Path) -> Stack:
    return Stack(
        data_dir=data_dir,
        ports={name: free_port() for name in SERVICES},
        pg_port=free_port(),
        kafka_port=free_port(),
    )


def _files(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file of the data dir with size and mtime, except what the running stack itself keeps writing."""
    return {
        str(path.relative_to(data_dir)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in data_dir.rglob("*")
        if path.is_file() and path.relative_to(data_dir).parts[0] not in ("pgdata", "logs")
    }


def _edms(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The `edms` command of this environment, as a user runs it; stopped (SIGTERM: it stops what it started)
    should it not end by itself."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("edms")), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=120)
        pytest.fail(f"`edms {' '.join(args)}` did not end by itself: {out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_second_stack_up_beside_a_running_stack_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    first = _stack(tmp_path / "edms")
    with first.running():
        assert first.postgres is not None
        assert first.broker is not None
        assert first.broker.proc is not None
        postmaster = (first.postgres.pgdata / "postmaster.pid").read_text()
        files = _files(first.data_dir)

        started = time.monotonic()
        second = _edms("--data-dir", str(first.data_dir), "stack", "up", "--no-demo")
        seconds = time.monotonic() - started

        assert second.returncode != 0
        assert f"EDMS is already running (pid {os.getpid()})" in second.stderr, second.stderr
        assert "edms stack down" in second.stderr
        assert seconds < 15
        # nothing touched: the same PostgreSQL server, broker, services and files
        assert (first.postgres.pgdata / "postmaster.pid").read_text() == postmaster
        with psycopg.connect(first.postgres.url) as conn:
            conn.execute("SELECT 1")
        assert first.broker.proc.poll() is None
        for process in first.processes.values():
            assert httpx.get(f"{process.url}/ready", timeout=10).status_code == 200
        assert _files(first.data_dir) == files


def test_a_server_left_by_a_crashed_run_is_stopped_and_the_stack_starts(tmp_path: Path) -> None:
    data_dir = tmp_path / "edms"
    left_behind = EmbeddedPostgres(data_dir / "pgdata", free_port())
    left_behind.start()  # as a crashed run leaves it: running, with no live stack holding the data dir
    stack = _stack(data_dir)
    try:
        stack.start_infrastructure()
        assert stack.postgres is not None
        with psycopg.connect(stack.postgres.url) as conn:
            conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(left_behind.url, connect_timeout=2)
    finally:
        stack.stop()
