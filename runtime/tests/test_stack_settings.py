"""The local stack's settings: ports of its own for each part, none where outgoing connections take theirs; the
embedded PostgreSQL's page cache."""

from __future__ import annotations

import socket
from pathlib import Path

from edms_runtime.stack import free_port


def test_ports_are_never_handed_out_twice_and_stay_out_of_the_ephemeral_range() -> None:
    """A port from the kernel's ephemeral range may be taken by an outgoing connection before the service binds it
    (a service exited "address already in use" in CI); two picks that close their probe may also meet."""
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < ephemeral_start for port in ports)
    with socket.socket() as s:  # each is free to bind
        s.bind(("127.0.0.1", ports[-1]))


def test_the_embedded_postgres_page_cache_is_a_quarter_of_memory_within_bounds() -> None:
    """The usual first tuning of a PostgreSQL server (shared_buffers ≈ 25% of RAM), kept between the server's
    default and 8 GB."""
    from edms_runtime.stack import shared_buffers_mb

    gib = 1024**3
    assert shared_buffers_mb(24 * gib) == 6144
    assert shared_buffers_mb(64 * gib) == 8192
    assert shared_buffers_mb(4 * gib) == 1024
    assert shared_buffers_mb(256 * 1024**2) == 128
    assert shared_buffers_mb(0) == 128


def test_the_embedded_postgres_runs_with_that_page_cache(tmp_path: Path) -> None:
    import psycopg

    from edms_runtime.stack import EmbeddedPostgres, shared_buffers_mb

    server = EmbeddedPostgres(tmp_path / "pgdata", free_port())
    server.start()
    try:
        with psycopg.connect(server.url.rsplit("/", 1)[0] + "/postgres") as conn:
            row = conn.execute("SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'")
            assert row.fetchone() == (shared_buffers_mb(),)
    finally:
        server.stop()
