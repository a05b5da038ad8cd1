"""Control benchmark: replaying synthetic control events into the read models, beside the raw consume rate of the
same topics measured in the same run; live lag at a steady rate; the discipline report's latency at that size.

    .venv/bin/python bench/control.py [--events N] [--live-seconds S] [--markdown PATH]

Starts PostgreSQL (embedded) and a Tansu broker in a temporary directory (or uses EDMS_DATABASE_URL /
EDMS_KAFKA_BOOTSTRAP, with a fresh database). In this order:

1. live lag: control's real `TrackingConsumer` (the read model only) follows the topics while events are produced
   at 500/s; lag = from the send to the event's read-model handler (p50/p99);
2. N synthetic events (documents put on control, assignments, reports, extensions, acceptances, route stages) are
   produced to edms.control.card.v1 and edms.routing.route.v1;
3. raw consume: an aiokafka consumer reads every partition of both topics from the beginning (no decoding): the
   peer limit;
4. replay: the same read, each batch applied to a fresh schema by the replay's own code (`Applier`: decode,
   validate, track by event id, run control's read-model handlers, one transaction per batch), with the garbage
   collector tuned as `edms replay` tunes it (`fewer_collections`): one event at a time (tracked by the tracking
   table's key, every index in place: the plain way), then as `edms replay` applies — runs folded, what it has seen
   kept in memory, the tracking key and the read model's deferred indexes made at the end (timed), commits not
   waiting for the disk — in one process, then in `--lanes` processes by partition (`edms_runtime.lanes`, as
   `edms replay control` does); each phase after a CHECKPOINT, so none pays for writing out an earlier one's pages;
5. the executive-discipline report over a year (group by unit, as of its last day) on the rebuilt read model, as
   rebuilt and after ANALYZE (which `edms replay` runs before it swaps the tables in).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from edms_contracts import ControlCardOpened, Envelope, Event, encode
from edms_contracts.control import ControlAssignmentOpened, ControlCardClosed, ControlCardReported, ControlDeadlineMoved
from edms_contracts.routing import StageCompleted, StageStarted
from edms_contracts.topics import CONTROL_CARD, ROUTING_ROUTE
from edms_control.projections import READ_MODEL
from edms_control.reports import Period, discipline
from edms_runtime.consumer import (
    TRACKING_DDL,
    Applier,
    BatchApplier,
    ReadModel,
    Track,
    TrackingConsumer,
    read_track,
)
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.deadletters import DEAD_LETTERS_DDL
from edms_runtime.kafka import ensure_topics
from edms_runtime.lanes import Lanes
from edms_runtime.relay import RELAY_DDL
from edms_runtime.replay import TRACKING_KEY, defer_indexes, fewer_collections, make_indexes
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack, free_port

REPLAY_TARGET = 50_000  # events/s (1M in ≤ 20 s)
LAG_P99_LIMIT_S = 1.0
REPORT_LIMIT_S = 0.200
ORG = "org-bench"
UNITS = [f"u{i:02d}" for i in range(20)]
EXECUTORS = [f"exec{i:03d}" for i in range(300)]
YEAR = 2026


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def envelope(event: Event, aggregate_id: uuid.UUID, version: int, at: datetime) -> tuple[str, bytes, bytes]:
    env = Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type(),
        schema_version=1,
        occurred_at=at,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        producer=event.topic.name.split(".")[1],
        payload=event.model_dump(mode="json"),
    )
    return event.topic.name, str(aggregate_id).encode(), encode(env)


def document_events(rng: random.Random, at: datetime | None = None) -> list[tuple[str, bytes, bytes]]:
    """One document's life on control: its card, an assignment with report, maybe an extension, acceptance, and
    a route stage: 5 to 8 events."""
    reg = date(YEAR, 1, 1) + timedelta(days=rng.randrange(350))
    when = at or datetime.combine(reg, datetime.min.time(), tzinfo=UTC)
    document, assignment, route = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    doc_card, card = uuid.uuid4(), uuid.uuid4()
    unit, executor = rng.choice(UNITS), rng.choice(EXECUTORS)
    deadline = reg + timedelta(days=10)
    out = [
        envelope(
            ControlCardOpened(card_id=doc_card, document_id=document, reg_number=f"01-{rng.randrange(10**6)}",
                              deadline=deadline, rule="default", reg_date=reg, org=ORG, unit=unit), doc_card, 1, when),
        envelope(
            ControlAssignmentOpened(card_id=card, document_id=document, assignment_id=assignment, reg_number="01-1",
                                    org=ORG, deadline=deadline, executor=executor, controller="ctl", author="head",
                                    unit=unit, opened_on=reg), card, 1, when),
        envelope(ControlCardReported(card_id=card, document_id=document, assignment_id=assignment, by=executor,
                                     on=reg + timedelta(days=5)), card, 2, when),
    ]  # fmt: skip
    version = 3
    late_after = deadline
    if rng.random() < 0.2:
        new = deadline + timedelta(days=7)
        counts = rng.random() < 0.8
        out.append(envelope(ControlDeadlineMoved(card_id=card, document_id=document, assignment_id=assignment,
                                                 cause="extension", previous_deadline=deadline, deadline=new,
                                                 counts=counts, reason="bench", on=reg + timedelta(days=6)),
                            card, version, when))  # fmt: skip
        version += 1
        late_after = new if counts else deadline
    if rng.random() < 0.9:
        done = reg + timedelta(days=rng.randrange(3, 16))
        out.append(envelope(ControlCardClosed(card_id=card, document_id=document, assignment_id=assignment,
                                              done_on=done, deadline=late_after, late=done > late_after, by="ctl"),
                            card, version, when))  # fmt: skip
    if rng.random() < 0.5:
        out.append(envelope(StageStarted(document_id=document, org=ORG, route_id=route, stage="approval",
                                         participants=["head"]), route, 1, when))  # fmt: skip
        out.append(envelope(StageCompleted(document_id=document, org=ORG, route_id=route, stage="approval",
                                           outcome="approved"), route, 2, when + timedelta(days=2)))  # fmt: skip
    return out


async def produce(bootstrap: str, messages: Sequence[tuple[str, bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, enable_idempotence=False, linger_ms=5,
                                max_batch_size=256 * 1024)  # fmt: skip
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for topic, key, value in messages:
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def read_all(bootstrap: str, expected: int, apply: Callable[[list[Any]], None] | None) -> float:
    """Read every partition of both topics from the beginning until `expected` records were seen."""
    mib = 1024 * 1024
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=8 * mib, fetch_max_bytes=64 * mib)  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(t.name, p) for t in (CONTROL_CARD, ROUTING_ROUTE) for p in range(t.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            records = [r for part in batches.values() for r in part]
            seen += len(records)
            if apply is not None and records:
                await asyncio.to_thread(apply, records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def live_lag(settings: PlatformSettings, seconds: float, rate: int) -> tuple[list[float], int]:
    """Control's live consumer (read model only) while events arrive at `rate`/s: send-to-handler lag."""
    lags: list[float] = []
    opened = READ_MODEL.handlers[ControlCardOpened]

    def timed(conn: Any, env: Envelope, event: Any) -> None:
        opened(conn, env, event)
        lags.append(time.time() - env.occurred_at.timestamp())

    model = ReadModel(ddl=READ_MODEL.ddl, tables=READ_MODEL.tables,
                      handlers={**READ_MODEL.handlers, ControlCardOpened: timed})  # fmt: skip
    ensure_schema(settings.database_url, "control", RELAY_DDL + TRACKING_DDL + DEAD_LETTERS_DDL + model.ddl)
    pool = make_pool(settings.database_url, "control")
    consumer = TrackingConsumer(service="control", pool=pool, settings=settings, read_model=model)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(consumer.run(),), daemon=True)
    thread.start()
    while not consumer.running:
        time.sleep(0.1)
    time.sleep(3)  # the group join

    async def paced() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        rng, sent, started = random.Random(7), 0, time.perf_counter()
        try:
            while time.perf_counter() - started < seconds:
                due = started + sent / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                (topic, key, value) = document_events(rng, datetime.now(UTC))[0]  # a card opened now
                await producer.send(topic, value=value, key=key)
                sent += 1
            await producer.flush()
        finally:
            await producer.stop()
        return sent

    sent = asyncio.run(paced())
    deadline = time.monotonic() + 30
    while len(lags) < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    consumer.stop()
    thread.join(10)
    pool.close()
    return lags, sent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--lanes", type=int, default=min(4, os.cpu_count() or 1), help="as `edms replay --lanes`")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edms-bench-control-") as tmp:
        configured = os.environ.get("EDMS_DATABASE_URL")
        database_url = (
            urlsplit(configured)._replace(path=f"/edms_bench_{uuid.uuid4().hex[:10]}").geturl() if configured else None
        )
        stack = Stack(data_dir=Path(tmp), pg_port=free_port(), kafka_port=free_port(), database_url=database_url,
                      kafka_bootstrap=os.environ.get("EDMS_KAFKA_BOOTSTRAP") or None)  # fmt: skip
        stack.start_infrastructure()
        try:
            return run(stack, args)
        finally:
            stack.stop()


def run(stack: Stack, args: argparse.Namespace) -> int:
    assert stack.database_url
    assert stack.kafka_bootstrap
    settings = PlatformSettings(database_url=stack.database_url, kafka_bootstrap=stack.kafka_bootstrap)
    asyncio.run(ensure_topics(settings))

    log(f"live lag at 500 events/s for {args.live_seconds:.0f} s")
    lags, live_sent = live_lag(settings, args.live_seconds, 500)

    log(f"generating {args.events} events")
    rng = random.Random(42)
    messages: list[tuple[str, bytes, bytes]] = []
    while len(messages) < args.events:
        messages.extend(document_events(rng))
    total = len(messages) + live_sent
    log(f"producing {len(messages)} events")
    produce_s = asyncio.run(produce(stack.kafka_bootstrap, messages))
    del messages

    log("raw consume")
    raw_s = asyncio.run(read_all(stack.kafka_bootstrap, total, None))

    def replay(schema: str, track: Track, lanes: int = 1, as_edms_replay: bool = True) -> tuple[float, int, Any]:
        """The replay's applier reading both topics from the beginning into a fresh schema; `as_edms_replay`: as
        `edms replay` applies, keeping what it has seen in memory and making the tracking key and the read model's
        deferred indexes once it has read everything (timed); with `lanes` > 1, the replay's processes, started
        before the clock starts, as `edms replay` starts them before it reads."""
        url = stack.database_url or ""
        ensure_schema(url, schema, TRACKING_DDL + DEAD_LETTERS_DDL + READ_MODEL.ddl)
        deferred = defer_indexes(url, schema, (TRACKING_KEY, *READ_MODEL.deferred)) if as_edms_replay else []
        pool = make_pool(url, schema, max_size=2, wait_for_disk=not as_edms_replay)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # the earlier phases' pages written out before this one is timed
        seen: set[int] | None = set() if as_edms_replay else None
        applier: BatchApplier = Applier(service="control", pool=pool, tracks=[track], pipelined=True, seen=seen)
        if lanes > 1:
            applier = Lanes("control", url, schema, lanes)
            applier.start()
        applied = [0]

        def apply(records: list[Any]) -> None:
            # as `edms replay` hands fetches to its lanes: reading on while they apply, then waiting for the rest
            result = applier.submit(records) if isinstance(applier, Lanes) else applier.apply_batch(records)
            applied[0] += result.applied

        try:
            with fewer_collections():  # as `edms replay` runs
                seconds = asyncio.run(read_all(stack.kafka_bootstrap or "", total, apply))
                started = time.perf_counter()
                if isinstance(applier, Lanes):
                    applied[0] += applier.drain().applied
                make_indexes(url, deferred)
                seconds += time.perf_counter() - started
                return seconds, applied[0], pool
        finally:
            if isinstance(applier, Lanes):
                applier.close()

    log("replay, one event at a time (the handlers)")
    single_s, single_n, single_pool = replay(
        "control_bench_single", Track(read_track("control"), READ_MODEL.handlers), as_edms_replay=False
    )
    single_pool.close()
    log("replay, runs of events folded (the batch handler), one process")
    folded_s, folded_n, folded_pool = replay("control_bench_folded", READ_MODEL.track(read_track("control")))
    folded_pool.close()
    log(f"replay, runs folded, in {args.lanes} processes by partition (as `edms replay control` does)")
    replay_s, replayed, pool = replay("control_bench", READ_MODEL.track(read_track("control")), lanes=args.lanes)
    applied = [replayed]

    log("discipline report over a year, on the tables as rebuilt, then after ANALYZE (as `edms replay` swaps them)")
    period = Period(date(YEAR, 1, 1), date(YEAR, 12, 31), date(YEAR, 12, 31), ORG)

    def report_timings() -> tuple[list[float], list[Any]]:
        timings, rows = [], []
        for _ in range(10):
            started = time.perf_counter()
            rows = discipline(pool, period, "unit")
            timings.append(time.perf_counter() - started)
        return timings, rows

    blind, _ = report_timings()
    with pool.connection() as conn:
        for table in READ_MODEL.tables:
            conn.execute(f"ANALYZE {table}")
    timings, rows = report_timings()
    pool.close()

    raw_rate, replay_rate = total / raw_s, applied[0] / replay_s
    lines = [
        ("events", f"{total:,}", "", ""),
        ("produce (acks=1)", f"{total / produce_s:,.0f} events/s", "", ""),
        ("raw consume of the same topics (peer limit)", f"{raw_rate:,.0f} events/s", f"{raw_s:.1f} s", ""),
        ("replay, one event at a time", f"{single_n / single_s:,.0f} events/s", f"{single_s:.1f} s",
         f"{single_n / single_s / raw_rate:.1%} of raw"),
        ("replay, runs folded, one process", f"{folded_n / folded_s:,.0f} events/s", f"{folded_s:.1f} s",
         f"{folded_n / folded_s / raw_rate:.1%} of raw"),
        (f"replay into control's read models ({args.lanes} processes)", f"{replay_rate:,.0f} events/s",
         f"{replay_s:.1f} s",
         f"{replay_rate / raw_rate:.1%} of raw; target {REPLAY_TARGET:,}/s: "
         f"{'met' if replay_rate >= REPLAY_TARGET else 'NOT met'}"),
        ("live lag at 500 events/s, p50 / p99", f"{percentile(lags, 50) * 1000:.0f} / "
         f"{percentile(lags, 99) * 1000:.0f} ms", f"{len(lags)} of {live_sent}",
         f"limit {LAG_P99_LIMIT_S * 1000:.0f} ms: {'met' if percentile(lags, 99) <= LAG_P99_LIMIT_S else 'NOT met'}"),
        ("discipline report before ANALYZE, p50 / max", f"{statistics.median(blind) * 1000:.0f} / "
         f"{max(blind) * 1000:.0f} ms", "", "never analyzed: the planner guesses"),
        ("discipline report, a year by unit, p50 / max", f"{statistics.median(timings) * 1000:.0f} / "
         f"{max(timings) * 1000:.0f} ms", f"{len(rows)} rows",
         f"limit {REPORT_LIMIT_S * 1000:.0f} ms: {'met' if max(timings) <= REPORT_LIMIT_S else 'NOT met'}"),
    ]  # fmt: skip
    width = [max(len(line[i]) for line in lines) for i in range(4)]
    print("EDMS control benchmark")
    for line in lines:
        print("  ".join(cell.ljust(width[i]) for i, cell in enumerate(line)).rstrip())
    if args.markdown:
        md = ["| measure | value | size / time | against |", "|---|---|---|---|"]
        md += [f"| {' | '.join(line)} |" for line in lines]
        args.markdown.write_text("\n".join(md) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
