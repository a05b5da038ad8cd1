"""Routing benchmark: resolutions driven to completion, parallel approval, "my work now" with many open tasks.

    .venv/bin/python bench/routing.py [--quick] [--markdown PATH] [--check]

Starts its own stack (as bench/backbone.py does: embedded PostgreSQL, Tansu, the five services, free ports, a
temporary directory) and, in the same run, on the same machine:

1. the raw eventsourcing save rate (one aggregate per save, and 100 per save: bench/backbone.py's phase 1);
2. N documents (10k; --quick 1k) registered and M people entered, published on the registry's topics as the
   registry publishes them (routing starts a route per document from its consumer, as in production);
3. a head's resolution of 3 assignments on every document (`POST /documents/{id}/resolutions`, 8 clients): the
   rate of resolutions and of assignment events saved;
4. `GET /inbox` of executors and of the head while every assignment is open (3N open execute tasks, N of them ≥
   10k in the full profile): latency p50/p99 over 1,000 requests, first while the other services still digest the
   burst of resolutions (control, search and archive consuming 3N assignment events on the same cores), then on the
   settled stack (no service has written a row for 3 s) — the desk as a user meets it; the target is judged there;
5. every assignment reported by its executor and accepted by the head (`POST .../report`, `POST .../accept`):
   decisions per second, the last acceptance of a document closing its route (the route's save races the other
   acceptances of the same document and is retried);
6. D drafts (2k; --quick 200), each sent for a 5-person parallel approval and approved by all five: decisions per
   second.

Aim (issue 8): inbox p99 ≤ 50 ms at 10k open tasks. Decisions are compared with the raw single-save rate: each
decision is one load and one save of an aggregate (an acceptance that closes a route, two).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiokafka import AIOKafkaProducer
from backbone import (
    FULL,
    QUICK,
    Report,
    Row,
    Verdict,
    bench_raw_store,
    dump_logs,
    log,
    make_stack,
    ms,
    num,
    percentile,
    rate,
    render_markdown,
    render_text,
)
from psycopg.rows import dict_row

from edms_contracts import DocumentDrafted, DocumentRegistered, Envelope, Event, PersonRef, Role, encode
from edms_contracts.directory import PersonRegistered
from edms_routing.api import inbox
from edms_runtime.auth import Principal, issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack

TITLE = "EDMS routing benchmark"
ORG = "org-bench-routing"
CLIENTS = 8
EXECUTORS = 30
APPROVERS = 5
INBOX_SAMPLES = 1000
INBOX_P99_TARGET_S = 0.050


@dataclass(frozen=True)
class Size:
    documents: int
    drafts: int


SIZES = {FULL.name: Size(10_000, 2_000), QUICK.name: Size(1_000, 200)}


# -- events on the broker, as the registry publishes them --------------------------------------------------------------
def envelope(payload: Event, aggregate_id: uuid.UUID) -> bytes:
    return encode(
        Envelope(
            event_id=uuid.uuid5(aggregate_id, "1"),
            event_type=payload.event_type(),
            schema_version=payload.schema_version,
            occurred_at=datetime.now(UTC),
            aggregate_id=aggregate_id,
            aggregate_version=1,
            producer="registry",
            payload=payload.model_dump(mode="json"),
        )
    )


async def publish(bootstrap: str, messages: list[tuple[Event, uuid.UUID]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(event.topic.name, value=envelope(event, key), key=str(key).encode())
            for event, key in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def people() -> list[tuple[Event, uuid.UUID]]:
    logins = [("head1", Role.HEAD), *((f"exec{i}", Role.EXECUTOR) for i in range(EXECUTORS))]
    logins += [(f"appr{i}", Role.EXECUTOR) for i in range(APPROVERS)] + [("author1", Role.EXECUTOR)]
    messages: list[tuple[Event, uuid.UUID]] = []
    for login, role in logins:
        person_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{ORG}/{login}")
        event = PersonRegistered(
            org=ORG, by="bench", person_id=person_id, login=login, full_name=login, unit="01", roles=[role]
        )
        messages.append((event, person_id))
    return messages


def documents(n: int) -> list[tuple[Event, uuid.UUID]]:
    today = date.today()
    messages: list[tuple[Event, uuid.UUID]] = []
    for i in range(n):
        document = uuid.uuid4()
        event = DocumentRegistered(
            document_id=document, kind="incoming_letter", journal="ВХ", reg_number=f"01-10/{i + 1}", reg_date=today,
            title=f"Письмо {i}", org=ORG, unit="01", registered_by="clerk1",
        )  # fmt: skip
        messages.append((event, document))
    return messages


def drafts(n: int) -> list[tuple[Event, uuid.UUID]]:
    messages: list[tuple[Event, uuid.UUID]] = []
    for i in range(n):
        document = uuid.uuid4()
        event = DocumentDrafted(
            document_id=document, kind="outgoing_letter", title=f"Проект {i}", org=ORG, author="author1",
            signer=PersonRef(name="Руководитель", login="head1"),
        )  # fmt: skip
        messages.append((event, document))
    return messages


# -- waiting on routing's own tables (never on offsets) ---------------------------------------------------------------
def scalar(database_url: str, query: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def wait_for(database_url: str, query: str, expected: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if scalar(database_url, query) >= expected:
            return time.perf_counter() - started
        time.sleep(0.2)
    raise RuntimeError(f"{query}: {scalar(database_url, query)} of {expected} after {timeout} s")


def settle(database_url: str, quiet: float = 3.0, timeout: float = 900) -> float:
    """Wait until the whole stack has digested what it was sent: no service writes a row for `quiet` seconds (every
    consumer of every service caught up, the relays idle). Returns the seconds waited."""
    query = "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_all_tables"
    started = time.perf_counter()
    last, since = -1, time.perf_counter()
    while time.perf_counter() - started < timeout:
        now = scalar(database_url, query)
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"the stack still writes after {timeout} s")


# -- HTTP --------------------------------------------------------------------------------------------------------------
class Desk:
    def __init__(self, stack: Stack) -> None:
        self.base = stack.processes["routing"].url
        self.settings = PlatformSettings(data_dir=stack.data_dir)
        self.client = httpx.AsyncClient(
            base_url=self.base, timeout=60, limits=httpx.Limits(max_connections=CLIENTS * 2)
        )
        self.tokens: dict[str, dict[str, str]] = {}

    def headers(self, login: str, role: str) -> dict[str, str]:
        if login not in self.tokens:
            token = issue_token(self.settings, user=login, org=ORG, unit="01", roles=[role])
            self.tokens[login] = {"Authorization": f"Bearer {token}"}
        return self.tokens[login]

    async def call(self, method: str, path: str, login: str, role: str, body: Any = None) -> Any:
        for _ in range(50):
            response = await self.client.request(method, path, headers=self.headers(login, role), json=body)
            if response.status_code < 300:
                return response.json()
            if response.status_code not in (404, 422, 503):  # 404/422: routing has not heard of it yet
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")


def versus_raw(measure: str, count: int, seconds: float, raw_single: float) -> Row:
    """A rate of commands beside the raw single-save rate of the same run."""
    value = rate(count, seconds)
    return Row(measure, num(value), "/s", f"raw store {num(raw_single)}/s", f"{value / raw_single:.2f}")


async def run_all(jobs: Sequence[Callable[[], Awaitable[Any]]]) -> tuple[int, float]:
    """Run the jobs on CLIENTS concurrent workers; (count, seconds)."""
    queue = iter(jobs)
    done = 0

    async def worker() -> None:
        nonlocal done
        for job in queue:
            await job()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return done, time.perf_counter() - started


async def inbox_latency(desk: Desk, logins: list[tuple[str, str]]) -> list[float]:
    samples: list[float] = []
    for i in range(INBOX_SAMPLES):
        login, role = logins[i % len(logins)]
        started = time.perf_counter()
        response = await desk.client.get("/inbox", headers=desk.headers(login, role), params={"limit": 50})
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET /inbox: {response.status_code} {response.text}")
    return samples


def inbox_query_latency(database_url: str, executors: list[str]) -> list[float]:
    """The inbox's own query (edms_routing.api.inbox) on the stack's database: what PostgreSQL costs of a request."""
    samples: list[float] = []
    today = date.today()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute("SET search_path TO routing, public")
        for i in range(INBOX_SAMPLES):
            principal = Principal(sub=executors[i % len(executors)], org=ORG, unit="01", roles=frozenset({"executor"}))
            started = time.perf_counter()
            inbox(conn, principal, today, limit=50)
            samples.append(time.perf_counter() - started)
            conn.commit()
    return samples


# -- the measurement ------------------------------------------------------------------------------------------------
async def drive(stack: Stack, report: Report, size: Size, raw_single: float) -> None:
    assert stack.database_url is not None
    assert stack.kafka_bootstrap is not None
    url = stack.database_url
    desk = Desk(stack)
    executors = [f"exec{i}" for i in range(EXECUTORS)]
    try:
        log(f"publishing {len(people())} people and {size.documents} documents")
        await publish(stack.kafka_bootstrap, people())
        wait_for(url, "SELECT count(*) FROM routing.people", len(people()), 120)
        letters = documents(size.documents)
        await publish(stack.kafka_bootstrap, letters)
        started = wait_for(url, "SELECT count(*) FROM routing.tasks WHERE task = 'resolve'", size.documents, 600)
        report.rows.append(Row("routes started from the registry's events", num(rate(size.documents, started)), "/s"))

        log(f"{size.documents} resolutions of 3 assignments")
        assignments: list[tuple[str, str]] = []

        def resolution(document: uuid.UUID) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                who = random.sample(executors, 3)
                body = {"text": "Подготовить ответ", "assignments": [{"executor": login} for login in who]}
                created = await desk.call("POST", f"/documents/{document}/resolutions", "head1", "head", body)
                assignments.extend((a["id"], a["executor"]) for a in created["assignments"])

            return job

        count, seconds = await run_all([resolution(key) for _, key in letters])
        report.rows.append(versus_raw("resolutions (3 assignments each), HTTP, 8 clients", count, seconds, raw_single))
        open_tasks = 3 * size.documents
        wait_for(url, "SELECT count(*) FROM routing.tasks WHERE task = 'execute'", open_tasks, 600)

        log(f"GET /inbox with {open_tasks} open tasks, while the other services digest the resolutions")
        await inbox_latency(desk, [(login, "executor") for login in executors[:5]])  # warm
        busy = await inbox_latency(desk, [(login, "executor") for login in executors])
        report.rows.append(Row(f"GET /inbox of an executor, {open_tasks} open tasks, stack busy", ms(percentile(
            busy, 50)), "ms p50"))  # fmt: skip
        report.rows.append(Row("", ms(percentile(busy, 99)), "ms p99"))
        waited = settle(url)
        log(f"GET /inbox with {open_tasks} open tasks, the stack settled (after {waited:.0f} s)")
        samples = await inbox_latency(desk, [(login, "executor") for login in executors])
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        report.rows.append(Row(f"GET /inbox of an executor, {open_tasks} open tasks, settled", ms(p50), "ms p50"))
        report.rows.append(Row("", ms(p99), "ms p99", f"{INBOX_P99_TARGET_S * 1000:.0f} ms", "target"))
        query_samples = inbox_query_latency(url, executors)
        q50, q99 = percentile(query_samples, 50), percentile(query_samples, 99)
        report.rows.append(Row("  the same inbox query alone (psycopg, no HTTP)", ms(q50), "ms p50"))
        report.rows.append(Row("", ms(q99), "ms p99"))
        target = f"inbox p99 ≤ {INBOX_P99_TARGET_S * 1000:.0f} ms at {open_tasks} open tasks"
        report.verdicts.append(Verdict(target, p99 <= INBOX_P99_TARGET_S, f"p99 {ms(p99)} ms, p50 {ms(p50)} ms"))

        log(f"{len(assignments)} reports and acceptances")

        def report_job(assignment: str, executor: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                await desk.call("POST", f"/assignments/{assignment}/report", executor, "executor", {"text": "готово"})

            return job

        def accept_job(assignment: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                await desk.call("POST", f"/assignments/{assignment}/accept", "head1", "head", {})

            return job

        count, seconds = await run_all([report_job(a, e) for a, e in assignments])
        report.rows.append(versus_raw("reports, HTTP, 8 clients", count, seconds, raw_single))
        count, seconds = await run_all([accept_job(a) for a, _ in assignments])
        report.rows.append(versus_raw("acceptances (the last closes the route), HTTP", count, seconds, raw_single))
        wait_for(url, "SELECT count(*) FROM routing.assignments WHERE status = 'done'", len(assignments), 600)

        log(f"{size.drafts} drafts, 5-person parallel approval")
        pending = drafts(size.drafts)
        await publish(stack.kafka_bootstrap, pending)
        wait_for(url, "SELECT count(*) FROM routing.documents WHERE kind = 'outgoing_letter'", size.drafts, 600)
        approvers = [f"appr{i}" for i in range(APPROVERS)]

        def send_job(document: uuid.UUID) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                await desk.call(
                    "POST", f"/documents/{document}/approval", "author1", "executor", {"approvers": approvers}
                )

            return job

        await run_all([send_job(key) for _, key in pending])

        def decide_job(document: uuid.UUID, approver: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                body = {"decision": "approve"}
                await desk.call("POST", f"/documents/{document}/approval/decisions", approver, "executor", body)

            return job

        jobs = [decide_job(key, approver) for _, key in pending for approver in approvers]
        random.shuffle(jobs)  # approvers of one draft decide at the same time: saves race and are retried
        count, seconds = await run_all(jobs)
        report.rows.append(
            versus_raw("approval decisions (5-person parallel stages), HTTP", count, seconds, raw_single)
        )
        signing = scalar(url, "SELECT count(*) FROM routing.tasks WHERE task = 'sign'")
        wait_for(url, "SELECT count(*) FROM routing.tasks WHERE task = 'sign'", size.drafts, 600)
        report.notes.append(
            f"{signing} of {size.drafts} drafts on the signer's desk when the last decision was answered"
        )
    finally:
        await desk.client.aclose()


def measure(stack: Stack, report: Report, size: Size) -> None:
    assert stack.database_url is not None
    log("raw event store")
    raw = bench_raw_store(stack.database_url, report.profile)
    report.rows.append(Row("raw event store: one aggregate per save", num(raw.single_rate), "/s"))
    report.rows.append(Row("raw event store: 100 aggregates per save", num(raw.batched_rate), "events/s"))
    asyncio.run(drive(stack, report, size, raw.single_rate))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1k documents and 200 drafts")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table as markdown to PATH")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is not met")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    report = Report(profile, datetime.now(UTC))
    began = time.perf_counter()
    failed = False
    with tempfile.TemporaryDirectory(prefix="edms-bench-") as tmp:
        stack = make_stack(Path(tmp) / "edms")
        try:
            log("starting the stack (PostgreSQL, Tansu, five services)")
            stack.start(timeout=60)
            measure(stack, report, SIZES[profile.name])
        except BaseException:
            failed = True
            traceback.print_exc()
            dump_logs(stack.logs)
        finally:
            log("stopping the stack")
            stack.stop()
    log(f"done in {time.perf_counter() - began:.1f} s")
    if report.rows:
        print(render_text(report, TITLE))
    if args.markdown is not None and report.rows:
        args.markdown.write_text(render_markdown(report, TITLE))
    if failed:
        return 2
    return 1 if args.check and not all(v.met for v in report.verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
