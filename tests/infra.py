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
