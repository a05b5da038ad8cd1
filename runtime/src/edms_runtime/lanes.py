"""A replay's fetches applied by several processes at once (`edms replay --lanes N`), for read models whose rows are
each written by the events of one partition (`ReadModel.partitioned`).

One process applies a fetch at about 18 µs of Python per event (decoding and validating ≈ 5 of them, folding, the
rows and tracking by COPY) and PostgreSQL about half that; with one process the replay used one core while the other
waited (two threads instead contended for the interpreter lock and were slower: docs/BENCHMARKS.md). Here each lane
is a process of its own with its own `Applier` and connection; a partition's records always go to the same lane
(partition number modulo the lanes), so every aggregate's events are applied in their order, and the lanes'
transactions run at once. The replay hands a fetch over and reads on (`submit`; a lane holds at most `depth` parts
before it waits: a fetch is often mostly one partition's, and waiting for the oldest part of a busy lane left the
other idle — at a million events two lanes ran 48.6k and 55.6k events/s with 2 parts, 56.5k and 61.6k with 6), and
waits for every part (`drain`) before it makes the deferred indexes, analyzes and swaps the tables.

The lanes are started with `spawn` (the parent runs an event loop and the broker client's threads, which a fork
would copy half-way), once per replay.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from aiokafka.structs import ConsumerRecord

from edms_runtime.consumer import Applier, BatchResult, Record, read_track
from edms_runtime.db import make_pool
from edms_runtime.faults import Transient

#: The lane process's applier (set by `_start`).
_applier: Applier | None = None
_collections: contextlib.ExitStack | None = None


def _start(service: str, database_url: str, schema: str, remember: bool) -> None:
    global _applier, _collections
    from edms_runtime.replay import fewer_collections, read_model_of

    model = read_model_of(service)
    pool = make_pool(database_url, schema, max_size=1, wait_for_disk=False)
    _applier = Applier(
        service=service, pool=pool, tracks=[model.track(read_track(service))], pipelined=True,
        seen=set() if remember else None,
    )  # fmt: skip  # a partition's records always come to the same lane: what it has seen is the lane's
    _collections = contextlib.ExitStack()
    _collections.enter_context(fewer_collections())  # as the replay's own process runs


def _ready() -> bool:
    return _applier is not None


#: A record as it crosses to a lane: a plain tuple pickles in a third of the time of aiokafka's record class.
Plain = tuple[str, int, int, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]


def _plain(record: Record) -> Plain:
    return (record.topic, record.partition, record.offset, record.timestamp, record.timestamp_type, record.key,
            record.value, tuple(record.headers))  # fmt: skip


def _apply(plain: list[Plain]) -> BatchResult:
    """One lane's part of a fetch, applied again after a transient failure."""
    assert _applier is not None
    records: list[Record] = [
        ConsumerRecord(
            topic,
            partition,
            offset,
            timestamp,
            timestamp_type,
            key,
            value,
            None,
            len(key or b""),
            len(value or b""),
            headers,
        )
        for topic, partition, offset, timestamp, timestamp_type, key, value, headers in plain
    ]
    return applied(_applier.apply_batch, records)


def applied(
    apply: Callable[[Sequence[Record]], BatchResult], records: Sequence[Record], say: Callable[[str], None] = print
) -> BatchResult:
    """`apply(records)`, again and again after a transient failure (backing off up to 5 s) until it is done: a
    replay's fetch, or a lane's part of one."""
    delay = 0.1
    while True:
        try:
            return apply(records)
        except Transient as exc:
            say(f"batch not applied ({exc}); again in {delay:.1f} s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Lanes:
    """`count` processes applying the partitions of each fetch at once."""

    def __init__(
        self, service: str, database_url: str, schema: str, count: int, depth: int = 6, *, remember: bool = True
    ) -> None:
        if count < 2:
            raise ValueError("lanes: at least 2 (one lane is the replay's own applier)")
        context = multiprocessing.get_context("spawn")
        self.count = count
        #: Parts a lane may have queued before `submit` waits for its oldest.
        self.depth = depth
        self._pending: list[deque[Future[BatchResult]]] = [deque() for _ in range(count)]
        self._lanes = [
            ProcessPoolExecutor(
                1, mp_context=context, initializer=_start, initargs=(service, database_url, schema, remember)
            )
            for _ in range(count)
        ]

    def start(self) -> None:
        """Start every lane's process now (they start at their first fetch otherwise) and wait until each is ready."""
        for future in [lane.submit(_ready) for lane in self._lanes]:
            future.result()

    def submit(self, records: Sequence[Record]) -> BatchResult:
        """Hand a fetch's records to their lanes and return at once with what earlier fetches' parts have applied
        meanwhile; waits only while a lane has more than `depth` parts to go. A lane takes its parts in order, so
        each partition's records are applied in their order. `drain` waits for the rest."""
        parts: list[list[Plain]] = [[] for _ in range(self.count)]
        for record in records:
            parts[record.partition % self.count].append(_plain(record))
        for lane, part, pending in zip(self._lanes, parts, self._pending, strict=True):
            if part:
                pending.append(lane.submit(_apply, part))
        result = BatchResult()
        for pending in self._pending:
            while pending and (pending[0].done() or len(pending) > self.depth):
                result.add(pending.popleft().result())
        return result

    def drain(self) -> BatchResult:
        """Wait until every part handed over has been applied; what they applied."""
        result = BatchResult()
        for pending in self._pending:
            while pending:
                result.add(pending.popleft().result())
        return result

    def apply_batch(self, records: Sequence[Record]) -> BatchResult:
        """A fetch applied by the lanes, waiting until all its parts are (and any handed over before)."""
        result = self.submit(records)
        result.add(self.drain())
        return result

    def close(self) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)
