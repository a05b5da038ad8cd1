"""Kafka helpers: explicit topic creation, clients tuned for Tansu and real Kafka alike, the cluster id."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from edms_contracts.topics import ALL_TOPICS, Topic
from edms_runtime.settings import PlatformSettings

log = logging.getLogger(__name__)


def make_producer(settings: PlatformSettings, client_id: str) -> AIOKafkaProducer:
    # Tansu fails idempotent producers and transactions; acks=all plus our own dedupe gives at-least-once.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10000,
        retry_backoff_ms=200,
    )


def make_consumer(settings: PlatformSettings, group_id: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
        max_poll_records=500,
        retry_backoff_ms=200,
        metadata_max_age_ms=5000,
    )


async def ensure_topics(settings: PlatformSettings, topics: tuple[Topic, ...] = ALL_TOPICS) -> list[str]:
    """Create missing topics with their partition counts (auto-created ones would get the broker's default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        created: list[str] = []
        for topic in missing:
            try:
                await admin.create_topics([NewTopic(topic.name, topic.partitions, settings.kafka_replication_factor)])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics %s", created)
        return created
    finally:
        await admin.close()


async def cluster_id(client: Any) -> str:
    """The broker cluster's id from a Metadata v2 response (changes when a local broker starts anew)."""
    node_id = client.get_random_node()
    if node_id is None:
        await client.force_metadata_update()
        node_id = client.get_random_node()
    response = await client.send(node_id, MetadataRequest([]))
    return str(response.to_object().get("cluster_id") or "")
