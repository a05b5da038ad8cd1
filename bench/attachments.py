"""Attachment upload benchmark: HTTP upload throughput and the registry's memory, beside the raw limit of the disk.

    .venv/bin/python bench/attachments.py [--quick]

Starts its own stack (as bench/registry.py does) and, in the same run, on the same machine:

1. raw: the same files written to a temporary file while hashed (SHA-256), then renamed into a directory — what the
   upload has to do at the least, with no HTTP and no multipart;
2. HTTP: `POST /documents/{id}/attachments` of those files by 4 concurrent clients (each file once, on its own
   card), with the whole stack running (the text extraction of these binary files is a no-op);
3. the registry's memory: resident before, and the peak (VmHWM) after uploads of files larger than it — the upload
   is streamed, so the peak must not grow by the size of a file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from backbone import log, make_stack
from registry import memory_mb

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings

CLIENTS = 4
ORG = "bench-attachments"


def make_file(n: int, size: int) -> bytes:
    """Incompressible-looking bytes, each file different (a content-addressed store would dedupe repeats)."""
    seed = hashlib.sha256(f"{n}-{uuid.uuid4()}".encode()).digest()
    block = hashlib.sha512(seed).digest() * (1 << 14)  # 1 MB
    return (block * (size // len(block) + 1))[:size]


def raw(files: list[bytes], directory: Path) -> float:
    """Seconds to write and hash every file as the store does (temporary file, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for content in files:
        digest = hashlib.sha256()
        tmp = directory / f"{uuid.uuid4().hex}.part"
        with tmp.open("wb") as target:
            for i in range(0, len(content), 1 << 16):  # the chunks an ASGI server hands over
                piece = content[i : i + (1 << 16)]
                digest.update(piece)
                target.write(piece)
        tmp.replace(directory / digest.hexdigest())
    return time.perf_counter() - started


async def http(url: str, token: str, files: list[bytes]) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as client:
        documents = []
        for n in range(len(files)):
            body = {
                "kind": "incoming_letter",
                "title": f"Письмо с большим приложением {n}",
                "correspondent": "Росстат",
                "correspondent_number": f"bench/{uuid.uuid4().hex[:8]}",
                "correspondent_date": "2026-11-20",
            }
            response = await client.post("/documents", json=body)
            response.raise_for_status()
            documents.append(response.json()["id"])
        queue = list(zip(documents, files, strict=True))
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                document, content = queue.pop()
                files_ = {"file": ("скан.bin", content, "application/octet-stream")}
                response = await client.post(f"/documents/{document}/attachments", files=files_)
                if response.status_code != 201:
                    raise RuntimeError(f"upload answered {response.status_code}: {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer and smaller files")
    args = parser.parse_args(argv)
    sets = [(16, 1 << 20), (8, 10 << 20), (2, 100 << 20)] if not args.quick else [(8, 1 << 20), (2, 20 << 20)]
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="edms-bench-attachments-") as tmp:
        stack = make_stack(Path(tmp) / "edms")
        try:
            log("starting the stack (PostgreSQL, Tansu, five services)")
            stack.start(timeout=90)
            registry = stack.processes["registry"]
            assert registry.proc is not None
            pid = registry.proc.pid
            token = issue_token(
                PlatformSettings(data_dir=stack.data_dir), user="bench-clerk", org=ORG, unit="01", roles=["clerk"]
            )
            asyncio.run(http(registry.url, token, [make_file(0, 1024)]))  # warm-up
            idle = memory_mb(pid, "VmRSS")
            for count, size in sets:
                files = [make_file(n, size) for n in range(count)]
                megabytes = count * size / (1 << 20)
                log(f"{count} files of {size >> 20} MB: raw, then HTTP")
                raw_seconds = raw(files, Path(tmp) / "raw")
                http_seconds = asyncio.run(http(registry.url, token, files))
                rows.append((f"{count} × {size >> 20} MB", megabytes / raw_seconds, megabytes / http_seconds))
            peak = memory_mb(pid, "VmHWM")
        finally:
            stack.stop()
    print(f"\nAttachment upload throughput ({os.cpu_count()} cores), MB/s")
    print(f"{'files':<14}{'raw write+hash':>16}{'HTTP upload':>14}{'HTTP / raw':>12}")
    for name, raw_rate, http_rate in rows:
        print(f"{name:<14}{raw_rate:>16.0f}{http_rate:>14.0f}{http_rate / raw_rate:>11.0%}")
    largest = max(size for _, size in sets) >> 20
    print(f"\nregistry memory: {idle:.0f} MB resident before, {peak:.0f} MB peak after uploads of {largest} MB files")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
