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
    #: Where the keys that verify bearer tokens come from, first match wins: an OpenID Connect issuer's JWKS URL
    #: (e.g. Keycloak's `https://sso/realms/edms/protocol/openid-connect/certs`), a JWKS file, a PEM public key
    #: (or path to one); none of them: the local development issuer's JWKS under `<data_dir>/dev-issuer/`.
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str = "edms-dev-issuer"
    jwt_audience: str = "edms"
    #: A token whose lifetime (`exp - iat`) is longer than this is refused, however validly signed.
    jwt_max_lifetime_seconds: int = 24 * 3600
    #: Clock skew tolerated on `exp`, `nbf` and `iat`.
    jwt_leeway_seconds: int = 30
    #: Request bodies: JSON and forms at most `max_body_bytes`, any other body (files, packages) `max_upload_bytes`;
    #: larger ones are answered 413 before they are read (edms_runtime.hardening).
    max_body_bytes: int = 2 * 1024 * 1024
    #: (A backstop above every service's own file limit, e.g. the registry's 100 MiB per attachment, which names
    #: the field.)
    max_upload_bytes: int = 1024 * 1024 * 1024
    #: Whether an audit entry's commit waits for the disk (edms_runtime.audit.AuditLog.synchronous_commit).
    audit_synchronous_commit: bool = True
    #: Origins (comma-separated) of the web desk, the only ones a browser may call the API from (CORS); none: none.
    cors_origins: str = ""
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
