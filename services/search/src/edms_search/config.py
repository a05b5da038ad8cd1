"""Search settings (prefix EDMS_SEARCH_). Where Elasticsearch is: EDMS_ELASTICSEARCH_URL (PlatformSettings)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDMS_SEARCH_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8104
    #: The alias searched and written; the index behind it is `<alias>-v<mapping version>`.
    elasticsearch_index: str = "edms-documents"
    #: CA bundle for an https Elasticsearch with a private CA (ECK: secret edms-es-es-http-certs-public).
    elasticsearch_ca_certs: Path | None = None
    elasticsearch_timeout_seconds: float = 10.0
    #: Rows the indexer reads and bulk-indexes per pass.
    index_batch_size: int = 500
    #: How long the idle indexer waits for a change notification before it looks anyway.
    index_idle_seconds: float = 1.0
    #: Backoff while Elasticsearch is unreachable: doubles from the first value up to the second.
    index_retry_seconds: float = 0.5
    index_max_retry_seconds: float = 30.0
    #: A row Elasticsearch refused (e.g. a mapping conflict) is retried after this long, or when it changes.
    index_quarantine_seconds: float = 300.0
