"""The local stack's ports: each part of a stack gets its own, and none lies where outgoing connections take theirs."""

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
