"""Backbone benchmark: event store, broker, HTTP registration and event-to-searchable latency, in one run.

    .venv/bin/python bench/backbone.py [--quick] [--markdown PATH] [--check]

Starts its own stack (embedded PostgreSQL on a free port in a temporary directory, a Tansu broker and the five
services, like the cross-service tests), unless EDMS_DATABASE_URL / EDMS_KAFKA_BOOTSTRAP name existing ones (then a
fresh database is created on that server). Measures, in this order:

1. raw eventsourcing save rate: a minimal aggregate, one per `app.save()`, with the services' PostgreSQL settings
   (schema `bench_raw`); and 100 aggregates per save for context;
2. raw aiokafka produce rate against the same broker: acks=all, no idempotence, ~1 KB values (the size of a real
   encoded DocumentRegistered envelope), send() everything, then gather the futures;
3. HTTP registration rate: POST /documents with a clerk token at concurrency 16; compared with (1);
4. event-to-searchable latency at an open-loop 100 registrations/s: from the 201 response to the row appearing in
   search.documents (a background thread polls the pending ids every 10 ms).

Prints one table and a verdict per target; with --markdown writes the same as markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import platform
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from eventsourcing.domain import Aggregate, event

from edms_contracts import DocumentRegistered, Envelope, encode, event_id_for
from edms_runtime.auth import issue_token
from edms_runtime.eventstore import ServiceApplication, build_application
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack, free_port

#: Targets the backbone is held to.
HTTP_TO_RAW_TARGET = 0.50
SEARCHABLE_P99_LIMIT_S = 1.0

BENCH_ORG = "org-bench"
BENCH_TOPIC = "edms.bench.produce.v1"
RAW_SCHEMA = "bench_raw"
HTTP_CONCURRENCY = 16
PACED_CONNECTIONS = 32
CLIENT = "bench client"
#: Below uvicorn's 5 s keep-alive timeout: reusing a connection the server is closing fails with a ReadError.
KEEPALIVE_S = 3.0
POLL_INTERVAL_S = 0.010

#: A realistic incoming letter; with the short `text` its encoded envelope is about 1 KB.
REGISTRATION: dict[str, Any] = {
    "kind": "incoming_letter",
    "title": "О предоставлении сведений о численности населения",
    "text": "Прошу предоставить сведения о численности постоянного населения муниципального образования "
    "по состоянию на 1 января.",
    "correspondent": "Территориальный орган Росстата",
    "correspondent_number": "12-07/345",
    "correspondent_date": "2025-11-20",
}
_letters = itertools.count(1)


def registration() -> dict[str, Any]:
    """A new letter each time: its own outgoing number (the same one twice is the same letter, answered 409) and a
    text of its own, as real letters are."""
    n = next(_letters)
    return {**REGISTRATION, "correspondent_number": f"12-07/{n}", "text": f"{REGISTRATION['text']} Исх. № {n}."}


@dataclass(frozen=True)
class Profile:
    name: str
    raw_saves: int
    kafka_messages: int
    http_registrations: int
    paced_rate: float
    paced_seconds: float
    #: Upper bound of each throughput phase; a phase that hits it reports what it did and says so.
    phase_timeout_s: float
    #: How long the burst's backlog may take to become searchable before the paced phase starts.
    drain_timeout_s: float
    #: After the last paced request: how long answers, then visibility, are awaited.
    tail_timeout_s: float


FULL = Profile("full", 2000, 20000, 2000, 100.0, 20.0, 30.0, 30.0, 10.0)
QUICK = Profile("quick", 500, 5000, 500, 100.0, 5.0, 10.0, 10.0, 5.0)


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    unit: str
    peer: str = ""
    ratio: str = ""


@dataclass(frozen=True)
class Verdict:
    target: str
    met: bool
    detail: str


@dataclass
class Report:
    profile: Profile
    started: datetime
    rows: list[Row] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- helpers ---------------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def sample_envelope(body: dict[str, Any]) -> bytes:
    """The envelope the relay would publish for `body` registered by the bench clerk: the real wire size."""
    document_id = uuid.uuid4()
    payload = DocumentRegistered(
        document_id=document_id,
        kind=body["kind"],
        journal="ВХ",
        reg_number="01-10/12345",
        reg_date=date.today(),
        title=body["title"],
        text=body["text"],
        correspondent=body["correspondent"],
        correspondent_number=body["correspondent_number"],
        correspondent_date=date.fromisoformat(body["correspondent_date"]),
        case_index="01-10",
        org=BENCH_ORG,
        unit="01",
        registered_by="bench-clerk",
    )
    envelope = Envelope(
        event_id=event_id_for(document_id, 1),
        event_type=payload.event_type(),
        schema_version=payload.schema_version,
        occurred_at=datetime.now(UTC),
        aggregate_id=document_id,
        aggregate_version=1,
        correlation_id=uuid.uuid4(),
        producer="registry",
        payload=payload.model_dump(mode="json"),
    )
    return encode(envelope)


# -- 1. raw event store ----------------------------------------------------------------------------------------------
class Tick(Aggregate):
    """The smallest aggregate: one created event with one field."""

    @event("Created")
    def __init__(self, seq: int) -> None:
        self.seq = seq


class RawApplication(ServiceApplication):
    pass


@dataclass(frozen=True)
class RawStoreResult:
    single_rate: float
    single_count: int
    batched_rate: float
    batched_count: int


def bench_raw_store(database_url: str, profile: Profile) -> RawStoreResult:
    app = build_application(RawApplication, database_url, RAW_SCHEMA)
    try:
        for i in range(20):  # warm the pool and the prepared statements
            app.save(Tick(i))
        deadline = time.perf_counter() + profile.phase_timeout_s / 2
        started = time.perf_counter()
        single = 0
        while single < profile.raw_saves and time.perf_counter() < deadline:
            app.save(Tick(single))
            single += 1
        single_rate = rate(single, time.perf_counter() - started)

        deadline = time.perf_counter() + profile.phase_timeout_s / 2
        started = time.perf_counter()
        batched = 0
        while batched < profile.raw_saves and time.perf_counter() < deadline:
            app.save(*(Tick(batched + i) for i in range(100)))
            batched += 100
        batched_rate = rate(batched, time.perf_counter() - started)
    finally:
        app.close()
    return RawStoreResult(single_rate, single, batched_rate, batched)


# -- 2. raw broker ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProduceResult:
    rate: float
    count: int
    value_size: int


async def bench_produce(bootstrap: str, value: bytes, profile: Profile) -> ProduceResult:
    count = profile.kafka_messages
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(BENCH_TOPIC, 6, 1)])  # as many partitions as the event topics
    finally:
        await admin.close()
    # The relay's producer settings (edms_runtime.kafka.make_producer): acks=all, no idempotence, linger 2 ms.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10000,
    )
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(BENCH_TOPIC, value=value, key=b"warm-up"), 30)
        keys = [str(uuid.uuid4()).encode() for _ in range(count)]
        futures: list[asyncio.Future[Any]] = []
        started = time.perf_counter()
        deadline = started + profile.phase_timeout_s
        for key in keys:  # send() only queues the message; it waits only when the accumulator is full
            futures.append(await producer.send(BENCH_TOPIC, value=value, key=key))
            if time.perf_counter() > deadline:
                break
        done, _ = await asyncio.wait(futures, timeout=max(0.1, deadline - time.perf_counter()))
        elapsed = time.perf_counter() - started
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            raise BenchError(f"{len(failed)} messages were not acknowledged, e.g. {failed[0]!r}")
    finally:
        await producer.stop()
    return ProduceResult(rate(len(done), elapsed), len(done), len(value))


# -- 3. HTTP registration --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResult:
    rate: float
    count: int
    latencies: list[float]
    truncated: bool


class BenchError(RuntimeError):
    pass


async def post_registration(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/documents", json=body)
    if response.status_code != 201:
        raise BenchError(f"POST /documents answered {response.status_code}: {response.text[:500]}")
    document: dict[str, Any] = response.json()
    return document


def registry_client(base_url: str, token: str, connections: int) -> httpx.AsyncClient:
    """A clerk's keep-alive client with exactly `connections` connections."""
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=KEEPALIVE_S
    )
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=httpx.Timeout(30.0)
    )


async def bench_http(base_url: str, token: str, profile: Profile) -> HttpResult:
    async with registry_client(base_url, token, HTTP_CONCURRENCY) as client:
        # Warm-up: opens every connection, creates the journal, fills the aggregate cache.
        await asyncio.gather(*(post_registration(client, registration()) for _ in range(HTTP_CONCURRENCY)))
        latencies: list[float] = []
        issued = 0
        deadline = time.perf_counter() + profile.phase_timeout_s

        async def worker() -> None:
            nonlocal issued
            while issued < profile.http_registrations and time.perf_counter() < deadline:
                issued += 1
                sent = time.perf_counter()
                await post_registration(client, registration())
                latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    done = len(latencies)
    return HttpResult(rate(done, elapsed), done, latencies, done < profile.http_registrations)


# -- 4. event-to-searchable latency ----------------------------------------------------------------------------------
class VisibilityPoller(threading.Thread):
    """Polls search.documents for the pending document ids every POLL_INTERVAL_S, on its own connection.

    A row found by a query was committed before that query's snapshot, so the query's start time is recorded as
    the moment it became searchable (an upper bound, at most one interval plus one query late).
    """

    QUERY = "SELECT document_id FROM search.documents WHERE document_id = ANY(%s) AND reg_number IS NOT NULL"

    def __init__(self, database_url: str) -> None:
        super().__init__(name="visibility-poller", daemon=True)
        self.database_url = database_url
        self.pending: dict[uuid.UUID, float] = {}
        self.latencies: list[float] = []
        self.polls = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._drained = threading.Event()

    def add(self, document_id: uuid.UUID, responded_at: float) -> None:
        with self._lock:
            self.pending[document_id] = responded_at
            self._drained.clear()

    def outstanding(self) -> int:
        with self._lock:
            return len(self.pending)

    def wait_drained(self, timeout: float) -> bool:
        """Block until nothing is pending (or the poller stopped), at most `timeout` seconds."""
        return self._drained.wait(timeout)

    def stop(self) -> None:
        self._halt.set()
        self._drained.set()

    def run(self) -> None:
        try:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                next_poll = time.perf_counter()
                while not self._halt.is_set():
                    with self._lock:
                        ids = list(self.pending)
                    if ids:
                        polled_at = time.perf_counter()  # after the snapshot of ids: never before their 201
                        rows = conn.execute(self.QUERY, (ids,)).fetchall()
                        self.polls += 1
                        with self._lock:
                            for (document_id,) in rows:
                                responded_at = self.pending.pop(document_id, None)
                                if responded_at is not None:
                                    self.latencies.append(polled_at - responded_at)
                            if not self.pending:
                                self._drained.set()
                    next_poll += POLL_INTERVAL_S
                    pause = next_poll - time.perf_counter()
                    if pause > 0:
                        self._halt.wait(pause)
                    else:
                        next_poll = time.perf_counter()  # fell behind: do not burst to catch up
        except BaseException as exc:
            self.error = exc
            self._drained.set()


@dataclass(frozen=True)
class PacedResult:
    scheduled: int
    unanswered: int
    failed: int
    first_error: str
    sent_rate: float
    max_schedule_lag: float
    registration_latencies: list[float]
    searchable_latencies: list[float]
    missing: int


async def bench_paced(base_url: str, token: str, database_url: str, profile: Profile) -> PacedResult:
    poller = VisibilityPoller(database_url)
    poller.start()
    registration_latencies: list[float] = []
    try:
        # Enough connections for the pace times a few hundred ms; more only adds connection churn on the server.
        async with registry_client(base_url, token, PACED_CONNECTIONS) as client:

            async def register_one(due: float) -> None:
                document = await post_registration(client, registration())
                responded = time.perf_counter()
                poller.add(uuid.UUID(document["id"]), responded)
                registration_latencies.append(responded - due)  # from the scheduled time: no coordinated omission

            await asyncio.gather(*(register_one(time.perf_counter()) for _ in range(4)))  # warm the connections
            await asyncio.sleep(1.0)
            with poller._lock:  # the warm-up is not measured
                poller.pending.clear()
                poller.latencies.clear()
            registration_latencies.clear()

            # Open loop: request i is sent at start + i / rate whatever happened to the earlier ones.
            scheduled = int(profile.paced_rate * profile.paced_seconds)
            interval = 1.0 / profile.paced_rate
            start = time.perf_counter() + 0.05
            max_lag = 0.0
            tasks: list[asyncio.Task[None]] = []
            for i in range(scheduled):
                due = start + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                max_lag = max(max_lag, time.perf_counter() - due)
                tasks.append(asyncio.create_task(register_one(due)))
            sending = time.perf_counter() - start
            # A registry slower than the pace answers late; wait a bounded time, then give up on the rest.
            _, late = await asyncio.wait(tasks, timeout=profile.tail_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            errors = [e for e in (t.exception() for t in tasks if not t.cancelled()) if e is not None]

        await asyncio.to_thread(poller.wait_drained, profile.tail_timeout_s)
    finally:
        poller.stop()
        poller.join(5)
    if poller.error is not None:
        raise BenchError(f"visibility poller failed: {poller.error!r}")
    return PacedResult(
        scheduled=scheduled,
        unanswered=len(late),
        failed=len(errors),
        first_error=repr(errors[0]) if errors else "",
        sent_rate=rate(scheduled, sending),
        max_schedule_lag=max_lag,
        registration_latencies=registration_latencies,
        searchable_latencies=poller.latencies,
        missing=poller.outstanding(),
    )


def wait_searchable(database_url: str, expected: int, timeout: float) -> tuple[float, int]:
    """Wait until `expected` bench documents are searchable; returns (seconds waited, count seen)."""
    query = "SELECT count(*) FROM search.documents WHERE org = %s AND reg_number IS NOT NULL"
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(query, (BENCH_ORG,)).fetchone()
            seen = int(row[0]) if row else 0
            if seen >= expected or time.perf_counter() - started >= timeout:
                return time.perf_counter() - started, seen
            time.sleep(0.05)


# -- CPU accounting -------------------------------------------------------------------------------------------------
def _proc_cpu(pid: int) -> tuple[float, int]:
    """(user + system seconds of the process and its reaped children, parent pid); (0, 0) if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK"), int(fields[1])


def _with_children(parent_pid: int) -> float:
    """A process (whose reaped children count in its cutime) plus its live children: PostgreSQL's backends, a
    service's worker processes (the registry's text extraction)."""
    total = _proc_cpu(parent_pid)[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            seconds, parent = _proc_cpu(int(entry.name))
            if parent == parent_pid:
                total += seconds
    return total


def cpu_snapshot(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack and by this process (Linux /proc; empty elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return {}
    usage = os.times()
    snapshot = {CLIENT: usage.user + usage.system}
    for name, process in stack.processes.items():
        if process.proc is not None:
            snapshot[name] = _with_children(process.proc.pid)
    if stack.broker is not None and stack.broker.proc is not None:
        snapshot["tansu"] = _proc_cpu(stack.broker.proc.pid)[0]
    if stack.postgres is not None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid_line = (stack.postgres.pgdata / "postmaster.pid").read_text().splitlines()[0]
            snapshot["postgres"] = _with_children(int(pid_line))
    return snapshot


def cpu_per_operation(before: dict[str, float], after: dict[str, float], operations: int) -> dict[str, float]:
    """CPU milliseconds per operation by part."""
    if operations <= 0:
        return {}
    return {name: (after[name] - before[name]) * 1000 / operations for name in after if name in before}


def cpu_rows(per_op: dict[str, float], report: Report) -> None:
    """The stack's CPU per registration (the bench client apart), and what that allows on this machine's cores."""
    stack_parts = {name: value for name, value in per_op.items() if name != CLIENT}
    total = sum(stack_parts.values())
    if total <= 0:
        return
    cores = os.cpu_count() or 1
    report.rows.append(
        Row(
            "  stack CPU per registration",
            f"{total:.1f}",
            "ms",
            f"{cores} cores → ≤ {num(cores * 1000 / total)}/s",
            "all 5 services + PG + broker",
        )
    )
    parts = ", ".join(f"{name} {value:.1f}" for name, value in sorted(per_op.items(), key=lambda kv: -kv[1]))
    report.notes.append(f"CPU ms per registration during the burst and its drain, by process: {parts}.")


# -- the run ---------------------------------------------------------------------------------------------------------
def make_stack(data_dir: Path) -> Stack:
    database_url: str | None = None
    configured = os.environ.get("EDMS_DATABASE_URL")
    if configured:  # a fresh database on the given server, so earlier data cannot skew the run
        database_url = urlsplit(configured)._replace(path=f"/edms_bench_{uuid.uuid4().hex[:10]}").geturl()
    return Stack(
        data_dir=data_dir,
        ports={name: free_port() for name in SERVICES},
        pg_port=free_port(),
        kafka_port=free_port(),
        database_url=database_url,
        kafka_bootstrap=os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None,
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(stack: Stack, report: Report) -> None:
    profile = report.profile
    assert stack.database_url is not None
    assert stack.kafka_bootstrap is not None
    database_url = stack.database_url
    envelope = sample_envelope(REGISTRATION)

    log(f"1/4 raw eventsourcing saves ({profile.raw_saves} one per save, then 100 per save)")
    raw = bench_raw_store(database_url, profile)
    report.rows.append(Row("raw ES save, 1 aggregate/save", num(raw.single_rate), "events/s", f"N={raw.single_count}"))
    report.rows.append(
        Row("raw ES save, 100 aggregates/save", num(raw.batched_rate), "events/s", f"N={raw.batched_count}")
    )

    log(f"2/4 raw aiokafka produce ({profile.kafka_messages} x {len(envelope)} B, acks=all)")
    produced = asyncio.run(bench_produce(stack.kafka_bootstrap, envelope, profile))
    report.rows.append(
        Row(
            f"raw aiokafka produce, {produced.value_size} B, acks=all",
            num(produced.rate),
            "msgs/s",
            f"N={produced.count}",
        )
    )

    log(f"3/4 HTTP registration ({profile.http_registrations} at concurrency {HTTP_CONCURRENCY})")
    settings = PlatformSettings(data_dir=stack.data_dir)
    token = issue_token(settings, user="bench-clerk", org=BENCH_ORG, unit="01", roles=["clerk"])
    registry_url = stack.processes["registry"].url
    cpu_before = cpu_snapshot(stack)
    http = asyncio.run(bench_http(registry_url, token, profile))
    ratio = http.rate / raw.single_rate
    report.rows.append(
        Row(
            f"HTTP POST /documents, c={HTTP_CONCURRENCY}",
            num(http.rate),
            "registrations/s",
            f"raw ES {num(raw.single_rate)} saves/s",
            f"{ratio:.0%} (target ≥ {HTTP_TO_RAW_TARGET:.0%})",
        )
    )
    report.rows.append(Row("  registration latency p50", ms(percentile(http.latencies, 50)), "ms", f"N={http.count}"))
    report.rows.append(Row("  registration latency p99", ms(percentile(http.latencies, 99)), "ms"))
    report.verdicts.append(
        Verdict(
            f"HTTP registration rate ≥ {HTTP_TO_RAW_TARGET:.0%} of raw store rate",
            ratio >= HTTP_TO_RAW_TARGET,
            f"{num(http.rate)} / {num(raw.single_rate)} = {ratio:.0%}",
        )
    )
    if http.truncated:
        report.notes.append(
            f"HTTP phase stopped at its {profile.phase_timeout_s:.0f} s bound after {http.count} registrations."
        )

    # The burst leaves a backlog in the relay and consumers; the paced phase must start from an idle pipeline.
    expected = HTTP_CONCURRENCY + http.count
    drained, seen = wait_searchable(database_url, expected, profile.drain_timeout_s)
    report.rows.append(
        Row(
            "burst backlog searchable after",
            f"{drained:.1f}",
            "s",
            f"{seen}/{expected} docs",
        )
    )
    cpu_rows(cpu_per_operation(cpu_before, cpu_snapshot(stack), expected), report)
    if seen < expected:
        report.notes.append(f"Backlog not drained before the paced phase: {seen}/{expected} searchable.")

    log(f"4/4 event-to-searchable at {profile.paced_rate:.0f}/s for {profile.paced_seconds:.0f} s (open loop)")
    paced = asyncio.run(bench_paced(registry_url, token, database_url, profile))
    lat = paced.searchable_latencies
    p99 = percentile(lat, 99)
    limit = f"≤ {SEARCHABLE_P99_LIMIT_S * 1000:.0f} ms"
    report.rows.append(
        Row(
            "paced registrations sent",
            f"{paced.scheduled}",
            "docs",
            f"{paced.sent_rate:.1f}/s achieved",
            f"max schedule lag {ms(paced.max_schedule_lag)} ms",
        )
    )
    answered = paced.scheduled - paced.unanswered - paced.failed
    report.rows.append(
        Row(
            "  answered 201 within the run",
            f"{answered}",
            "docs",
            f"{paced.unanswered} unanswered after {profile.tail_timeout_s:.0f} s tail",
            f"{paced.failed} failed",
        )
    )
    report.rows.append(
        Row("  registration latency p50 at pace", ms(percentile(paced.registration_latencies, 50)), "ms")
    )
    report.rows.append(
        Row("  registration latency p99 at pace", ms(percentile(paced.registration_latencies, 99)), "ms")
    )
    report.rows.append(Row("event→searchable p50", ms(percentile(lat, 50)), "ms", f"N={len(lat)}"))
    report.rows.append(Row("event→searchable p95", ms(percentile(lat, 95)), "ms"))
    report.rows.append(
        Row(
            "event→searchable p99",
            ms(p99),
            "ms",
            limit,
            "n/a" if math.isnan(p99) else f"{p99 / SEARCHABLE_P99_LIMIT_S:.0%} of limit",
        )
    )
    report.rows.append(Row("event→searchable max", ms(max(lat) if lat else math.nan), "ms"))
    report.rows.append(
        Row(
            "not searchable at the end",
            f"{paced.missing}",
            "docs",
            f"after {profile.tail_timeout_s:.0f} s tail",
        )
    )
    met = (
        not math.isnan(p99)
        and p99 <= SEARCHABLE_P99_LIMIT_S
        and paced.missing == 0
        and paced.unanswered == 0
        and paced.failed == 0
    )
    detail = f"p99 {ms(p99)} ms"
    if paced.missing:
        detail += f", {paced.missing} registered documents did not become searchable"
    if paced.unanswered:
        detail += f", {paced.unanswered} of {paced.scheduled} registrations unanswered (registry below the pace)"
    if paced.failed:
        detail += f", {paced.failed} registrations failed"
        report.notes.append(f"{paced.failed} paced registrations failed, e.g. {paced.first_error}")
    report.verdicts.append(Verdict(f"event-to-searchable p99 {limit} at {profile.paced_rate:.0f}/s", met, detail))


# -- output ----------------------------------------------------------------------------------------------------------
HEADERS = ("measure", "value", "unit", "peer/limit", "ratio/target")


def cells(row: Row) -> tuple[str, str, str, str, str]:
    return (row.measure, row.value, row.unit, row.peer, row.ratio)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def render_text(report: Report, title: str = "EDMS backbone benchmark") -> str:
    table = [HEADERS, *(cells(r) for r in report.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    right = {1}  # values are numbers: right-aligned

    def fmt(line: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(line)]
        return " | ".join(parts).rstrip()

    lines = [
        f"{title} ({report.profile.name}), {report.started:%Y-%m-%d %H:%M} UTC, {machine()}",
        "",
        fmt(HEADERS),
        "-+-".join("-" * w for w in widths),
        *(fmt(cells(r)) for r in report.rows),
        "",
        *(f"{'MET    ' if v.met else 'NOT MET'}  {v.target}: {v.detail}" for v in report.verdicts),
        *(f"note: {n}" for n in report.notes),
    ]
    return "\n".join(lines)


def render_markdown(report: Report, title: str = "EDMS backbone benchmark") -> str:
    def esc(text: str) -> str:
        indent = len(text) - len(text.lstrip(" "))
        return "&emsp;" * (indent // 2) + text.lstrip(" ").replace("|", "\\|")  # keep sub-rows indented

    lines = [
        f"{title}. Run: {report.started:%Y-%m-%d %H:%M} UTC, profile `{report.profile.name}`, {machine()}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|---|---:|---|---|---|",
        *("| " + " | ".join(esc(c) for c in cells(r)) + " |" for r in report.rows),
        "",
        *(f"- **{'MET' if v.met else 'NOT MET'}** — {esc(v.target)}: {esc(v.detail)}" for v in report.verdicts),
        *(f"- note: {esc(n)}" for n in report.notes),
    ]
    return "\n".join(lines) + "\n"


def dump_logs(logs: Path) -> None:
    for path in sorted(logs.glob("*.log")):
        print(f"==== {path.name} (last 3000 characters)\n{path.read_text(errors='replace')[-3000:]}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller counts and a 5 s paced phase (< 1 min)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table as markdown to PATH")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is not met")
    args = parser.parse_args(argv)
    report = Report(QUICK if args.quick else FULL, datetime.now(UTC))
    began = time.perf_counter()
    failed = False
    with tempfile.TemporaryDirectory(prefix="edms-bench-") as tmp:
        stack = make_stack(Path(tmp) / "edms")
        try:
            log("starting the stack (PostgreSQL, Tansu, five services)")
            stack.start(timeout=60)
            log(f"stack up in {time.perf_counter() - began:.1f} s")
            measure(stack, report)
        except BaseException:
            failed = True
            traceback.print_exc()
            dump_logs(stack.logs)
        finally:
            log("stopping the stack")
            stack.stop()
    log(f"done in {time.perf_counter() - began:.1f} s")
    if report.rows:
        print(render_text(report))
    if args.markdown is not None and report.rows:
        args.markdown.write_text(render_markdown(report))
    if failed:
        return 2
    return 1 if args.check and not all(v.met for v in report.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
