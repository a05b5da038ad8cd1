"""Registry benchmark: registrations with a 100 KB attachment and text, next to the raw store and a bare endpoint.

    .venv/bin/python bench/registry.py [--quick] [--markdown PATH]

Starts its own stack (as bench/backbone.py does: embedded PostgreSQL, Tansu, the five services, all on free ports in
a temporary directory) and, in the same run, on the same machine:

1. the raw eventsourcing save rate: one aggregate per save, and 100 per save (bench/backbone.py's phase 1);
2. a bare FastAPI endpoint doing one raw save per request (bench/bare_endpoint.py, a process of its own, uvicorn with
   the services' settings), driven by 8 concurrent clients: its rate and its CPU per request;
3. registration as a clerk does it: 8 concurrent clients, each `POST /documents` (an incoming letter with its text)
   then `POST /documents/{id}/attachments` (a 100 KB file), with the whole stack consuming the events; the rate of
   registrations (with their attachments), CPU per registration by process, and the registry's memory idle (before)
   and at its peak (VmHWM) under load;
4. the same letters and files registered as a scanning station sends them, in one request each
   (`POST /documents/with-attachments`), measured the same way.

Targets (issue 7): HTTP registration ≥ 50% of the raw single-save rate; the registry's CPU per registration ≤ 2× the
bare endpoint's CPU per request; registry memory ≤ 150 MB idle and ≤ 400 MB under load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from backbone import (
    FULL,
    QUICK,
    Report,
    Row,
    Verdict,
    _proc_cpu,
    bench_raw_store,
    cpu_per_operation,
    cpu_snapshot,
    log,
    make_stack,
    ms,
    num,
    percentile,
    rate,
    registry_client,
    render_markdown,
    render_text,
)

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import Stack, free_port

HTTP_TO_RAW_TARGET = 0.50
CPU_TO_BARE_LIMIT = 2.0
IDLE_MB_LIMIT = 150
LOAD_MB_LIMIT = 400
CLIENTS = 8
ATTACHMENT_BYTES = 100 * 1024
BENCH_ORG = "org-bench-registry"
TITLE = "EDMS registry benchmark"
_letters = itertools.count(1)

#: A realistic incoming letter's text (about 600 characters).
TEXT = (
    "Во исполнение поручения Правительства области прошу в срок до конца месяца представить сведения о численности "
    "постоянного населения муниципального образования по состоянию на 1 января текущего года в разрезе сельских "
    "поселений и населённых пунктов, а также сведения о количестве домохозяйств и об обеспеченности жильём. "
    "Сведения прошу направить по системе межведомственного электронного документооборота с приложением "
    "пояснительной записки, подписанной руководителем. Контактное лицо: Иванова Мария Петровна."
)


def letter() -> dict[str, Any]:
    n = next(_letters)
    return {
        "kind": "incoming_letter",
        "title": f"О предоставлении сведений о численности населения (запрос № {n})",
        "text": f"{TEXT} Запрос № {n}.",
        "correspondent": "Министерство экономического развития области",
        "correspondent_number": f"07-{n}/2026",
        "correspondent_date": "2026-01-12",
        "sheets": 2,
        "delivery_channel": "interagency",
    }


def attachment(n: int) -> bytes:
    """100 KB of plain text (its text is extracted and published for search, as a real scan's would be)."""
    line = f"Приложение к запросу {n}: сведения о численности населения по поселениям. ".encode()
    return (line * (ATTACHMENT_BYTES // len(line) + 1))[:ATTACHMENT_BYTES]


# -- memory ----------------------------------------------------------------------------------------------------------
def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the bare endpoint -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Throughput:
    rate: float
    count: int
    latencies: list[float]
    cpu_ms: float


async def drive(client: httpx.AsyncClient, count: int, one: Any) -> tuple[float, list[float]]:
    """`count` operations by CLIENTS concurrent workers; returns (elapsed seconds, latencies)."""
    latencies: list[float] = []
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            sent = time.perf_counter()
            await one(client, issued)
            latencies.append(time.perf_counter() - sent)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


async def bare_save(client: httpx.AsyncClient, _: int) -> None:
    response = await client.post("/save")
    if response.status_code != 201:
        raise RuntimeError(f"bare endpoint answered {response.status_code}: {response.text[:200]}")


def bench_bare(database_url: str, count: int, logs: Path) -> Throughput:
    port = free_port()
    script = Path(__file__).with_name("bare_endpoint.py")
    with (logs / "bare.log").open("ab") as out:
        proc = subprocess.Popen([sys.executable, str(script), str(port), database_url], stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.post(f"{base}/save", timeout=2).status_code == 201:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the bare endpoint did not start; see {logs / 'bare.log'}")
            time.sleep(0.1)

        async def run() -> tuple[float, list[float]]:
            async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=CLIENTS)) as client:
                await asyncio.gather(*(bare_save(client, 0) for _ in range(CLIENTS)))  # warm-up
                return await drive(client, count, bare_save)

        before = _proc_cpu(proc.pid)[0]
        elapsed, latencies = asyncio.run(run())
        cpu = (_proc_cpu(proc.pid)[0] - before) * 1000 / max(1, len(latencies))
    finally:
        proc.terminate()
        proc.wait(10)
    return Throughput(rate(len(latencies), elapsed), len(latencies), latencies, cpu)


# -- registration with an attachment ---------------------------------------------------------------------------------
async def register_with_attachment(client: httpx.AsyncClient, n: int) -> None:
    response = await client.post("/documents", json=letter())
    if response.status_code != 201:
        raise RuntimeError(f"POST /documents answered {response.status_code}: {response.text[:300]}")
    document = response.json()["id"]
    files = {"file": (f"приложение-{n}.txt", attachment(n), "text/plain")}
    response = await client.post(f"/documents/{document}/attachments", files=files)
    if response.status_code != 201:
        raise RuntimeError(f"POST attachments answered {response.status_code}: {response.text[:300]}")


async def register_in_one_request(client: httpx.AsyncClient, n: int) -> None:
    """The same letter and file, as a scanning station sends them: POST /documents/with-attachments."""
    files: dict[str, tuple[str | None, bytes, str]] = {
        "card": (None, json.dumps(letter()).encode(), "application/json"),
        "file": (f"приложение-{n}.txt", attachment(n), "text/plain"),
    }
    response = await client.post("/documents/with-attachments", files=files)
    if response.status_code != 201:
        raise RuntimeError(f"POST /documents/with-attachments answered {response.status_code}: {response.text[:300]}")


@dataclass(frozen=True)
class Registrations:
    rate: float
    count: int
    latencies: list[float]
    per_process: dict[str, float]
    idle_mb: float
    peak_mb: float


def bench_registrations(stack: Stack, count: int, one: Any = register_with_attachment) -> Registrations:
    token = issue_token(
        PlatformSettings(data_dir=stack.data_dir), user="bench-clerk", org=BENCH_ORG, unit="01", roles=["clerk"]
    )
    registry = stack.processes["registry"]
    assert registry.proc is not None
    pid = registry.proc.pid

    async def run() -> tuple[float, list[float]]:
        async with registry_client(registry.url, token, CLIENTS) as client:
            await asyncio.gather(*(one(client, 0) for _ in range(CLIENTS)))  # warm-up
            await asyncio.sleep(1.0)
            return await drive(client, count, one)

    idle = memory_mb(pid, "VmRSS")
    before = cpu_snapshot(stack)
    elapsed, latencies = asyncio.run(run())
    after = cpu_snapshot(stack)
    return Registrations(
        rate(len(latencies), elapsed),
        len(latencies),
        latencies,
        cpu_per_operation(before, after, len(latencies)),
        idle,
        memory_mb(pid, "VmHWM"),
    )


# -- the run ---------------------------------------------------------------------------------------------------------
def measure(stack: Stack, report: Report) -> None:
    profile = report.profile
    assert stack.database_url is not None
    count = profile.http_registrations // 2

    log(f"1/4 raw eventsourcing saves ({profile.raw_saves} one per save, then 100 per save)")
    raw = bench_raw_store(stack.database_url, profile)
    single = Row("raw ES save, 1 aggregate/save", num(raw.single_rate), "events/s", f"N={raw.single_count}")
    report.rows.append(single)
    report.rows.append(
        Row("raw ES save, 100 aggregates/save", num(raw.batched_rate), "events/s", f"N={raw.batched_count}")
    )

    log(f"2/4 bare FastAPI endpoint, one raw save per request ({profile.raw_saves}, {CLIENTS} clients)")
    bare = bench_bare(stack.database_url, profile.raw_saves, stack.logs)
    report.rows.append(
        Row(f"bare FastAPI endpoint, 1 save/request, c={CLIENTS}", num(bare.rate), "requests/s", f"N={bare.count}")
    )
    report.rows.append(Row("  its CPU per request", f"{bare.cpu_ms:.1f}", "ms", "the endpoint's process"))

    log(f"3/4 registrations with a 100 KB attachment, two requests ({count}, {CLIENTS} clients)")
    two = bench_registrations(stack, count)
    log(f"4/4 registrations with a 100 KB attachment, one request ({count}, {CLIENTS} clients)")
    one = bench_registrations(stack, count, register_in_one_request)
    for reg, path in (
        (two, "POST /documents + POST …/attachments"),
        (one, "POST /documents/with-attachments"),
    ):
        report_registrations(report, reg, path, raw.single_rate, bare.cpu_ms)
    idle, peak = two.idle_mb, one.peak_mb  # before any registration; the peak of the process's life (VmHWM)
    report.rows.append(Row("registry memory idle (RSS)", f"{idle:.0f}", "MB", f"limit {IDLE_MB_LIMIT} MB"))
    report.rows.append(Row("registry memory under load (peak)", f"{peak:.0f}", "MB", f"limit {LOAD_MB_LIMIT} MB"))
    report.verdicts += [
        Verdict(f"registry memory idle ≤ {IDLE_MB_LIMIT} MB", idle <= IDLE_MB_LIMIT, f"{idle:.0f} MB"),
        Verdict(f"registry memory under load ≤ {LOAD_MB_LIMIT} MB", peak <= LOAD_MB_LIMIT, f"{peak:.0f} MB"),
    ]


def report_registrations(report: Report, reg: Registrations, path: str, raw_rate: float, bare_ms: float) -> None:
    """The rows and verdicts of one way of registering (`path`)."""
    ratio = reg.rate / raw_rate
    report.rows.append(
        Row(
            f"HTTP registration + 100 KB attachment, c={CLIENTS}: {path}",
            num(reg.rate),
            "registrations/s",
            f"raw ES {num(raw_rate)} saves/s",
            f"{ratio:.0%} (target ≥ {HTTP_TO_RAW_TARGET:.0%})",
        )
    )
    report.rows.append(Row("  latency p50", ms(percentile(reg.latencies, 50)), "ms", f"N={reg.count}"))
    report.rows.append(Row("  latency p99", ms(percentile(reg.latencies, 99)), "ms"))
    registry_cpu = reg.per_process.get("registry", float("nan"))
    cpu_ratio = registry_cpu / bare_ms if bare_ms else float("nan")
    report.rows.append(
        Row(
            "  registry CPU per registration",
            f"{registry_cpu:.1f}",
            "ms",
            f"bare endpoint {bare_ms:.1f} ms/request",
            f"{cpu_ratio:.1f}× (limit ≤ {CPU_TO_BARE_LIMIT:.0f}×)",
        )
    )
    stack_cpu = sum(v for k, v in reg.per_process.items() if k != "bench client")
    report.rows.append(Row("  stack CPU per registration", f"{stack_cpu:.1f}", "ms", "all services + PG + broker"))
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(reg.per_process.items(), key=lambda kv: -kv[1]))
    report.notes.append(f"{path}: CPU ms per registration with its attachment, by process: {parts}.")
    report.verdicts += [
        Verdict(
            f"{path}: HTTP registration ≥ {HTTP_TO_RAW_TARGET:.0%} of the raw single-save rate",
            ratio >= HTTP_TO_RAW_TARGET,
            f"{num(reg.rate)} / {num(raw_rate)} = {ratio:.0%}",
        ),
        Verdict(
            f"{path}: registry CPU per registration ≤ {CPU_TO_BARE_LIMIT:.0f}× the bare endpoint's",
            cpu_ratio <= CPU_TO_BARE_LIMIT,
            f"{registry_cpu:.1f} / {bare_ms:.1f} ms = {cpu_ratio:.1f}×",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    report = Report(QUICK if args.quick else FULL, datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="edms-bench-registry-") as tmp:
        stack = make_stack(Path(tmp) / "edms")
        try:
            log("starting the stack (PostgreSQL, Tansu, five services)")
            stack.start(timeout=90)
            measure(stack, report)
        except Exception:
            traceback.print_exc()
            return 2
        finally:
            stack.stop()
    print(render_text(report, TITLE))
    if args.markdown:
        args.markdown.write_text(render_markdown(report, TITLE), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
