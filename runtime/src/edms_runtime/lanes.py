"""A replay's fetches applied by several processes at once (`edms replay --lanes N`), for read models whose rows are
each written by the events of one partition (`ReadModel.partitioned`).

One process applies a fetch at about 30 µs of Python per event (decoding, validating, folding, the statements'
parameters) and PostgreSQL a third of that; with one process the replay used one core while the other waited (two
threads instead contended for the interpreter lock and were slower: docs/BENCHMARKS.md). Here each lane is a process
of its own with its own `Applier` and connection; a partition's records always go to the same lane (partition
number modulo the lanes), so every aggregate's events are applied in their order, and the lanes' transactions run at
once. A fetch is done when every lane has committed its part; the replay's positions advance only then.

The lanes are started with `spawn` (the parent runs an event loop and the broker client's threads, which a fork
would copy half-way), once per replay.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from edms_runtime.consumer import Applier, BatchResult, Record, read_track
from edms_runtime.db import make_pool
from edms_runtime.faults import Transient

#: The lane process's applier (set by `_start`).
_applier: Applier | None = None
_collections: contextlib.ExitStack | None = None


def _start(service: str, database_url: str, schema: str) -> None:
    global _applier, _collections
    from edms_runtime.replay import fewer_collections, read_model_of

    model = read_model_of(service)
    pool = make_pool(database_url, schema, max_size=1)
    _applier = Applier(service=service, pool=pool, tracks=[model.track(read_track(service))], pipelined=True)
    _collections = contextlib.ExitStack()
    _collections.enter_context(fewer_collections())  # as the replay's own process runs


def _ready() -> bool:
    return _applier is not None


def _apply(records: list[Record]) -> BatchResult:
    """One lane's part of a fetch, applied again after a transient failure."""
    assert _applier is not None
    delay = 0.1
    while True:
        try:
            return _applier.apply_batch(records)
        except Transient:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Lanes:
    """`count` processes applying the partitions of each fetch at once."""

    def __init__(self, service: str, database_url: str, schema: str, count: int) -> None:
        if count < 2:
            raise ValueError("lanes: at least 2 (one lane is the replay's own applier)")
        context = multiprocessing.get_context("spawn")
        self.count = count
        self._lanes = [
            ProcessPoolExecutor(1, mp_context=context, initializer=_start, initargs=(service, database_url, schema))
            for _ in range(count)
        ]

    def start(self) -> None:
        """Start every lane's process now (they start at their first fetch otherwise) and wait until each is ready."""
        for future in [lane.submit(_ready) for lane in self._lanes]:
            future.result()

    def apply_batch(self, records: Sequence[Record]) -> BatchResult:
        parts: list[list[Record]] = [[] for _ in range(self.count)]
        for record in records:
            parts[record.partition % self.count].append(record)
        futures = [lane.submit(_apply, part) for lane, part in zip(self._lanes, parts, strict=True) if part]
        result = BatchResult()
        for future in futures:
            result.add(future.result())
        return result

    def close(self) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
