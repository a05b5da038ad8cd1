"""Fixtures for every test in the workspace: one real PostgreSQL server for the whole run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from edms_runtime.stack import EmbeddedPostgres, free_port
from tests.infra import containers_requested, docker_unavailable_reason, postgres_container


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server URL (the database part is replaced per module)."""
    configured = os.environ.get("EDMS_DATABASE_URL")
    if configured:
        yield configured
        return
    if containers_requested():
        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
        with postgres_container() as url:
            yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "pgdata", free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fresh_database_url(postgres_url: str) -> str:
    """A new empty database on the test server, for integration tests of one service."""
    name = f"edms_it_{uuid.uuid4().hex[:10]}"
    admin = urlsplit(postgres_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(postgres_url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-API server (moto's standalone server) for the whole run; boto3 signs with dummy credentials."""
    from tests.infra import s3_server

    for name, value in (("AWS_ACCESS_KEY_ID", "edms-test"), ("AWS_SECRET_ACCESS_KEY", "edms-test")):
        os.environ.setdefault(name, value)
    with s3_server() as endpoint:
        yield endpoint
