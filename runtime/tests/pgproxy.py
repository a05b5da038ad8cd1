"""A TCP proxy in front of PostgreSQL that can lose the server's answer to a COMMIT, as a broken network would.

Armed, it forwards the client's COMMIT to the server (which commits), waits for the server to answer, and then
closes both sides instead of passing the answer on: the client sees its connection drop and cannot know whether
the commit happened. Everything else passes through untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit


class CommitAckLosingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.armed = threading.Event()
        #: Armed to lose the COMMIT itself (it never reaches the server) rather than its answer.
        self.before_server = False
        #: How many COMMIT answers were lost.
        self.lost = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    @contextlib.contextmanager
    def in_front_of(cls, database_url: str) -> Iterator[tuple[CommitAckLosingProxy, str]]:
        """The proxy and the database URL that goes through it."""
        parts = urlsplit(database_url)
        proxy = cls(parts.hostname or "127.0.0.1", parts.port or 5432)
        netloc = parts.netloc.rsplit("@", 1)
        user = f"{netloc[0]}@" if len(netloc) == 2 else ""
        try:
            yield proxy, parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
        finally:
            proxy.close()

    def lose_next_commit_answer(self) -> None:
        self.before_server = False
        self.armed.set()

    def lose_next_commit(self) -> None:
        """The COMMIT itself is lost: the server sees the connection drop and rolls back."""
        self.before_server = True
        self.armed.set()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            deaf = threading.Event()  # set: the server's answers on this connection are dropped
            threading.Thread(target=self._client_to_server, args=(client, server, deaf), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, deaf), daemon=True).start()

    def _client_to_server(self, client: socket.socket, server: socket.socket, deaf: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT" in data.upper():
                    self.armed.clear()
                    deaf.set()
                    if not self.before_server:
                        server.sendall(data)
                    time.sleep(0.3)  # the server commits and answers; the answer goes nowhere
                    self.lost += 1
                    for sock in (client, server):
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
                server.sendall(data)
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket, deaf: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not deaf.is_set():
                    target.sendall(data)
        with contextlib.suppress(OSError):
            target.close()

    def close(self) -> None:
        self._closing = True
        self.listener.close()
