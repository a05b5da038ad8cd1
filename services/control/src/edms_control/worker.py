"""Control's consumers as faust agents, in a worker process of their own (`python -m edms_control.worker`).

Used when the service runs with `EDMS_CONTROL_CONSUMER=faust` (then the HTTP process runs no consumer of its own).
The agent is a few lines: it takes the events of control's topics in batches and hands each batch to the same
code the backbone's consumer runs (`TrackingConsumer.apply_until_done`: one PostgreSQL transaction per batch,
tracking by event id, policies saving in the batch's transaction, the read model, dead letters recorded there and
then published to `edms.dlq.v1`). Faust commits a batch's offsets only after the agent acked it
(`at_least_once`); a redelivered batch changes nothing (tracking). Tansu needed: no exactly-once (transactions
fail), no leader topic (`topic_disable_leader`), topics made by `ensure_topics` beforehand (no auto-creation),
session 6 s, heartbeat 1 s, rebalance 6 s (shared/ARCHITECTURE.md); no tables, so no changelog topics.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer

from edms_control.application import ControlApplication
from edms_control.projections import READ_MODEL
from edms_control.stream import policies
from edms_runtime.consumer import TrackingConsumer
from edms_runtime.db import ensure_schema, make_pool
from edms_runtime.kafka import cluster_id, ensure_topics, make_producer
from edms_runtime.service import PLUMBING_DDL, application_for
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)

#: A batch is handed over when it has this many events, or after this many seconds.
BATCH, WITHIN = 500, 0.2


async def _cluster(settings: PlatformSettings) -> str:
    """The broker cluster's id (the live consumer records its positions per cluster, for `edms replay`)."""
    await ensure_topics(settings)
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await probe.start()
    try:
        return await cluster_id(probe._client)
    finally:
        await probe.stop()


def build_worker(platform: PlatformSettings | None = None) -> faust.App:
    platform = platform or PlatformSettings()
    application = application_for(ControlApplication, "control", platform)
    ensure_schema(platform.database_url, "control", PLUMBING_DDL + READ_MODEL.ddl)
    pool = make_pool(platform.database_url, "control")
    backbone = TrackingConsumer(
        service="control",
        pool=pool,
        settings=platform,
        policies=policies(application),
        read_model=READ_MODEL,
        unit_of_work=application.unit_of_work,
    )
    app = faust.App(
        "edms-control",  # the group id: the same as the backbone consumer's, so a switch keeps the offsets
        broker=f"kafka://{platform.kafka_bootstrap}",
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=6,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
    )
    topics = app.topic(*(t.name for t in backbone.topics), key_type=bytes, value_type=bytes)
    state: dict[str, Any] = {}

    @app.agent(topics, name="control-events")
    async def control_events(stream: faust.StreamT[bytes]) -> None:
        """Hand each batch to the application code; ack (commit) only when it is applied."""
        if "dlq" not in state:
            state["cluster"] = await _cluster(platform)
            state["dlq"] = make_producer(platform, client_id="dlq-control")
            await state["dlq"].start()
            await backbone._publish_dead_letters(state["dlq"])  # any a crash left unpublished
        async for events in stream.take_events(BATCH, within=WITHIN):  # type: ignore[attr-defined]
            records: Any = [event.message for event in events]
            result = await backbone.apply_until_done(records, cluster=state["cluster"])
            if result.dead:
                await backbone._publish_dead_letters(state["dlq"])

    return app


def run() -> None:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platform = PlatformSettings()
    asyncio.run(ensure_topics(platform))
    app = build_worker(platform)
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()


if __name__ == "__main__":
    run()
