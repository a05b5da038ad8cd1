"""Test infrastructure selection: embedded (default) or testcontainers (EDMS_TEST_INFRA=containers).

With containers, PostgreSQL and Kafka come from Docker images; without a Docker engine those runs skip with the
reason instead of failing, since nothing here can start a container.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def containers_requested() -> bool:
    return os.environ.get("EDMS_TEST_INFRA", "embedded") == "containers"


def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers; otherwise why not."""
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:
        return f"EDMS_TEST_INFRA=containers needs a Docker engine, and none answers here: {exc}"
    return None


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A real S3-API server on a free loopback port: moto's standalone server (`moto[server]`), as a subprocess.

    Yields its endpoint URL; the process ends with the block. Credentials are any (moto checks none): the caller
    sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for boto3 to sign with.
    """
    import re
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        endpoint = None
        while endpoint is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            endpoint = found.group(1) if found else None
        if endpoint is None:
            raise RuntimeError("moto_server did not report its port within 30 s")
        import threading

        # keep reading its log so that a full pipe never blocks it
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
