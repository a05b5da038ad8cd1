"""Settings shared by every service, read from the environment (prefix EDMS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """Where the infrastructure is. The local stack fills these in; a deployment sets them by URL."""

    model_config = SettingsConfigDict(env_prefix="EDMS_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:54329/edms"
    kafka_bootstrap: str = "127.0.0.1:19092"
    elasticsearch_url: str | None = None
    data_dir: Path = Path(".edms")
    #: PEM public key (or path to one) that verifies bearer tokens.
    jwt_public_key: str | None = None
    jwt_issuer: str = "edms-dev-issuer"
    jwt_audience: str = "edms"
    #: Kafka consumer group timings; Tansu joins take max(1 s, session_timeout / 2).
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000
    kafka_rebalance_timeout_ms: int = 6000
    #: Replication factor of topics the services create themselves (a real cluster should pre-create them).
    kafka_replication_factor: int = 1
    relay_batch_size: int = 500
    relay_idle_poll_seconds: float = 1.0
    #: After a wake-up the relay waits this long so that commits arriving together are published as one batch.
    relay_coalesce_seconds: float = 0.005
    log_level: str = "INFO"

    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
